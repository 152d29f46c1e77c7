"""Progress on stderr (parity.progress): plain lines when stderr is not a terminal, one per stage
that ran at least PLAIN_STAGE_S seconds; the README and docs/design.md state that threshold."""
import pathlib
import re

from parity import progress, replay
from parity.model_cache import ModelCache
from parity.replay import ReplaySpec, resolve, run_stages
from parity.records import CORE_STAGES

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_docs_state_the_plain_stage_threshold():
    want = f"{progress.PLAIN_STAGE_S:g} s or more"
    for name in ("README.md", "docs/design.md"):
        assert want in " ".join((ROOT / name).read_text().split()), name


def test_a_stage_at_the_threshold_gets_a_plain_line_and_none_without_progress(monkeypatch, capsys):
    assert not progress.on_terminal()  # pytest captures stderr: not a terminal
    spec = ReplaySpec("gs1_ideal", "current")
    stages = CORE_STAGES[:4]
    monkeypatch.setattr(replay, "PLAIN_STAGE_S", 0.0)  # every stage is "slow"
    run_stages(resolve(spec), stages=stages, progress=True, models=ModelCache())
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split()[-3].rstrip(":") for ln in lines] == list(stages), lines
    assert all(re.fullmatch(r"  gs1_ideal/current \[dataclass\] \w+: \d+ s", ln) for ln in lines)
    run_stages(resolve(spec), stages=stages, progress=False, models=ModelCache())
    assert capsys.readouterr().err == ""


def test_plain_only_turns_a_terminal_into_plain_lines(monkeypatch):
    """A worker process draws no bars on its parent's terminal (parity.local_jobs)."""
    class Tty:
        def isatty(self):
            return True

    monkeypatch.setattr(progress.sys, "stderr", Tty())
    monkeypatch.setattr(progress, "_PLAIN_ONLY", False)
    assert progress.on_terminal()
    progress.plain_only()
    assert not progress.on_terminal()
