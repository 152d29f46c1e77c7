"""Markdown, JSON and PNG reports of a `python -m parity check` run.

`ReplayResult` is one scenario x profile outcome (invariant checks, golden comparison, error);
`summary_markdown` is the table printed by `check` (the command layer also appends it to
the GitHub step summary);
`write_report` writes report.md, report.json and PNGs into the output directory.
"""
from __future__ import annotations

import datetime as _dt
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ptycho import atomic

from . import jsonsafe
from .checks import FAIL, PASS, WARN, Check, first_failure
from .curve_figure import curve_png
from .records import REPORT_SCHEMA, STAGES



@dataclass
class ReplayResult:
    """Outcome of one replay. golden: 'ok' | 'changed' | 'missing' | 'error' | 'skipped'."""

    scenario: str
    profile: str
    tier: str
    checks: list[Check] = field(default_factory=list)
    golden: str = "skipped"
    golden_detail: list[str] = field(default_factory=list)
    error: str | None = None
    wall_s: float = 0.0
    telemetry_file: str | None = None
    scalars: dict[str, Any] = field(default_factory=dict)
    #: PINN vs ePIE vs baseline (`comparison_of`); {} where the replay ran no oracle
    comparison: dict[str, Any] = field(default_factory=dict)
    #: the images of that comparison (truth, PINN, ePIE, baseline, covered); not in report.json
    images: dict[str, Any] | None = field(default=None, repr=False)
    #: the held-out learning curve ({series: list}, parity.curve_figure.curve_of); {} where the
    #: tier records none; in the telemetry, not in report.json
    curve: dict[str, list] = field(default_factory=dict, repr=False)

    @property
    def failed(self) -> bool:
        return (self.error is not None or any(c.failed for c in self.checks)
                or self.golden in ("changed", "missing", "error"))

    @property
    def status(self) -> str:
        return "FAIL" if self.failed else "ok"

    def first_problem(self) -> str:
        """One line: the error, else the earliest failing check, else the golden problem."""
        if self.error:
            return self.error
        bad = first_failure(self.checks)
        if bad is not None:
            return f"{bad.stage}: {bad.name} ({bad.detail})"
        if self.golden in ("changed", "missing", "error"):
            text = f"golden {self.golden}" + (f": {self.golden_detail[0]}" if self.golden_detail else "")
            stage = _first_golden_stage(self.golden_detail)
            return f"{stage}: {text}" if stage else text
        warns = [c for c in self.checks if c.verdict == WARN]
        return f"warn {warns[0].stage}: {warns[0].name}" if warns else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "profile": self.profile, "tier": self.tier,
            "status": self.status, "error": self.error, "wall_s": self.wall_s,
            "golden": self.golden, "golden_detail": list(self.golden_detail),
            "telemetry_file": self.telemetry_file,
            "scalars": {**self.scalars, **{f"comparison.{who}.{k}": v
                                           for who, row in self.comparison.items()
                                           for k, v in row.items()}},
            "checks": [c.to_dict() for c in self.checks],
        }


def _first_golden_stage(detail: Sequence[str]) -> str:
    """Earliest pipeline stage among the '<stage>.<key>: ...' lines of a golden failure's
    detail ('' if none)."""
    stages = [key.split(".", 1)[0] for key in (line.split(":", 1)[0] for line in detail)
              if " " not in key and "." in key and key.split(".", 1)[0] in STAGES]
    return min(stages, key=STAGES.index) if stages else ""


def _count(checks: Sequence[Check], verdict: str) -> int:
    return sum(1 for c in checks if c.verdict == verdict)


