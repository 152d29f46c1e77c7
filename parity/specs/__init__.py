"""Stage specifications: what each stage's output must satisfy whatever the implementation.

One module per stage (or family of stages). Each exposes pure functions that take the stage's
inputs and outputs (arrays, dataclasses, the product's callables where an option is exercised)
and return JSON-safe measured values; the references are computed independently here, by
brute force in numpy/scipy from the documented conventions (docs/design.md §3-§4 and the docstrings),
never by calling the product function whose output they judge. `parity.specs.measure` runs
them inside a replay (telemetry keys `<stage>.spec.*`); `parity.specs.checks` holds the
measured values to bounds from `[tests.parity.specs]` in golden/tolerances.toml.
The prose of every specification is in docs/specifications.md.
"""
