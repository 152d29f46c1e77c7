"""ptycho.canvas: group-canvas geometry (padding, support window, support mean), numpy only."""
import subprocess
import sys

import numpy as np
import pytest

from ptycho.canvas import canvas_padding, support_mean, support_window


def test_canvas_padding_covers_offset():
    assert canvas_padding(0.0) == 1
    assert canvas_padding(32.0) == 33
    assert canvas_padding(31.2) == 33
    assert canvas_padding(np.float32(0.5)) == 2
    assert canvas_padding(3) == 4 and isinstance(canvas_padding(3), int)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -0.5])
def test_canvas_padding_rejects_non_finite_and_negative(bad):
    with pytest.raises(ValueError, match="max_offset must be finite and >= 0"):
        canvas_padding(bad)


@pytest.mark.parametrize("N, support", [(64, 32), (32, 16), (16, 16), (16, 5), (64, 0)])
def test_support_window_is_the_central_square(N, support):
    w = support_window(N, support)
    assert w.shape == (N, N) and w.dtype == np.float32
    assert set(np.unique(w)) <= {0.0, 1.0}
    assert int(w.sum()) == support * support
    start = (N - support) // 2
    assert np.all(w[start:start + support, start:start + support] == 1.0)
    rows, cols = np.nonzero(w)
    if support:
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (
            start, start + support - 1, start, start + support - 1)


def test_support_window_matches_the_decoder_padding():
    # the decoder's N/2 object is zero-padded by N/4 per side: its support is the window
    N = 32
    padded = np.pad(np.ones((N // 2, N // 2), np.float32), N // 4)
    np.testing.assert_array_equal(support_window(N, N // 2), padded)


def test_support_mean_averages_the_central_half_only(tol):
    N = 16
    patches = np.full((2, N, N, 3), 100.0, np.float32)
    q = N // 4
    patches[:, q:N - q, q:N - q, :] = 2.0
    patches[1, q:N - q, q:N - q, 2] = 5.0
    expected = (2.0 * 5 + 5.0) / 6  # five channels at 2, one at 5, equal sizes
    got = support_mean(patches, N)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=tol("arithmetic.float64_ulp"))


def test_importing_canvas_does_not_import_tensorflow():
    code = "import sys, ptycho.canvas; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False", out.stderr
