"""A dask worker killed (SIGKILL of its process) while it runs replays of `check --workers N`:
the work is rerun on a restarted worker and the outcomes are the serial run's bit for bit, or,
when the scheduler may not retry it (allowed-failures 0), the command exits 2 naming the lost
replays and writes no report - within a bounded time, never a hang."""
import os
import signal
import threading
import time

import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402
import distributed  # noqa: E402

from parity import distributed as D  # noqa: E402
from parity import jsonsafe  # noqa: E402
from parity.commands import main  # noqa: E402
from parity.replay import ReplaySpec, run_replay  # noqa: E402

SPECS = [ReplaySpec(scenario="gs1_ideal", profile=p, tier="tiny", seed=1) for p in ("legacy", "current")]
#: generous hang bound (2 worker processes start TensorFlow on a shared 2-core machine)
HANG_S = 600


class Killer(threading.Thread):
    """Kill (SIGKILL) the process of the first worker seen running a task; `killed` holds
    (address, pid, keys it was running)."""

    def __init__(self, client=None):
        super().__init__(daemon=True)
        self.client, self.killed, self.stop = client, [], threading.Event()

    def _client(self):
        while self.client is None and not self.stop.is_set():
            try:
                self.client = distributed.client.default_client()
            except ValueError:
                time.sleep(0.05)
        return self.client

    def run(self):
        client = self._client()
        while not self.stop.is_set():
            try:
                busy = {a: k for a, k in client.processing().items() if k}
            except Exception:  # noqa: BLE001 - the cluster is starting or closing
                busy = {}
            if busy:
                address, keys = next(iter(busy.items()))
                time.sleep(0.5)  # well inside the replay (seconds long)
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                self.killed.append((address, pid, list(keys)))
                return
            time.sleep(0.05)


def _record_bytes(outcome):
    return jsonsafe.dumps(outcome.record)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_replays_equal_serial(ledger):
    serial = [run_replay(spec, ledger, progress=False) for spec in SPECS]
    t0 = time.monotonic()
    with D.local_cluster(2) as client:
        killer = Killer(client)
        killer.start()
        remote = D.run_replays(client, SPECS, ledger)
        killer.stop.set()
    assert killer.killed, "no worker was seen running a replay"
    assert time.monotonic() - t0 < HANG_S
    for (outcome, _), ref in zip(remote, serial):
        assert _record_bytes(outcome) == _record_bytes(ref)  # bit for bit
        assert [(c.name, c.verdict, c.value) for c in outcome.checks] == \
               [(c.name, c.verdict, c.value) for c in ref.checks]


@pytest.mark.slow
def test_work_a_killed_worker_held_without_retries_exits_2_naming_it(tmp_path, golden_dir, capsys):
    out = tmp_path / "out"
    killer = Killer()
    killer.start()
    t0 = time.monotonic()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        code = main(["check", "--workers", "2", "--scenario", "gs1_ideal", "--out", str(out),
                     "--golden-dir", str(golden_dir), "--quiet"])
    killer.stop.set()
    err = capsys.readouterr().err
    assert killer.killed, "no worker was seen running a replay"
    assert time.monotonic() - t0 < HANG_S
    assert code == 2, err
    assert "lost work: " in err and "gs1_ideal/" in err and "a worker died" in err
    assert not (out / "report.md").exists() and not (out / "report.json").exists()


def test_gather_names_lost_work_when_no_worker_is_alive():
    """A cluster whose every worker is gone (none restarted) while work is pending: the
    gather gives up after its no-worker timeout, naming the unfinished work."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            gate = distributed.Event("gate", client=client)
            future = client.submit(gate.wait, 30, key="blocked-replay", pure=False)
            client.wait_for_workers(1)
            time.sleep(0.2)
            cluster.scale(0)
            t0 = time.monotonic()
            with pytest.raises(D.ClusterError) as err:
                D.gather_all(client, [future], ["gs1_ideal/current/tiny"], "local",
                             no_worker_timeout_s=2.0)
            assert time.monotonic() - t0 < HANG_S
    assert "lost work: gs1_ideal/current/tiny" in str(err.value)
    assert "no worker alive" in str(err.value)


def test_a_task_error_is_not_reported_as_lost_work():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            future = client.submit(open, "/nonexistent/file", pure=False)
            with pytest.raises(FileNotFoundError):
                D.gather_all(client, [future], ["x"], "local")
