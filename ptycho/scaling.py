"""Intensity scale and normalization gain (docs/design.md §4): two scalars, kept apart.

E  = mean over patterns (b AND c) of sum_xy X_raw**2         (float64, streamed)
g  = sqrt((N/2)**2 / E)        normalization gain, input conditioning only
s_cf = sqrt(nphotons) / (N/2)  closed-form scale
s  = sqrt(nphotons / E)        dataset-derived scale on RAW data (= g * s_cf)

`s` falls back to `s_cf` exactly when E is unavailable, <= ENERGY_FLOOR or non-finite; the
returned `ScaleResult` says which source was used and why. `ScalePlan` describes how a profile
(legacy / current) uses these scalars for input, labels and output.

E is streamed by `ptycho.energy.mean_pattern_energy` (bounded memory, the same bits for every
input kind and thread count); the chunked gain product is `ptycho.chunked.apply_gain`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import reducers
# apply_gain and sum_float64 are re-exported for parity.stages; mean_pattern_energy is used here
from .chunked import apply_gain, sum_float64  # noqa: F401
from .config import TrainingConfig, is_supported_n
from .energy import mean_pattern_energy
from .errors import ConfigError
# streaming constants live in ptycho.reducers; re-exported here (tests and benchmarks use them)
from .reducers import (BLOCK_BYTES, CHUNK_ELEMENTS, DEFAULT_THREADS,  # noqa: F401
                       MIN_CHUNKS_PER_THREAD, ROW_ELEMENTS)
from .stats import finite_or_none

#: E at or below this (or non-finite) means "no usable energy": dataset_scale falls back to s_cf
ENERGY_FLOOR = 1e-12


# --------------------------------------------------------------------------- validation


def _check_n(N) -> int:
    """N as a Python int; ConfigError('N') unless it is a power of two >= 16."""
    if isinstance(N, bool) or not isinstance(N, numbers.Integral) or not is_supported_n(int(N)):
        raise ConfigError("N", f"must be an int power of two >= 16, got {N!r}")
    return int(N)


def _check_nphotons(nphotons) -> float:
    """nphotons as a float; ConfigError('nphotons') unless finite and > 0."""
    if isinstance(nphotons, bool) or not isinstance(nphotons, numbers.Real):
        raise ConfigError("nphotons", f"must be a number, got {type(nphotons).__name__}")
    value = float(nphotons)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError("nphotons", f"must be finite and > 0, got {nphotons!r}")
    return value


# --------------------------------------------------------------------------- scalars


def closed_form_scale(nphotons, N) -> float:
    """s_cf = sqrt(nphotons) / (N/2) (988.2117 for N=64, nphotons=1e9)."""
    return math.sqrt(_check_nphotons(nphotons)) / (_check_n(N) / 2)


def energy_is_usable(energy: float) -> bool:
    """True when E is finite and > ENERGY_FLOOR (otherwise scales fall back to closed form)."""
    return math.isfinite(energy) and energy > ENERGY_FLOOR


def gain_from_energy(energy: float, N) -> float:
    """g = sqrt((N/2)**2 / E); ConfigError('X') when E is not usable (zero/non-finite data)."""
    half = _check_n(N) / 2
    if not energy_is_usable(energy):
        raise ConfigError("X", f"mean pattern energy E={energy!r} is <= {ENERGY_FLOOR} or "
                               "non-finite; cannot normalize")
    return math.sqrt(half * half / energy)


def normalization_gain(X, N) -> float:
    """g = sqrt((N/2)**2 / E), so E[sum_xy (g*X)**2] = (N/2)**2; X as for mean_pattern_energy."""
    _check_n(N)
    return gain_from_energy(mean_pattern_energy(X), N)


@dataclass(frozen=True)
class ScaleResult:
    """An intensity scale with its provenance.

    value: the scale (counts**0.5 per amplitude unit). source: 'dataset' or 'closed_form'.
    reason: why this source was used. energy: E of the data it came from (nan if none).
    """

    value: float
    source: str
    reason: str
    energy: float

    def to_dict(self) -> dict:
        """JSON-safe dict (non-finite floats become None)."""
        return {
            "value": finite_or_none(self.value),
            "source": self.source,
            "reason": self.reason,
            "energy": finite_or_none(self.energy),
        }


def scale_from_energy(energy, nphotons, N) -> ScaleResult:
    """s = sqrt(nphotons / E), or s_cf when E is None, <= ENERGY_FLOOR or non-finite."""
    s_cf = closed_form_scale(nphotons, N)
    if energy is None:
        return ScaleResult(s_cf, "closed_form",
                           "no diffraction data: mean pattern energy unavailable", math.nan)
    energy = float(energy)
    if not math.isfinite(energy):
        return ScaleResult(s_cf, "closed_form",
                           f"mean pattern energy E={energy!r} is non-finite (NaN/Inf in data)",
                           energy)
    if energy <= ENERGY_FLOOR:
        return ScaleResult(s_cf, "closed_form",
                           f"mean pattern energy E={energy!r} <= {ENERGY_FLOOR} (zero data)",
                           energy)
    value = math.sqrt(float(nphotons) / energy)
    return ScaleResult(value, "dataset",
                       "s = sqrt(nphotons / E), E = mean pattern energy of the given data", energy)


def dataset_scale(X, nphotons, N) -> ScaleResult:
    """s = sqrt(nphotons / E) on RAW X (B,N,N,C)/(B,N,N)/memmap/iterable; falls back to s_cf.

    X=None means 'no data' (fallback). nphotons <= 0 -> ConfigError('nphotons'); an array whose
    pattern size is not N -> ConfigError('N').
    """
    _check_nphotons(nphotons)
    N = _check_n(N)
    if _is_array(X) and X.ndim in (3, 4) and X.shape[1] != N:
        raise ConfigError("N", f"is {N} but X has patterns of size {X.shape[1]}")
    energy = None if X is None else mean_pattern_energy(X)
    return scale_from_energy(energy, nphotons, N)


def calculate_intensity_scale(container, nphotons) -> ScaleResult:
    """Dataset scale of a PtychoDataContainer from its numpy storage `X_np` only.

    Never touches the container's tensors. When the container records `feed_gain` != 1 (it
    stores X_fed = feed_gain * X_raw), the raw energy E_fed / feed_gain**2 is used, so the
    scale is always the one of the raw data.
    """
    X = container.X_np
    if not isinstance(X, np.ndarray) or X.ndim != 4:
        raise ConfigError("container.X_np", "must be a (B, N, N, C) numpy array")
    N = X.shape[1]
    _check_nphotons(nphotons)
    energy = mean_pattern_energy(X)
    feed_gain = float(getattr(container, "feed_gain", 1.0))
    result = scale_from_energy(energy / (feed_gain * feed_gain), nphotons, N)
    if feed_gain != 1.0 and result.source == "dataset":
        reason = f"{result.reason}; E = E(stored) / feed_gain**2 with feed_gain={feed_gain!r}"
        result = ScaleResult(result.value, result.source, reason, result.energy)
    return result


# --------------------------------------------------------------------------- profile plan


@dataclass(frozen=True)
class ScalePlan:
    """How a configuration profile uses the scalars (docs/design.md §4 table).

    energy: E of X_raw. gain: g (1.0 when E is unusable; see dataset.reason). closed_form: s_cf.
    dataset: ScaleResult on X_raw. data_feed: 'raw' | 'normalized'. feed_gain: X_fed =
    feed_gain * X_raw (1 for raw, g for normalized). external_scale: the scale applied to X_fed
    for labels (amplitude counts**0.5 = external_scale * X_fed); output_scaler: the scale the
    model multiplies its diffracted amplitude by (= external_scale); input_scaler: the model
    divides external_scale * X_fed by it to form the network input (= s_cf).
    """

    nphotons: float
    N: int
    energy: float
    gain: float
    closed_form: float
    dataset: ScaleResult
    data_feed: str
    scale_source: str
    feed_gain: float
    external_scale: float
    output_scaler: float
    input_scaler: float

    @property
    def network_input_gain(self) -> float:
        """Network input / X_raw = external_scale*feed_gain/input_scaler (g in both profiles)."""
        return self.external_scale * self.feed_gain / self.input_scaler

    @property
    def amplitude_ratio(self) -> float:
        """Predicted reconstructed |O| / |O_true| = external_scale*feed_gain/output_scaler.

        1 for the current profile, g for legacy (before any activation-ceiling saturation).
        """
        return self.external_scale * self.feed_gain / self.output_scaler

    @property
    def label_scale(self) -> float:
        """Label amplitude / X_raw = external_scale * feed_gain (labels = (that * X_raw)**2)."""
        return self.external_scale * self.feed_gain

    @property
    def expected_label_counts(self) -> float:
        """Predicted mean photons per pattern in the labels: label_scale**2 * E."""
        return self.label_scale ** 2 * self.energy

    def to_dict(self) -> dict:
        """JSON-safe dict of every field and derived property (non-finite floats -> None)."""
        return {
            "nphotons": finite_or_none(self.nphotons),
            "N": int(self.N),
            "energy": finite_or_none(self.energy),
            "gain": finite_or_none(self.gain),
            "closed_form": finite_or_none(self.closed_form),
            "dataset": self.dataset.to_dict(),
            "data_feed": self.data_feed,
            "scale_source": self.scale_source,
            "feed_gain": finite_or_none(self.feed_gain),
            "external_scale": finite_or_none(self.external_scale),
            "output_scaler": finite_or_none(self.output_scaler),
            "input_scaler": finite_or_none(self.input_scaler),
            "network_input_gain": finite_or_none(self.network_input_gain),
            "amplitude_ratio": finite_or_none(self.amplitude_ratio),
            "label_scale": finite_or_none(self.label_scale),
            "expected_label_counts": finite_or_none(self.expected_label_counts),
        }


def plan_from_energy(energy, config: TrainingConfig) -> ScalePlan:
    """ScalePlan from a precomputed raw mean pattern energy E (None/unusable -> g = 1, s = s_cf)."""
    if not isinstance(config, TrainingConfig):
        raise ConfigError("config", f"must be a TrainingConfig, got {type(config).__name__}")
    N = config.model.N
    nphotons = config.nphotons
    s_cf = closed_form_scale(nphotons, N)
    dataset = scale_from_energy(energy, nphotons, N)
    E = math.nan if energy is None else float(energy)
    gain = gain_from_energy(E, N) if energy_is_usable(E) else 1.0
    feed_gain = 1.0 if config.data_feed == "raw" else gain
    chosen = dataset.value if config.scale_source == "dataset" else s_cf
    return ScalePlan(
        nphotons=float(nphotons),
        N=N,
        energy=E,
        gain=gain,
        closed_form=s_cf,
        dataset=dataset,
        data_feed=config.data_feed,
        scale_source=config.scale_source,
        feed_gain=feed_gain,
        external_scale=chosen,
        output_scaler=chosen,
        input_scaler=s_cf,
    )


def plan_scales(X_raw, config: TrainingConfig) -> ScalePlan:
    """ScalePlan for RAW diffraction X_raw ((B,N,N,C)/(B,N,N) array, memmap or iterable).

    ConfigError('model.N') when an array's pattern size differs from config.model.N.
    """
    if not isinstance(config, TrainingConfig):
        raise ConfigError("config", f"must be a TrainingConfig, got {type(config).__name__}")
    if _is_array(X_raw) and X_raw.ndim in (3, 4) and X_raw.shape[1] != config.model.N:
        raise ConfigError("model.N",
                          f"is {config.model.N} but X_raw has patterns of size {X_raw.shape[1]}")
    energy = None if X_raw is None else mean_pattern_energy(X_raw)
    return plan_from_energy(energy, config)


def _is_array(X) -> bool:
    """An ndarray/memmap or a dask array (whose pattern size can be checked up front)."""
    return isinstance(X, np.ndarray) or reducers.is_dask_array(X)
