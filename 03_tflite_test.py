#!/usr/bin/env python3
"""Score the test clips with each TFLite model (through LiteRT), as 01_test.py does.

    python 03_tflite_test.py -d
    python 03_tflite_test.py -d --model-directory pretrained   # the reference's own models

For each variant ``<postfix>`` (``''``, ``_quant``, ``_quant_fullint``,
``_quant_fullint_micro``, ``_quant_fullint_micro_intio``) writes
``result/tflite<postfix>_anomaly_score_<type>_id_XX.csv`` and, in development
mode (or with ``--ground-truth`` in evaluation mode),
``result/tflite<postfix>_result.csv``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import common
from anomaly_detection.errors import ModelError
from anomaly_detection.report import auc_table
from anomaly_detection.scoring import TypeResult
from anomaly_detection.tflite_infer import TFLiteModel
from anomaly_detection.variants import TFLITE_VARIANTS, ModelVariant

logger = logging.getLogger("03_tflite_test")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Compute anomaly scores (and AUC/pAUC) with the TFLite models.",
        skip_bad_clips="exit 0 even if some clips could not be read (they are left out)",
        ground_truth=True,
    )
    parser.add_argument(
        "--model-directory",
        type=Path,
        metavar="DIR",
        help="score the TFLite models found in DIR (e.g. pretrained/ from get_dataset.sh "
        "--pretrained) instead of all five in the YAML's model_directory",
    )
    return parser


def tflite_variants(
    args: argparse.Namespace, run: common.RunContext, machine_type: str
) -> list[ModelVariant]:
    """Every TFLite variant; with ``--model-directory``, those whose file is there."""
    if args.model_directory is None:
        return list(TFLITE_VARIANTS)
    found = [
        variant
        for variant in TFLITE_VARIANTS
        if run.layout.model_file(variant, machine_type).is_file()
    ]
    if not found:
        raise ModelError(
            f"{args.model_directory}: no TFLite model of {machine_type} (expected "
            f"e.g. {TFLITE_VARIANTS[0].model_file_name(machine_type)})"
        )
    logger.info(
        "%s: scoring %s",
        machine_type,
        ", ".join(run.layout.model_file(variant, machine_type).name for variant in found),
    )
    return found


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    results: dict[ModelVariant, list[TypeResult]] = {}
    thresholds: dict[ModelVariant, dict[str, float]] = {}
    for type_dir in run.type_dirs():
        machine_type = type_dir.name
        logger.info("== %s: testing the TFLite models", machine_type)
        test_features = run.test_features(type_dir)
        training_frames = run.training_frames_loader(type_dir)
        for variant in tflite_variants(args, run, machine_type):
            model = TFLiteModel(
                run.layout.model_file(variant, machine_type), num_threads=run.config.workers
            )
            threshold = run.stored_or_fitted_threshold(
                variant, machine_type, model, training_frames
            )
            result = run.score(variant, machine_type, model, test_features)
            run.report_type(variant, result, threshold)
            run.record_model(variant, machine_type, seconds_per_clip=result.seconds_per_clip())
            results.setdefault(variant, []).append(result)
            thresholds.setdefault(variant, {})[machine_type] = threshold.threshold
    for variant, variant_results in results.items():
        run.write_results(variant, variant_results, thresholds[variant])
    summary = run.write_summary()
    if run.labelled:
        print("AUC / pAUC of the Keras and TFLite models")
        print(auc_table(run.layout))
    logger.info("summary with model sizes, timings and plots: %s", summary)
    # Every variant sees the same clips: report the exclusions once.
    return run.exit_status(next(iter(results.values())))


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
