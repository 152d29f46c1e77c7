"""Shared test fixtures: the tolerance ledger and the experimental probe."""
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LEDGER_PATH = ROOT / "golden" / "tolerances.toml"
EXPERIMENTAL_PROBE = ROOT / "ptycho" / "data" / "probe_fly001_64.npz"


def _load_ledger() -> dict:
    with open(LEDGER_PATH, "rb") as fh:
        return tomllib.load(fh)


def ledger_tolerance(name: str) -> float:
    """Tolerance `tests.<name>` from golden/tolerances.toml, e.g. 'physics.tf_vs_numpy'.

    An entry is a table {rtol|atol = value, class = "..."}; the single value is returned.
    """
    node = _load_ledger()["tests"]
    for part in name.split("."):
        node = node[part]
    values = [v for k, v in node.items() if k in ("rtol", "atol", "value")]
    if len(values) != 1:
        raise KeyError(f"tolerance entry tests.{name} must hold exactly one of rtol/atol/value")
    return float(values[0])


@pytest.fixture(scope="session")
def tol():
    """Callable: tol('physics.tf_vs_numpy') -> float, from the tolerance ledger."""
    return ledger_tolerance


@pytest.fixture(scope="session")
def experimental_probe_path() -> pathlib.Path:
    """The experimental 64x64 KB-focused probe shipped with the package (copy of shared/data)."""
    return EXPERIMENTAL_PROBE
