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

logger = logging.getLogger("export_eembc")


def parse_arguments() -> argparse.ArgumentParser:
    parser = common.build_parser("Export test clips as EEMBC EnergyRunner samples.")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="every Nth test clip of each machine ID (default 1: all)")
    parser.add_argument("--output", type=Path, default=Path("eembc_samples"),
                        help="output folder, one subfolder per machine type "
                             "(default: %(default)s)")
    return parser


def main(args: argparse.Namespace, config: common.Config) -> int:
    cache = common.feature_cache(config, enabled=not args.no_cache)
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        selected = common.select_eembc_clips(common.list_test_sets(type_dir, args.dev),
                                             args.every)
        clips = common.extract_log_mels([path for path, _ in selected], config.feature, cache,
                                        config.workers, progress=args.progress)
        labels_file = common.write_eembc_samples(clips, [label for _, label in selected],
                                                 args.output / type_dir.name, config.feature)
        logger.info("%s: %d samples and %s", type_dir.name, len(selected), labels_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
