"""The check registry: every verdict the harness gives, registered once, evaluated by one engine.

Modules:
- `kit`: `Check` (a verdict: name, stage, value, bound, verdict, detail), `Result` (what a
  check function returns), `CheckContext` (profile + tolerance ledger), PASS/FAIL/WARN and the
  helpers `rel_check`, `bound_check`, `parts_check`, `passed`, `finite`, `deviation`;
- `registry`: the `@check(stage)` decorator, `REGISTRY` (name -> RegisteredCheck), the kinds;
- the catalogue, one module per pipeline phase: `data` (probe ... network_input), `labels`,
  `model` (forward), `training` (train diagnostics), `results` (infer, stitch, evaluate),
  `specs` (each stage's specification against independent references, issue 16 §2),
  `finiteness` (the whole record), `trained` (does the PINN learn), `pairs` (legacy vs current
  of one scenario), `bridge` (the legacy-dict path, called by the replay);
- `engine`: `evaluate(record, ledger)` (every stage, record and trained check that applies)
  and `evaluate_pair(legacy_record, current_record, ledger)`; `sort_checks`, `first_failure`.

Registering a check: one decorator in the catalogue module of its phase, e.g. in `data.py`

    @check("simulate")
    def check_engine_agrees(v, ctx: CheckContext) -> Result:
        \"\"\"What the stage must satisfy (the specification, with units).\"\"\"
        return rel_check(ctx, v["simulate.a"], v["simulate.b"], "engine_agrees", "a vs b")

The name is the function's without `check_` (or `name=`), the stage is written once (the
Result may name another stage only to say where it found a problem), the bound comes from
`[tests.parity.invariants] engine_agrees` in golden/tolerances.toml (`ctx.tol(...)`), and the
check then runs in `python -m parity check`, `replay`, the goldens' tests and the reports.
Kinds (`@check(stage, kind=..., applies=...)`): 'stage' (default: runs when its stage was
recorded), 'record', 'trained' (runs when the train stage fitted and `applies(values)`),
'pair' (`f(legacy_values, current_values, ctx)`, when `applies(legacy, current)`), 'path'.
A new catalogue module is added to `engine.CATALOGUE` (its position is its order within a
stage); tests/parity/test_invariants.py requires a breaker for every 'stage' check.
"""
from .bridge import check_legacy_fresh, check_legacy_path
from .engine import CATALOGUE, evaluate, evaluate_pair, first_failure, sort_checks
from .kit import (CHECK_STAGES, CONFIG_STAGE, FAIL, PASS, VERDICTS, WARN, Check, CheckContext,
                  Result, bound_check, deviation, finite, parts_check, passed, rel_check)
from .registry import (ANY_STAGE, KINDS, PAIR_PROFILES, REGISTRY, RegisteredCheck, check, fitted,
                       registered)

__all__ = [
    "ANY_STAGE", "CATALOGUE", "CHECK_STAGES", "CONFIG_STAGE", "FAIL", "KINDS", "PAIR_PROFILES",
    "PASS", "REGISTRY", "VERDICTS", "WARN", "Check", "CheckContext", "RegisteredCheck", "Result",
    "bound_check", "check", "check_legacy_fresh", "check_legacy_path", "deviation", "evaluate",
    "evaluate_pair", "finite", "first_failure", "fitted", "parts_check", "passed", "registered",
    "rel_check", "sort_checks",
]
