"""Replays on local worker processes (`python -m parity check --jobs N`).

Each scenario's replays (its profiles) run in one spawned worker process, so they share that
process's model cache; the scenarios are spread over N workers and the outcomes come back in
spec order, each as soon as its scenario is done (the progress lines stay in order). The
telemetry is the serial run's bit for bit: every worker pins TensorFlow's intra-op pool to the
same size (`ptycho.tfload`), and a replay depends on nothing but its spec and the model it
builds (a cached model equals a fresh build; tests/parity/test_replay.py).

`auto_jobs` is the command's default: one worker per schedulable core, at most one per
scenario, and 1 for tiers that train (two trainings on the same cores contend: measured on 2
cores, the trained tier's fault tests took 175-184 s beside another training vs 90-111 s
alone). A worker that dies loses nothing: its scenario is replayed again in this process,
with a line on stderr saying so.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator, Sequence

from .replay import ReplayOutcome, ReplaySpec, run_replay
from .scenarios import get_scenario, tier_trains
from .tolerances import Ledger

__all__ = ["LocalRun", "auto_jobs", "run_local", "scenario_groups"]


def schedulable_cores() -> int:
    """Cores this process may run on (sched_getaffinity where it exists)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def scenario_groups(specs: Sequence[ReplaySpec]) -> list[list[int]]:
    """Indices of `specs` grouped by scenario, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.scenario, []).append(i)
    return list(groups.values())


def longest_first(specs: Sequence[ReplaySpec], groups: list[list[int]]) -> list[int]:
    """Positions in `groups` in the order to submit them: the costliest scenarios first, so
    the cheap ones fill the workers' ends (longest-processing-time-first). The cost estimate
    is the scenario's gridsize, then its number of setting overrides (each adds model parts
    or trainable weights the checks exercise); ties keep spec order. Measured on 2 cores, tiny
    tier: a gridsize-2 pair 5.9-6.5 s, gs1_custom_trainable 5.4 s, a dose-sweep pair 3.7-4.0 s;
    in spec order the last scenario ran alone for ~5 s."""
    def costliest_first(position: int) -> tuple[int, int, int]:
        scenario = get_scenario(specs[groups[position][0]].scenario)
        return (-scenario.gridsize, -len(scenario.overrides), position)
    return sorted(range(len(groups)), key=costliest_first)


def auto_jobs(scenarios: int, tier: str, cores: int | None = None) -> int:
    """The default worker count for `scenarios` distinct scenarios: min(schedulable cores,
    scenarios), 1 for a training tier."""
    if tier_trains(tier):
        return 1
    cores = schedulable_cores() if cores is None else cores
    return max(1, min(cores, scenarios))


def _replay_group(specs: list[ReplaySpec], ledger: Ledger) -> list[tuple[ReplayOutcome, float]]:
    """Worker task: the replays of one scenario, in order, with their wall seconds."""
    out = []
    for spec in specs:
        t0 = time.perf_counter()
        out.append((run_replay(spec, ledger), time.perf_counter() - t0))
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

    def __init__(self, pool: ProcessPoolExecutor, specs, groups, futures, ledger: Ledger):
        self._pool = pool
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


def run_local(specs: Sequence[ReplaySpec], ledger: Ledger, jobs: int) -> LocalRun:
    """Start the replays of `specs` on `jobs` spawned worker processes (a scenario per task)
    and return a LocalRun: (outcome, wall seconds) in spec order. A worker that dies is
    reported on stderr and its scenario replayed in this process; an exception a replay
    raises (e.g. ConfigError) is re-raised by the iterator; an interrupt stops the workers."""
    groups = scenario_groups(specs)
    pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(groups))),
                               mp_context=multiprocessing.get_context("spawn"))
    futures: list = [None] * len(groups)
    try:
        for g in longest_first(specs, groups):
            futures[g] = pool.submit(_replay_group, [specs[i] for i in groups[g]], ledger)
    except BaseException:
        _stop(pool)
        raise
    return LocalRun(pool, specs, groups, futures, ledger)
