"""The registry of checks and the `@check(stage)` decorator that fills it.

The decorator records a check's name (the function name without its `check_` prefix, unless
`name=` is given), its stage and its kind once; the decorated function stays callable and
returns a `Check` (or None where a pair does not apply). Kinds, by what a check reads and when
the engine runs it:

- 'stage'   (values, ctx): when its stage was recorded (the catalogue);
- 'record'  (values, ctx): on every record (finiteness; registered at ANY_STAGE, its Result
  names the stage);
- 'trained' (values, ctx): when the record's train stage fitted and `applies(values)`;
- 'pair'    (first, second, ctx): on the records of one scenario under the two profiles of
  `PAIR_PROFILES` (values of each), when `applies(first, second)`; reported with the first;
- 'path'    (own arguments): called by the replay itself (the legacy-dict bridge), listed here
  so the registry names every verdict the harness gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .kit import CHECK_STAGES, FAIL, Check, Result

KINDS = ("stage", "record", "trained", "pair", "path")
#: the stage of a 'record' or 'path' check whose every Result names the stage it found
ANY_STAGE = "*"
#: the two profiles of a pair check, in the order its function takes their values
PAIR_PROFILES = ("legacy", "current")


def fitted(values: Mapping[str, Any]) -> bool:
    """Whether the record's train stage fitted the model (not the tiny tier's diagnostics)."""
    return values.get("train.mode") == "fit"


@dataclass(frozen=True)
class RegisteredCheck:
    """A check as registered: name, stage, kind, its function and when it applies."""

    name: str
    stage: str
    kind: str
    func: Callable[..., Result | None]
    applies: Callable[..., bool] | None = None

    @property
    def doc(self) -> str:
        """The first paragraph of the function's docstring, on one line."""
        text = (self.func.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(text.split())

    def __call__(self, *args: Any) -> Check | None:
        """Run the function unguarded (errors propagate); None where it does not apply."""
        result = self.func(*args)
        if result is None:
            return None
        stage = result.stage or self.stage
        if stage == ANY_STAGE:
            raise ValueError(f"check {self.name}: its Result must name the stage")
        return Check(self.name, stage, result.value, result.bound,
                     result.verdict, result.detail)

    def failure(self, detail: str) -> Check:
        """A failing verdict of this check that could not be evaluated."""
        return Check(self.name, self.stage, None, None, FAIL, detail)

    def run(self, *args: Any) -> Check | None:
        """The guarded run the engine uses: a missing telemetry key or a value the check cannot
        use becomes a failing verdict naming it; None when `applies` says no. The last
        argument is the CheckContext; `applies` gets the others."""
        try:
            if self.applies is not None and not self.applies(*args[:-1]):
                return None
            return self(*args)
        except KeyError as exc:
            return self.failure(f"telemetry key missing: {exc.args[0]}")
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            return self.failure(f"cannot evaluate: {exc}")


#: name -> RegisteredCheck, in registration order (the engine's order within a stage)
REGISTRY: dict[str, RegisteredCheck] = {}


def check(stage: str, *, kind: str = "stage", applies: Callable[..., bool] | None = None,
          name: str | None = None) -> Callable[[Callable[..., Result | None]], RegisteredCheck]:
    """Register the decorated function as a check of `stage` (see the module docstring for the
    kinds). Raises ValueError naming the field for an unknown stage or kind, a duplicate name,
    or an `applies` on a kind that has no condition."""
    if stage not in CHECK_STAGES and not (stage == ANY_STAGE and kind in ("record", "path")):
        raise ValueError(f"check stage {stage!r}: not one of {CHECK_STAGES} (or {ANY_STAGE!r} "
                         f"for a 'record' or 'path' check)")
    if kind not in KINDS:
        raise ValueError(f"check kind {kind!r}: not one of {KINDS}")
    if applies is not None and kind not in ("trained", "pair"):
        raise ValueError(f"check applies: only 'trained' and 'pair' checks take one, not {kind!r}")

    def register(func: Callable[..., Result | None]) -> RegisteredCheck:
        key = name or func.__name__.removeprefix("check_")
        if key in REGISTRY:
            raise ValueError(f"check name {key!r}: registered twice")
        cond = applies
        if kind == "trained":
            cond = (fitted if applies is None
                    else (lambda values, _a=applies: fitted(values) and _a(values)))
        entry = RegisteredCheck(key, stage, kind, func, cond)
        REGISTRY[key] = entry
        return entry

    return register


def registered(*kinds: str) -> dict[str, RegisteredCheck]:
    """The registered checks of these kinds (all kinds when none is given), in order."""
    return {n: c for n, c in REGISTRY.items() if not kinds or c.kind in kinds}
