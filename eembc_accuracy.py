#!/usr/bin/env python3
"""The EEMBC EnergyRunner's accuracy run, emulated on the host with TensorFlow Lite Micro.

    python eembc_accuracy.py --samples eembc_samples/ToyCar \\
        --model model/model_ToyCar_quant_fullint_micro_intio.tflite --output eembc_result/ToyCar
    python eembc_accuracy.py ... --device-scores scores_from_my_board.csv

Reads the samples ``export_eembc.py`` wrote (``y_labels.csv`` and the
``*_hist_librosa.bin`` files), computes what the reference firmware prints for
each window and the file's score (the mean of its windows' printed results),
and writes:

- ``<output>/eembc_scores.csv``: ``file,score`` per sample file;
- ``<output>/eembc_accuracy.csv``: exact AUC and pAUC, the runner's simplified
  AUC and its precision/recall accuracy, for the host emulation and (with
  ``--device-scores``, a ``file,score`` CSV measured on a board) for the device.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anomaly_detection.core.errors import ModelError, PipelineError
from anomaly_detection.core.io_utils import write_csv_atomic
from anomaly_detection.device.energyrunner import (
    Sample,
    accuracy_figures,
    read_device_scores,
    read_labels,
    read_sample,
    window_results,
)
from anomaly_detection.device.tflm import TFLMModel
from anomaly_detection.pipeline.cli import run_tool

logger = logging.getLogger("eembc_accuracy")
COLUMNS = ["auc", "pauc", "simplified_auc", "pr_accuracy"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=Path, required=True, help="folder with y_labels.csv")
    parser.add_argument("--model", type=Path, required=True, help="the .tflite model to run")
    parser.add_argument("--output", type=Path, required=True, help="folder for the two CSVs")
    parser.add_argument(
        "--device-scores", type=Path, help="file,score CSV measured on a device, to compare"
    )
    parser.add_argument(
        "--max-fpr", type=float, default=0.1, help="pAUC's FPR limit (default %(default)s)"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=200,
        help="log-mel frames in each sample, as export_eembc.py wrote them (default "
        "%(default)s: the frame crop [50, 250)); a sample of another size is an error",
    )
    return parser


def emulate_runner(
    model: TFLMModel, samples_dir: Path, samples: list[Sample], *, frames: int
) -> np.ndarray:
    """Each sample file's score: the mean of what the firmware prints for its windows."""
    scores = []
    for sample in tqdm(samples, desc="EnergyRunner", unit="file", disable=not sys.stderr.isatty()):
        windows = read_sample(samples_dir, sample, model.input_dim, frames=frames)
        scores.append(float(np.mean(window_results(model, windows))))
    return np.asarray(scores, dtype=np.float64)


def write_outputs(
    output: Path, samples: list[Sample], host: np.ndarray, figures: dict[str, dict[str, float]]
) -> None:
    """``eembc_scores.csv`` and ``eembc_accuracy.csv``."""
    write_csv_atomic(
        output / "eembc_scores.csv",
        [["file", "score"], *([s.name, f"{v:.6f}"] for s, v in zip(samples, host, strict=True))],
    )
    rows = [
        [source, len(samples), *(f"{row[c]:.6f}" for c in COLUMNS)]
        for source, row in figures.items()
    ]
    write_csv_atomic(output / "eembc_accuracy.csv", [["source", "files", *COLUMNS], *rows])


def print_figures(figures: dict[str, dict[str, float]], files: int) -> None:
    print(f"{'source':<12} {'files':>5} {'AUC':>7} {'pAUC':>7} {'runner AUC':>10} {'accuracy':>8}")
    for source, row in figures.items():
        print(
            f"{source:<12} {files:>5} {row['auc']:7.4f} {row['pauc']:7.4f} "
            f"{row['simplified_auc']:10.4f} {row['pr_accuracy']:8.1f}"
        )


def main(args: argparse.Namespace) -> int:
    if not 0 < args.max_fpr <= 1:
        raise PipelineError(f"--max-fpr must be in (0, 1], got {args.max_fpr}")
    if args.frames < 1:
        raise PipelineError(f"--frames must be at least 1, got {args.frames}")
    if args.output.exists() and not args.output.is_dir():
        raise PipelineError(f"{args.output}: --output exists and is not a folder")
    samples = read_labels(args.samples / "y_labels.csv")
    labels = np.asarray([sample.label for sample in samples])
    if len(set(labels.tolist())) < 2:
        raise PipelineError(f"{args.samples / 'y_labels.csv'}: the samples need both labels")
    device = read_device_scores(args.device_scores, samples) if args.device_scores else None

    model = TFLMModel(args.model)  # one invoke per window, as on the device
    if not model.int8_io:
        raise ModelError(
            f"{args.model}: the reference firmware runs a model with int8 input and output "
            "(the _quant_fullint_micro_intio model); this one has float input or output"
        )
    host = emulate_runner(model, args.samples, samples, frames=args.frames)

    figures = {"host (TFLM)": accuracy_figures(labels, host, args.max_fpr)}
    if device is not None:
        figures["device"] = accuracy_figures(labels, device, args.max_fpr)
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        write_outputs(args.output, samples, host, figures)
    except OSError as error:
        raise PipelineError(f"{args.output}: cannot write the results ({error})") from None
    print_figures(figures, len(samples))
    if device is not None:
        difference = np.abs(device - host)
        logger.info(
            "device against host: max |score difference| %.4f, %d of %d files differ by more "
            "than the printed rounding (0.0005)",
            float(np.max(difference)),
            int(np.sum(difference > 0.0005 + 1e-12)),
            len(samples),
        )
    logger.info("scores and accuracy written to %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_tool(main, build_parser()))
