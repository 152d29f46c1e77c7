"""Independent references shared by the stage specifications: bilinear sampling of an object
at scan positions (area weights of the four neighbouring pixels) and the far field (numpy FFT).

Conventions restated from docs/design.md §3: a patch centred at (x, y) (x = column, y = row) holds
patch[i, j] = obj(y + i - N/2, x + j - N/2), zero outside the object; the far-field amplitude
is sqrt(fftshift(|FFT2(psi)|^2 / N^2)).
"""
from __future__ import annotations

import numpy as np


def sample_patches(obj, x, y, N: int) -> np.ndarray:
    """(K, N, N) complex128 patches of `obj` (H, W) at positions x, y (K,), bilinear, zero
    outside the object: each sample point (r, c) = (y + i - N/2, x + j - N/2) is the
    area-weighted mean of the four pixels around it, read from the object zero-padded by
    N + 2 px per side (so every corner exists)."""
    obj = np.asarray(obj, np.complex128)
    x = np.asarray(x, np.float64).reshape(-1)
    y = np.asarray(y, np.float64).reshape(-1)
    pad = N + 2
    big = np.pad(obj, pad)
    offs = np.arange(N, dtype=np.float64) - N / 2.0 + pad
    r = (y[:, None] + offs[None, :])[:, :, None]          # (K, N, 1) rows
    c = (x[:, None] + offs[None, :])[:, None, :]          # (K, 1, N) cols
    r0, c0 = np.floor(r), np.floor(c)
    wr, wc = r - r0, c - c0
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    out = np.zeros((x.size, N, N), np.complex128)
    for dr, w_r in ((0, 1.0 - wr), (1, wr)):
        for dc, w_c in ((0, 1.0 - wc), (1, wc)):
            out += w_r * w_c * big[r0 + dr, c0 + dc]
    return out


def far_field(psi) -> np.ndarray:
    """(..., N, N) float64 amplitude sqrt(fftshift(|FFT2 psi|^2 / N^2)) (docs/design.md §3 steps 2-3)."""
    psi = np.asarray(psi, np.complex128)
    N = psi.shape[-1]
    F = np.fft.fft2(psi, axes=(-2, -1))
    return np.fft.fftshift(np.abs(F), axes=(-2, -1)) / N


def disk_mask(N: int) -> np.ndarray:
    """(N, N) float64 probe mask of docs/design.md §3: 1 where r < N//4, r from ((N-1)/2, (N-1)/2)."""
    c = (N - 1) / 2.0
    out = np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            if (i - c) ** 2 + (j - c) ** 2 < (N // 4) ** 2:
                out[i, j] = 1.0
    return out


def rel_max(a, b) -> float:
    """max|a - b| / max|b| (float64; inf when b is all zero and a is not, 0 for empty)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    num = float(np.max(np.abs(a.astype(np.complex128) - b.astype(np.complex128))))
    den = float(np.max(np.abs(b)))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den
