"""What several commands share: the environment, the golden directory, exit codes, options.

This is the only place (with the other modules of `parity.commands`) that reads the process
environment: PARITY_FAULT (test faults), PARITY_GOLDEN_DIR (the golden directory) and
GITHUB_STEP_SUMMARY (where `check` appends its table in GitHub Actions); it also sets
TF_CPP_MIN_LOG_LEVEL, TensorFlow's C++ log threshold, before TensorFlow loads (`set_tf_logging`).
"""
from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Mapping, MutableMapping

from ptycho.atomic import write_error

from ..faults import ENV as FAULT_ENV
from ..faults import parse_faults
from ..golden import GoldenError, find_golden_dir, ledger_of
from ..tolerances import Ledger

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
GOLDEN_DIR_ENV = "PARITY_GOLDEN_DIR"
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: TensorFlow's C++ (absl) log threshold: 0 everything, 3 FATAL only
TF_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"
#: the threshold of a command without --verbose / with it
TF_LOG_QUIET, TF_LOG_VERBOSE = "3", "0"


def add_golden_dir_option(p: argparse.ArgumentParser) -> None:
    """--golden-dir: the folder of the goldens and the tolerance ledger."""
    p.add_argument("--golden-dir", type=pathlib.Path,
                   help=f"golden directory with tolerances.toml (default: ${GOLDEN_DIR_ENV}, else the "
                        "first golden/ holding a tolerances.toml from the current directory upward)")


def add_verbose_option(p: argparse.ArgumentParser) -> None:
    """--verbose: show TensorFlow's C++ log lines (hidden by default)."""
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's C++ log lines on stderr (CUDA probing at import, "
                        "tf.data rewrites); hidden by default, Python errors are always shown")


def set_tf_logging(verbose: bool, environ: MutableMapping[str, str] = os.environ) -> None:
    """Set TensorFlow's C++ log threshold for this process and its workers; effective only
    before TensorFlow is imported (commands import it lazily, after this).

    Quiet (3): on a CPU-only machine TensorFlow writes about a dozen INFO/ERROR lines that are
    not errors of this run (absl's pre-init notice, cudart_stub's "Could not find cuda drivers",
    cuda_platform's "failed call to cuInit" from probing for a GPU, and tf.data's "NodeDef
    mentions attribute use_unbounded_threadpool" when op determinism turns Keras' parallel
    batch map sequential). FATAL lines and every Python exception still show. Verbose (0):
    everything TensorFlow logs."""
    environ[TF_LOG_ENV] = TF_LOG_VERBOSE if verbose else TF_LOG_QUIET


def add_cluster_options(p: argparse.ArgumentParser, what: str, scheduler_note: str) -> None:
    """--workers N | --scheduler ADDRESS (mutually exclusive): run `what` on a dask cluster."""
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, metavar="N",
                         help=f"{what} on a local dask cluster of N worker processes "
                              "(127.0.0.1 only; needs the distributed extra); same results")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help=f"{what} on the dask.distributed scheduler at ADDRESS ({scheduler_note})")


def golden_dir(args: argparse.Namespace, environ: Mapping[str, str] = os.environ,
               cwd: str | os.PathLike | None = None) -> pathlib.Path:
    """The golden directory of a command: --golden-dir, else $PARITY_GOLDEN_DIR, else found from
    the current directory upward. Raises GoldenError (exit 2) naming --golden-dir when none is
    found or the given one has no tolerances.toml."""
    given = getattr(args, "golden_dir", None) or environ.get(GOLDEN_DIR_ENV) or None
    if given is not None:
        path = pathlib.Path(given)
        if not (path / "tolerances.toml").is_file():
            raise GoldenError(path, "not a golden directory (no tolerances.toml in it); pass the "
                                    "checkout's golden/ folder with --golden-dir")
        return path
    found = find_golden_dir(cwd if cwd is not None else pathlib.Path.cwd())
    if found is None:
        raise GoldenError(pathlib.Path.cwd(), "no golden/tolerances.toml here or in a folder above; "
                                              f"pass --golden-dir DIR (or set {GOLDEN_DIR_ENV})")
    return found


def ledger(args: argparse.Namespace) -> Ledger:
    """The tolerance ledger of the command's golden directory."""
    return ledger_of(golden_dir(args))


def faults_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The test faults named in $PARITY_FAULT (empty when unset)."""
    return parse_faults(environ.get(FAULT_ENV))


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Append `markdown` to $GITHUB_STEP_SUMMARY when that variable is set; True if written."""
    target = environ.get(STEP_SUMMARY_ENV)
    if not target:
        return False
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:  # a full disk or read-only runner folder: exit 2 naming the file
        typed = write_error(target, exc)
        if typed is None:
            raise
        raise typed from exc
    return True
