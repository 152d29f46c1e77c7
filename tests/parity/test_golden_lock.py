"""Concurrent and interrupted `golden update`s (parity.golden_lock): one writer per golden
directory, a stale lock of a dead process taken over, every golden whole (old or new) after a
kill -9 at any point, and the interrupted update's written files named."""
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from parity import golden_lock
from parity.commands import main
from parity.golden import load_golden
from tests.conftest import GOLDEN_DIR, ROOT

STEMS = sorted(p.stem for p in GOLDEN_DIR.glob("*__*__tiny.json"))[:8]
#: generous bound for a subprocess that should end by itself (a hang fails, nothing is timed)
HANG_S = 120


def _env():
    return {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(ROOT)}


def _records(tmp: pathlib.Path, factor: float, tag: str) -> list[pathlib.Path]:
    """Records of the STEMS goldens with every nonzero float value times `factor` (updates run
    with --force, so a written golden holds exactly these values)."""
    out = tmp / f"records_{tag}"
    out.mkdir()
    paths = []
    for stem in STEMS:
        data = json.loads((GOLDEN_DIR / f"{stem}.json").read_text())
        data["values"] = {k: (v * factor if isinstance(v, float) and v else v)
                          for k, v in data["values"].items()}
        path = out / f"{stem}.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def _golden_copy(tmp: pathlib.Path) -> pathlib.Path:
    d = tmp / "golden"
    d.mkdir()
    shutil.copy(GOLDEN_DIR / "tolerances.toml", d)
    for stem in STEMS:
        shutil.copy(GOLDEN_DIR / f"{stem}.json", d)
    return d


def _values(directory: pathlib.Path) -> dict[str, dict]:
    """stem -> values of every golden in `directory` (load_golden: each must parse whole)."""
    return {p.stem: load_golden(p)["values"] for p in sorted(directory.glob("*__*__*.json"))}


def _record_values(paths) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["values"] for p in paths}


def _update_cmd(directory, records):
    return [sys.executable, "-m", "parity", "golden", "update", *map(str, records),
            "--golden-dir", str(directory), "--force"]


HOLD = """
import sys
from parity import golden_lock
lock = golden_lock.acquire(sys.argv[1], "python -m parity golden update --held-by-test")
lock.start_writing(sys.argv[2]); lock.done_writing(sys.argv[2])
print("held", flush=True)
if sys.argv[3] == "die":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.readline()
golden_lock.release(lock, finished=True)
"""


def _holder(directory, mode):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), f"{STEMS[0]}.json", mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
    if mode == "hold":
        assert proc.stdout.readline().strip() == "held"
    else:
        proc.wait(timeout=HANG_S)
        assert proc.returncode == -signal.SIGKILL
    return proc


