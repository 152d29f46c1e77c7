"""Typed errors. Each names the offending field (key, argument, config entry) and the problem."""


class PtychoError(Exception):
    """Base class of every error raised deliberately by ptycho."""


class NamedProblemError(Exception):
    """An error about one named thing (field, key, file, entry...) and what is wrong with it.

    `NamedProblemError(name, problem)` stores `name` under the subclass's `name_attr` (str(name)
    when `str_name` is true) and `problem` under `problem`; the message is
    f"{prefix}{name}: {problem}". Subclasses pick the exception base (ValueError...) themselves.
    """

    #: attribute the name is stored under (e.g. "field", "key", "source", "where", "entry")
    name_attr = "name"
    #: message text before the name (e.g. "golden ")
    prefix = ""
    #: store (and print) str(name) instead of name itself (for path-like names)
    str_name = False

    def __init__(self, name, problem: str):
        if self.str_name:
            name = str(name)
        setattr(self, self.name_attr, name)
        self.problem = problem
        super().__init__(f"{self.prefix}{name}: {problem}")


class ConfigError(PtychoError, NamedProblemError, ValueError):
    """An invalid configuration value. `field` names the dataclass field or argument."""

    name_attr = "field"


class DataContractError(PtychoError, NamedProblemError, ValueError):
    """A dataset violates the data contract. `key` names the NPZ key, or the HDF5 path of a
    CXI/NeXus field (e.g. ``/entry_1/data_1/data``)."""

    name_attr = "key"


class GroupingError(PtychoError, NamedProblemError, ValueError):
    """Neighbour grouping cannot be done (e.g. fewer points than gridsize**2)."""

    name_attr = "field"


class WriteError(PtychoError, NamedProblemError, OSError):
    """A file could not be written (disk full, read-only folder, no permission, file too large).
    `path` names the file that was to be written; `errno` is the operating system's code. The
    old file (if any) is left as it was and no temp file remains (`ptycho.atomic`)."""

    name_attr, prefix, str_name = "path", "cannot write ", True

    def __init__(self, path, problem: str, errno: int | None = None):
        super().__init__(path, problem)
        self.errno = errno


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
