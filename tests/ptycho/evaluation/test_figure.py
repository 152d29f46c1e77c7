"""The comparison PNG (ptycho.evaluation.figure)."""
import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.evaluation.figure import save_comparison_png
from tests.ptycho.evaluation.images import smooth_image


def test_comparison_png_is_written_atomically(tmp_path):
    truth = smooth_image(9, (40, 40)) * np.exp(0.1j * smooth_image(10, (40, 40)))
    path = save_comparison_png(tmp_path / "cmp.png", truth, truth * 0.9, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png"]
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05                             # not blank
    with pytest.raises(ConfigError):
        save_comparison_png(tmp_path / "bad.png", truth, truth[:10])


def test_comparison_png_blanks_uncovered_pixels(tmp_path):
    truth = smooth_image(13, (40, 40)).astype(np.complex128)
    recon = truth.copy()
    covered = np.ones((40, 40), bool)
    covered[:5] = False
    recon[~covered] = -100.0                                      # would dominate the ranges
    path = save_comparison_png(tmp_path / "c.png", truth, recon, covered=covered)
    assert path.exists()
    with pytest.raises(ConfigError) as exc:
        save_comparison_png(tmp_path / "d.png", truth, recon, covered=np.zeros((40, 40), bool))
    assert exc.value.field == "covered"
