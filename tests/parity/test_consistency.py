"""The consistency checks fail on real product bugs: each case patches one product function the
way a realistic bug would (a conjugated probe, a one-axis fftshift, a flipped extraction sign,
mirrored ground truth, a batch-coupled reassembly, an activation ignoring its ceiling, a phase
range without pi, a stopped gradient, an ignored loss weight, a misaligned training feed, a
stitching sign, unaligned phase metrics, a scale summed over channels), replays the stages
through the product path and asserts that the named check fails at its stage, and that it is
the earliest failure of the replay.
"""
import numpy as np
import pytest

from parity.checks import FAIL, PASS, evaluate, registered
from parity.model_cache import ModelCache
from parity.records import CORE_STAGES, DIAGNOSTIC_STAGES
from parity.replay import ReplaySpec, resolve, run_stages
from parity.testing import assert_caught
from parity.tolerances import load_ledger
from tests.conftest import LEDGER_PATH

LEDGER = load_ledger(LEDGER_PATH)
ALL = CORE_STAGES + DIAGNOSTIC_STAGES


def _checks(scenario, profile="current", stages=CORE_STAGES):
    spec = ReplaySpec(scenario, profile)
    record = run_stages(resolve(spec), stages=stages, models=ModelCache()).to_dict()
    return record, {c.name: c for c in evaluate(record, LEDGER)}


@pytest.fixture(scope="module")
def clean():
    """Clean gs2_ideal and gs1_custom_trainable replays: every consistency check passes."""
    return {s: _checks(s, stages=ALL) for s in ("gs2_ideal", "gs1_custom_trainable")}


def test_clean_replays_pass_the_consistency_checks(clean):
    for scenario, (_, checks) in clean.items():
        for name, entry in registered("stage").items():
            if name in checks:
                assert checks[name].verdict == PASS, (scenario, checks[name])
                assert checks[name].stage in (entry.stage, "labels")


# ---------------------------------------------------------------------------- physics head
def test_conjugated_model_probe_fails_forward_consistency(monkeypatch):
    from ptycho import layers

    real = layers.ProbeIllumination.probe
    monkeypatch.setattr(layers.ProbeIllumination, "probe", lambda self: layers.tf.math.conj(real(self)))
    record, _ = _checks("gs1_custom")          # the experimental probe is complex
    assert_caught(record, "forward_consistency", ledger=LEDGER)


def test_one_axis_fftshift_in_the_model_fails_forward_consistency(monkeypatch):
    from ptycho import layers

    tf = layers.tf

    def one_axis(psi):
        first = tf.transpose(psi, [0, 3, 1, 2])
        amp = tf.abs(tf.signal.fft2d(first)) / tf.sqrt(tf.cast(tf.shape(first)[-1] ** 2, tf.float32))
        return tf.transpose(tf.signal.fftshift(amp, axes=[-1]), [0, 2, 3, 1])

    monkeypatch.setattr(layers, "diffract_tf_channels_last", one_axis)
    record, _ = _checks("gs1_ideal")
    assert_caught(record, "forward_consistency", ledger=LEDGER)


def test_mirrored_ground_truth_fails_forward_consistency(monkeypatch):
    """Ground-truth patches cut at the position mirrored about the group centre (C > 1)."""
    from ptycho import grouping
    from ptycho.simulate import extract_patches

    def mirrored(obj, x, y, nn, N):
        cx, cy = x[nn].mean(axis=1, keepdims=True), y[nn].mean(axis=1, keepdims=True)
        mx, my = 2 * cx - x[nn], 2 * cy - y[nn]
        flat = extract_patches(obj, mx.ravel(), my.ravel(), N).astype(np.complex64)
        B, C = nn.shape
        return np.ascontiguousarray(flat.reshape(B, C, N, N).transpose(0, 2, 3, 1))

    monkeypatch.setattr(grouping, "ground_truth_patches", mirrored)
    _, checks = _checks("gs2_ideal")
    assert checks["forward_consistency"].verdict == FAIL


