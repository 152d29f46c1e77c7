"""The scanned region and the largest covered rectangle (ptycho.evaluation.regions)."""
import numpy as np
import pytest

from ptycho.errors import ConfigError
from ptycho.evaluation.regions import crop_to_scan, largest_true_rectangle, scan_region


def test_scan_region_is_the_bounding_box_of_positions():
    rows, cols = scan_region([10.2, 30.0, 19.5], [5.5, 7.0, 20.9], (40, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (6, 21, 11, 31)
    img = np.arange(1600.0).reshape(40, 40)
    np.testing.assert_array_equal(crop_to_scan(img, [10.2, 30.0], [5.5, 20.9]), img[6:21, 11:31])
    rows, _ = scan_region([10.0], [10.0], (40, 40), origin=(4.0, 0.0))
    assert (rows.start, rows.stop) == (6, 7)
    # origin (row0, col0) is the object coordinate of canvas pixel (0, 0): the same region as
    # positions moved by -origin, on both axes (mutation testing: `- origin[1]` -> `+` survived
    # while only a row origin was tried)
    x, y = [10.2, 30.0, 19.5], [5.5, 7.0, 20.9]
    for origin in ((0.0, 3.0), (-2.0, 5.0)):
        moved = scan_region([v - origin[1] for v in x], [v - origin[0] for v in y], (40, 40))
        assert scan_region(x, y, (40, 40), origin=origin) == moved
    with pytest.raises(ConfigError):
        scan_region([], [], (4, 4))


def test_largest_true_rectangle_against_brute_force():
    rng = np.random.default_rng(12)
    for trial in range(20):
        mask = rng.uniform(size=(9, 11)) > 0.25
        rows, cols = largest_true_rectangle(mask)
        area = (rows.stop - rows.start) * (cols.stop - cols.start)
        assert mask[rows, cols].all()
        best = 0
        for r0 in range(9):
            for r1 in range(r0 + 1, 10):
                for c0 in range(11):
                    for c1 in range(c0 + 1, 12):
                        if mask[r0:r1, c0:c1].all():
                            best = max(best, (r1 - r0) * (c1 - c0))
        assert area == best, trial
    rows, cols = largest_true_rectangle(np.zeros((3, 3), bool))
    assert rows.stop - rows.start == 0 or cols.stop - cols.start == 0
