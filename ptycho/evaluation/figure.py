"""The side-by-side comparison PNG (truth, reconstruction, difference; amplitude and aligned
phase), written atomically."""
from __future__ import annotations

import pathlib

import numpy as np

from ..atomic import replacing
from ..errors import ConfigError
from ..validation import require_same_shape
from .phase import aligned_phases


def save_comparison_png(path, truth, recon, *, title: str | None = None,
                        covered=None) -> pathlib.Path:
    """Side-by-side PNG: rows amplitude and phase; columns truth, reconstruction, difference.

    truth, recon: (H, W) complex; covered: optional (H, W) bool, pixels outside it are left
    blank in the reconstruction and difference panels and excluded from the colour ranges and
    the phase alignment (`aligned_phases`: global phase, unwrap, plane). Written atomically
    (`ptycho.atomic.replacing`); returns path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    truth = np.asarray(truth)
    recon = np.asarray(recon)
    require_same_shape("recon", recon, truth, of="truth", error=ConfigError)
    path = pathlib.Path(path)
    keep = np.ones(truth.shape, bool) if covered is None else np.asarray(covered, bool)
    if keep.shape != truth.shape or not keep.any():
        raise ConfigError("covered", f"must be a non-empty bool mask of shape {truth.shape}")
    ph_recon, ph_truth, _ = aligned_phases(recon, truth, keep)
    rows = [("amplitude", np.abs(truth), np.abs(recon)), ("phase (aligned)", ph_truth, ph_recon)]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), squeeze=False)
    for i, (name, t, r) in enumerate(rows):
        lo = float(min(t[keep].min(), r[keep].min()))
        hi = float(max(t[keep].max(), r[keep].max()))
        d = float(np.abs(r - t)[keep].max()) or 1.0
        r = np.ma.masked_array(r, mask=~keep)
        for j, (label, img, kw) in enumerate((
                ("truth", t, {"vmin": lo, "vmax": hi}),
                ("reconstruction", r, {"vmin": lo, "vmax": hi}),
                ("difference (recon - truth)", r - t, {"cmap": "RdBu_r", "vmin": -d, "vmax": d}))):
            ax = axes[i, j]
            im = ax.imshow(img, **kw)
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        with replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
    finally:
        plt.close(fig)
    return path