def test_flipped_extraction_sign_fails_the_reassembly_round_trip(monkeypatch):
    from ptycho import layers

    real = layers.translate

    def extraction_flipped(images, shifts, output_size=None, offset=0.0):
        if offset > 0:                       # the extraction call (placement has offset -pad)
            shifts = -shifts
        return real(images, shifts, output_size=output_size, offset=offset)

    monkeypatch.setattr(layers, "translate", extraction_flipped)
    record, _ = _checks("gs2_ideal")
    assert_caught(record, "reassembly_roundtrip", ledger=LEDGER)


def test_batch_coupled_reassembly_fails_batch_independence(monkeypatch):
    """A reassembly that lets the batch leak into each group (like the merged canvas that
    appears once B*C >= 64)."""
    from ptycho import layers

    real = layers.reassemble_extract

    def coupled(obj, coords_relative, *, pad, support, eps=1e-6):
        out = real(obj, coords_relative, pad=pad, support=support, eps=eps)
        n = layers.tf.shape(out)[0] * layers.tf.shape(out)[-1]
        leak = layers.tf.cast(n >= 64, out.dtype) * layers.tf.reduce_mean(out, axis=0, keepdims=True)
        return out + layers.tf.cast(0.1, out.dtype) * leak

    monkeypatch.setattr(layers, "reassemble_extract", coupled)
    _, checks = _checks("gs1_ideal")
    assert checks["batch_independence"].verdict == FAIL
    assert checks["forward_consistency"].verdict == PASS   # a per-group test cannot see it


def test_activation_ignoring_its_ceiling_fails_activation_ceiling(monkeypatch):
    from ptycho import layers

    monkeypatch.setattr(layers.AmplitudeActivation, "call", lambda self, x: layers.tf.sigmoid(x))
    record, _ = _checks("gs1_custom_trainable")     # scaled sigmoid, ceiling 8
    assert_caught(record, "activation_ceiling", ledger=LEDGER)


def test_phase_range_without_pi_fails_phase_range(monkeypatch):
    from ptycho import layers

    monkeypatch.setattr(layers.PhaseActivation, "call", lambda self, x: layers.tf.tanh(x))
    record, _ = _checks("gs1_ideal")
    assert_caught(record, "phase_range", ledger=LEDGER)


# ---------------------------------------------------------------------------- training path
TRAIN = CORE_STAGES + ("train",)


def test_stopped_gradient_fails_gradient_flow(monkeypatch):
    from ptycho import layers

    real = layers.AmplitudeActivation.call
    monkeypatch.setattr(layers.AmplitudeActivation, "call",
                        lambda self, x: real(self, layers.tf.stop_gradient(x)))
    record, checks = _checks("gs1_ideal", stages=TRAIN)
    assert_caught(record, "gradient_flow", ledger=LEDGER)
    assert any("amp_" in w for w in _checks_zero(checks))


def _checks_zero(checks):
    return checks["gradient_flow"].detail.split(": ", 1)[-1].split(", ")


def test_ignored_loss_weight_fails_loss_composition(monkeypatch):
    from ptycho import train

    real = train.compile_model

    def unweighted(model, config):
        from ptycho.config import replace

        real(model, replace(config, nll_weight=1.0, mae_weight=1.0))

    monkeypatch.setattr(train, "compile_model", unweighted)
    record, _ = _checks("gs1_custom_trainable", stages=TRAIN)   # 0.5 NLL + 2 MAE
    assert_caught(record, "loss_composition", ledger=LEDGER)


def test_misaligned_training_feed_fails_training_feed(monkeypatch):
    """Labels taken in another order than the inputs (the split indices applied twice)."""
    from ptycho import train

    real = train._take
    monkeypatch.setattr(train, "_take", lambda d, idx: real(d, idx[::-1] if "counts" in d else idx))
    record, _ = _checks("gs2_ideal", stages=TRAIN)
    assert_caught(record, "training_feed", ledger=LEDGER)


