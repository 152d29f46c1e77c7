"""The default options (pyproject's addopts): the trained tier's tests are left out of the
README's `python -m pytest`, the summary says so, and `-m trained` selects exactly them."""
import os
import subprocess
import sys

from tests.conftest import ROOT

TRAINED_MODULES = ["tests/parity/test_trained.py", "tests/parity/test_trained_faults.py"]


def _collect(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                           "--collect-only", "-q", *args, *TRAINED_MODULES],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("PYTEST_XDIST")})


def test_default_run_deselects_the_trained_tier_and_says_how_to_run_it():
    proc = _collect()
    assert proc.returncode == 5, proc.stdout + proc.stderr  # nothing selected
    assert "deselected" in proc.stdout
    assert "`python -m pytest -m trained`" in proc.stdout, proc.stdout


def test_mark_trained_selects_the_clean_replay_and_every_training_fault():
    from parity.faults import TRAINING_FAULTS

    proc = _collect("-m", "trained")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert any("test_clean_trained_replay_passes_every_check" in i for i in ids), ids
    for fault in TRAINING_FAULTS:
        assert any(f"[{fault}]" in i for i in ids), (fault, ids)
    assert "deselected (-m 'not trained'" not in proc.stdout
