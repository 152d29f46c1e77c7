"""Shared test images of the evaluation tests: smooth real images, a smooth periodic complex
field (a circular Fourier shift of it has no edge), its scan box and a metric-dict comparison."""
import numpy as np
import pytest


def assert_metrics_close(actual: dict, expected: dict, *, rel: float) -> None:
    """Metric dicts agree: the same keys, None (a metric that is undefined, e.g. an FRC that
    never crosses its threshold) and non-finite entries exactly, numbers to `rel`. pytest's
    `approx` of a dict raises TypeError on a None entry (pytest >= 9.2), so each entry is
    compared by its kind."""
    __tracebackhide__ = True
    assert actual.keys() == expected.keys(), f"keys differ: {actual.keys() ^ expected.keys()}"
    for key, want in expected.items():
        got = actual[key]
        if want is None or got is None:
            assert got is want, f"{key}: {got!r} != {want!r}"
        elif not np.all(np.isfinite(want)):
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            assert got == pytest.approx(want, rel=rel), f"{key}: {got!r} != {want!r}"


def smooth_image(seed=0, shape=(48, 40)):
    """Gaussian-smoothed (sigma 1.5 px) normal noise + 2: a positive real (H, W) image."""
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=shape), 1.5) + 2.0


def periodic_field(seed=20, shape=(80, 80), phase_std=0.5):
    """Smooth periodic complex test object (so a circular Fourier shift of it has no edge):
    amplitude ~2 +- 0.3, phase std `phase_std` rad about 0."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    amp = gaussian_filter(rng.normal(size=shape), 2.0, mode="wrap")
    amp = 2.0 + 0.3 * amp / amp.std()
    ph = gaussian_filter(rng.normal(size=shape), 3.0, mode="wrap")
    return amp * np.exp(1j * phase_std * ph / ph.std())


#: scan positions whose bounding box is rows/cols 15..65 of an 80 x 80 canvas
SCAN_X, SCAN_Y = np.array([15.0, 65.0, 40.0]), np.array([15.0, 65.0, 30.0])
BOX = (slice(15, 66), slice(15, 66))


def fourier_shift(image, shift):
    """Circular band-limited translation out(r) = in(r - shift): multiply the spectrum by
    exp(-2 pi i (ky dy + kx dx))."""
    ky = np.fft.fftfreq(image.shape[0])[:, None]
    kx = np.fft.fftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (ky * shift[0] + kx * shift[1]))
    return np.fft.ifft2(np.fft.fft2(image) * ramp)
