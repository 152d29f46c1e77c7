"""The command line is quiet by default: no TensorFlow C++ (absl) log line on stderr, in a fresh
process, for `replay` and `inspect` (the main job, `check`, is asserted in
tests/parity/test_commands.py::test_check_passes_end_to_end_on_the_clean_tree, which runs it
whole); `--verbose` shows them.

On a CPU-only machine an unconfigured TensorFlow import writes absl's pre-init notice, two
"Could not find cuda drivers" lines and "failed call to cuInit", and a legacy replay's training
probe adds tf.data's "NodeDef mentions attribute use_unbounded_threadpool" (docs/design.md §14).
The legacy profile is the one whose training probe has a validation split, i.e. the one that
printed the tf.data line.
"""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np

from ptycho.config import ModelConfig
from ptycho.objects import lines_object
from ptycho.probe import make_probe
from ptycho.raw_data import RawData
from ptycho.simulate import simulate_scan_dataset

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: an absl log line: severity letter, MMDD, time, thread id, file:line] (e.g.
#: "E0000 00:00:1796645385.946988   22776 cuda_platform.cc:52] failed call to cuInit ...")
ABSL_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]", re.MULTILINE)
ABSL_PREINIT = "All log messages before absl::InitializeLog() is called"


def _run(*args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m parity ARGS` in a fresh process whose environment sets no TensorFlow log level
    (the command decides it), as a user's shell would."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def absl_lines(stderr: str) -> list[str]:
    """The absl log lines (and absl's pre-init notice) in a process's stderr."""
    return [m.group(0) for m in ABSL_LINE.finditer(stderr)] + (
        [ABSL_PREINIT] if ABSL_PREINIT in stderr else [])


def test_replay_writes_no_tensorflow_log_line_by_default(tmp_path):
    replayed = _run("replay", "--scenario", "gs1_ideal", "--profile", "legacy", "--no-pair",
                    "--no-legacy-path", "--quiet", "--out", str(tmp_path / "L.json"))
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert absl_lines(replayed.stderr) == [], replayed.stderr


def test_verbose_shows_tensorflowabsl_lines(tmp_path):
    # the detector of the test above, on the real thing: with --verbose TensorFlow logs at
    # least its device set-up (CPU-only: the CUDA probing lines; GPU: the device creation)
    out = _run("replay", "--scenario", "gs1_ideal", "--profile", "legacy", "--no-pair",
               "--no-legacy-path", "--quiet", "--verbose", "--out", str(tmp_path / "L.json"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert absl_lines(out.stderr), out.stderr


def test_inspect_writes_nothing_to_stderr(tmp_path):
    probe = make_probe(ModelConfig(N=64, probe_scale=4.0), "ideal")
    raw = simulate_scan_dataset(lines_object(128, seed=2), probe, nphotons=1e6, seed=2,
                                n_points=16)
    path = tmp_path / "data.npz"
    RawData.from_arrays(raw.xcoords, raw.ycoords, np.asarray(raw.diff3d), raw.probeGuess,
                        metadata={"nphotons": 1e6}).to_npz(path)
    out = _run("inspect", str(path), "--gridsize", "1", "--out", str(tmp_path / "png"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr == ""
