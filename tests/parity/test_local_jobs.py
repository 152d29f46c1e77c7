"""Replays on local worker processes (`check --jobs N`, parity.local_jobs): the serial run's
telemetry, verdicts and report, a task per scenario (per replay in a tier that trains), and
nothing lost when a worker dies."""
import multiprocessing
import os
import signal
import threading
import time

import pytest

from parity.commands import main, run_check
from parity.local_jobs import auto_jobs, longest_first, task_groups
from parity.replay import DEFAULT_MODELS, ReplaySpec
from tests.parity._reports import assert_same_as_serial, check_run

SCENARIOS = ["gs1_ideal", "gs2_custom"]


def _run(out, golden_dir, jobs):
    return check_run(out, golden_dir, SCENARIOS, jobs=jobs)


@pytest.fixture(scope="module")
def serial(tmp_path_factory, golden_dir):
    return _run(tmp_path_factory.mktemp("serial"), golden_dir, jobs=1)


def _same_as_serial(run, serial):
    __tracebackhide__ = True
    assert serial[0] == 0  # the clean tree passes
    assert_same_as_serial(run, serial, len(SCENARIOS))


def _specs(scenarios):
    return [ReplaySpec(scenario=s, profile=p) for s in scenarios for p in ("legacy", "current")]


def test_task_groups_keep_the_profiles_of_a_scenario_together_in_order():
    specs = _specs(["gs2_ideal", "gs1_ideal"]) + [ReplaySpec("gs2_ideal", "legacy", seed=2)]
    assert task_groups(specs) == [[0, 1, 4], [2, 3]]


def test_task_groups_give_each_replay_of_a_training_tier_a_task():
    specs = [ReplaySpec(s, p, tier="trained") for s in ("gs2_ideal", "gs1_custom")
             for p in ("legacy", "current")]
    assert task_groups(specs) == [[0], [1], [2], [3]]


def test_longest_first_submits_the_trained_tier_by_training_samples():
    """In the trained tier gs2_custom trains 20 epochs of 512 groups, gs2_ideal 10 of 256:
    gs2_custom's replays go first, then gs2_ideal's, then gridsize 1's, legacy before current
    within a scenario (spec order)."""
    names = ["gs1_custom", "gs2_ideal", "gs2_custom"]
    specs = [ReplaySpec(s, p, tier="trained") for s in names for p in ("legacy", "current")]
    order = [(specs[g].scenario, specs[g].profile)
             for g in longest_first(specs, task_groups(specs))]
    assert order == [("gs2_custom", "legacy"), ("gs2_custom", "current"),
                     ("gs2_ideal", "legacy"), ("gs2_ideal", "current"),
                     ("gs1_custom", "legacy"), ("gs1_custom", "current")]


def test_longest_first_submits_gridsize_2_then_the_scenarios_with_overrides():
    """Gridsize 2 before gridsize 1, then more setting overrides first, ties in spec order
    (the cheap dose sweep ends the workers' queues)."""
    names = ["gs1_ideal", "gs1_ideal_1e4", "gs1_custom_trainable", "gs2_ideal", "gs1_custom",
             "gs2_custom"]
    specs = _specs(names)
    groups = task_groups(specs)
    order = [names[g] for g in longest_first(specs, groups)]
    assert order == ["gs2_custom", "gs2_ideal", "gs1_custom_trainable", "gs1_custom",
                     "gs1_ideal", "gs1_ideal_1e4"]


def test_auto_jobs_one_per_core_up_to_the_tasks():
    assert auto_jobs(8, cores=2) == 2
    assert auto_jobs(8, cores=16) == 8
    assert auto_jobs(8, cores=1) == 1
    assert auto_jobs(1, cores=16) == 1


def test_jobs_2_equals_serial_and_runs_nothing_in_this_process(tmp_path, golden_dir, serial):
    DEFAULT_MODELS.clear()
    run = _run(tmp_path, golden_dir, jobs=2)
    assert len(DEFAULT_MODELS) == 0  # every model was built in a worker
    assert not multiprocessing.active_children()  # the workers have ended when check returns
    _same_as_serial(run, serial)