def test_groups_with_the_same_members_are_fed_once_each(monkeypatch):
    """Gridsize 2 may draw two groups with the same members (the reduced tier's 512 groups of
    gs2 do): each is matched to a group of its own, and the feed passes."""
    from ptycho import grouping

    real = grouping.draw_members

    def twins(rng, candidates, C):
        members = real(rng, candidates, C)
        members[1] = members[0]
        return members
    monkeypatch.setattr(grouping, "draw_members", twins)
    record, checks = _checks("gs2_ideal", stages=TRAIN)
    v = record["values"]
    assert checks["training_feed"].verdict == PASS, checks["training_feed"]
    assert v["train.feed.distinct_groups_unshuffled"] == v["train.feed.rows_unshuffled"] > 0


def test_a_group_fed_twice_fails_training_feed(monkeypatch):
    """The first training group fed twice and the last not at all (an off-by-one split)."""
    from ptycho import train

    real = train._take
    monkeypatch.setattr(train, "_take", lambda d, idx: real(d, np.concatenate([idx[:1], idx[:-1]])))
    record, _ = _checks("gs2_ideal", stages=TRAIN)
    assert_caught(record, "training_feed", ledger=LEDGER)


# ---------------------------------------------------------------------------- stitch, evaluate, scale
def test_stitching_sign_fails_stitch_roundtrip(monkeypatch):
    from ptycho import stitching

    def plus(coords_offsets, coords_relative):
        c = np.asarray(coords_offsets, np.float64) + np.asarray(coords_relative, np.float64)
        return c[:, 0, 0, :].reshape(-1), c[:, 0, 1, :].reshape(-1)

    monkeypatch.setattr(stitching, "global_positions", plus)
    record, _ = _checks("gs2_ideal", stages=ALL)
    assert_caught(record, "stitch_roundtrip", ledger=LEDGER)


def test_unaligned_phase_metrics_fail_evaluate_scaled_copy(monkeypatch):
    """Phase metrics on phases whose global offset was never removed."""
    from ptycho.evaluation import report

    monkeypatch.setattr(report, "aligned_phases",
                        lambda recon, truth, mask=None: (np.angle(recon), np.angle(truth), 0.0))
    record, _ = _checks("gs1_ideal", stages=ALL)
    assert_caught(record, "evaluate_scaled_copy", ledger=LEDGER)


def test_scale_summed_over_channels_fails_container_scale(monkeypatch):
    """calculate_intensity_scale with E summed over channels instead of averaged (s off by
    sqrt(C))."""
    from ptycho import scaling

    real = scaling.calculate_intensity_scale

    def per_group(container, nphotons):
        res = real(container, nphotons)
        C = container.X_np.shape[-1]
        return scaling.ScaleResult(res.value / np.sqrt(C), res.source, res.reason, res.energy * C)

    monkeypatch.setattr(scaling, "calculate_intensity_scale", per_group)
    record, _ = _checks("gs2_ideal", stages=CORE_STAGES[:8])
    assert_caught(record, "container_scale", ledger=LEDGER)


def test_labels_misaligned_with_the_scan_fail_labels_poisson(monkeypatch):
    """Diffraction gathered for the wrong members of each group (labels of pattern i, truth
    and offsets of pattern j)."""
    from ptycho import grouping

    real = grouping._gather_channels

    def shifted(stack, nn):
        diffraction = stack.dtype == np.float32
        return real(stack, np.roll(nn, 1, axis=0) if diffraction else nn)

    monkeypatch.setattr(grouping, "_gather_channels", shifted)
    _, checks = _checks("gs1_ideal", stages=CORE_STAGES[:10])
    assert checks["labels_poisson"].verdict == FAIL