def summary_markdown(results: Sequence[ReplayResult], *, wall_s: float | None = None) -> str:
    """Markdown summary: one row per replay, then the totals line."""
    lines = ["| scenario | profile | status | checks pass/warn/fail | golden | g | s/s_cf | "
             "first problem |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        g = r.scalars.get("g")
        ratio = r.scalars.get("s_over_s_cf")
        first = r.first_problem().replace("|", "\\|")
        if len(first) > 110:
            first = first[:107] + "..."
        lines.append(
            f"| {r.scenario} | {r.profile} | {r.status} | {_count(r.checks, PASS)}/"
            f"{_count(r.checks, WARN)}/{_count(r.checks, FAIL)} | {r.golden} | "
            f"{'' if g is None else f'{g:.4g}'} | {'' if ratio is None else f'{ratio:.4g}'} | "
            f"{first} |")
    n_fail = sum(r.failed for r in results)
    total = f"**{len(results) - n_fail}/{len(results)} replays ok**"
    if wall_s is not None:
        total += f", wall time {wall_s:.1f} s"
    return "\n".join(lines) + "\n\n" + total + "\n"


#: (column title, evaluate key after '<group>.', format) of the PINN / ePIE / baseline table
COMPARISON_COLUMNS = (("amplitude r", "amplitude.pearson", ".3f"),
                      ("rel. RMSE (LS)", "amplitude.rel_rmse_scaled", ".4f"),
                      ("SSIM", "amplitude.ssim", ".3f"),
                      ("FRC 1/7 (1/px)", "amplitude.frc_1/7", ".4f"),
                      ("phase RMSE (rad)", "phase.rmse", ".4f"))
WHO = ("PINN", "ePIE", "baseline")


def comparison_of(values: Mapping[str, Any], artifacts: Mapping[str, Any]) -> dict[str, Any]:
    """{who: {key: value}} for who in WHO from a trained record's values (`evaluate.<key>.model`
    for the PINN, `evaluate.oracle.<key>` for ePIE, `evaluate.<key>.baseline`) and the replay's
    artifacts (wall seconds and patterns of PINN inference and of ePIE's passes); {} when the
    record has no oracle values."""
    if "evaluate.oracle.points" not in values:
        return {}
    out: dict[str, dict[str, Any]] = {who: {} for who in WHO}
    for _, key, _ in COMPARISON_COLUMNS:
        out["PINN"][key] = values.get(f"evaluate.{key}.model")
        out["ePIE"][key] = values.get(f"evaluate.oracle.{key}")
        out["baseline"][key] = values.get(f"evaluate.{key}.baseline")
    for who, name in (("PINN", "pinn"), ("ePIE", "epie")):
        seconds, patterns = artifacts.get(f"{name}_seconds"), artifacts.get(f"{name}_patterns")
        if seconds is not None:
            passes = artifacts.get("epie_iterations", 1) if name == "epie" else 1
            out[who]["wall_s"] = float(seconds)
            out[who]["patterns_per_s"] = (patterns * passes / seconds if seconds > 0
                                          else float("nan"))
    return out


def comparison_markdown(results: Sequence[ReplayResult]) -> str:
    """Markdown: PINN vs ePIE vs the constant baseline on the held-out data, one block of rows
    per replay with an oracle comparison ('' when none has)."""
    rows = [r for r in results if r.comparison]
    if not rows:
        return ""
    head = ["scenario", "profile", "method", *(c[0] for c in COMPARISON_COLUMNS), "wall s",
            "patterns/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        for who in WHO:
            row = r.comparison.get(who, {})
            cells = [r.scenario, r.profile, who]
            for _, key, fmt in COMPARISON_COLUMNS:
                v = row.get(key)
                cells.append("" if v is None else format(float(v), fmt))
            cells.append("" if row.get("wall_s") is None else f"{row['wall_s']:.2f}")
            cells.append("" if row.get("patterns_per_s") is None
                         else f"{row['patterns_per_s']:.4g}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def load_plotting() -> None:
    """Import matplotlib (Agg) ahead of the figures (~0.7 s; a caller that waits anyway)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def comparison_png(result: ReplayResult, path: pathlib.Path) -> None:
    """PNG: amplitude of truth, PINN, ePIE and baseline on one colour scale (the truth's
    covered range), uncovered pixels blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    images = result.images or {}
    covered = np.asarray(images.get("covered"), bool)
    amps = {who: np.abs(np.asarray(images[who])) for who in ("truth", *WHO) if who in images}
    lo, hi = (float(np.min(amps["truth"][covered])), float(np.max(amps["truth"][covered])))
    fig, axes = plt.subplots(1, len(amps), figsize=(3.2 * len(amps), 3.4), layout="constrained")
    for ax, (who, amp) in zip(np.atleast_1d(axes), amps.items()):
        shown = np.where(covered, amp, np.nan)
        im = ax.imshow(shown, vmin=lo, vmax=hi, cmap="gray")
        r = result.comparison.get(who, {}).get("amplitude.pearson")
        ax.set_title(who + ("" if r is None else f" (r {r:.3f})"), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(np.atleast_1d(axes)), shrink=0.8, label="|O|")
    fig.suptitle(f"{result.scenario} / {result.profile} ({result.tier}): held-out amplitude",
                 fontsize=10)
    with atomic.replacing(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def checks_markdown(result: ReplayResult) -> str:
    """Markdown table of one replay's checks."""
    lines = [f"### {result.scenario} / {result.profile} ({result.tier}): {result.status}", "",
             "| stage | check | verdict | value | bound | detail |", "|---|---|---|---|---|---|"]
    for c in result.checks:
        lines.append(f"| {c.stage} | {c.name} | {c.verdict} | {_fmt(c.value)} | {_fmt(c.bound)} | "
                     f"{c.detail.replace('|', chr(92) + '|')} |")
    if result.error:
        lines.append(f"\nerror: `{result.error}`")
    if result.golden_detail:
        lines.append("\ngolden differences:\n")
        lines.extend(f"- {d}" for d in result.golden_detail[:20])
    return "\n".join(lines) + "\n"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x).replace("|", "\\|")


def _heatmap_png(results: Sequence[ReplayResult], path: pathlib.Path) -> None:
    """PNG: replays (rows) x checks (columns), green pass / orange warn / red fail."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names: list[str] = []
    for r in results:
        for c in r.checks:
            if c.name not in names:
                names.append(c.name)
    code = {PASS: 0, WARN: 1, FAIL: 2}
    grid = np.full((max(1, len(results)), max(1, len(names))), np.nan)
    for i, r in enumerate(results):
        for c in r.checks:
            grid[i, names.index(c.name)] = code.get(c.verdict, np.nan)
    cmap = matplotlib.colors.ListedColormap(["#2e7d32", "#f9a825", "#c62828"])
    fig, ax = plt.subplots(figsize=(2.5 + 0.35 * len(names), 2.5 + 0.3 * len(results)),
                           layout="constrained")
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=2.5, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(len(results)), [f"{r.scenario}/{r.profile}" for r in results], fontsize=7)
    ax.set_title("invariants: green pass, amber warn, red fail", fontsize=9)
    with atomic.replacing(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _scales_png(results: Sequence[ReplayResult], path: pathlib.Path) -> None:
    """PNG: g and the predicted amplitude target vs the activation ceiling per replay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if "g" in r.scalars]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
    labels = [f"{r.scenario}/{r.profile}" for r in rows]
    axes[0].bar(range(len(rows)), [r.scalars["g"] for r in rows], color="#1565c0")
    axes[0].set_title("normalization gain g = sqrt((N/2)^2 / E)", fontsize=9)
    implied = [r.scalars.get("implied_amplitude_max", float("nan")) for r in rows]
    ceiling = [min(r.scalars.get("activation_ceiling", float("inf")), 1e3) for r in rows]
    axes[1].bar(range(len(rows)), implied, color="#6a1b9a", label="implied max amplitude")
    axes[1].scatter(range(len(rows)), ceiling, color="#c62828", marker="_", s=300,
                    label="activation ceiling (inf clipped)")
    if rows:  # no replay got as far as its scales (all errored): empty axes, not a crash
        axes[1].set_yscale("log")
    axes[1].set_title("reachability: target vs ceiling (before training)", fontsize=9)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(range(len(rows)), labels, rotation=70, ha="right", fontsize=7)
    with atomic.replacing(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_report(out_dir: str | os.PathLike, results: Sequence[ReplayResult], *,
                 meta: Mapping[str, Any], wall_s: float) -> dict[str, pathlib.Path]:
    """Write report.md, report.json, invariants.png and scales.png into `out_dir` (each
    atomically); return {name: path}. When one cannot be written (full disk, read-only folder:
    WriteError) or the run is interrupted, the four are removed: no partial report remains."""
    out = pathlib.Path(out_dir)
    atomic.make_dirs(out)
    paths = {"heatmap": out / "invariants.png", "scales": out / "scales.png"}
    try:
        _heatmap_png(results, paths["heatmap"])
        _scales_png(results, paths["scales"])
        n_fail = sum(r.failed for r in results)
        md = [f"# parity check ({meta.get('tier', '?')} tier)", "",
              f"- date (UTC): {meta.get('date', '')}",
              f"- command: `{meta.get('command', '')}`",
              f"- result: {'FAIL' if n_fail else 'ok'} ({len(results) - n_fail}/{len(results)} replays ok)",
              "", "## Summary", "", summary_markdown(results, wall_s=wall_s),
              "![invariants](invariants.png)", "", "![scales](scales.png)", "", "## Checks", ""]
        table = comparison_markdown(results)
        if table:
            md[-2:-2] = ["## PINN vs ePIE vs constant baseline (held-out data)", "", table]
            for r in results:
                if r.comparison and r.images:
                    name = f"comparison_{r.scenario}__{r.profile}.png"
                    paths[name] = out / name
                    comparison_png(r, paths[name])
                    md[-2:-2] = [f"![{r.scenario}/{r.profile}]({name})", ""]
        curves = [r for r in results if r.curve.get("epoch")]
        if curves:
            md[-2:-2] = ["## Learning curves (held-out data)", ""]
            for r in curves:
                name = f"curve_{r.scenario}__{r.profile}.png"
                paths[name] = out / name
                curve_png(r.curve, paths[name],
                          title=f"{r.scenario} / {r.profile} ({r.tier}): held-out learning curve",
                          epie_pearson=r.comparison.get("ePIE", {}).get("amplitude.pearson"))
                md[-2:-2] = [f"![{r.scenario}/{r.profile} learning curve]({name})", ""]
        md.extend(checks_markdown(r) for r in results)
        doc = {"schema": REPORT_SCHEMA, "meta": dict(meta), "wall_s": wall_s,
               "ok": n_fail == 0, "replays": [r.to_dict() for r in results]}
        paths["json"] = jsonsafe.write_json(out / "report.json", doc)
        paths["markdown"] = atomic.write_text(out / "report.md", "\n".join(md))
    except BaseException:  # a report is whole or absent: no file of it claims a verdict alone
        for name in ("invariants.png", "scales.png", "report.json", "report.md",
                     *(n for n in paths if n.startswith(("comparison_", "curve_")))):
            (out / name).unlink(missing_ok=True)
        raise
    return paths


def default_out_dir(root: str | os.PathLike = "reports") -> pathlib.Path:
    """reports/<UTC stamp>/ (YYYYmmddTHHMMSSZ)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return pathlib.Path(root) / stamp