def test_a_second_update_exits_2_naming_the_live_holder_and_writes_nothing(tmp_path, capsys):
    directory = _golden_copy(tmp_path)
    new = _records(tmp_path, 1.5, "new")
    before = _values(directory)
    holder = _holder(directory, "hold")
    try:
        code = main(["golden", "update", *map(str, new), "--golden-dir", str(directory), "--force"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"pid {holder.pid}" in err and "--held-by-test" in err and golden_lock.LOCK_NAME in err
        assert _values(directory) == before
    finally:
        holder.communicate("\n", timeout=HANG_S)
    assert main(["golden", "update", *map(str, new), "--golden-dir", str(directory), "--force"]) == 0
    assert _values(directory) == _record_values(new)
    assert not golden_lock.lock_path(directory).exists()  # a finished update removes its journal


def test_a_stale_lock_of_a_killed_update_is_taken_over_and_its_files_named(tmp_path, capsys):
    directory = _golden_copy(tmp_path)
    _holder(directory, "die")
    leftover = directory / f".{STEMS[1]}.json.abc123.tmp"  # what a kill -9 inside atomic leaves
    leftover.write_text("{\"torn")
    journal = golden_lock.interrupted_update(directory)
    assert journal is not None and journal.written == (f"{STEMS[0]}.json",)
    new = _records(tmp_path, 2.0, "new")
    assert main(["golden", "update", *map(str, new), "--golden-dir", str(directory), "--force"]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and f"wrote {STEMS[0]}.json" in out and "--held-by-test" in out
    assert leftover.name in out and not leftover.exists()
    assert all(f"| {s}.json | updated |" in out for s in STEMS)
    assert out.rstrip().endswith(f"{len(STEMS)} of {len(STEMS)} golden files written")
    assert _values(directory) == _record_values(new)
    assert golden_lock.interrupted_update(directory) is None


def test_an_update_that_stops_midway_names_what_it_wrote_and_keeps_its_journal(
        tmp_path, capsys, monkeypatch):
    """An exception after the first golden file (here a KeyboardInterrupt raised by the second
    write): the files written are named, the journal stays for the next update to show."""
    import parity.commands.golden as cmd

    directory = _golden_copy(tmp_path)
    new = _records(tmp_path, 3.0, "new")
    real, calls = cmd.update_goldens, []

    def second_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cmd, "update_goldens", second_interrupted)
    assert main(["golden", "update", *map(str, new), "--golden-dir", str(directory), "--force"]) == 130
    err = capsys.readouterr().err
    assert f"wrote 1 of {len(STEMS)} golden files: {STEMS[0]}.json" in err
    assert "interrupted by SIGINT" in err
    journal = golden_lock.interrupted_update(directory)
    assert journal.written == (f"{STEMS[0]}.json",) and journal.writing == f"{STEMS[1]}.json"
    now = _values(directory)
    assert now[STEMS[0]] == _record_values(new)[STEMS[0]]
    assert now[STEMS[1]] == load_golden(GOLDEN_DIR / f"{STEMS[1]}.json")["values"]


def test_an_update_started_while_another_is_mid_write_exits_2(tmp_path):
    """Update A is frozen (SIGSTOP) after it journaled its first golden write; update B exits 2
    naming A and writes nothing; A, resumed, finishes: every golden is A's."""
    directory = _golden_copy(tmp_path)
    a, b = _records(tmp_path, 1.5, "a"), _records(tmp_path, 2.5, "b")
    lock = golden_lock.lock_path(directory)
    first = subprocess.Popen(_update_cmd(directory, a), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + HANG_S
        while first.poll() is None and time.monotonic() < deadline:
            if lock.exists() and '"writing"' in lock.read_text():
                first.send_signal(signal.SIGSTOP)
                break
            time.sleep(0.0005)
        assert first.poll() is None, "update A ended before it could be frozen mid-write"
        second = subprocess.run(_update_cmd(directory, b), capture_output=True, text=True,
                                env=_env(), timeout=HANG_S)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stdout[-2000:]
    assert f"pid {first.pid}" in second.stderr and "another golden update is running" in second.stderr
    assert first.wait(timeout=HANG_S) == 0
    assert _values(directory) == _record_values(a)


def test_two_updates_racing_leave_every_golden_from_one_writer(tmp_path):
    """Two `golden update` processes started together on one directory: each exits 0 or 2
    (naming the other), at least one writes, and the files all come from one update."""
    directory = _golden_copy(tmp_path)
    a, b = _records(tmp_path, 1.5, "a"), _records(tmp_path, 2.5, "b")
    procs = [subprocess.Popen(_update_cmd(directory, recs), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env()) for recs in (a, b)]
    outs = [p.communicate(timeout=HANG_S) for p in procs]
    codes = [p.returncode for p in procs]
    assert set(codes) <= {0, 2} and 0 in codes, (codes, outs)
    for (_, err), code, other in zip(outs, codes, reversed(procs)):
        if code == 2:
            assert f"pid {other.pid}" in err and "another golden update is running" in err
    final = _values(directory)
    assert final in (_record_values(a), _record_values(b))
    assert not golden_lock.lock_path(directory).exists()


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_every_golden_old_or_new(tmp_path):
    """20 updates killed with SIGKILL at random points (after a random number of journaled
    golden writes plus a random delay): every golden parses and holds its old or its new
    values, the journal names at least the files that are new, and the next update takes the
    stale lock over and finishes."""
    rng = random.Random(20)
    directory = _golden_copy(tmp_path)
    old_dir = tmp_path / "old"
    shutil.copytree(directory, old_dir)
    new = _records(tmp_path, 1.75, "new")
    old_values, new_values = _values(old_dir), _record_values(new)
    lock = golden_lock.lock_path(directory)
    outcomes = {"before_lock": 0, "mid_update": 0, "finished": 0}
    for _ in range(20):
        shutil.rmtree(directory)
        shutil.copytree(old_dir, directory)
        target = rng.randint(0, len(STEMS))
        proc = subprocess.Popen(_update_cmd(directory, new), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=_env())
        deadline = time.monotonic() + HANG_S
        while proc.poll() is None and time.monotonic() < deadline:
            text = lock.read_text() if lock.exists() else ""
            if text.count('"writing"') >= target and (target or text):
                break
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HANG_S)
        now = _values(directory)
        assert set(now) == set(old_values)
        newer = {s for s in now if now[s] == new_values[s] != old_values[s]}
        assert all(now[s] in (old_values[s], new_values[s]) for s in now)
        journal = golden_lock.interrupted_update(directory)
        if proc.returncode == 0:
            outcomes["finished"] += 1
            assert journal is None and newer == set(now)
            continue
        outcomes["mid_update" if journal and (journal.written or journal.writing)
                 else "before_lock"] += 1
        if journal is not None:  # the journal names every new file (one more may be in flight)
            named = {pathlib.Path(n).stem for n in (*journal.written, journal.writing) if n}
            assert newer <= named and {pathlib.Path(n).stem for n in journal.written} <= newer
        else:
            assert not newer
        done = subprocess.run(_update_cmd(directory, new), capture_output=True, text=True,
                              env=_env(), timeout=HANG_S)
        assert done.returncode == 0, done.stderr
        assert _values(directory) == new_values
        assert not list(directory.glob(golden_lock.TEMP_GLOB)) and not lock.exists()
    assert outcomes["mid_update"] >= 5, outcomes
