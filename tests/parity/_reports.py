"""Comparing two check reports of the same replays (not a test module)."""

#: report fields that differ between two runs of the same replays (clock and command line)
VOLATILE = {"wall_s", "date", "command"}


def strip_volatile(obj):
    """`obj` (a report.json tree) without the VOLATILE fields, at any depth."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj
