"""Diffraction health: one streamed pass over a (M, N, N) stack counting NaN / Inf / negative /
all-zero patterns (`scan_diffraction`), and the data contract's value checks
(`check_diffraction_health` from a scan, `check_diffraction_values` stopping at the first bad
block). Memory: one block of at most CHECK_BLOCK_BYTES plus a few masks of it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import DataContractError
from .frames import FrameArray, rows_per_block
from .validation import require_finite

#: bytes of diff3d checked per step when scanning for NaN/Inf/negatives (bounded memory)
CHECK_BLOCK_BYTES = 8 * 1024 * 1024


@dataclass
class DiffractionHealth:
    """Counts over a (M, N, N) diffraction stack from one streamed pass (`scan_diffraction`).

    patterns: M. *_patterns: patterns with at least one NaN / Inf / negative value, patterns
    that are all zero. *_values: element totals. nonzero: any element != 0 (NaN counts as
    non-zero). mean_pattern: (N, N) float64 mean over patterns (NaN-propagating), when asked.
    """

    patterns: int = 0
    nan_patterns: int = 0
    inf_patterns: int = 0
    negative_patterns: int = 0
    zero_patterns: int = 0
    nan_values: int = 0
    inf_values: int = 0
    negative_values: int = 0
    nonzero: bool = False
    mean_pattern: np.ndarray | None = None

    def to_dict(self) -> dict:
        """The counts (no mean pattern) as a JSON-safe dict."""
        return {k: (bool(v) if k == "nonzero" else int(v))
                for k, v in dataclasses.asdict(self).items() if k != "mean_pattern"}


def diffraction_blocks(diff3d, block_bytes: int):
    """(start, ndarray block) over the leading axis, each about `block_bytes` (>= one pattern)."""
    if isinstance(diff3d, FrameArray):
        yield from diff3d.blocks(block_bytes)
        return
    step = rows_per_block(tuple(diff3d.shape), np.dtype(diff3d.dtype).itemsize, block_bytes)
    for start in range(0, diff3d.shape[0], step):
        yield start, np.asarray(diff3d[start:start + step])


def scan_diffraction(diff3d, *, mean: bool = False,
                     block_bytes: int = CHECK_BLOCK_BYTES) -> DiffractionHealth:
    """One pass over `diff3d` ((M, ...) ndarray, memmap or FrameArray) in blocks of about
    `block_bytes`: NaN / Inf / negative / all-zero counts and, with `mean`, the float64 mean
    pattern. Extra memory: one block plus a few boolean masks of it."""
    M = int(diff3d.shape[0])
    h = DiffractionHealth(patterns=M)
    axes = tuple(range(1, len(diff3d.shape)))
    total = np.zeros(tuple(diff3d.shape[1:]), dtype=np.float64) if mean else None
    for _, c in diffraction_blocks(diff3d, block_bytes):
        nan = np.isnan(c)
        h.nan_values += int(np.count_nonzero(nan))
        h.nan_patterns += int(nan.any(axis=axes).sum())
        inf = np.isinf(c, out=nan)
        h.inf_values += int(np.count_nonzero(inf))
        h.inf_patterns += int(inf.any(axis=axes).sum())
        neg = np.less(c, 0, out=nan)
        h.negative_values += int(np.count_nonzero(neg))
        h.negative_patterns += int(neg.any(axis=axes).sum())
        zero = np.equal(c, 0, out=nan)
        all_zero = zero.all(axis=axes)
        h.zero_patterns += int(all_zero.sum())
        h.nonzero = h.nonzero or not bool(all_zero.all())
        if total is not None:
            total += np.sum(c, axis=0, dtype=np.float64)
    if total is not None and M:
        h.mean_pattern = total / M
    return h


def check_diffraction_health(h: DiffractionHealth, key: str = "diff3d") -> None:
    """The contract's value checks from a `scan_diffraction` result: raise
    DataContractError(key) for NaN, then Inf, then negative values, then all zero."""
    if h.nan_values:
        raise DataContractError(key, "contains NaN")
    if h.inf_values:
        raise DataContractError(key, "contains Inf")
    if h.negative_values:
        raise DataContractError(key, "contains negative amplitudes")
    if not h.nonzero:
        raise DataContractError(key, "is all zero")


def check_diffraction_values(diff3d) -> None:
    """diff3d values: finite, >= 0, not all zero; streamed in blocks, stopping at the first
    bad one (the same problems, in the same order, as `check_diffraction_health`)."""
    any_nonzero = False
    for _, chunk in diffraction_blocks(diff3d, CHECK_BLOCK_BYTES):
        require_finite("diff3d", chunk, separate=True)
        if (chunk < 0).any():
            raise DataContractError("diff3d", "contains negative amplitudes")
        any_nonzero = any_nonzero or bool((chunk != 0).any())
    if not any_nonzero:
        raise DataContractError("diff3d", "is all zero")
