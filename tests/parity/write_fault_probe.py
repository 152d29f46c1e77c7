"""Run every writer of the harness into a folder that cannot take it (a full or read-only
filesystem, or under a file size limit) and print what happened, as one JSON line.

`python -m tests.parity.write_fault_probe prepare DIR` puts the old files in DIR (a golden
directory with one golden, old report/telemetry files); `run DIR SRC [--fsize BYTES]` then runs
each writer into DIR (SRC: a folder elsewhere for the inputs) and prints
{writer: {"error": type, "message": str, "code": exit code or None, "target": path}}.
Used by tests/parity/test_write_faults.py inside a tmpfs of a private mount namespace
(`unshare -r -m`), or with RLIMIT_FSIZE where no namespace can be made.
"""
from __future__ import annotations

import contextlib
import io
import json
import pathlib
import resource
import shutil
import signal
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden"
STEM = "gs1_ideal__current__tiny"
GEOMETRY = dict(energy_J=8000 * 1.602176634e-19, distance_m=2.0, pixel_m=75e-6)


def _raw():
    from ptycho.raw_data import RawData

    rng = np.random.default_rng(5)
    M, N = 48, 32
    probe = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))).astype(np.complex64)
    return RawData.from_arrays(rng.uniform(10, 90, M), rng.uniform(10, 90, M),
                               rng.uniform(0.1, 2, (M, N, N)).astype(np.float32), probe,
                               metadata={"nphotons": 1e5})


def _record(scale: float) -> dict:
    data = json.loads((GOLDEN / f"{STEM}.json").read_text())
    data["values"] = {k: (v * scale if isinstance(v, float) and v else v)
                      for k, v in data["values"].items()}
    return data


def prepare(target: pathlib.Path) -> None:
    """Old files the writers must leave intact: a golden directory and old outputs."""
    gdir = target / "golden"
    gdir.mkdir(parents=True)
    shutil.copy(GOLDEN / "tolerances.toml", gdir)
    shutil.copy(GOLDEN / f"{STEM}.json", gdir)
    (target / "old").mkdir()
    for name in ("telemetry.json", "report.json", "data.npz", "scan.cxi"):
        (target / "old" / name).write_text(f"old {name}\n")


def inputs(src: pathlib.Path) -> None:
    """The inputs of the CLI writers, in `src` (a folder that can be written)."""
    (src / "record.json").write_text(json.dumps(_record(1.5)))
    _raw().to_npz(src / "in.npz")


def listing(target: pathlib.Path) -> dict[str, str]:
    """relative path -> content (text, or '<N bytes>' for binary) of every file under target."""
    out = {}
    for p in sorted(target.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            try:
                out[str(p.relative_to(target))] = data.decode("utf-8")
            except UnicodeDecodeError:
                out[str(p.relative_to(target))] = f"<{len(data)} bytes>"
    return out


def _writers(target: pathlib.Path, src: pathlib.Path):
    """(name, target path, callable) of every writer; a callable returning an int is a CLI
    command (its exit code)."""
    from parity import golden, jsonsafe
    from parity.commands import main
    from parity.report import ReplayResult, write_report
    from ptycho.cxi import write_cxi

    raw = _raw()
    rec, npz_in = src / "record.json", src / "in.npz"
    big = {"values": {f"k{i:05d}": float(i) / 7 for i in range(4000)}}
    results = [ReplayResult("gs1_ideal", p, "tiny", scalars={"g": 1.0}) for p in ("legacy", "current")]
    old = target / "old"
    return [
        ("telemetry", old / "telemetry.json", lambda: jsonsafe.write_json(old / "telemetry.json", big)),
        ("golden", target / "golden" / f"{STEM}.json",
         lambda: golden.write_golden(target / "golden" / f"{STEM}.json", _record(2.0))),
        ("report", target / "report", lambda: write_report(target / "report", results,
                                                           meta={"tier": "tiny"}, wall_s=1.0)),
        ("npz", old / "data.npz", lambda: raw.to_npz(old / "data.npz")),
        ("cxi", old / "scan.cxi", lambda: write_cxi(old / "scan.cxi", raw, scale=3.0, **GEOMETRY)),
        ("cli_golden_update", target / "golden",
         lambda: main(["golden", "update", str(rec), "--golden-dir", str(target / "golden"), "--force"])),
        ("cli_inspect_pngs", target / "inspect",
         lambda: main(["inspect", str(npz_in), "--nphotons", "1e5", "--gridsize", "1",
                       "--out", str(target / "inspect")])),
    ]


def run(target: pathlib.Path, src: pathlib.Path) -> dict:
    out = {}
    for name, path, write in _writers(target, src):
        print(f"writer {name}", file=sys.stderr, flush=True)  # names the writer of a crash
        err = io.StringIO()
        entry = {"target": str(path), "code": None, "error": None, "message": ""}
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                result = write()
            if isinstance(result, int):
                entry["code"] = result
        except Exception as exc:  # noqa: BLE001 - recorded for the test to judge
            entry["error"], entry["message"] = type(exc).__name__, str(exc)
        entry["stderr"] = err.getvalue()[-2000:]
        out[name] = entry
    return out


if __name__ == "__main__":
    mode, target = sys.argv[1], pathlib.Path(sys.argv[2])
    if mode == "prepare":
        prepare(target)
    else:
        src = pathlib.Path(sys.argv[3])
        inputs(src)
        if "--fsize" in sys.argv:
            limit = int(sys.argv[sys.argv.index("--fsize") + 1])
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        result = run(target, src)
        print(json.dumps({"writers": result, "listing": listing(target)}))
