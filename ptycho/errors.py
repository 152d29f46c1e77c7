"""Typed errors. Each names the offending field (key, argument, config entry) and the problem."""


class PtychoError(Exception):
    """Base class of every error raised deliberately by ptycho."""


class ConfigError(PtychoError, ValueError):
    """An invalid configuration value. `field` names the dataclass field or argument."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class DataContractError(PtychoError, ValueError):
    """A dataset violates the NPZ data contract. `key` names the NPZ key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class GroupingError(PtychoError, ValueError):
    """Neighbour grouping cannot be done (e.g. fewer points than gridsize**2)."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class StaleConfigError(PtychoError, RuntimeError):
    """The legacy flat dict disagrees with the dataclass configuration.

    `stale` maps each disagreeing legacy key to `(legacy_value, dataclass_value)`.
    """

    def __init__(self, stale: dict):
        self.stale = dict(stale)
        detail = ", ".join(f"{k}: legacy={a!r} config={b!r}" for k, (a, b) in self.stale.items())
        super().__init__(f"stale legacy config keys: {detail}")


class NonFiniteLossError(PtychoError, FloatingPointError):
    """Training produced a non-finite loss; `epoch` and `step` say where (0-based)."""

    def __init__(self, epoch: int, step: int, value: float):
        self.epoch = epoch
        self.step = step
        self.value = value
        super().__init__(f"non-finite loss {value!r} at epoch {epoch}, step {step}")
