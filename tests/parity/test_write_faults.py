"""Writing on a full disk, a read-only folder or past the file size limit: every writer (telemetry
JSON, goldens, the report and its PNGs, NPZ, CXI, `golden update`, `inspect`'s PNGs) raises
WriteError naming the file (exit 2 from the CLI), leaves the old file as it was, and leaves no
partial file and no temp file behind.

The full and read-only filesystems are real: a 1 MiB tmpfs in a private mount namespace
(`unshare -r -m`), filled to 8 KiB of free room, or remounted read-only. The file size limit
(RLIMIT_FSIZE, 1 KiB) needs no privilege and always runs; it found that HDF5 crashes the
interpreter on a write past the limit (ptycho.cxi._check_size_limit refuses first)."""
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from ptycho import atomic
from ptycho.errors import WriteError
from tests.conftest import ROOT

HANG_S = 300
WRITERS = ["telemetry", "golden", "report", "npz", "cxi", "cli_golden_update", "cli_inspect_pngs"]
#: the old files `prepare` puts there, which must survive every failed write
OLD = {f"old/{n}": f"old {n}\n" for n in ("telemetry.json", "report.json", "data.npz", "scan.cxi")}

NAMESPACE_SCRIPT = """
set -e
T="$1"; SRC="$2"; MODE="$3"; PY="$4"
mount -t tmpfs -o size=1m tmpfs "$T"
"$PY" -m tests.parity.write_fault_probe prepare "$T"
if [ "$MODE" = full ]; then
  dd if=/dev/zero of="$T/filler" bs=4096 2>/dev/null || true
  truncate -s -8K "$T/filler"
else
  mount -o remount,ro "$T"
fi
exec "$PY" -X faulthandler -m tests.parity.write_fault_probe run "$T" "$SRC"
"""


def _env():
    return {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _namespace_problem() -> str | None:
    """Why no private tmpfs can be mounted here (None when it can)."""
    if shutil.which("unshare") is None:
        return "no `unshare` command (util-linux)"
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a user namespace: {probe.stderr.strip()[:200]}"
    return None


def _outcome(proc) -> dict:
    assert proc.returncode == 0, f"the probe crashed (rc {proc.returncode}): {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_clean_failures(result: dict, target, codes: set[int]) -> None:
    """Each writer failed with a WriteError (or exit 2) naming a path under its target; the old
    files are intact; no temp file, no partial file, no lock journal is left."""
    for name in WRITERS:
        w = result["writers"][name]
        if name.startswith("cli_"):
            assert w["code"] == 2, (name, w)
            assert "cannot write " + w["target"] in w["stderr"], (name, w)
        else:
            assert w["error"] == "WriteError", (name, w)
            assert w["message"].startswith("cannot write " + w["target"]), (name, w)
            assert any(os.strerror(c) in w["message"] for c in codes), (name, w)
    listing = result["listing"]
    golden = (ROOT / "golden" / "gs1_ideal__current__tiny.json").read_text()
    expected = {**OLD, "golden/gs1_ideal__current__tiny.json": golden,
                "golden/tolerances.toml": (ROOT / "golden" / "tolerances.toml").read_text()}
    left = {k: v for k, v in listing.items() if k != "filler"}
    assert left == expected, sorted(set(left) ^ set(expected))


@pytest.mark.parametrize("mode,code", [("full", errno.ENOSPC), ("ro", errno.EROFS)])
def test_writers_on_a_full_or_read_only_tmpfs_fail_cleanly(tmp_path, mode, code):
    problem = _namespace_problem()
    if problem:
        pytest.skip(problem)
    target, src = tmp_path / "mnt", tmp_path / "src"
    target.mkdir()
    src.mkdir()
    proc = subprocess.run(["unshare", "-r", "-m", "sh", "-c", NAMESPACE_SCRIPT, "sh", str(target),
                           str(src), mode, sys.executable], capture_output=True, text=True,
                          cwd=ROOT, env=_env(), timeout=HANG_S)
    _assert_clean_failures(_outcome(proc), target, {code})


def test_writers_past_the_file_size_limit_fail_cleanly(tmp_path):
    """RLIMIT_FSIZE of 1 KiB (SIGXFSZ ignored: a write past it fails with EFBIG)."""
    target, src = tmp_path / "t", tmp_path / "src"
    target.mkdir()
    src.mkdir()
    subprocess.run([sys.executable, "-m", "tests.parity.write_fault_probe", "prepare", str(target)],
                   check=True, cwd=ROOT, env=_env(), timeout=HANG_S)
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m",
                           "tests.parity.write_fault_probe", "run", str(target), str(src),
                           "--fsize", "1024"], capture_output=True, text=True, cwd=ROOT,
                          env=_env(), timeout=HANG_S)
    _assert_clean_failures(_outcome(proc), target, {errno.EFBIG})


def _enospc_at_fsync(monkeypatch):
    """A full disk surfacing where delayed allocation reports it: at fsync of the temp file."""
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)


def test_replacing_turns_enospc_into_write_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    path.write_text("old")
    _enospc_at_fsync(monkeypatch)
    with pytest.raises(WriteError) as err:
        atomic.write_text(path, "new" * 1000)
    assert err.value.path == str(path) and err.value.errno == errno.ENOSPC
    assert isinstance(err.value, OSError)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_other_os_errors_of_a_writer_are_not_relabelled(tmp_path):
    """Only room/permission errors name the target as unwritable; a writer's own OSError (here
    a source file that vanished) passes through unchanged, the temp file still removed."""
    with pytest.raises(FileNotFoundError):
        with atomic.replacing(tmp_path / "x.bin"):
            open(tmp_path / "missing-source")
    assert list(tmp_path.iterdir()) == []


def test_check_on_a_full_disk_exits_2_naming_the_report_and_leaves_no_report(
        tmp_path, monkeypatch, capsys, golden_dir):
    """`check` whose report cannot be written (ENOSPC at the write): exit 2 naming the file,
    no report.md / report.json claiming a verdict, no temp file."""
    from parity.commands import main

    real_fsync = atomic.os.fsync

    def full_for_reports(fd):
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(".report."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_for_reports)
    out = tmp_path / "out"
    code = main(["check", "--scenario", "gs1_ideal", "--profile", "current", "--out", str(out),
                 "--golden-dir", str(golden_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot write {out}/report." in err and "No space left on device" in err
    left = sorted(p.name for p in out.iterdir())
    assert left == ["telemetry"], left  # no PNG, report.md or report.json, no temp file
