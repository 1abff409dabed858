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
from anomaly_detection.report import auc_table
from anomaly_detection.scoring import TypeResult
from anomaly_detection.tflite_infer import TFLiteModel
from anomaly_detection.variants import TFLITE_VARIANTS

logger = logging.getLogger("03_tflite_test")


def build_parser() -> argparse.ArgumentParser:
    return common.build_parser(
        "Compute anomaly scores (and AUC/pAUC) with the TFLite models.",
        skip_bad_clips="exit 0 even if some clips could not be read (they are left out)",
    )


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    results: dict[str, list[TypeResult]] = {variant.label: [] for variant in TFLITE_VARIANTS}
    thresholds: dict[str, dict[str, float]] = {variant.label: {} for variant in TFLITE_VARIANTS}
    for type_dir in run.type_dirs():
        machine_type = type_dir.name
        logger.info("== %s: testing the TFLite models", machine_type)
        test_features = run.test_features(type_dir)
        training_frames = run.training_frames_loader(type_dir)
        for variant in TFLITE_VARIANTS:
            model = TFLiteModel(
                run.layout.model_file(variant, machine_type), num_threads=run.config.workers
            )
            threshold = run.stored_or_fitted_threshold(
                variant, machine_type, model, training_frames
            )
            result = run.score(variant, machine_type, model, test_features)
            run.report_type(variant, result, threshold)
            run.record_model(variant, machine_type, seconds_per_clip=result.seconds_per_clip())
            results[variant.label].append(result)
            thresholds[variant.label][machine_type] = threshold.threshold
    for variant in TFLITE_VARIANTS:
        run.write_results(variant, results[variant.label], thresholds[variant.label])
    summary = run.write_summary()
    if run.dev_mode:
        print("AUC / pAUC of the Keras and TFLite models")
        print(auc_table(run.layout))
    logger.info("summary with model sizes, timings and plots: %s", summary)
    # Every variant sees the same clips: report the exclusions once.
    return run.exit_status(results[TFLITE_VARIANTS[0].label])


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
