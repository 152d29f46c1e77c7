"""Replays on local worker processes (`python -m parity check --jobs N`).

The replays run as tasks on N spawned worker processes (`task_groups`): one scenario (its
profiles, sharing that process's model cache) per task, or in a tier that trains one replay
per task; the costliest tasks are submitted first and the outcomes come back in spec order,
each as soon as its task is done (the progress lines stay in order). The telemetry is the
serial run's bit for bit: every worker pins TensorFlow's intra-op pool to the same size
(`ptycho.tfload`), and a replay depends on nothing but its spec and the model it builds (a
cached model equals a fresh build; tests/parity/test_replay.py).

`auto_jobs` is the command's default: one worker per schedulable core, at most one per task.
With the one-thread intra-op pool two trainings share 2 cores well: measured on 2 cores, two
gs2_custom trained replays side by side took 89.7 and 101.6 s where one alone took 66.0 s
(1.3x the throughput; with two-thread pools side by side, each pinned to its own core, 132.8 s
each: no gain). A worker that dies loses nothing: its task is replayed again in this process,
with a line on stderr saying so.
"""
from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, Sequence

from .progress import plain_only
from .replay import ReplayOutcome, ReplaySpec, run_replay
from .scenarios import get_scenario, tier_size, tier_trains
from .tolerances import Ledger

__all__ = ["LocalRun", "auto_jobs", "run_local", "task_groups"]


