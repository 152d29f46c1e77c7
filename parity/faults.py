"""Fault injection: a TEST HOOK that makes the stages reproduce known real-world bugs.

A replay spec carries the active faults (`parity.replay.ReplaySpec.faults`); the stages consult
them at the point where the bug lived. On the command line, the environment variable
PARITY_FAULT (one fault name, or several comma-separated) sets them: the command layer reads it
and calls `parse_faults`. Every fault must make `python -m parity check` exit 1, failing at the
stage listed here (tests/parity/test_invariants.py and test_cli.py run each one). The
TRAINING_FAULTS break learning while every scale stays right: they act in the train stage, so
only a tier that trains (`python -m parity check --tier trained`) sees them, and there they must
fail a trained check (tests/parity/test_trained_faults.py runs each one). Never set them in
production.
"""
from __future__ import annotations

from collections.abc import Iterable

from ptycho.errors import ConfigError

ENV = "PARITY_FAULT"

#: fault -> (stage where the invariants must catch it, what the stage does wrong)
FAULTS: dict[str, tuple[str, str]] = {
    "closed_form_scale": ("scale", "the dataset scale silently falls back to s_cf "
                                   "(reported as dataset-derived)"),
    "scale_on_normalized": ("scale", "the dataset scale is computed on X_norm instead of X_raw"),
    "label_scale_mismatch": ("labels", "labels are scaled by s_cf while the output scaler "
                                       "uses the profile's scale (and vice versa)"),
    "stale_key": ("config", "a legacy module writes cfg['probe_scale'] after the bridge ran"),
    "small_canvas": ("group", "the model canvas is sized for N only, ignoring the group's "
                              "largest relative offset"),
    "low_ceiling": ("labels", "the amplitude activation is a scaled sigmoid whose ceiling (0.1) "
                              "lies below the amplitude target"),
}


#: faults that only a training tier can see: fault -> (stage that must catch it, what it does).
#: (A frozen *random* encoder is not among them: measured, its decoders still learn the
#: structure at N=64, r 0.9+ on the held-out object, so it is not a learning-breaking bug.)
TRAINING_FAULTS: dict[str, tuple[str, str]] = {
    "blind_encoder": ("train", "the encoder's kernels are zeroed and frozen, so the decoders "
                               "see a constant: the PINN outputs one patch for every input "
                               "(loss_decreases fails first, learns_structure too)"),
    "single_epoch": ("train", "training stops after one epoch (an epochs argument left at 1)"),
    "lr_typo": ("train", "the training learning rate is 1e-4 x the configured one (1e-7 for 1e-3)"),
    "coords_dropped": ("evaluate", "the training feed's relative offsets are zero (a coordinates "
                                   "column left unset): the physics head overlays a group's "
                                   "patches at its centre (gridsize > 1 only)"),
    "channels_rolled": ("evaluate", "the training feed pairs each pattern of a group with its "
                                    "neighbour's offset (the channel axis of the patterns rolled "
                                    "by one against the offsets; gridsize > 1 only)"),
}
#: training faults that change nothing at gridsize 1 (one pattern per group, at offset 0)
GRIDSIZE2_FAULTS = ("coords_dropped", "channels_rolled")
#: every known fault name
ALL_FAULTS: dict[str, tuple[str, str]] = {**FAULTS, **TRAINING_FAULTS}


def parse_faults(text: str | None) -> tuple[str, ...]:
    """Fault names of a comma-separated list (PARITY_FAULT's format); empty for None or ''.
    Unknown names raise ConfigError naming PARITY_FAULT."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    for name in names:
        if name not in ALL_FAULTS:
            raise ConfigError(ENV, f"unknown fault {name!r} (known: {sorted(ALL_FAULTS)})")
    return names


def validate_faults(names: Iterable[str]) -> tuple[str, ...]:
    """`names` as a tuple, each a known fault; unknown names raise ConfigError naming 'faults'."""
    names = tuple(names)
    for name in names:
        if name not in ALL_FAULTS:
            raise ConfigError("faults", f"unknown fault {name!r} (known: {sorted(ALL_FAULTS)})")
    return names
