"""The held-out learning curve (parity.stages.curve, parity.curve_figure): points after every
k-th epoch and the last, each the evaluation of the model's weights at that epoch (the last
equals an evaluation of the trained model done afterwards; a stale model's does not), and the
report's figure."""
import json

import numpy as np
import pytest

from parity.curve_figure import curve_of, curve_png
from parity.report import ReplayResult, write_report
from parity.stages import curve
from ptycho.container import PtychoDataContainer
from ptycho.grouping import group
from ptycho.model import build_model, diffraction_to_obj
from ptycho.objects import lines_object
from ptycho.probe import probe_mask
from ptycho.simulate import simulate_scan_dataset
from ptycho.train import train
from tests.ptycho._pipeline import small_setup

pytestmark = pytest.mark.slow
SIZE = 64


@pytest.fixture(scope="module")
def setup():
    """Training data of one lines object (seed 1) and a frame of a second one (seed 2)."""
    raw, grouped, container, plan, config = small_setup(N=16, n_points=64, n_groups=32,
                                                        object_size=SIZE, nepochs=3,
                                                        validation_split=0.0)
    probe = np.asarray(container.probe_np)
    test_raw = simulate_scan_dataset(lines_object(SIZE, seed=2), probe, nphotons=1e9, seed=2,
                                     scan="random", n_points=48,
                                     mask=probe_mask(16) if config.model.probe_mask else None)
    held = group(test_raw, gridsize=1, n_groups=24, neighbor_count=config.neighbor_count,
                 strategy=config.grouping_strategy, seed=1)
    fed = PtychoDataContainer.from_grouped(held, probe, feed_gain=plan.feed_gain)
    mask = probe_mask(16) if config.model.probe_mask else None
    return container, plan, config, probe, lambda: curve.held_out_frame(
        fed, held, plan, config, probe=probe, mask=mask, size=SIZE)


@pytest.mark.parametrize("every,epochs", [(2, [2, 3]), (1, [1, 2, 3])])
def test_points_after_every_kth_epoch_and_the_last_one_is_the_trained_model(setup, every, epochs):
    container, plan, config, probe, make_frame = setup
    frame = make_frame()
    result = train(container, plan, config, callbacks=[curve.curve_callback(frame, every, 3)])
    assert [p["epoch"] for p in frame.points] == epochs
    after = curve.curve_point(frame, result.diffraction_to_obj, 3)
    assert frame.points[-1] == after  # the same weights, the same evaluation, bit for bit
    for p in frame.points:  # (the baseline's r may move: registration picks the pixels)
        assert -1.0 <= p["amplitude_pearson"] <= 1.0 and p["rmse_ratio"] > 0
        assert -1.0 <= p["baseline_pearson"] <= 1.0 and 0.0 <= p["twin_fraction"] <= 1.0
    values = curve.curve_values(frame.points)
    assert set(values) == {f"curve.{k}" for k in curve.SERIES}
    assert values["curve.epoch"] == epochs


def test_a_stale_model_gives_another_last_point(setup):
    """The breaker of the equality above: an untrained model of the same config (what a curve
    built on a copy instead of the fitted model would evaluate) is not the trained one."""
    container, plan, config, probe, make_frame = setup
    frame = make_frame()
    train(container, plan, config, callbacks=[curve.curve_callback(frame, 3, 3)])
    fresh, _ = build_model(config.model, config, probe=probe, input_scale=plan.input_scaler,
                           output_scale=plan.output_scaler, max_offset=0.0, seed=config.seed + 1)
    stale = curve.curve_point(frame, diffraction_to_obj(fresh), 3)
    assert stale["amplitude_pearson"] != frame.points[-1]["amplitude_pearson"]


def test_report_draws_the_curve_and_links_it(tmp_path):
    values = {"train.curve.epoch": [2, 4], "train.curve.amplitude_pearson": [0.5, None],
              "train.curve.baseline_pearson": [0.4, 0.4], "train.curve.rmse_ratio": [1.2, 0.9],
              "train.curve.twin_fraction": [0.3, 0.1], "train.loss_last": 1.0}
    got = curve_of(values)
    assert got == {k[len("train.curve."):]: v for k, v in values.items() if "curve" in k}
    res = ReplayResult("gs2_ideal", "current", "reduced", curve=got)
    paths = write_report(tmp_path, [res, ReplayResult("gs1_custom", "current", "reduced")],
                         meta={"tier": "reduced"}, wall_s=1.0)
    png = tmp_path / "curve_gs2_ideal__current.png"
    assert paths["curve_gs2_ideal__current.png"] == png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "curve_gs1_custom__current.png").exists()
    assert "](curve_gs2_ideal__current.png)" in (tmp_path / "report.md").read_text()
    assert "curve" not in json.loads((tmp_path / "report.json").read_text())["replays"][0]
    curve_png(got, tmp_path / "direct.png", title="t", epie_pearson=0.9)
    assert (tmp_path / "direct.png").stat().st_size > 1000
