"""PtychoDataContainer: numpy-backed training/inference data with lazy, cached tensors.

Storage is numpy, read through `X_np`, `Y_I_np`, `Y_phi_np`, `coords_nominal_np`, `probe_np`,
`coords_offsets_np`, `nn_indices_np`. The tensor properties `.X`, `.Y_I`, `.Y_phi`,
`.coords_nominal`, `.probe` convert on first access and cache the tensor (`cached_tensors`
names them); statistics and scales (`pattern_energy`, `summary`,
ptycho.scaling.calculate_intensity_scale) read numpy storage only and never fill the cache. TensorFlow is imported lazily, on first
tensor access, through ptycho.tfload.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .validation import require_positive, require_same_shape
from .scaling import apply_gain

#: tensor property -> (numpy attribute, TensorFlow dtype name)
_TENSORS = {
    "X": ("_X_np", "float32"),
    "Y_I": ("_Y_I_np", "float32"),
    "Y_phi": ("_Y_phi_np", "float32"),
    "coords_nominal": ("_coords_nominal_np", "float32"),
    "probe": ("_probe_np", "complex64"),
}


def _as(name: str, value, dtype, shape_check) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if np.iscomplexobj(arr) and not np.issubdtype(np.dtype(dtype), np.complexfloating):
        raise ConfigError(name, f"must be real, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    shape_check(arr)
    return arr


class PtychoDataContainer:
    """B groups of C patterns of side N, stored as numpy arrays.

    X: (B, N, N, C) float32 diffraction amplitude as fed to the model (X_fed = feed_gain * X_raw).
    Y_I, Y_phi: (B, N, N, C) float32 ground-truth amplitude |O| and phase (rad), or None.
    coords_nominal: (B, 1, 2, C) float64 coords_relative (px). coords_offsets: (B, 1, 2, 1)
    float64 group centroids, or None. nn_indices: (B, C) int64 raw indices, or None.
    probe: (N, N) complex64 normalized probe. feed_gain: recorded factor between the stored X
    and the raw data (1.0 = raw; ptycho.scaling.calculate_intensity_scale divides it out).
    """

    def __init__(self, X, Y_I, Y_phi, coords_nominal, probe, *, coords_offsets=None,
                 nn_indices=None, feed_gain: float = 1.0):
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[1] != X.shape[2]:
            raise ConfigError("X", f"must be (B, N, N, C), got shape {X.shape}")
        B, N, _, C = X.shape
        self._X_np = _as("X", X, np.float32, lambda a: None)

        def same_as_x(name):
            def check(a):
                require_same_shape(name, a, X, of="X", error=ConfigError)
            return check

        self._Y_I_np = _as("Y_I", Y_I, np.float32, same_as_x("Y_I"))
        self._Y_phi_np = _as("Y_phi", Y_phi, np.float32, same_as_x("Y_phi"))

        def coords_check(name, last):
            def check(a):
                require_same_shape(name, a, (B, 1, 2, last), error=ConfigError)
            return check

        self._coords_nominal_np = _as("coords_nominal", coords_nominal, np.float64,
                                      coords_check("coords_nominal", C))
        if self._coords_nominal_np is None:
            raise ConfigError("coords_nominal", "is required")
        self._coords_offsets_np = _as("coords_offsets", coords_offsets, np.float64,
                                      coords_check("coords_offsets", 1))

        def nn_check(a):
            require_same_shape("nn_indices", a, (B, C), error=ConfigError)

        self._nn_indices_np = _as("nn_indices", nn_indices, np.int64, nn_check)

        def probe_check(a):
            require_same_shape("probe", a, (N, N), error=ConfigError)

        self._probe_np = _as("probe", probe, np.complex64, probe_check)
        if self._probe_np is None:
            raise ConfigError("probe", "is required")
        self.feed_gain = require_positive("feed_gain", float(feed_gain))
        self._tensor_cache: dict = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_grouped(cls, grouped, probe, *, feed_gain: float = 1.0) -> "PtychoDataContainer":
        """Container from a ptycho.grouping.GroupedData and the (N, N) normalized probe.

        X = feed_gain * grouped.diffraction (float32); Y_I = |Y|, Y_phi = angle(Y) when the
        grouping has ground truth, else None.
        """
        X = grouped.diffraction
        if float(feed_gain) != 1.0:
            X = apply_gain(X, float(feed_gain))
        Y = grouped.Y
        Y_I = None if Y is None else np.abs(Y).astype(np.float32)
        Y_phi = None if Y is None else np.angle(Y).astype(np.float32)
        return cls(X, Y_I, Y_phi, grouped.coords_nominal, probe,
                   coords_offsets=grouped.coords_offsets, nn_indices=grouped.nn_indices,
                   feed_gain=feed_gain)

    def take(self, indices) -> "PtychoDataContainer":
        """New container holding the groups `indices` (numpy copies; empty tensor cache)."""
        idx = np.asarray(indices, dtype=np.int64)

        def pick(a):
            return None if a is None else a[idx]

        return PtychoDataContainer(pick(self._X_np), pick(self._Y_I_np), pick(self._Y_phi_np),
                                   pick(self._coords_nominal_np), self._probe_np,
                                   coords_offsets=pick(self._coords_offsets_np),
                                   nn_indices=pick(self._nn_indices_np), feed_gain=self.feed_gain)

    # ------------------------------------------------------------------ numpy storage
    # The stored arrays themselves (no copy, so no extra memory for statistics over large
    # data); treat them as read-only. Reading them never converts or caches a tensor.
    @property
    def X_np(self) -> np.ndarray:
        """(B, N, N, C) float32 diffraction amplitude as fed (X_fed = feed_gain * X_raw)."""
        return self._X_np

    @property
    def Y_I_np(self) -> np.ndarray | None:
        """(B, N, N, C) float32 ground-truth amplitude |O|, or None."""
        return self._Y_I_np

    @property
    def Y_phi_np(self) -> np.ndarray | None:
        """(B, N, N, C) float32 ground-truth phase (rad), or None."""
        return self._Y_phi_np

    @property
    def coords_nominal_np(self) -> np.ndarray:
        """(B, 1, 2, C) float64 coords_relative (px)."""
        return self._coords_nominal_np

    @property
    def coords_offsets_np(self) -> np.ndarray | None:
        """(B, 1, 2, 1) float64 group centroids (px), or None."""
        return self._coords_offsets_np

    @property
    def nn_indices_np(self) -> np.ndarray | None:
        """(B, C) int64 raw pattern indices of each group, or None."""
        return self._nn_indices_np

    @property
    def probe_np(self) -> np.ndarray:
        """(N, N) complex64 normalized probe."""
        return self._probe_np

    @property
    def cached_tensors(self) -> tuple[str, ...]:
        """Names of the tensor properties converted so far (in conversion order)."""
        return tuple(self._tensor_cache)

    # ------------------------------------------------------------------ numpy-side facts
    def __len__(self) -> int:
        return int(self._X_np.shape[0])

    @property
    def N(self) -> int:
        """Pattern side in pixels."""
        return int(self._X_np.shape[1])

    @property
    def C(self) -> int:
        """Channels per group."""
        return int(self._X_np.shape[3])

    @property
    def has_ground_truth(self) -> bool:
        return self._Y_I_np is not None and self._Y_phi_np is not None

    def pattern_energy(self) -> float:
        """Mean over patterns (b and c) of sum_xy X**2 of the stored X (numpy, float64)."""
        from .scaling import mean_pattern_energy

        return mean_pattern_energy(self._X_np)

    def summary(self) -> dict:
        """JSON-safe shapes, feed_gain, stored pattern energy and cache size (numpy only)."""
        return {
            "B": len(self),
            "N": self.N,
            "C": self.C,
            "X_shape": list(self._X_np.shape),
            "has_ground_truth": self.has_ground_truth,
            "feed_gain": self.feed_gain,
            "pattern_energy": self.pattern_energy(),
            "max_abs_coords_nominal": (float(np.abs(self._coords_nominal_np).max())
                                       if len(self) else 0.0),
            "tensor_cache_size": len(self._tensor_cache),
        }

    # ------------------------------------------------------------------ lazy tensors
    def _tensor(self, name: str):
        if name not in self._tensor_cache:
            attr, dtype = _TENSORS[name]
            arr = getattr(self, attr)
            if arr is None:
                return None
            from .tfload import tf

            tf_mod = tf()
            self._tensor_cache[name] = tf_mod.convert_to_tensor(arr, dtype=getattr(tf_mod, dtype))
        return self._tensor_cache[name]

    @property
    def X(self):
        """(B, N, N, C) tf.float32 diffraction amplitude (cached on first access)."""
        return self._tensor("X")

    @property
    def Y_I(self):
        """(B, N, N, C) tf.float32 ground-truth amplitude, or None."""
        return self._tensor("Y_I")

    @property
    def Y_phi(self):
        """(B, N, N, C) tf.float32 ground-truth phase, or None."""
        return self._tensor("Y_phi")

    @property
    def coords_nominal(self):
        """(B, 1, 2, C) tf.float32 coords_relative."""
        return self._tensor("coords_nominal")

    @property
    def probe(self):
        """(N, N) tf.complex64 probe."""
        return self._tensor("probe")

    def __repr__(self) -> str:
        return (f"PtychoDataContainer(B={len(self)}, N={self.N}, C={self.C}, "
                f"ground_truth={self.has_ground_truth}, feed_gain={self.feed_gain!r}, "
                f"cached={sorted(self._tensor_cache)})")
