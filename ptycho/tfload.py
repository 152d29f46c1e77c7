"""Lazy, single TensorFlow import with the project's environment settings.

`tf()` sets `TF_ENABLE_ONEDNN_OPTS=0` (bit-reproducible CPU kernels), pins the intra-op pool
(`INTRA_OP_THREADS`) and quiets the C++ log before the first import, then returns the module. Import TensorFlow only through here.

The C++ log threshold `TF_CPP_MIN_LOG_LEVEL` (0 all, 1 no INFO, 2 no WARNING, 3 FATAL only;
default 2 here) covers what TensorFlow logs once absl's logging is initialized, but not the
lines its libraries write while they load: absl writes those to stderr whatever the threshold
(on a CPU-only machine: absl's "All log messages before absl::InitializeLog()" notice and
cudart_stub's "Could not find cuda drivers", once per library). The import therefore runs with
file descriptor 2 captured (`preinit_log_threshold`) and writes back every captured line except
absl lines below the threshold (and absl's notice): Python warnings, tracebacks and absl lines
at or above the threshold pass. At threshold 0 nothing is captured.
"""
import contextlib
import os
import re
import sys
import tempfile

_TF = None

#: an absl log line: severity letter, then MMDD (0000 before absl is initialized) and a space
_ABSL_LINE = re.compile(rb"^([IWEF])\d{4} ")
_ABSL_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
#: absl's notice before its first pre-initialization line
ABSL_PREINIT_NOTICE = b"WARNING: All log messages before absl::InitializeLog() is called"


def min_log_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as an int (0 when unset or not an integer)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_preinit_log(text: bytes, min_level: int) -> bytes:
    """`text` without the absl lines whose severity is below `min_level` and without absl's
    pre-init notice (when min_level > 0); every other line is kept, in order."""
    if min_level <= 0:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        if line.startswith(ABSL_PREINIT_NOTICE):
            continue
        m = _ABSL_LINE.match(line)
        if m and _ABSL_SEVERITY[m.group(1)] < min_level:
            continue
        kept.append(line)
    return b"".join(kept)


@contextlib.contextmanager
def preinit_log_threshold(min_level: int):
    """Run the block with file descriptor 2 captured in a temporary file, then write the
    capture back through `filter_preinit_log(., min_level)`. No capture at min_level <= 0 or
    when fd 2 cannot be duplicated."""
    try:
        saved = os.dup(2) if min_level > 0 else None
    except OSError:
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = memoryview(filter_preinit_log(tmp.read(), min_level))
            while kept:
                kept = kept[os.write(2, kept):]


#: TensorFlow's intra-op pool size (TF_NUM_INTRAOP_THREADS unless set): the goldens' bits hold
#: at this size on any machine (docs/design.md §7). One thread: the harness parallelizes over
#: processes (`check --jobs`, pytest-xdist), which on 2 cores gives 1.3x the throughput of
#: two-thread pools (parity.local_jobs)
INTRA_OP_THREADS = 1


def tf():
    """Return the `tensorflow` module, importing it on first use (TF_ENABLE_ONEDNN_OPTS=0,
    TF_NUM_INTRAOP_THREADS=INTRA_OP_THREADS and the log level set first unless already set)."""
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # TensorFlow splits a kernel's reductions over its intra-op pool, whose default size is
        # the number of schedulable cores: the float32 bits (and the goldens) would follow the
        # machine. A fixed pool keeps them machine-independent; set the variable to trade that
        # for speed on a larger machine.
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(INTRA_OP_THREADS))
        with preinit_log_threshold(min_log_level()):
            import tensorflow

        _TF = tensorflow
    return _TF


def keras():
    """Return the Keras 3 module bound to the TensorFlow backend."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    tf()
    import keras as _keras

    return _keras


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's legacy global state, TensorFlow and Keras with one integer."""
    keras().utils.set_random_seed(int(seed))
