"""One seeded, silent PtyLab ePIE run on a `PtyLabInput`.

PtyLab draws its initial object noise and its random position order from numpy's global RNG;
the run seeds it and restores the caller's state afterwards. Its prints and progress bar go to
a discarded buffer, its monitor is the no-op `DummyMonitor` (no figures), and its loggers are
held at ERROR for the run. The probe starts as the dataset's (count units); by default it is
held fixed (betaProbe = 0): the run then asks whether the data reconstruct to an object under
the stated probe and positions, which is what a convention error breaks.
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..validation import require_int
from .ptylab_data import PtyLabInput, require_ptylab

__all__ = ["EpieSettings", "EpieResult", "run_epie", "run_experiment", "silenced"]

#: loggers PtyLab 0.3.7 writes to during a run (held at ERROR while it runs)
_PTYLAB_LOGGERS = ("ePIE", "BaseEngine", "Reconstruction", "ExperimentalData", "Params", "GPU",
                   "readHdf5")
POSITION_ORDERS = ("random", "sequential")


@dataclass(frozen=True)
class EpieSettings:
    """iterations: full passes over the patterns; seed: numpy's global RNG seed for the run;
    beta_object / beta_probe: ePIE step sizes (PtyLab's defaults 0.25); probe_update: refine
    the probe (else held at the dataset's); position_order: 'random' (PtyLab's default: the
    first two passes in order, then shuffled) or 'sequential'."""

    iterations: int = 50
    seed: int = 0
    beta_object: float = 0.25
    beta_probe: float = 0.25
    probe_update: bool = False
    position_order: str = "random"

    def __post_init__(self):
        require_int("iterations", self.iterations, minimum=1)
        require_int("seed", self.seed, minimum=0)
        for name in ("beta_object", "beta_probe"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(name, f"must be in (0, 1], got {value!r}")
        if self.position_order not in POSITION_ORDERS:
            raise ConfigError("position_order", f"must be one of {POSITION_ORDERS}, "
                                                f"got {self.position_order!r}")


@dataclass
class EpieResult:
    """object (H, W) complex128 in the object frame; canvas (No, No) the whole PtyLab object;
    probe (N, N) complex128 in count units; error (iterations,) PtyLab's normalized detector
    error per pass; seconds: wall time of the passes (setup excluded); patterns: M."""

    object: np.ndarray
    canvas: np.ndarray
    probe: np.ndarray
    error: np.ndarray
    seconds: float
    iterations: int
    patterns: int

    @property
    def patterns_per_second(self) -> float:
        """Pattern updates per second over all passes."""
        return self.iterations * self.patterns / self.seconds if self.seconds > 0 else float("nan")


@contextlib.contextmanager
def silenced():
    """stdout and stderr to a discarded buffer, PtyLab's loggers at ERROR, numpy warnings off."""
    loggers = [logging.getLogger(name) for name in _PTYLAB_LOGGERS]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                np.errstate(all="ignore"):
            yield sink
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _seeded_global_rng(seed: int):
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _experimental_data(data: PtyLabInput):
    """PtyLab's ExperimentalData filled from memory (its loader reads the same fields from
    HDF5; `_setData` derives Nd, numFrames, energyAtPos as after a load)."""
    from PtyLab import ExperimentalData

    exp = ExperimentalData(None, "CPM")
    exp.filename = None
    exp.ptychogram = np.ascontiguousarray(data.ptychogram, dtype=np.float32)
    exp.encoder = np.array(data.encoder, dtype=np.float64)
    exp.wavelength = data.geometry.wavelength_m
    exp.zo = data.geometry.distance_m
    exp.dxd = data.geometry.pixel_m
    exp.entrancePupilDiameter = data.N * data.dxo / 3  # PtyLab's own default: a third of Lp
    exp.spectralDensity = None
    exp.theta = None
    exp.emptyBeam = None
    exp._setData()
    return exp


def run_experiment(exp, probe, settings: EpieSettings | None = None, *, No: int | None = None,
                   expected_top_left=None):
    """PtyLab's ePIE (Fraunhofer, fftshiftSwitch off, standard intensity constraint, CPU) on a
    PtyLab `ExperimentalData` (filled from memory, or loaded by PtyLab from a file), starting
    from `probe` (N, N) in count units; seeded and silent. No: the object canvas side (default
    PtyLab's own from the scan); expected_top_left (M, 2): where the caller placed the patches
    (ConfigError('encoder') when PtyLab places them elsewhere). Returns (the PtyLab
    Reconstruction after the passes, wall seconds of the passes)."""
    require_ptylab()
    from PtyLab import Engines, Params, Reconstruction
    from PtyLab.Monitor.Monitor import DummyMonitor

    settings = EpieSettings() if settings is None else settings
    with silenced(), _seeded_global_rng(settings.seed):
        params = Params()
        params.gpuSwitch = False
        params.fftshiftSwitch = False
        params.propagatorType = "Fraunhofer"
        params.intensityConstraint = "standard"
        params.positionOrder = settings.position_order
        rec = Reconstruction(exp, params)
        if No is not None:
            rec.No = int(No)  # computeParameters sized it from the scan; ours holds the frame
        rec.initializeObjectProbe()
        rec.probe = np.asarray(probe, np.complex64).reshape(rec.shape_P)
        if expected_top_left is not None and not np.array_equal(np.asarray(rec.positions),
                                                                expected_top_left):
            raise ConfigError("encoder", "PtyLab places the patches elsewhere than the adapter "
                                         "computed (position convention changed?)")
        engine = Engines.ePIE(rec, exp, params, DummyMonitor())
        engine.numIterations = int(settings.iterations)
        engine.betaObject = float(settings.beta_object)
        engine.betaProbe = float(settings.beta_probe) if settings.probe_update else 0.0
        start = time.perf_counter()
        engine.reconstruct()
        seconds = time.perf_counter() - start
    return rec, seconds


def run_epie(data: PtyLabInput, settings: EpieSettings | None = None) -> EpieResult:
    """Reconstruct `data` with PtyLab's ePIE (`run_experiment` on an ExperimentalData filled
    from `data`). OracleUnavailableError without PtyLab."""
    require_ptylab()
    settings = EpieSettings() if settings is None else settings
    with silenced():
        exp = _experimental_data(data)
    rec, seconds = run_experiment(exp, data.probe, settings, No=data.No,
                                  expected_top_left=data.top_left())
    canvas = np.asarray(rec.object)[0, 0, 0, 0].astype(np.complex128)
    return EpieResult(object=data.to_object_frame(canvas), canvas=canvas,
                      probe=np.asarray(rec.probe)[0, 0, 0, 0].astype(np.complex128),
                      error=np.asarray(rec.error, dtype=np.float64), seconds=seconds,
                      iterations=int(settings.iterations), patterns=data.M)
