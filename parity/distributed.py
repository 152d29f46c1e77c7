"""Replays on a dask.distributed cluster (`python -m parity check --workers N | --scheduler ADDR`).

A replay is an independent unit of work: `run_replay` of one ReplaySpec with the tolerance
ledger, nothing shared but the inputs. `run_replays` submits one task per spec to a cluster
and returns the ReplayOutcomes in the order of the specs, so the caller (the check command)
writes the same telemetry, golden verdicts and report as a serial run.

Determinism: every replay seeds itself (config seed) and builds its models through a
worker-local ModelCache, whose cached models equal fresh builds bit for bit (see
parity.model_cache), so a replay's record does not depend on the worker it lands on or on
what ran there before. `local_cluster(n)` starts n worker *processes* with one thread each
(one TensorFlow per process, never two replays in one interpreter at once) on 127.0.0.1
only: scheduler, workers and their HTTP routes listen on loopback, HTTP on a free port. Its
workers keep the parent's BLAS/OpenMP thread settings (dask caps them at 1 by default), since
a multi-threaded BLAS reduction sums in a thread-count-dependent order. Workers of a remote
`--scheduler` cluster must run with the same settings (and the same packages and CPU kind)
as the serial run they are compared with.

dask.distributed is imported only here and only when a cluster is asked for (the
`distributed` extra).
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator, Sequence

from .errors import ParityError
from .model_cache import ModelCache
from .replay import ReplayOutcome, ReplaySpec, run_replay
from .tolerances import Ledger

#: loopback only; the HTTP routes (dashboard, health) on a free port
HOST = "127.0.0.1"
DASHBOARD_ADDRESS = "127.0.0.1:0"

#: dask's default pre-spawn environment of a worker, less its 1-thread caps of OMP, MKL and
#: OpenBLAS (results of multi-threaded BLAS calls depend on the thread count)
WORKER_PRE_SPAWN_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 65536}

_WORKER_MODELS: ModelCache | None = None  # one model cache per worker process


class ClusterError(ParityError):
    """A cluster could not be started or reached; `where` names it (address or 'local')."""

    name_attr, prefix = "where", "dask cluster "


def _distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ClusterError("local", "dask.distributed is not installed (pip install "
                                    "'ptycho-parity[distributed]')") from exc
    return distributed


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator:
    """A dask.distributed Client of a LocalCluster of `workers` processes (1 thread each) on
    127.0.0.1; closed (workers stopped) on exit."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ClusterError("local", f"--workers must be an int >= 1, got {workers!r}")
    distributed = _distributed()
    import dask

    # the nanny caps OMP/MKL/OpenBLAS at 1 thread in its workers by default; a BLAS reduction
    # over a large array then sums in another order than the serial run, so keep the parent's
    # thread settings (the workers inherit its environment)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_PRE_SPAWN_ENVIRON}):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      host=HOST, dashboard_address=DASHBOARD_ADDRESS) as cluster:
            with distributed.Client(cluster) as client:
                yield client


@contextlib.contextmanager
def connect(address: str, timeout: float = 30.0) -> Iterator:
    """A Client of the running scheduler at `address` (e.g. tcp://127.0.0.1:8786)."""
    distributed = _distributed()
    try:
        client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(address, f"cannot connect: {exc}") from exc
    with client:
        yield client


