"""ptycho.tfload's import-time log threshold: absl lines written before absl is initialized obey
TF_CPP_MIN_LOG_LEVEL like the rest of TensorFlow's C++ log; every other line passes."""
from ptycho.tfload import ABSL_PREINIT_NOTICE, filter_preinit_log

CAPTURED = (ABSL_PREINIT_NOTICE + b" are written to STDERR\n"
            b"I0000 00:00:1796645373.037604   22776 cudart_stub.cc:31] Could not find cuda drivers\n"
            b"W0000 00:00:1796645373.1   22776 some.cc:1] a warning\n"
            b"E0000 00:00:1796645385.9   22776 cuda_platform.cc:52] failed call to cuInit\n"
            b"F0000 00:00:1796645385.9   22776 x.cc:1] fatal\n"
            b"/path/mod.py:3: UserWarning: a Python warning\n"
            b"Traceback (most recent call last):\n")


def test_lines_below_the_threshold_and_the_notice_are_dropped_others_kept():
    assert filter_preinit_log(CAPTURED, 2).splitlines() == [
        b"E0000 00:00:1796645385.9   22776 cuda_platform.cc:52] failed call to cuInit",
        b"F0000 00:00:1796645385.9   22776 x.cc:1] fatal",
        b"/path/mod.py:3: UserWarning: a Python warning",
        b"Traceback (most recent call last):"]
    kept3 = filter_preinit_log(CAPTURED, 3)
    assert b"cuInit" not in kept3 and b"fatal" in kept3 and b"UserWarning" in kept3


def test_threshold_zero_keeps_everything():
    assert filter_preinit_log(CAPTURED, 0) == CAPTURED
    assert filter_preinit_log(CAPTURED, 1).count(b"\n") == CAPTURED.count(b"\n") - 2