def test_jobs_2_says_each_task_as_it_ends(tmp_path, golden_dir, capfd):
    """Progress with worker processes: a line saying how the replays run, then one per task in
    the order the tasks end, then the per-replay lines in spec order."""
    run_check(golden_dir=golden_dir, scenarios=SCENARIOS, out_dir=tmp_path, jobs=2, progress=True)
    err = capfd.readouterr().err.splitlines()
    assert err[0] == ("4 replays as 2 tasks on 2 worker processes: a line as each task ends, "
                      "then the results in order"), err
    done = [ln for ln in err if "tasks done" in ln]
    assert sorted(ln.split(":")[0] for ln in done) == ["gs1_ideal/legacy, gs1_ideal/current",
                                                       "gs2_custom/legacy, gs2_custom/current"]
    assert [ln.rsplit(",", 1)[1] for ln in done] == [" 1 of 2 tasks done", " 2 of 2 tasks done"]
    ordered = [ln.split(":")[0] for ln in err if ln.startswith("[")]
    assert ordered == ["[1/4] gs1_ideal/legacy", "[2/4] gs1_ideal/current",
                       "[3/4] gs2_custom/legacy", "[4/4] gs2_custom/current"], err


def test_a_killed_worker_loses_nothing(tmp_path, golden_dir, serial, capfd):
    """SIGKILL of a worker process mid-run: the pool breaks, every scenario not yet back is
    replayed in this process, stderr says so, and the results are the serial run's."""
    killed = []

    def kill_first_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if multiprocessing.active_children():
                time.sleep(2.0)  # inside TensorFlow's import or the first replay
                for child in multiprocessing.active_children():
                    try:  # a process seen a moment ago may have ended (seen once under load)
                        os.kill(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    killed.append(child.pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    run = _run(tmp_path, golden_dir, jobs=2)
    killer.join(timeout=5)
    assert killed, "no worker process was seen"
    assert "a worker process died; replaying" in capfd.readouterr().err
    _same_as_serial(run, serial)


def test_cli_rejects_jobs_below_one(capsys):
    assert main(["check", "--jobs", "0"]) == 2
    assert "--jobs: must be an integer >= 1, got '0'" in capsys.readouterr().err


def _ended(pid: int) -> bool:
    """The process is gone or a zombie (dead, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_stop_ends_the_running_workers_at_once():
    """An interrupt (or an error) stops the workers instead of waiting for their replays:
    `_stop` ends a worker busy in a two-minute task. Breaker: terminating after `shutdown`,
    which forgets the processes, leaves the worker running. (Read from /proc: the pool's own
    thread may reap the worker first, so `Process.exitcode` can read None.)"""
    from concurrent.futures import ProcessPoolExecutor

    from parity.local_jobs import _stop

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(time.sleep, 120)
    deadline = time.monotonic() + 60
    while not (future.running() and pool._processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [proc.pid for proc in pool._processes.values()]
    assert pids, "the worker did not start"
    _stop(pool)
    deadline = time.monotonic() + 30  # a hang bound, far below the task's 120 s
    while not all(_ended(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_ended(pid) for pid in pids), pids


def test_default_jobs_is_one_worker_per_task_up_to_the_cores(monkeypatch):
    """`check`'s default --jobs: the tiny tier's 16 replays are 8 scenario tasks, the trained
    tier's 6 replays 6 tasks (task_groups); a cluster takes them all (1 local job)."""
    import argparse

    from parity import local_jobs
    from parity.commands.check import _jobs

    monkeypatch.setattr(local_jobs, "schedulable_cores", lambda: 16)

    def args(tier, **kw):
        return argparse.Namespace(**{"workers": None, "scheduler": None, "jobs": None,
                                     "scenario": None, "profile": None, "tier": tier, **kw})

    assert _jobs(args("tiny")) == 8 and _jobs(args("trained")) == 6
    assert _jobs(args("trained", jobs=3)) == 3 and _jobs(args("tiny", workers=2)) == 1
