#!/usr/bin/env python3
"""Score the test clips of each machine type with its Keras model.

    python 01_test.py -d   # result/anomaly_score_<type>_id_XX.csv and result/result.csv (AUC, pAUC)
    python 01_test.py -e   # result/anomaly_score_<type>_id_XX.csv only

Clips that cannot be read are excluded (never scored 0) and listed; the run
then exits with status 1 unless ``--skip-bad-clips`` is given.
"""
from __future__ import annotations

import argparse
import logging

import common
import keras_model

logger = logging.getLogger("01_test")


def parse_arguments() -> argparse.ArgumentParser:
    parser = common.build_parser("Compute anomaly scores (and AUC/pAUC) with the Keras models.")
    parser.add_argument("--skip-bad-clips", action="store_true",
                        help="exit 0 even if some test clips could not be read")
    return parser


def main(args: argparse.Namespace, config: common.Config) -> int:
    cache = common.feature_cache(config, enabled=not args.no_cache)
    results, thresholds = [], {}
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        machine_type = type_dir.name
        logger.info("== %s: testing", machine_type)
        model_file = common.model_path(config, machine_type)
        model = keras_model.load_model(model_file)
        predict = common.keras_predictor(model)
        training_frames = common.training_frames_loader(type_dir, config, cache, args.progress)
        threshold = common.decision_threshold(model_file, predict, type_dir, config,
                                              training_frames)

        test_features = common.load_test_features(type_dir, args.dev, config, cache, args.progress)
        result = common.evaluate_machine_type(predict, machine_type, test_features, config,
                                              progress=args.progress)

        common.report_machine_type(result, threshold, config, prefix="", dev_mode=args.dev)
        common.record_model(config, "", machine_type, model_file,
                            parameters=model.count_params(),
                            seconds_per_clip=result.seconds_per_clip())
        results.append(result)
        thresholds[machine_type] = threshold.threshold
    common.write_results(results, thresholds, config, prefix="", dev_mode=args.dev)
    if args.dev:
        print(common.format_result_table(results, "Keras model"))
    return common.finish_with_exclusions(results, args.skip_bad_clips)


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
