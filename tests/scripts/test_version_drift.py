"""scripts/ci/version_drift.py: drift() on constructed lock and environment dicts, the lock
reader on a small requirements file, and the report it prints."""
from __future__ import annotations


import pytest

from tests.conftest import script_module



@pytest.fixture(scope="module")
def vd():
    with script_module("scripts/ci/version_drift.py", "version_drift") as module:
        yield module


def test_drift_names_moved_missing_and_unlocked_packages(vd):
    """Breakers: comparing names without normalization; dropping the missing ('-') rows; the
    tool's own packages (pip, setuptools, wheel, the project) reported as unlocked."""
    lock = {"numpy": "2.1.0", "pytest": "9.2.0", "scipy": "1.14.1", "zarr": "2.18.3"}
    env = {"numpy": "2.1.0", "pytest": "9.3.0", "zarr": "2.18.3", "tensorflow": "2.21.0",
           "pip": "25.0", "setuptools": "75.0", "wheel": "0.45", "ptycho-parity": "0.1"}
    assert vd.drift(lock, env) == [("pytest", "9.2.0", "9.3.0"), ("scipy", "1.14.1", "-"),
                                   ("tensorflow", "-", "2.21.0")]


def test_no_drift_when_the_environment_is_the_lock(vd):
    lock = {"numpy": "2.1.0", "pytest": "9.2.0"}
    assert vd.drift(lock, dict(lock, pip="25.0")) == []


def test_read_lock_normalizes_names_and_ignores_comments_and_markers(vd, tmp_path):
    """Breaker: a reader that keeps 'Jinja2' / 'dask[distributed]' as written finds every
    one of them drifted against the normalized names of the environment."""
    lock = tmp_path / "ci.txt"
    lock.write_text("# via pip-compile\n"
                    "Jinja2==3.1.4\n"
                    "dask[distributed]==2024.8.0\n"
                    "typing_extensions==4.12.2 ; python_version < '3.12'\n"
                    "    # via something\n"
                    "-e file:.\n"
                    "zope.interface==7.0  # pinned\n")
    pins = vd.read_lock(lock)
    assert pins == {"jinja2": "3.1.4", "dask": "2024.8.0", "typing-extensions": "4.12.2",
                    "zope-interface": "7.0"}
    env = {"jinja2": "3.1.4", "dask": "2024.8.0", "typing-extensions": "4.12.2",
           "zope-interface": "7.1"}
    assert vd.drift(pins, env) == [("zope-interface", "7.0", "7.1")]


def test_main_prints_a_markdown_table_and_exits_0(vd, tmp_path, capsys, monkeypatch):
    lock = tmp_path / "ci.txt"
    lock.write_text("pytest==9.2.0\n")
    monkeypatch.setattr(vd, "installed", lambda: {"pytest": "9.3.0"})
    assert vd.main([str(lock), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| pytest | 9.2.0 | 9.3.0 |" in out and "1 packages differ" in out
    monkeypatch.setattr(vd, "installed", lambda: {"pytest": "9.2.0"})
    assert vd.main([str(lock)]) == 0
    assert "no drift" in capsys.readouterr().out
