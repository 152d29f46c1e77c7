"""Training losses on counts and amplitudes (docs/design.md §4).

k: measured counts (label, (external_scale * X_fed)**2); lam: predicted counts (model output).
- `poisson_nll_mean`: lam - k*log(lam), averaged over the elements of each sample (current).
- `poisson_nll_full`: the full -log p(k | lam) = lam - k*log(lam) + lgamma(k + 1), summed over
  the elements of each sample (legacy).
- `amplitude_mae`: mean |a_pred - a_label| per sample.
Each returns a per-sample (B,) float32 tensor; Keras averages over the batch. log(0) is guarded
by evaluating log(max(lam, LOG_FLOOR)), so k > 0 with lam = 0 gives a large finite loss and
k = 0 with lam = 0 gives 0.
"""
from __future__ import annotations

from .tfload import keras as _keras
from .tfload import tf as _tf

#: smallest predicted count inside the logarithm (counts, dimensionless)
LOG_FLOOR = 1e-12
_REGISTERED: dict | None = None


def _per_sample(values, reduce: str):
    tf = _tf()
    axes = list(range(1, len(values.shape)))
    return tf.reduce_mean(values, axis=axes) if reduce == "mean" else tf.reduce_sum(values, axis=axes)


def _log_guarded(lam):
    tf = _tf()
    return tf.math.log(tf.maximum(lam, LOG_FLOOR))


def poisson_nll_mean(k, lam):
    """(B,) mean over elements of lam - k*log(lam); k, lam (B, N, N, C) counts."""
    tf = _tf()
    k = tf.cast(k, tf.float32)
    lam = tf.cast(lam, tf.float32)
    return _per_sample(lam - k * _log_guarded(lam), "mean")


def poisson_nll_full(k, lam):
    """(B,) sum over elements of -log p(k|lam) = lam - k*log(lam) + lgamma(k+1)."""
    tf = _tf()
    k = tf.cast(k, tf.float32)
    lam = tf.cast(lam, tf.float32)
    return _per_sample(lam - k * _log_guarded(lam) + tf.math.lgamma(k + 1.0), "sum")


def amplitude_mae(a_true, a_pred):
    """(B,) mean |a_pred - a_true| over the elements of each sample (scaled amplitudes)."""
    tf = _tf()
    return _per_sample(tf.abs(tf.cast(a_pred, tf.float32) - tf.cast(a_true, tf.float32)), "mean")


def nll_floor(k, form: str) -> float:
    """The smallest value the NLL can take on counts k (B, N, N, C): its value at lam = k
    (the saturated Poisson model), averaged over samples as Keras reports it, in float64.
    Training loss minus this floor is half the Poisson deviance per sample ('mean': per element),
    a non-negative measure of misfit whose ratio between epochs is meaningful even though the
    mean-form loss itself is negative for large counts."""
    import numpy as np
    from scipy.special import gammaln, xlogy

    if form not in ("mean", "full"):
        raise ValueError(f"nll_form must be 'mean' or 'full', got {form!r}")
    k = np.asarray(k, dtype=np.float64)
    per = k - xlogy(k, k)
    if form == "full":
        per = per + gammaln(k + 1.0)
    axes = tuple(range(1, k.ndim))
    reduce = np.mean if form == "mean" else np.sum
    return float(np.mean(reduce(per, axis=axes)))


def nll_for(form: str):
    """The NLL function for TrainingConfig.nll_form ('mean' or 'full')."""
    if form == "mean":
        return poisson_nll_mean
    if form == "full":
        return poisson_nll_full
    raise ValueError(f"nll_form must be 'mean' or 'full', got {form!r}")


def keras_losses() -> dict:
    """The three losses registered as Keras-serializable functions (for compiled saving)."""
    global _REGISTERED
    if _REGISTERED is None:
        register = _keras().saving.register_keras_serializable(package="ptycho")
        _REGISTERED = {f.__name__: register(f) for f in
                       (poisson_nll_mean, poisson_nll_full, amplitude_mae)}
    return _REGISTERED