def schedulable_cores() -> int:
    """Cores this process may run on (sched_getaffinity where it exists)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def task_groups(specs: Sequence[ReplaySpec]) -> list[list[int]]:
    """Indices of `specs` as worker tasks, in order of first appearance: a tier that trains
    gives each replay a task of its own (a replay's training dwarfs the model build its
    profiles could share), any other tier one task per scenario (its profiles share the
    process's model cache)."""
    groups: dict[object, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(i if tier_trains(spec.tier) else spec.scenario, []).append(i)
    return list(groups.values())


def task_cost(spec: ReplaySpec) -> tuple[int, int, int]:
    """A sort key for a replay's cost, largest first: its gridsize, the samples it trains
    (epochs x groups of its tier sizes; 0 without training), then its scenario's number of
    setting overrides (each adds model parts or trainable weights the checks exercise)."""
    scenario = get_scenario(spec.scenario)
    sizes = tier_size(spec.tier, scenario.gridsize, scenario.name)
    trained = (sizes.nepochs or 0) * sizes.n_groups if sizes.trains else 0
    return (-scenario.gridsize, -trained, -len(scenario.overrides))


def longest_first(specs: Sequence[ReplaySpec], groups: list[list[int]]) -> list[int]:
    """Positions in `groups` in the order to submit them: the costliest tasks first
    (`task_cost` of a task's first replay), so the cheap ones fill the workers' ends
    (longest-processing-time-first); ties keep spec order. Measured on 2 cores, tiny tier: a
    gridsize-2 pair 5.9-6.5 s, gs1_custom_trainable 5.4 s, a dose-sweep pair 3.7-4.0 s; in
    spec order the last scenario ran alone for ~5 s."""
    return sorted(range(len(groups)), key=lambda g: (*task_cost(specs[groups[g][0]]), g))


def auto_jobs(tasks: int, cores: int | None = None) -> int:
    """The default worker count for `tasks` worker tasks (`task_groups`): min(schedulable
    cores, tasks)."""
    cores = schedulable_cores() if cores is None else cores
    return max(1, min(cores, tasks))


def _replay_group(specs: list[ReplaySpec], ledger: Ledger,
                  progress: bool = False) -> list[tuple[ReplayOutcome, float]]:
    """Worker task: the replays of one task, in order, with their wall seconds. progress: a
    plain line per stage of PLAIN_STAGE_S or more (parity.progress; no bars from a worker)."""
    if progress:
        plain_only()
    out = []
    for spec in specs:
        t0 = time.perf_counter()
        out.append((run_replay(spec, ledger, progress=progress), time.perf_counter() - t0))
    return out


#: seconds a worker has to end on SIGTERM before it gets SIGKILL
STOP_GRACE_S = 2.0


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (an interrupt or an error):
    SIGTERM, then SIGKILL for a worker still alive after STOP_GRACE_S (a worker inherits its
    parent's signal mask, and a parent that blocks SIGTERM, as a pytest-xdist worker does,
    leaves SIGTERM pending in its workers). Their results are discarded anyway."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=STOP_GRACE_S)
        if proc.is_alive():  # SIGTERM blocked in the worker
            proc.kill()


class LocalRun:
    """The outcomes of `run_local`: iterate for (outcome, wall seconds) in spec order; after
    the last, the workers are told to exit and `wait_exit()` waits until they have (their
    interpreter teardown, ~1.4 s with TensorFlow loaded, overlaps the caller's report)."""

    def __init__(self, pool: ProcessPoolExecutor, specs, groups, futures, ledger: Ledger,
                 workers: int):
        self._pool = pool
        self.workers = workers  #: worker processes
        self.tasks = len(groups)  #: tasks (task_groups)
        self._procs: list = []
        self._results = self._collect(specs, groups, futures, ledger)

    def __iter__(self) -> "LocalRun":
        return self

    def __next__(self) -> tuple[ReplayOutcome, float]:
        return next(self._results)

    def wait_exit(self) -> None:
        """Wait until every worker process has ended (after the last outcome was taken)."""
        for _ in self:  # outcomes nobody took (the workers exit after the last)
            pass
        for proc in self._procs:
            proc.join()

    def _collect(self, specs, groups, futures, ledger) -> Iterator[tuple[ReplayOutcome, float]]:
        pool = self._pool
        try:
            for group, future in zip(groups, futures):
                try:
                    results = future.result()
                except BrokenProcessPool:
                    names = ", ".join(f"{specs[i].scenario}/{specs[i].profile}" for i in group)
                    print(f"parity: a worker process died; replaying {names} in this process",
                          file=sys.stderr, flush=True)
                    results = _replay_group([specs[i] for i in group], ledger)
                yield from results
        except BaseException:
            _stop(pool)
            raise
        self._procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False)  # the workers exit while the caller goes on


def run_local(specs: Sequence[ReplaySpec], ledger: Ledger, jobs: int,
              on_done: Callable[[str], None] | None = None, progress: bool = False) -> LocalRun:
    """Start the replays of `specs` on `jobs` spawned worker processes (`task_groups`) and
    return a LocalRun: (outcome, wall seconds) in spec order. on_done, if given, gets a line
    as each task ends, in the order they end ('gs2_custom/legacy: 289.1 s in a worker, 1 of
    6 tasks done'), so a long run shows progress before its first replay in spec order is
    back; progress: the workers write a plain line per stage of 10 s or more. A worker that
    dies is reported on stderr and its task replayed in this process; an exception a replay
    raises (e.g. ConfigError) is re-raised by the iterator; an interrupt stops the workers."""
    groups = task_groups(specs)
    workers = max(1, min(jobs, len(groups)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    futures: list = [None] * len(groups)
    ended = itertools.count(1)

    def report(group: list[int], future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        seconds = sum(s for _, s in future.result())
        names = ", ".join(f"{specs[i].scenario}/{specs[i].profile}" for i in group)
        on_done(f"{names}: {seconds:.1f} s in a worker, {next(ended)} of {len(groups)} "
                f"tasks done")

    try:
        for g in longest_first(specs, groups):
            futures[g] = pool.submit(_replay_group, [specs[i] for i in groups[g]], ledger,
                                     progress)
            if on_done is not None:
                futures[g].add_done_callback(functools.partial(report, groups[g]))
    except BaseException:
        _stop(pool)
        raise
    return LocalRun(pool, specs, groups, futures, ledger, workers)
