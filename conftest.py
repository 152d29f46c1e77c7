"""Top-level pytest configuration.

Sets the TensorFlow environment before anything imports TensorFlow, and selects a hypothesis
profile: `dev` (default) or `ci` (when CI is 1/true/yes).

`ci` extends hypothesis' built-in `ci` profile (derandomize=True, deadline=None, database=None,
print_blob=True, HealthCheck.too_slow suppressed; hypothesis >= 6.116) instead of re-declaring
it, so only what this suite changes is stated here.
"""
import os

from ptycho.tfload import INTRA_OP_THREADS  # no TensorFlow import: the constant only

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONHASHSEED", "0")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(INTRA_OP_THREADS))  # ptycho.tfload's pin

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    parent=settings.get_profile("ci"),
    max_examples=120,
    # already None in the built-in profile; stated because the first TensorFlow call of a
    # property test traces and imports (seconds), which no deadline should count
    deadline=None,
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")
