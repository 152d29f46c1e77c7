"""Shared test fixtures: the golden directory, the tolerance ledger and the experimental probe."""
import contextlib
import importlib.util
import os
import pathlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from parity.tolerances import LEDGER_NAME, Ledger, load_ledger

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "golden"
LEDGER_PATH = GOLDEN_DIR / LEDGER_NAME
EXPERIMENTAL_PROBE = ROOT / "ptycho" / "data" / "probe_fly001_64.npz"


def _bench_selected(config) -> bool:
    """Whether the mark expression selects the timed benchmarks (`-m bench`)."""
    markexpr = (config.getoption("markexpr", default="") or "").replace("not bench", "")
    return "bench" in markexpr


def trained_deselected(config) -> bool:
    """Whether the mark expression leaves out the trained tier's tests (the default addopts'
    `not trained`)."""
    markexpr = config.getoption("markexpr", default="") or ""
    return "not trained" in markexpr


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say that the trained tier's tests were left out and how to run them: pytest-xdist's
    summary line does not count deselected tests, so without this line they would be left
    out silently."""
    if trained_deselected(config) and not hasattr(config, "workerinput"):  # not an xdist worker
        terminalreporter.write_line(
            "trained tier's tests deselected (-m 'not trained', the default): run them with "
            "`python -m pytest -m trained` (.ci/run runs both)")


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (the default addopts) means no workers when benchmarks are selected
    (`-m bench`): pytest-benchmark times nothing under xdist. None: xdist's own count."""
    return 0 if _bench_selected(config) else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A distributed run without `-m bench` times no benchmark (the smoke sizes switch the
    fixture off themselves): say so to pytest-benchmark, which otherwise disables itself
    and writes a PytestBenchmarkWarning to stderr at the end of every default run."""
    distributed = config.getoption("dist", "no") != "no" or "PYTEST_XDIST_WORKER" in os.environ
    if distributed and not _bench_selected(config) and hasattr(config.option, "benchmark_disable"):
        config.option.benchmark_disable = True


def ledger_tolerance(name: str) -> float:
    """Tolerance `tests.<name>` from golden/tolerances.toml, e.g. 'physics.tf_vs_numpy'
    (the package's ledger parser, `parity.tolerances`)."""
    return load_ledger(LEDGER_PATH).test_tolerance(name)


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    """The checkout's tolerance ledger (golden/tolerances.toml), parsed and validated."""
    return load_ledger(LEDGER_PATH)


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """The checkout's golden directory."""
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def tol(ledger):
    """Callable: tol('physics.tf_vs_numpy') -> float, from the tolerance ledger."""
    return ledger.test_tolerance


@pytest.fixture(scope="session")
def experimental_probe_path() -> pathlib.Path:
    """The experimental 64x64 KB-focused probe shipped with the package (copy of shared/data)."""
    return EXPERIMENTAL_PROBE


@contextlib.contextmanager
def script_module(relpath: str, name: str) -> Iterator[ModuleType]:
    """The script at `relpath` (from the repository root, e.g. 'scripts/mutations.py') imported
    as module `name` for the duration of the block (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
