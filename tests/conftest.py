"""Shared test fixtures: the golden directory, the tolerance ledger and the experimental probe."""
import pathlib

import pytest

from parity.tolerances import LEDGER_NAME, Ledger, load_ledger

ROOT = pathlib.Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "golden"
LEDGER_PATH = GOLDEN_DIR / LEDGER_NAME
EXPERIMENTAL_PROBE = ROOT / "ptycho" / "data" / "probe_fly001_64.npz"


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
