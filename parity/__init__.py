"""parity: the legacy-vs-current verification harness for the ptycho pipeline.

Layered, leaves first: `errors`, `jsonsafe`, `tolerances` (the ledger), `records` (the record
contract), `telemetry` (array statistics, recorder), `profiles`, `scenarios`, `faults` (data);
`stages` (one function per pipeline stage), `model_cache`, `checks` (the check registry and
its engine), `replay` (a spec resolved once and run); `golden` (format, comparison, update),
`testing` (syrupy extension, pytest plugin), `attribution`, `images`, `trace`, `doctor`, `bench_report`,
`report`; and `commands` (every `python -m parity` command; the only layer that reads the
environment). Nothing here imports TensorFlow at module level (see `ptycho.tfload`).
"""
__version__ = "0.1.0"