@contextlib.contextmanager
def cluster_client(workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """Client for `--scheduler ADDRESS` (connect) or `--workers N` (local_cluster)."""
    if scheduler:
        with connect(scheduler) as client:
            yield client
    else:
        with local_cluster(int(workers or 1)) as client:
            yield client


def replay_task(spec: ReplaySpec, ledger: Ledger) -> tuple[ReplayOutcome, float]:
    """(outcome, wall seconds) of one replay, run in a worker with its worker-local cache."""
    global _WORKER_MODELS
    if _WORKER_MODELS is None:
        _WORKER_MODELS = ModelCache()
    t0 = time.perf_counter()
    outcome = run_replay(spec, ledger, progress=False, models=_WORKER_MODELS)
    return outcome, time.perf_counter() - t0


#: how long a run waits with no worker alive (all died, none restarted) before it gives up
NO_WORKER_TIMEOUT_S = 120.0
#: how often the gather loop looks at the cluster
POLL_S = 1.0


def spec_label(spec: ReplaySpec) -> str:
    """'scenario/profile/tier' of a replay spec (how a lost replay is named)."""
    return f"{spec.scenario}/{spec.profile}/{spec.tier}"


def lost_work_error(where: str, lost: Sequence[str], why: str) -> ClusterError:
    """The ClusterError (exit 2) naming the work a cluster lost and why; no result is used."""
    return ClusterError(where, f"{why}; lost work: {', '.join(lost)}. No report is written from "
                               "partial outcomes; run again (or without --workers/--scheduler)")


def _workers_alive(client) -> int:
    try:
        return len(client.scheduler_info().get("workers", {}))
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer has no usable worker
        return 0


def gather_all(client, futures: Sequence, labels: Sequence[str], where: str = "local",
               no_worker_timeout_s: float = NO_WORKER_TIMEOUT_S) -> list:
    """The results of `futures` in order, or ClusterError naming the lost work.

    A worker that dies while it runs a task is replaced (a LocalCluster's nanny restarts it)
    and the scheduler reruns the task elsewhere: the result is the same bits (every task seeds
    itself). A task whose workers keep dying (more than `distributed.scheduler.allowed-failures`
    times, dask's KilledWorker), a lost scheduler, or `no_worker_timeout_s` without any worker
    alive while work is pending raise ClusterError naming every unfinished label; the other
    futures are cancelled. An exception raised by the task itself is re-raised unchanged.
    """
    distributed = _distributed()
    from distributed import KilledWorker

    futures = list(futures)
    no_worker_since = None
    try:
        pending = list(futures)
        while pending:
            try:  # returns when one more is done; TimeoutError: none finished within POLL_S
                done, not_done = distributed.wait(pending, timeout=POLL_S,
                                                  return_when="FIRST_COMPLETED")
                if any(f.status == "error" for f in done):
                    break
                pending = list(not_done)
                continue
            except TimeoutError:
                pass
            if _workers_alive(client):
                no_worker_since = None
            elif no_worker_since is None:
                no_worker_since = time.monotonic()
            elif time.monotonic() - no_worker_since > no_worker_timeout_s:
                lost = [lab for f, lab in zip(futures, labels) if f.status != "finished"]
                raise lost_work_error(where, lost, f"no worker alive for {no_worker_timeout_s:.0f} s")
        return [f.result() for f in futures]
    except KilledWorker as exc:
        lost = [lab for f, lab in zip(futures, labels) if f.status != "finished"]
        raise lost_work_error(where, lost, f"a worker died running this work too often ({exc})") from exc
    except OSError as exc:  # the scheduler connection (CommClosedError, timeouts)
        if not _is_comm_error(exc):
            raise
        lost = [lab for f, lab in zip(futures, labels) if f.status != "finished"]
        raise lost_work_error(where, lost, f"the cluster was lost ({type(exc).__name__}: {exc})") from exc
    except distributed.client.FutureCancelledError as exc:
        lost = [lab for f, lab in zip(futures, labels) if f.status != "finished"]
        raise lost_work_error(where, lost, f"the cluster cancelled the work ({exc})") from exc
    finally:
        unfinished = [f for f in futures if f.status != "finished"]
        if unfinished:
            try:
                client.cancel(unfinished)
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass


@contextlib.contextmanager
def work_on_cluster(where: str, label: str) -> Iterator[None]:
    """Within the block (a dask computation on the active client, e.g. inspect's E), dask's
    KilledWorker (a worker died running the same task too often) or a lost scheduler
    connection raise ClusterError naming `label`, the work that was lost."""
    from distributed import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        raise lost_work_error(where, [label], f"a worker died running this work too often ({exc})") from exc
    except OSError as exc:
        if not _is_comm_error(exc):
            raise
        raise lost_work_error(where, [label], f"the cluster was lost ({type(exc).__name__}: {exc})") from exc


def _is_comm_error(exc: OSError) -> bool:
    """Whether an OSError is dask's lost connection (CommClosedError) or a timeout."""
    from distributed.comm.core import CommClosedError

    return isinstance(exc, (CommClosedError, TimeoutError))


def run_replays(client, specs: Sequence[ReplaySpec],
                ledger: Ledger) -> list[tuple[ReplayOutcome, float]]:
    """[(outcome, wall seconds)] of every spec, computed on the client's cluster, in spec order.
    An exception raised by a replay (e.g. a ConfigError) is re-raised here; lost work (see
    `gather_all`: workers that keep dying, a lost cluster) raises ClusterError naming the
    replays (scenario/profile/tier)."""
    futures = client.map(replay_task, list(specs), ledger=ledger, pure=False)
    where = str(getattr(client.scheduler, "address", None) or "local")
    return gather_all(client, futures, [spec_label(s) for s in specs], where)
