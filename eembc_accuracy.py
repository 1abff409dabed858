#!/usr/bin/env python3
"""The MLPerf Tiny accuracy run of an int8 model, emulated on the host with TensorFlow Lite Micro.

    python export_eembc.py -d --set ad01 --output submission/   # the official set's export
    python eembc_accuracy.py --samples submission/ad01 --output eembc_result/ad01 \\
        --model model/model_ToyCar_quant_fullint_micro_intio.tflite
    python eembc_accuracy.py --set ad01 --model ... --output submission/  # both in one command
    python eembc_accuracy.py ... --runner-session sessions/20261130_101500/   # a board's run
    python eembc_accuracy.py ... --device-scores scores_from_my_board.csv
    python eembc_accuracy.py --set ad01 --model ... --output ... --official-runner  # rehearsal

Each sample file (``y_labels.csv`` and the ``*_hist_librosa.bin`` files that
``export_eembc.py`` or ``--set`` write) is sent window by window through the
firmware's computation; a file's score is the mean of its printed window
results, as MLCommons' runner takes it. Writes to ``--output``:

- ``results.txt``: the runner's ``AUC = %.3f`` and ``Top 1% = %2.1f`` for the host, then
  the model file and its SHA-256 prefix;
- ``eembc_scores.csv``: ``file,score`` per sample file (host);
- ``eembc_accuracy.csv``: per source (host, board): exact AUC/pAUC, the runner's
  figures, whether the closed division's target AUC 0.85 is met, the older EEMBC
  functions' figures with each score's own label and in the listed order, the model;
- ``device_vs_host.csv``: with a board's scores, file by file;
- ``ad01/`` (or ``ad01-alt/``) with ``--set``: the files to copy to the runner's
  ``datasets/ad01/``;
- ``official_runner/sessions/<time>/`` with ``--official-runner``: MLCommons' runner,
  unmodified, run in accuracy mode against a host DUT that answers with the model in
  TFLM (the official accuracy run before any board is flashed); its ``results.txt`` is
  compared with the host's figures and its session file by file, as a board's.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from anomaly_detection.core.config import load_config
from anomaly_detection.core.errors import PipelineError
from anomaly_detection.core.folder_lock import folder_locks
from anomaly_detection.device.accuracy_check import (
    HOST,
    OUTPUT_FILES,
    PRINTED_ROUNDING,
    compare_files,
    emulate_runner,
    export_official_set,
    forget_outputs,
    load_firmware_model,
    verdict,
    write_outputs,
)
from anomaly_detection.device.benchmark_samples import OFFICIAL_SETS, Sample, read_labels
from anomaly_detection.device.run_official_runner import runner_directory
from anomaly_detection.device.runner_figures import accuracy_figures, normals_first
from anomaly_detection.device.runner_rehearsal import (
    OfficialRun,
    figure_differences,
    official_runner_session,
)
from anomaly_detection.device.runner_sessions import read_device_scores, read_runner_session
from anomaly_detection.pipeline.cli import run_tool

logger = logging.getLogger("eembc_accuracy")
#: The source name of the official runner's session against the host DUT.
OFFICIAL = "official runner"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", type=Path, help="folder with y_labels.csv and the samples")
    source.add_argument(
        "--set",
        choices=sorted(OFFICIAL_SETS),
        help="export MLCommons' official set as export_eembc.py -d --set does (ToyCar's "
        "development test clips, the YAML's dev_directory, to <output>/<set>/) and judge "
        "the model on it",
    )
    parser.add_argument("--model", type=Path, required=True, help="the .tflite model to run")
    parser.add_argument("--output", type=Path, required=True, help="folder for the results")
    parser.add_argument(
        "--config", type=Path, default=Path("baseline.yaml"), help="YAML for --set (%(default)s)"
    )
    parser.add_argument("--device-scores", type=Path, help="file,score CSV measured on a board")
    parser.add_argument(
        "--runner-session",
        type=Path,
        help="a runner session of the board: its folder, results.json or log.txt",
    )
    parser.add_argument(
        "--official-runner",
        action="store_true",
        help="also run MLCommons' runner, unmodified, in accuracy mode against a host DUT "
        "answering with --model, and compare its results with the host's",
    )
    parser.add_argument(
        "--runner-dir",
        type=Path,
        help="the runner's folder for --official-runner (default $AD_RUNNER_DIR, else "
        "../shared/third_party/mlcommons-tiny-runner)",
    )
    parser.add_argument(
        "--max-fpr", type=float, default=0.1, help="pAUC's FPR limit (default %(default)s)"
    )
    parser.add_argument(
        "--ignore-provenance",
        action="store_true",
        help="--set: export for a model made for other features with a warning, not an error",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=200,
        help="log-mel frames in each sample, as export_eembc.py wrote them (default "
        "%(default)s: the frame crop [50, 250)); a sample of another size is an error",
    )
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    if not 0 < args.max_fpr <= 1:
        raise PipelineError(f"--max-fpr must be in (0, 1], got {args.max_fpr}")
    if args.frames < 1:
        raise PipelineError(f"--frames must be at least 1, got {args.frames}")
    if not args.model.is_file():
        raise PipelineError(f"{args.model}: --model is not a file")
    if args.runner_dir is not None and not args.official_runner:
        raise PipelineError("--runner-dir names the runner for --official-runner, not given")
    if args.official_runner:
        runner_directory(args.runner_dir)  # a missing runner or package: one line, before the run
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PipelineError(f"{args.output}: --output cannot be a folder ({error})") from None
    output = args.output.resolve()
    rewritten = {output / name for name in OUTPUT_FILES}
    for option, path in (
        ("--device-scores", args.device_scores),
        ("--runner-session", args.runner_session),
    ):
        if path is not None and (path.resolve() in rewritten or path.resolve() == output):
            raise PipelineError(
                f"{path}: {option} is in --output, whose {', '.join(OUTPUT_FILES)} this run "
                "rewrites; give another --output"
            )


def read_samples(samples_dir: Path) -> tuple[list[Sample], np.ndarray]:
    """The listed samples and their labels; a list that is not normals-first is warned
    about (the older EEMBC functions would misread it)."""
    samples = read_labels(samples_dir / "y_labels.csv")
    labels = np.asarray([sample.label for sample in samples])
    if len(set(labels.tolist())) < 2:
        raise PipelineError(f"{samples_dir / 'y_labels.csv'}: the samples need both labels")
    if not normals_first(labels):
        logger.warning(
            "%s: the normal samples are not all listed first; the older EEMBC functions "
            "take the first %d results as the normal ones (see the listed_* columns)",
            samples_dir / "y_labels.csv",
            int(np.sum(labels == 0)),
        )
    return samples, labels


def board_scores(
    args: argparse.Namespace, samples: list[Sample], windows: dict[str, int]
) -> dict[str, np.ndarray]:
    """The board's file scores: from a file,score CSV and/or a runner session."""
    scores = {}
    if args.device_scores is not None:
        scores["device"] = read_device_scores(args.device_scores, samples)
    if args.runner_session is not None:
        scores["runner session"] = read_runner_session(args.runner_session, samples, windows)
    return scores


