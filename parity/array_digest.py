"""One content digest of numpy arrays, for in-memory cache keys (a leaf module: numpy only)."""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np


def array_digest(arrays: Iterable) -> str:
    """SHA-256 hex digest of `arrays` in order: each array's dtype, shape and C-order bytes
    (None counts as a distinct marker), so equal digests mean equal contents."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()
