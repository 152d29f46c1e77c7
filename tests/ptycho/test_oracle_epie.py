"""ptycho.oracle with PtyLab itself: PtyLab's own position rule and propagator see our data as we
simulated it, and an ePIE run is seeded, silent and leaves the caller's RNG alone."""
import numpy as np
import pytest

pytest.importorskip("PtyLab", reason="PtyLab is not installed: the oracle tests need the "
                                     "'oracle' extra (python -m pip install -e '.[oracle]'; "
                                     "the 'test' extra includes it)")

from ptycho.oracle import to_ptylab  # noqa: E402
from ptycho.oracle.epie import EpieSettings, run_epie  # noqa: E402
from ptycho.physics import diffract_np, illuminate_np  # noqa: E402
from ptycho.probe import ideal_probe, normalize_probe, probe_mask  # noqa: E402
from ptycho.raw_data import RawData  # noqa: E402
from ptycho.simulate import extract_patches  # noqa: E402

N = 32


@pytest.fixture(scope="module")
def noise_free():
    """Noise-free amplitudes of a random complex 48 x 56 object at 12 whole-pixel positions,
    ideal probe with the mask on the exit wave; scale 3 (counts = (3 diff3d)^2)."""
    rng = np.random.default_rng(1)
    obj = (1 + rng.random((48, 56))) * np.exp(1j * rng.random((48, 56)))
    x = rng.integers(16, 40, 12).astype(np.float64)
    y = rng.integers(16, 32, 12).astype(np.float64)
    P = normalize_probe(ideal_probe(N), 10.0)
    M = probe_mask(N)
    amp = diffract_np(illuminate_np(extract_patches(obj, x, y, N), P, M))
    raw = RawData.from_arrays(x, y, amp.astype(np.float32), P, objectGuess=obj.astype(np.complex64),
                              metadata={"s_sim": 3.0})
    return raw, M


def test_ptylab_places_and_propagates_our_patterns(noise_free, tol):
    """PtyLab's position rule (calculate_pixel_positions) and its Fraunhofer propagator with
    fftshiftSwitch off (fft2c), applied to the object on its canvas, give our counts: same
    patch, same DC pixel, same unitary normalization."""
    from PtyLab.Reconstruction.Reconstruction import calculate_pixel_positions
    from PtyLab.utils.utils import fft2c

    raw, M = noise_free
    d = to_ptylab(raw, mask=M)
    top = calculate_pixel_positions(d.encoder, d.dxo, d.No, d.N, asint=True)
    np.testing.assert_array_equal(top, d.top_left())
    canvas = np.zeros((d.No, d.No), np.complex128)
    r0, c0 = -d.origin[0], -d.origin[1]
    canvas[r0:r0 + 48, c0:c0 + 56] = raw.objectGuess
    for j, (r, c) in enumerate(top):
        esw = d.probe.astype(np.complex128) * canvas[r:r + N, c:c + N]
        intensity = np.abs(fft2c(esw, fftshiftSwitch=False)) ** 2
        np.testing.assert_allclose(intensity, d.ptychogram[j], rtol=tol("oracle.forward"),
                                   atol=tol("oracle.forward") * float(d.ptychogram[j].max()))


def test_epie_is_seeded_silent_and_restores_the_global_rng(noise_free, capfd):
    import matplotlib.pyplot as plt

    raw, M = noise_free
    d = to_ptylab(raw, mask=M)
    np.random.seed(123)
    state = np.random.get_state()
    settings = EpieSettings(iterations=3, seed=5, probe_update=True)
    a = run_epie(d, settings)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    b = run_epie(d, settings)
    np.testing.assert_array_equal(a.object, b.object)
    np.testing.assert_array_equal(a.probe, b.probe)
    c = run_epie(d, EpieSettings(iterations=3, seed=6, probe_update=True))
    assert not np.array_equal(a.object, c.object)           # the seed reaches PtyLab's RNG
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert plt.get_fignums() == []
    assert a.object.shape == (48, 56) and a.canvas.shape == (d.No, d.No)
    assert a.error.shape == (3,) and a.iterations == 3 and a.patterns == 12
    assert a.seconds > 0 and a.patterns_per_second > 0


def test_held_probe_stays_the_stated_one(noise_free):
    raw, M = noise_free
    d = to_ptylab(raw, mask=M)
    res = run_epie(d, EpieSettings(iterations=2, seed=0))
    np.testing.assert_array_equal(res.probe.astype(np.complex64), d.probe)