def official_run(
    args: argparse.Namespace, samples_dir: Path, samples: list[Sample], windows: dict[str, int]
) -> OfficialRun | None:
    """With ``--official-runner``: MLCommons' runner run against the host DUT."""
    if not args.official_runner:
        return None
    run = official_runner_session(
        samples_dir,
        args.model,
        args.output / "official_runner",
        files=len(samples),
        windows=sum(windows.values()),
        runner_dir=args.runner_dir,
        window_bytes=samples[0].window_bytes,
    )
    logger.info(
        "official runner: %d windows in %.0f s (%.1f windows/s); session %s",
        run.windows,
        run.seconds,
        run.windows / run.seconds,
        run.session,
    )
    return run


def official_figures_agree(run: OfficialRun | None, host: dict[str, float]) -> bool:
    """Whether the runner's ``results.txt`` printed the host's ``AUC`` and ``Top 1%``."""
    if run is None:
        return True
    differences = list(figure_differences(run.results, host))
    for difference in differences:
        logger.error("official runner's results.txt against the host: %s", difference)
    if not differences:
        logger.info(
            "official runner's results.txt: AUC = %.3f, Top 1%% = %.1f, the host's figures",
            run.results.auc,
            run.results.top1,
        )
    return not differences


def print_figures(figures: dict[str, dict[str, float]], files: int) -> None:
    print(
        f"{'source':<15} {'files':>5} {'AUC':>7} {'pAUC':>7} {'runner AUC':>10} "
        f"{'Top 1%':>6} {'EEMBC AUC':>9} {'listed':>7}"
    )
    for source, row in figures.items():
        print(
            f"{source:<15} {files:>5} {row['auc']:7.4f} {row['pauc']:7.4f} "
            f"{row['runner_auc']:10.3f} {row['top1']:6.1f} {row['simplified_auc']:9.4f} "
            f"{row['listed_simplified_auc']:7.4f}"
        )


def log_comparison(scores: dict[str, np.ndarray]) -> None:
    for source, values in scores.items():
        if source == HOST:
            continue
        comparison = compare_files(scores[HOST], values)
        logger.info(
            "%s against host: max |score difference| %.4f, %d of %d files differ by more "
            "than the printed rounding (%s)",
            source,
            comparison.max_difference,
            comparison.beyond_rounding,
            comparison.files,
            PRINTED_ROUNDING,
        )


def main(args: argparse.Namespace) -> int:
    check_arguments(args)
    with folder_locks([args.output]):
        forget_outputs(args.output)  # a failed run (a refused model too) leaves no earlier figures
        model = load_firmware_model(args.model)
        samples_dir = args.samples
        if args.set is not None:
            samples_dir = export_official_set(
                load_config(args.config),
                args.set,
                args.output / args.set,
                args.model,
                strict=not args.ignore_provenance,
            )
        samples, labels = read_samples(samples_dir)

        host, windows = emulate_runner(model, samples_dir, samples, frames=args.frames)
        scores = {HOST: host, **board_scores(args, samples, windows)}
        run = official_run(args, samples_dir, samples, windows)
        if run is not None:  # its session is read as a board's, file by file
            scores[OFFICIAL] = read_runner_session(run.session, samples, windows)
        figures = {
            source: accuracy_figures(labels, values, args.max_fpr)
            for source, values in scores.items()
        }
        write_outputs(
            args.output,
            samples_dir=samples_dir,
            samples=samples,
            model=args.model,
            scores=scores,
            figures=figures,
        )

    print_figures(figures, len(samples))
    log_comparison(scores)
    agree = official_figures_agree(run, figures[HOST])
    for source, row in figures.items():
        logger.info("%s: %s (model %s)", source, verdict(row), args.model.name)
    logger.info("results of %s written to %s", samples_dir, args.output)
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(run_tool(main, build_parser()))
