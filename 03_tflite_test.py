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
    results = {variant.postfix: [] for variant in common.TFLITE_VARIANTS}
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        machine_type = type_dir.name
        logger.info("== %s: testing the TFLite models", machine_type)
        test_features = common.load_test_features(type_dir, args.dev, config, cache, args.progress)
        for variant in common.TFLITE_VARIANTS:
            model = common.TFLiteModel(common.tflite_path(config, machine_type, variant.postfix))
            prefix = f"tflite{variant.postfix}_"
            results[variant.postfix].append(common.evaluate_machine_type(
                model, machine_type, test_features, config, prefix=prefix,
                progress=args.progress))
    if args.dev:
        for variant in common.TFLITE_VARIANTS:
            common.write_result_csv(common.result_csv_path(config, f"tflite{variant.postfix}_"),
                                    results[variant.postfix])
            print(common.format_result_table(results[variant.postfix],
                                             f"TFLite model{variant.postfix or ' (float)'}"))
    # Every variant sees the same clips: report the exclusions once.
    return common.finish_with_exclusions(results[""], args.skip_bad_clips)


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
