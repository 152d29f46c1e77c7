"""Running a check on a few scenarios and comparing two check reports of the same replays
(not a test module): serial vs a dask cluster (test_distributed) or local processes
(test_local_jobs)."""
import json

from parity.commands import run_check

#: report fields that differ between two runs of the same replays (clock and command line)
VOLATILE = {"wall_s", "date", "command"}


def strip_volatile(obj):
    """`obj` (a report.json tree) without the VOLATILE fields, at any depth."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def check_run(out, golden_dir, scenarios, **how):
    """`run_check` of `scenarios` x both profiles into `out` (`how`: workers, scheduler or
    jobs): (exit code, [(scenario, profile, status, golden)], report.json, {telemetry file:
    bytes})."""
    code, results, path, _ = run_check(golden_dir=golden_dir, scenarios=scenarios, out_dir=out,
                                       progress=False, **how)
    report = json.loads((path / "report.json").read_text())
    telemetry = {p.name: p.read_bytes() for p in sorted((path / "telemetry").glob("*.json"))}
    return code, [(r.scenario, r.profile, r.status, r.golden) for r in results], report, telemetry


def assert_same_as_serial(run, serial, n_scenarios: int):
    """Same exit code, statuses, golden verdicts, report and telemetry bytes as the serial run
    (the verdicts themselves are whatever the goldens say: equality is the property here)."""
    __tracebackhide__ = True
    code, rows, report, telemetry = run
    assert code == serial[0]
    assert rows == serial[1] and len(rows) == 2 * n_scenarios
    assert telemetry == serial[3] and len(telemetry) == 2 * n_scenarios  # byte for byte
    assert strip_volatile(report) == strip_volatile(serial[2])
