"""The learning-curve figure of a replay that recorded one (`train.curve.*`, parity.stages.curve):
held-out amplitude r (model and constant baseline, ePIE's final r when the replay ran the oracle),
the model's RMSE over the baseline's, and the twin fraction, against epochs trained."""
from __future__ import annotations

import pathlib
from typing import Any, Mapping

from ptycho import atomic

PREFIX = "train.curve."


def curve_of(values: Mapping[str, Any]) -> dict[str, list]:
    """{series: list} of a record's values ({} when it has no curve)."""
    return {k[len(PREFIX):]: list(v) for k, v in values.items()
            if k.startswith(PREFIX) and isinstance(v, list)}


def curve_png(curve: Mapping[str, list], path: pathlib.Path, *, title: str,
              epie_pearson: float | None = None) -> None:
    """Three panels against curve['epoch']: amplitude r (model, baseline, ePIE's as a line),
    RMSE ratio (1 = the baseline's), twin fraction. Missing points (None) are gaps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(name):
        return [float("nan") if v is None else float(v) for v in curve.get(name, [])]

    epochs = curve["epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), layout="constrained")
    ax = axes[0]
    ax.plot(epochs, series("amplitude_pearson"), "o-", label="PINN")
    ax.plot(epochs, series("baseline_pearson"), "s--", label="constant baseline")
    if epie_pearson is not None:
        ax.axhline(float(epie_pearson), color="k", lw=1, ls=":", label="ePIE (final)")
    ax.set_ylabel("held-out amplitude r")
    ax.legend(fontsize=8)
    axes[1].plot(epochs, series("rmse_ratio"), "o-")
    axes[1].axhline(1.0, color="k", lw=1, ls=":")
    axes[1].set_ylabel("RMSE / baseline RMSE")
    axes[2].plot(epochs, series("twin_fraction"), "o-")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_ylabel("twin fraction")
    for a in axes:
        a.set_xlabel("epochs trained")
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    with atomic.replacing(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
