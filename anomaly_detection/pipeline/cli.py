"""Command-line handling shared by the four scripts: options, logging, exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..core import allocator, interruption
from ..core.config import Config, load_config
from ..core.errors import OutputError, PipelineError
from ..core.folder_lock import folder_locks
from ..core.io_utils import check_output_folder
from ..registry.anomaly_scores import anomaly_score_names
from .context import RunContext, context_from_arguments

__all__ = ["build_parser", "setup_logging", "run_script", "EXIT_INTERRUPTED"]

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
logger = logging.getLogger("anomaly_detection")


def build_parser(
    description: str,
    *,
    skip_bad_clips: str | None = None,
    ground_truth: bool = False,
    anomaly_score: bool = False,
) -> argparse.ArgumentParser:
    """The options common to every script; scripts add their own.

    Parameters
    ----------
    description : str
    skip_bad_clips : str, optional
        Help text of the script's ``--skip-bad-clips`` option (none if ``None``).
    ground_truth : bool
        Add ``--ground-truth`` (scripts that score test clips).
    anomaly_score : bool
        Add ``--anomaly-score`` (scripts that score test clips).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"MLPerf Tiny anomaly detection (DCASE 2020 Task 2 baseline) {__version__}",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "-d",
        "--dev",
        action="store_true",
        help="development mode: dev_directory, labelled test clips, AUC/pAUC",
    )
    mode.add_argument(
        "-e",
        "--eval",
        action="store_true",
        help="evaluation mode: eval_directory, unlabelled test clips, scores only",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("baseline.yaml"),
        help="YAML configuration (default: %(default)s)",
    )
    parser.add_argument(
        "--machine-type",
        nargs="+",
        metavar="TYPE",
        dest="machine_types",
        help="only these machine types (folder names, e.g. ToyCar fan)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the feature cache"
    )
    parser.add_argument(
        "--ignore-provenance",
        action="store_true",
        help="use a model made for other features or clips with a warning instead of stopping",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars"
    )
    verbosity.add_argument("--verbose", action="store_true", help="debug messages")
    if skip_bad_clips is not None:
        parser.add_argument("--skip-bad-clips", action="store_true", help=skip_bad_clips)
    if ground_truth:
        parser.add_argument(
            "--ground-truth",
            type=Path,
            metavar="PATH",
            help="the labels of the evaluation test clips (with -e): eval_data_list.csv "
            "(2020), or the folder holding the evaluator's ground_truth_data/ or the "
            "organisers' eval_data_list_<year>.csv (2021 on); "
            "figures as the official evaluator computes them (default: the YAML's "
            "eval_ground_truth, else beside eval_directory: eval_data_list.csv (2020) or "
            "ground_truth_data/ (2021 on), if present)",
        )
    if anomaly_score:
        parser.add_argument(
            "--anomaly-score",
            choices=anomaly_score_names(),
            metavar="NAME",
            help="score by this registered anomaly score instead of the YAML's anomaly_score "
            f"({', '.join(anomaly_score_names())})",
        )
    return parser


def setup_logging(log_file: Path | None, level: int) -> None:
    """Log to the console and (at debug level) to ``log_file``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8", errors="backslashreplace")
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(
            logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s")
        )
        root.addHandler(to_file)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "PIL", "numba", "jax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def check_output_locations(config: Config, *, cache: bool = True) -> None:
    """Check, before any work, that every folder a script may write to is a writable
    folder and that ``log_file`` is not a folder: a training run never ends in a model
    that cannot be saved.

    Raises
    ------
    OutputError
        Naming the key and the cause.
    """
    if config.log_file.is_dir():
        raise OutputError(f"{config.log_file}: 'log_file' is a folder, not a file")
    check_output_folder(config.log_file.parent, "log_file")
    check_output_folder(config.model_directory, "model_directory")
    check_output_folder(config.result_directory, "result_directory")
    if cache and config.cache_directory is not None:
        check_output_folder(config.cache_directory, "cache_directory")


def run_script(
    main: Callable[[argparse.Namespace, RunContext], int],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse options, load the configuration, build the run context, run ``main``; map
    failures to exit codes.

    Known problems (:class:`PipelineError`) print one line and exit 1; Ctrl-C
    prints a message and exits 130; completed outputs are never left half-written.
    """
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        check_output_locations(config, cache=not getattr(args, "no_cache", False))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    setup_logging(config.log_file, level)
    args.progress = not args.quiet and sys.stderr.isatty()
    interruption.install_handler()
    allocator.retain_freed_memory()
    logger.debug("%s %s", Path(sys.argv[0]).name, " ".join(sys.argv[1:]))
    return _guarded(lambda: _run_locked(main, args, config))


def _run_locked(
    main: Callable[[argparse.Namespace, RunContext], int], args: argparse.Namespace, config: Config
) -> int:
    """``main`` on the run's context, holding its model and result folders: one writer each."""
    run = context_from_arguments(args, config)
    with folder_locks([run.config.model_directory, run.config.result_directory]):
        return main(args, run)


def _guarded(call: Callable[[], int]) -> int:
    """``call()``, with known problems and Ctrl-C mapped to one line and an exit code (a
    Ctrl-C that a library swallowed too: :func:`~anomaly_detection.core.interruption.
    quiet_start`)."""
    try:
        status = call()
        interruption.raise_if_requested()
    except PipelineError as error:
        logger.error("%s", error)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        logger.error(
            "interrupted by the user; finished outputs are complete, "
            "unfinished ones were not written"
        )
        return EXIT_INTERRUPTED
    return status


def run_tool(
    main: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
) -> int:
    """:func:`run_script` for a tool without a YAML configuration (``eembc_accuracy.py``):
    options, console logging, failures mapped to exit codes."""
    args = parser.parse_args(argv)
    setup_logging(None, logging.INFO)
    interruption.install_handler()  # Ctrl-C stops it even if started with SIGINT ignored
    return _guarded(lambda: main(args))
