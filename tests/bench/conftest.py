"""Benchmark fixtures: one body, two modes (docs/design.md §9, §10).

Every benchmark is parametrized over sizes with `sizes(...)`: a `smoke` size without the
`bench` marker and the timed sizes marked `bench`. The default run (`-m 'not bench'`, CI)
therefore executes every benchmark body once at a tiny size, so the bodies cannot rot, while
`pytest -m bench` runs only the timed sizes.

The `bench` fixture wraps pytest-benchmark's `benchmark`:
- smoke item (no `bench` marker): the benchmark fixture is switched off (exactly what
  `--benchmark-disable` does for one test), so `bench.measure` calls the body once, timed only
  with perf_counter for the ratio rows; nothing is added to the benchmark table or JSON, and no
  timing is ever asserted.
- timed item: `bench.measure` is `benchmark.pedantic(fn, rounds, warmup_rounds, iterations=1)`
  (warm-up rounds discard the tracing call of TF functions); the references (rooflines) are
  timed with perf_counter in pedantic's untimed `setup`, i.e. interleaved round by round with
  the benchmarked call, so both see the same load on a shared machine and every ratio compares
  two timings taken seconds apart in the same process.
Both modes fill `benchmark.extra_info` through the same code and validate it with
`parity.bench_report.check_extra_info`, so a body that writes a malformed row fails the smoke run.
"""
from __future__ import annotations

import time

import pytest

from parity.bench_report import check_extra_info, make_row

from .roofline import PeakMemory, Timing, timing_of

BENCH = pytest.mark.bench
SMOKE = "smoke"


def sizes(smoke, **timed) -> list:
    """Parameters: the smoke value (id 'smoke', unmarked) then each timed value marked `bench`.

    sizes((8, 16), **{"64MiB": ...}) -> [param(smoke, id='smoke'), param(v, id=k, marks=bench)].
    """
    return [pytest.param(smoke, id=SMOKE)] + [pytest.param(v, id=k, marks=BENCH) for k, v in timed.items()]


class BenchRun:
    """One benchmark body's measurements and its extra_info (see module docstring)."""

    def __init__(self, benchmark, *, timed: bool, nodeid: str):
        self.benchmark = benchmark
        self.timed = timed
        self.nodeid = nodeid
        self.info = benchmark.extra_info
        self.info.update(timed=timed, rows=[], references={})

    def rounds(self, n: int) -> int:
        """n timed rounds, 1 in the smoke run."""
        return int(n) if self.timed else 1

    def measure(self, fn, *, rounds: int, warmup: int = 0, references=None, repeat: int = 1):
        """Time fn (the benchmarked implementation) and its references, interleaved.

        references: {name: callable}; each is called `repeat` times (perf_counter) in the
        untimed setup before every round of fn, warm-up rounds included, so fn and its
        references see the same machine load; the samples of warm-up rounds are dropped.
        Returns (fn's result, Timing of fn, {name: Timing}); all are stored in extra_info.
        """
        refs = dict(references or {})
        samples: dict[str, list[float]] = {name: [] for name in refs}

        def setup():
            for name, ref in refs.items():
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    ref()
                    samples[name].append(time.perf_counter() - t0)

        if self.timed and self.benchmark.enabled:
            result = self.benchmark.pedantic(fn, setup=setup, rounds=rounds, warmup_rounds=warmup,
                                             iterations=1)
            stats = self.benchmark.stats.stats
            timing = Timing(float(stats.median), float(stats.min), int(stats.rounds))
            dropped = warmup * repeat
        else:
            own = []

            def once():
                t0 = time.perf_counter()
                out = fn()
                own.append(time.perf_counter() - t0)
                return out

            result = self.benchmark.pedantic(once, setup=setup, rounds=1, iterations=1)
            timing = timing_of(own)
            dropped = 0
        ref_timings = {name: timing_of(s[dropped:]) for name, s in samples.items()}
        self.info["timing"] = timing.to_dict()
        self.info["references"].update({name: t.to_dict() for name, t in ref_timings.items()})
        return result, timing, ref_timings

    def memory(self, fn):
        """(fn's result, peak extra memory dict) of one extra, untimed call; stored in extra_info."""
        result, mem = PeakMemory().measure(fn)
        self.info["memory"] = mem
        return result, mem

    def describe(self, **info) -> None:
        """Add keys to extra_info (device, dtype, shape, threads, versions, case, impl, ...)."""
        self.info.update(info)

    def row(self, metric: str, **kw) -> dict:
        """Append a report row (parity.bench_report.make_row)."""
        row = make_row(metric, **kw)
        self.info["rows"].append(row)
        return row

    def finish(self) -> dict:
        """Validate extra_info against the report schema; returns it."""
        return check_extra_info(self.info, self.nodeid)


@pytest.fixture
def bench(request, benchmark) -> BenchRun:
    """BenchRun for this item: timed when it carries the `bench` marker, else a smoke run."""
    timed = request.node.get_closest_marker("bench") is not None
    if not timed:
        benchmark.disabled = True  # per-test --benchmark-disable: run once, record nothing
    return BenchRun(benchmark, timed=timed, nodeid=request.node.nodeid)


@pytest.fixture(scope="session")
def tf_module():
    """TensorFlow through ptycho.tfload (the project's environment settings)."""
    from ptycho.tfload import tf

    return tf()
