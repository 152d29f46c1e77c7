"""parity: the legacy-vs-current verification harness for the ptycho pipeline.

Profiles and scenarios are data (`parity.profiles`, `parity.scenarios`); the pipeline runs as
named stages (`parity.stages`) that record JSON-safe telemetry (`parity.telemetry`); invariants
(`parity.invariants`) turn a telemetry record into named verdicts; `parity.golden`,
`parity.trace` and `parity.gap` compare records and images; `python -m parity` is the CLI.
Nothing here imports TensorFlow at module level (see `ptycho.tfload`).
"""
__version__ = "0.1.0"
