#!/usr/bin/env python3
"""Export test clips as EEMBC EnergyRunner samples (``*_hist_librosa.bin`` + ``y_labels.csv``).

    python export_eembc.py -d --machine-type ToyCar --every 10 --output eembc_samples/

Each sample is a clip's cropped log-mel spectrogram (raw float32, frame-major),
as the MLPerf Tiny benchmark feeds the device.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import common
from anomaly_detection.core.errors import PipelineError
from anomaly_detection.data.dataset import TestSet, list_test_sets
from anomaly_detection.device.eembc import select_clips, write_samples
from anomaly_detection.features.extraction import extract_log_mels

logger = logging.getLogger("export_eembc")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Export test clips as EEMBC EnergyRunner samples.", ground_truth=True
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="every Nth test clip of each machine ID (default 1: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("eembc_samples"),
        help="output folder, one subfolder per machine type (default: %(default)s)",
    )
    return parser


def labelled_test_sets(run: common.RunContext, type_dir: Path) -> list[TestSet]:
    """The type's test clips with their labels: from the file names (-d), or from the
    evaluation set's published labels (-e; without them the samples cannot be labelled)."""
    test_sets = list_test_sets(type_dir, run.dev_mode)
    if run.dev_mode:
        return test_sets
    if run.ground_truth is None:
        raise PipelineError(
            "-e: the evaluation clips carry no labels in their names; give their published "
            "labels (--ground-truth eval_data_list.csv, or eval_ground_truth in the YAML)"
        )
    return run.ground_truth.label_test_sets(type_dir.name, test_sets)


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    feature = run.config.feature
    for type_dir in run.type_dirs():
        selected = select_clips(labelled_test_sets(run, type_dir), args.every)
        clips = extract_log_mels(
            [path for path, _ in selected],
            feature,
            cache=run.cache,
            workers=run.config.workers,
            progress=run.progress,
        )
        labels_file = write_samples(
            clips, [label for _, label in selected], args.output / type_dir.name, feature
        )
        logger.info("%s: %d samples and %s", type_dir.name, len(selected), labels_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
