"""What one stage hands on to the next: `Artifacts`, one typed field per artifact, each naming
the stage (or specification measurement) that produces it.

A field not yet produced holds no value: reading it raises `MissingArtifactError` naming the
field and its producer (a stage run out of order, or one that reads what only a training run
makes). `has(name)` asks without raising; `None` is a real value (no mask, no split).
Shapes: B groups, N the patch size (px), C = gridsize**2 channels, H = W the object size (px).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from ptycho.config import InferenceConfig
    from ptycho.container import PtychoDataContainer
    from ptycho.grouping import GroupedData
    from ptycho.oracle.agreement import Agreement
    from ptycho.raw_data import RawData
    from ptycho.scaling import ScalePlan
    from ptycho.stitching import StitchResult
    from ptycho.train import TrainResult


class _Missing:
    """The value of a field no stage has produced yet."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in PRODUCERS:  # a misspelt artifact would otherwise pass unnoticed
            raise AttributeError(f"no artifact named {name!r}; known: {sorted(PRODUCERS)}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return "<not produced>"


MISSING: Any = _Missing()


class MissingArtifactError(LookupError):
    """A stage read an artifact before the stage that produces it ran."""

    def __init__(self, name: str, producer: str):
        self.name = name
        self.producer = producer
        super().__init__(f"artifact {name!r} has not been produced: it is made by {producer}, "
                         f"which has not run in this replay")


def _by(producer: str) -> Any:
    return field(default=MISSING, metadata={"producer": producer})


@dataclass(repr=False, eq=False)
class Artifacts:
    """The artifacts of a replay's stages (see the module docstring for B, N, C, H)."""

    # --- object
    #: (H, W) complex64 lines object, un-normalized (docs/design.md §3)
    object: np.ndarray = _by("stage 'object'")
    #: (H, W) complex64 held-out object (split 'object' only; another seed)
    object_test: np.ndarray = _by("stage 'object' (split 'object')")
    # --- probe
    #: (N, N) complex64 normalized probe
    probe: np.ndarray = _by("stage 'probe'")
    #: (N, N) float32 probe mask M (1 where r < N//4 px) applied in the simulation, or None
    #: when the model has no mask
    mask: np.ndarray | None = _by("stage 'probe'")
    # --- scan
    #: (n_images,) float64 scan positions x, y (px, object coordinates)
    xcoords: np.ndarray = _by("stage 'scan'")
    ycoords: np.ndarray = _by("stage 'scan'")
    #: (train indices, test indices) into the scan for split 'y', else None
    split: tuple[np.ndarray, np.ndarray] | None = _by("stage 'scan'")
    #: (x, y) whole-pixel held-out scan positions (split 'object' only)
    test_xy: tuple[np.ndarray, np.ndarray] = _by("stage 'scan' (split 'object')")
    # --- simulate
    #: the simulated data set: diff3d (n_images, N, N) float32 amplitudes X_raw
    raw: RawData = _by("stage 'simulate'")
    #: the held-out data set (split 'object' only)
    raw_test: RawData = _by("stage 'simulate' (split 'object')")
    #: the engine's agreement on the simulated data (oracle scenarios only; not telemetry)
    oracle: Agreement = _by("stage 'simulate' (oracle scenarios)")
    # --- group
    #: the training groups: diffraction (B, N, N, C) float32 X_raw, coordinates, Y
    grouped: GroupedData = _by("stage 'group'")
    #: max |coords_relative| the canvas is planned for (px; 0 under fault 'small_canvas')
    planned_max_offset: float = _by("stage 'group'")
    # --- normalize
    #: E: mean over groups and channels of sum_xy X_raw^2 (amplitude units squared)
    E: float = _by("stage 'normalize'")
    #: normalization gain g (dimensionless): X_norm = g * X_raw
    g: float = _by("stage 'normalize'")
    #: (B, N, N, C) float32 normalized diffraction g * X_raw
    X_norm: np.ndarray = _by("stage 'normalize'")
    # --- scale
    #: the scale plan (s, s_cf, the profile's feed gain, input/output scalers)
    plan: ScalePlan = _by("stage 'scale'")
    # --- container
    #: the raw container (feed_gain 1)
    container: PtychoDataContainer = _by("stage 'container'")
    #: the profile's fed container (X_fed = feed_gain * X_raw; the raw one when the gain is 1)
    fed: PtychoDataContainer = _by("stage 'container'")
    # --- network_input
    #: model inputs (ptycho.train.training_arrays): 'diffraction' (B, N, N, C) float32
    #: external_scale * X_fed, 'coords_relative' (B, 1, 2, C) float32 (px)
    inputs: dict[str, np.ndarray] = _by("stage 'network_input'")
    #: training labels: 'amplitude' (B, N, N, C) float32 external_scale * X_fed, 'counts' its
    #: square (the 'label_scale_mismatch' fault rescales them in stage 'labels')
    labels: dict[str, np.ndarray] = _by("stage 'network_input'")
    #: (B, N, N, C) float32 what the network sees after its input scaler:
    #: inputs['diffraction'] / plan.input_scaler (= g * X_raw)
    network_input: np.ndarray = _by("stage 'network_input'")
    # --- labels
    #: (n, N, N, C) float64 noise-free expected counts of the first diagnostic groups
    expected_counts: np.ndarray = _by("stage 'labels'")
    # --- forward
    #: the untrained seeded Keras training model and its diffraction -> object model
    model: Any = _by("stage 'forward'")
    d2o: Any = _by("stage 'forward'")
    #: (B, N, N, C) complex64 object patches and float32 predicted counts of the forward pass
    forward_patches: np.ndarray = _by("stage 'forward'")
    forward_counts: np.ndarray = _by("stage 'forward'")
    # --- train
    #: the training outcome (training runs only)
    trained: TrainResult = _by("stage 'train' (training runs)")
    #: wall time of each epoch (s; not telemetry)
    epoch_seconds: list[float] = _by("stage 'train' (training runs)")
    # --- infer
    #: (B', N, N, C) complex64 reconstructed patches, the groups they came from, the config
    patches: np.ndarray = _by("stage 'infer' (training runs)")
    infer_grouped: GroupedData = _by("stage 'infer' (training runs)")
    icfg: InferenceConfig = _by("stage 'infer' (training runs)")
    # --- stitch
    #: evaluate values of the ground-truth round trip (parity.consistency.stitch_roundtrip)
    truth_evaluation: dict[str, Any] = _by("stage 'stitch' (ground truth)")
    #: the stitched reconstruction (H, W), its global positions (x, y; px) and the truth
    #: stitched the same way
    stitched: StitchResult = _by("stage 'stitch' (training runs)")
    stitch_xy: tuple[np.ndarray, np.ndarray] = _by("stage 'stitch' (training runs)")
    stitched_truth: StitchResult = _by("stage 'stitch' (training runs, ground truth)")
    # --- specification measurements (parity.specs.measure, tiny gate)
    #: (n, N, N, C) complex64 patches of the untrained model's inference path, their crop (px)
    spec_patches: np.ndarray = _by("the 'infer' specification measurement")
    spec_crop: int = _by("the 'infer' specification measurement")
    #: those patches stitched into object coordinates
    spec_stitched: StitchResult = _by("the 'stitch' specification measurement")

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if value is MISSING:
            raise MissingArtifactError(name, PRODUCERS[name])
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in PRODUCERS:  # a misspelt artifact would otherwise pass unnoticed
            raise AttributeError(f"no artifact named {name!r}; known: {sorted(PRODUCERS)}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Artifacts(produced={sorted(self.produced())})"

    def has(self, name: str) -> bool:
        """True once `name` has been produced (its value may be None)."""
        if name not in PRODUCERS:
            raise AttributeError(f"no artifact named {name!r}; known: {sorted(PRODUCERS)}")
        return self.__dict__[name] is not MISSING

    def produced(self) -> set[str]:
        """Names of the artifacts produced so far."""
        return {name for name in PRODUCERS if self.__dict__[name] is not MISSING}

    def update(self, values: Mapping[str, Any]) -> None:
        """Set several artifacts at once (known names only)."""
        for name, value in values.items():
            setattr(self, name, value)


#: artifact name -> the stage (or measurement) that produces it
PRODUCERS: dict[str, str] = {f.name: f.metadata["producer"] for f in fields(Artifacts)}
