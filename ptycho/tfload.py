"""Lazy, single TensorFlow import with the project's environment settings.

`tf()` sets `TF_ENABLE_ONEDNN_OPTS=0` (bit-reproducible CPU kernels) and quiets the C++ log
before the first import, then returns the module. Import TensorFlow only through here.
"""
import os

_TF = None


def tf():
    """Return the `tensorflow` module, importing it on first use."""
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
