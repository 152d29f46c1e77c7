"""Replays on a dask.distributed cluster (`check --workers N | --scheduler ADDRESS`) give the
serial run's telemetry, verdicts and report; clusters listen on loopback only."""
import json

import pytest

from parity import distributed as D
from parity.commands import build_parser, main, run_check
from tests.parity._reports import assert_same_as_serial, check_run

pytest.importorskip("distributed", reason="dask.distributed is not installed: the "
                    "'distributed' extra (pip install -e '.[distributed]') runs these tests")

SCENARIOS = ["gs1_ideal", "gs2_custom"]


def _run(out, golden_dir, **cluster):
    return check_run(out, golden_dir, SCENARIOS, **cluster)


@pytest.fixture(scope="module")
def serial(tmp_path_factory, golden_dir):
    return _run(tmp_path_factory.mktemp("serial"), golden_dir)


@pytest.fixture
def cluster_tasks(monkeypatch):
    """Spy on parity.distributed.run_replays: the replay tasks the cluster's scheduler
    processed (dask's task stream: key, worker) and the cluster's workers, per call. A check
    that ignores --workers/--scheduler (or runs the replays in-process) leaves it empty."""
    import distributed

    calls = []
    real = D.run_replays

    def spy(client, specs, ledger):
        with distributed.get_task_stream(client) as stream:
            out = real(client, specs, ledger)
        calls.append({"tasks": [t for t in stream.data if "replay_task" in str(t["key"])],
                      "workers": set(client.scheduler_info()["workers"]),
                      "scheduler": client.scheduler.address})
        return out

    monkeypatch.setattr(D, "run_replays", spy)
    return calls


def _ran_on_the_cluster(calls, n_workers):
    """One run_replays call; every replay a task that ran on one of the cluster's workers."""
    assert len(calls) == 1, calls
    tasks = calls[0]["tasks"]
    assert len(tasks) == 2 * len(SCENARIOS), tasks
    assert len(calls[0]["workers"]) == n_workers
    assert {t["worker"] for t in tasks} <= calls[0]["workers"]


def _same_as_serial(run, serial):
    __tracebackhide__ = True
    assert_same_as_serial(run, serial, len(SCENARIOS))


@pytest.mark.slow
def test_check_workers_2_equals_serial(tmp_path, golden_dir, serial, cluster_tasks):
    """Two worker processes on 127.0.0.1 (each its own TensorFlow and model cache); the
    replays ran as tasks on them (breaker: a run_check that ignores `workers`)."""
    _same_as_serial(_run(tmp_path, golden_dir, workers=2), serial)
    _ran_on_the_cluster(cluster_tasks, 2)
    assert cluster_tasks[0]["scheduler"].startswith("tcp://127.0.0.1:")


def test_check_on_a_scheduler_address_equals_serial(tmp_path, golden_dir, serial,
                                                    cluster_tasks):
    """--scheduler: a running cluster reached by address (here one in-process worker thread
    on loopback tcp; replays share that interpreter one at a time); the replays ran as tasks
    on that cluster's worker (breaker: a run_check that ignores `scheduler`)."""
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        _same_as_serial(_run(tmp_path, golden_dir, scheduler=address), serial)
        _ran_on_the_cluster(cluster_tasks, 1)
        assert cluster_tasks[0]["scheduler"] == address
        assert {t["worker"] for t in cluster_tasks[0]["tasks"]} == set(
            cluster.scheduler_info["workers"])


def test_cluster_options_parse_and_exclude_each_other(capsys):
    args = build_parser().parse_args(["check", "--workers", "3"])
    assert (args.workers, args.scheduler) == (3, None)
    args = build_parser().parse_args(["check", "--scheduler", "tcp://127.0.0.1:8786"])
    assert (args.workers, args.scheduler) == (None, "tcp://127.0.0.1:8786")
    assert main(["check", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2


def test_bad_worker_counts_and_addresses_are_cluster_errors():
    with pytest.raises(D.ClusterError) as err:
        with D.local_cluster(0):
            pass
    assert err.value.where == "local"
    with pytest.raises(D.ClusterError) as err:
        with D.connect("tcp://127.0.0.1:9", timeout=2):  # nothing listens on the discard port
            pass
    assert "127.0.0.1:9" in str(err.value)
