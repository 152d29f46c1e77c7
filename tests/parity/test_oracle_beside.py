"""The PINN beside the engine (issue 17 §4): a training tier's held-out data are whole-pixel, so
ePIE reconstructs exactly what the PINN infers; the evaluate stage records ePIE's figures on the
PINN's truth, baseline and pixels (`evaluate.oracle.*`), and the report reads PINN vs ePIE vs
the constant baseline, with one figure per replay on one colour scale."""
import json
import types

import jsonschema
import numpy as np
import pytest

pytest.importorskip("PtyLab", reason="PtyLab is not installed: the oracle tests need the "
                                     "'oracle' extra (python -m pip install -e '.[oracle]'; "
                                     "the 'test' extra includes it)")

from parity import oracle, records, stages  # noqa: E402
from parity.model_cache import ModelCache  # noqa: E402
from parity.profiles import get_profile  # noqa: E402
from parity.replay import ReplaySpec, ResolvedReplay, replay_config  # noqa: E402
from parity.report import (WHO, ReplayResult, comparison_markdown, comparison_of,  # noqa: E402
                           write_report)
from parity.scenarios import TierSize, get_scenario  # noqa: E402
from parity.telemetry import Recorder  # noqa: E402
from ptycho.errors import DataContractError  # noqa: E402
from ptycho.evaluation import evaluate_images  # noqa: E402

SCENARIO = "gs1_custom"


@pytest.fixture(scope="module")
def held_out():
    """The object, probe, scan and simulate stages of a small split-'object' tier."""
    spec = ReplaySpec(SCENARIO, "current", tier="trained")
    sizes = TierSize(object_size=128, n_images=96, n_groups=8, batch_size=4, nepochs=1,
                     n_filters_scale=1, split="object", trains=True)
    replay = ResolvedReplay(spec, get_scenario(SCENARIO), get_profile("current"), sizes,
                            replay_config(spec))
    st = stages.StageState(replay,
                           Recorder({"scenario": SCENARIO, "profile": "current",
                                     "tier": "trained", "seed": 1}), ModelCache())
    for name in ("object", "probe", "scan", "simulate"):
        st.recorder.record(name, stages.STAGE_FUNCTIONS[name](st))
    return st


def test_the_held_out_scan_is_whole_pixels(held_out):
    xt, yt = held_out.art.test_xy
    raw = held_out.art.raw_test
    assert np.array_equal(xt, np.round(xt)) and np.array_equal(yt, np.round(yt))
    np.testing.assert_array_equal(raw.xcoords, xt)
    # the training scan keeps its sub-pixel positions
    assert not np.array_equal(held_out.art.xcoords, np.round(held_out.art.xcoords))


def test_sub_pixel_held_out_data_are_refused_naming_the_positions(held_out):
    raw = held_out.art.raw_test
    shifted = types.SimpleNamespace(**{**vars(raw), "xcoords": raw.xcoords + 0.3})
    with pytest.raises(DataContractError) as err:
        oracle.held_out_run(shifted, held_out.art.mask, seed=1)
    assert err.value.key == "xcoords"


def test_the_evaluate_stage_puts_epie_beside_the_pinn(held_out):
    """_beside_the_engine on the held-out truth: ePIE's figures come from evaluate_images on
    the PINN's truth, baseline and covered pixels; images and wall times are artifacts; the
    run is cached by the data (both profiles share it)."""
    st = held_out
    truth = st.art.object_test
    x, y = st.art.test_xy
    covered = np.zeros(truth.shape, bool)
    covered[40:88, 40:88] = True
    baseline = np.full(truth.shape, float(np.mean(np.abs(truth))))
    st.art.stitched_truth = types.SimpleNamespace(image=truth)
    st.art.stitched = types.SimpleNamespace(image=0.9 * truth)
    pinn = evaluate_images(0.9 * truth, truth, baseline, xcoords=x, ycoords=y, covered=covered)
    values = stages.results.beside_the_engine(st, pinn, baseline, x, y, covered)
    assert values["oracle.points"] == 96
    assert values["oracle.iterations"] == oracle.HELD_OUT_SETTINGS.iterations
    art = st.recorder.artifacts
    expected = evaluate_images(art["images"]["ePIE"], truth, baseline, xcoords=x, ycoords=y,
                               covered=covered)
    assert values["oracle.amplitude.pearson"] == expected.amplitude["pearson"]["model"]
    assert values["oracle.amplitude.rel_rmse_scaled"] == (
        expected.amplitude["rel_rmse_scaled"]["model"])
    assert values["oracle.phase.rmse"] == expected.phase["rmse"]["model"]
    assert art["epie_seconds"] > 0 and art["epie_patterns"] == 96
    assert set(art["images"]) == {"truth", "PINN", "ePIE", "baseline", "covered"}
    again = oracle.held_out_run(st.art.raw_test, st.art.mask, seed=1, cache=st.models)
    assert again.object is art["images"]["ePIE"]  # the cached run, not a second one


def _values():
    v = {"evaluate.oracle.points": 512}
    for i, who in enumerate(("model", "oracle", "baseline")):
        for key in ("amplitude.pearson", "amplitude.rel_rmse_scaled", "amplitude.ssim",
                    "amplitude.frc_1/7", "phase.rmse"):
            name = (f"evaluate.oracle.{key}" if who == "oracle" else f"evaluate.{key}.{who}")
            v[name] = 0.5 + 0.1 * i
    return v


def test_report_reads_pinn_vs_epie_vs_baseline(tmp_path):
    rng = np.random.default_rng(0)
    truth = 1 + rng.random((32, 32))
    covered = np.ones((32, 32), bool)
    art = {"pinn_seconds": 2.0, "pinn_patterns": 512, "epie_seconds": 8.0,
           "epie_patterns": 512, "epie_iterations": 30,
           "images": {"truth": truth, "PINN": truth, "ePIE": truth, "baseline": truth,
                      "covered": covered}}
    comparison = comparison_of(_values(), art)
    assert list(comparison) == list(WHO)
    assert comparison["PINN"]["amplitude.pearson"] == 0.5
    assert comparison["ePIE"]["amplitude.pearson"] == pytest.approx(0.6)
    assert comparison["baseline"]["amplitude.pearson"] == pytest.approx(0.7)
    assert comparison["PINN"]["patterns_per_s"] == 256.0
    assert comparison["ePIE"]["patterns_per_s"] == 512 * 30 / 8.0
    assert comparison_of({"evaluate.amplitude.pearson.model": 0.9}, art) == {}
    res = ReplayResult(SCENARIO, "current", "trained", comparison=comparison,
                       images=art["images"], scalars={"g": 0.27, "implied_amplitude_max": 5.0,
                                                      "activation_ceiling": 8.0})
    table = comparison_markdown([res])
    assert "| gs1_custom | current | ePIE | 0.600 |" in table
    paths = write_report(tmp_path, [res], meta={"tier": "trained", "seed": 1, "command": "x"},
                         wall_s=1.0)
    assert (tmp_path / "comparison_gs1_custom__current.png").stat().st_size > 0
    md = paths["markdown"].read_text()
    assert "PINN vs ePIE vs constant baseline" in md and "comparison_gs1_custom__current.png" in md
    report = json.loads((tmp_path / "report.json").read_text())
    jsonschema.Draft202012Validator(records.json_schema(records.REPORT_SCHEMA)).validate(report)
    assert report["replays"][0]["scalars"]["comparison.ePIE.amplitude.pearson"] == (
        pytest.approx(0.6))
