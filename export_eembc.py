#!/usr/bin/env python3
"""Export test clips as EEMBC EnergyRunner samples (``*_hist_librosa.bin`` + ``y_labels.csv``).

    python export_eembc.py -d --machine-type ToyCar --every 10 --output eembc_samples/
    python export_eembc.py -d --set ad01 --output submission/   # MLCommons' official set
        # -> submission/ad01/: the folder the runner reads as its datasets/ad01/
    python export_eembc.py -d --labels y_labels.csv --output samples/   # the files it lists

Each sample is a clip's cropped log-mel spectrogram (raw float32, frame-major),
as the MLPerf Tiny benchmark feeds the device.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import common
from anomaly_detection.core.errors import PipelineError
from anomaly_detection.data.dataset import TestSet
from anomaly_detection.device.benchmark_samples import (
    OFFICIAL_SETS,
    labels_file_clips,
    listed_clips,
    official_set,
    select_clips,
    write_samples,
)
from anomaly_detection.features.extraction import extract_log_mels

logger = logging.getLogger("export_eembc")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Export test clips as EEMBC EnergyRunner samples.", ground_truth=True
    )
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="every Nth test clip of each machine ID and class (default 1: all); normal "
        "samples first",
    )
    selection.add_argument(
        "--set",
        choices=sorted(OFFICIAL_SETS),
        help="MLCommons Tiny's official evaluation set: ToyCar IDs 01-04, named and "
        "ordered as its y_labels.csv (ad01: 248 files; ad01-alt: 72), written to "
        "<output>/<set>/, the runner's datasets/<set>/",
    )
    selection.add_argument(
        "--labels", type=Path, metavar="FILE", help="the samples a y_labels.csv lists, in its order"
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
    test_sets = run.data.test_sets(type_dir)  # machine IDs, or a later year's sections
    if run.settings.dev_mode:
        return test_sets
    if run.settings.ground_truth is None:
        raise PipelineError(
            "-e: the evaluation clips carry no labels in their names; give their published "
            "labels (--ground-truth eval_data_list.csv, or eval_ground_truth in the YAML)"
        )
    return run.settings.ground_truth.label_test_sets(type_dir.name, test_sets)


def selection(
    args: argparse.Namespace, run: common.RunContext, type_dir: Path
) -> list[tuple[Path, int]]:
    """The clips to export, with their labels, in the order of the labels file."""
    if args.set is not None:
        return listed_clips(type_dir, official_set(args.set))
    if args.labels is not None:
        listed = listed_clips(type_dir, labels_file_clips(args.labels))
        if (
            not run.settings.dev_mode
        ):  # the list's labels must be the evaluation set's published ones
            check_listed_labels(args.labels, listed, labelled_test_sets(run, type_dir))
        return listed
    return select_clips(labelled_test_sets(run, type_dir), args.every)


def check_listed_labels(
    labels_file: Path, listed: list[tuple[Path, int]], test_sets: list[TestSet]
) -> None:
    """Refuse a list whose label of a clip is not its published label."""
    published = {
        path.name: label
        for test_set in test_sets
        for path, label in zip(test_set.files, test_set.labels or (), strict=True)
    }
    for path, label in listed:
        if published.get(path.name) != label:
            raise PipelineError(
                f"{labels_file}: {path.name} is listed with label {label}, its published label "
                f"is {published.get(path.name, 'missing')} (the evaluation ground truth)"
            )


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    feature = run.config.feature
    type_dirs = run.data.type_dirs()
    if args.set is not None:  # the official sets are ToyCar's development test clips
        type_dirs = [type_dir for type_dir in type_dirs if type_dir.name == "ToyCar"]
        if not type_dirs or not run.settings.dev_mode:
            raise PipelineError(f"--set {args.set}: needs ToyCar's development data (-d)")
    for type_dir in type_dirs:
        selected = selection(args, run, type_dir)
        clips = extract_log_mels(
            [path for path, _ in selected],
            feature,
            cache=run.data.cache,
            workers=run.config.workers,
            progress=run.settings.progress,
        )
        folder = args.output / (args.set or type_dir.name)  # --set: the runner's folder name
        labels_file = write_samples(clips, [label for _, label in selected], folder, feature)
        logger.info("%s: %d samples and %s", type_dir.name, len(selected), labels_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
