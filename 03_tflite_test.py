#!/usr/bin/env python3
"""Score the test clips with each TFLite model (through LiteRT), as 01_test.py does.

    python 03_tflite_test.py -d

For each variant ``<postfix>`` (``''``, ``_quant``, ``_quant_fullint``,
``_quant_fullint_micro``, ``_quant_fullint_micro_intio``) writes
``result/tflite<postfix>_anomaly_score_<type>_id_XX.csv`` and, in development
mode, ``result/tflite<postfix>_result.csv``.
"""
from __future__ import annotations

import argparse
import logging

import common

logger = logging.getLogger("03_tflite_test")


def parse_arguments() -> argparse.ArgumentParser:
    parser = common.build_parser("Compute anomaly scores (and AUC/pAUC) with the TFLite models.")
    parser.add_argument("--skip-bad-clips", action="store_true",
                        help="exit 0 even if some test clips could not be read")
    return parser


def main(args: argparse.Namespace, config: common.Config) -> int:
    cache = common.feature_cache(config, enabled=not args.no_cache)
    prefixes = [f"tflite{variant.postfix}_" for variant in common.TFLITE_VARIANTS]
    results = {prefix: [] for prefix in prefixes}
    thresholds = {prefix: {} for prefix in prefixes}
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        machine_type = type_dir.name
        logger.info("== %s: testing the TFLite models", machine_type)
        test_features = common.load_test_features(type_dir, args.dev, config, cache, args.progress)
        training_frames = common.training_frames_loader(type_dir, config, cache, args.progress)
        for variant, prefix in zip(common.TFLITE_VARIANTS, prefixes):
            model_file = common.tflite_path(config, machine_type, variant.postfix)
            model = common.TFLiteModel(model_file, num_threads=config.workers)
            threshold = common.decision_threshold(model_file, model, type_dir, config,
                                                  training_frames)
            result = common.evaluate_machine_type(model, machine_type, test_features, config,
                                                  prefix=prefix, progress=args.progress)
            common.report_machine_type(result, threshold, config, prefix, dev_mode=args.dev)
            common.record_model(config, prefix, machine_type, model_file,
                                seconds_per_clip=result.seconds_per_clip())
            results[prefix].append(result)
            thresholds[prefix][machine_type] = threshold.threshold
    for prefix in prefixes:
        summary = common.write_results(results[prefix], thresholds[prefix], config, prefix,
                                       args.dev)
    if args.dev:
        print("AUC / pAUC of the Keras and TFLite models")
        print(common.auc_table(config.result_directory, config.result_file))
    logger.info("summary with model sizes, timings and plots: %s", summary)
    # Every variant sees the same clips: report the exclusions once.
    return common.finish_with_exclusions(results[prefixes[0]], args.skip_bad_clips)


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
