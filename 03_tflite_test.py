#!/usr/bin/env python3
"""Score the test clips with each TFLite model (LiteRT), then the int8 micro models in
TensorFlow Lite Micro, one invoke per vector as on the device.

    python 03_tflite_test.py -d
    python 03_tflite_test.py -d --model-directory pretrained   # the reference's own models

For each variant ``<postfix>`` (``''``, ``_quant``, ``_quant_fullint``,
``_quant_fullint_micro``, ``_quant_fullint_micro_intio``) writes
``result/tflite<postfix>_anomaly_score_<type>_id_XX.csv`` and, in development
mode (or with ``--ground-truth`` in evaluation mode),
``result/tflite<postfix>_result.csv``; for the two micro models also
``result/tflm<postfix>_*`` from TFLite Micro (``--no-tflm`` skips them), whose
decisions use the threshold fitted for the same file in LiteRT.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

import common
from anomaly_detection.core.errors import ModelError
from anomaly_detection.core.variants import (
    KERAS,
    TFLITE_VARIANTS,
    TFLM_VARIANTS,
    ModelVariant,
    litert_counterpart,
)
from anomaly_detection.device.tflite_infer import TFLiteModel
from anomaly_detection.device.tflm import TFLMModel, tflm_runtime
from anomaly_detection.evaluation.report import console_auc_table
from anomaly_detection.evaluation.scoring import TypeResult, relative_score_differences
from anomaly_detection.evaluation.thresholds import Threshold
from anomaly_detection.features.frame_store import FrameStore
from anomaly_detection.model.provenance import check_converted_from
from anomaly_detection.pipeline.context import TestFeatures

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
    parser.add_argument(
        "--no-tflm",
        action="store_true",
        help="skip scoring the int8 micro models in TensorFlow Lite Micro",
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


def tflm_variants(args: argparse.Namespace, scored: set[ModelVariant]) -> list[ModelVariant]:
    """The TFLM-deployable variants whose file LiteRT has just scored (none with --no-tflm)."""
    if args.no_tflm:
        return []
    return [variant for variant in TFLM_VARIANTS if litert_counterpart(variant) in scored]


def checked_tflite_model(
    run: common.RunContext, variant: ModelVariant, machine_type: str, test_files: list[Path]
) -> TFLiteModel:
    """The TFLite model in LiteRT, once checked: made for these features and clips, and
    converted from the Keras model now beside it (a set from one model only)."""
    path = run.layout.model_file(variant, machine_type)
    model = TFLiteModel(path, num_threads=run.config.workers)
    provenance = run.check_model(path, test_files, input_dim=model.input_dim)
    keras_file = run.layout.model_file(KERAS, machine_type)
    check_converted_from(path, provenance, keras_file, strict=not run.ignore_provenance)
    return model


def score_in_tflm(
    run: common.RunContext,
    variant: ModelVariant,
    machine_type: str,
    test_features: list[TestFeatures],
    litert_result: TypeResult,
    training_frames: Callable[[], FrameStore],
) -> tuple[TypeResult, dict[str, float]]:
    """Score a micro model in TensorFlow Lite Micro, one invoke per vector as on the device
    (on every core); return the result and how far its clip scores are from LiteRT's."""
    logger.info("%s: %s in TensorFlow Lite Micro", machine_type, variant.label)
    path = run.layout.model_file(variant, machine_type)
    with TFLMModel(path, workers=run.config.workers) as micro:
        scorer = run.anomaly_scorer(variant, machine_type, micro, training_frames)
        result = run.score(variant, machine_type, scorer, test_features)
    differences = relative_score_differences(result, litert_result)
    return result, {
        "clips": len(differences),
        "litert_max_relative_difference": float(np.max(differences, initial=0.0)),
        "litert_mean_relative_difference": float(np.mean(differences)) if len(differences) else 0.0,
    }


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    if args.no_tflm:
        run.forget_results(TFLM_VARIANTS)  # an earlier run's would sit beside new models
    else:
        tflm_runtime(hint=", or pass --no-tflm")  # one line, before any work
    results: dict[ModelVariant, list[TypeResult]] = {}
    thresholds: dict[ModelVariant, dict[str, Threshold]] = {}

    def report(
        variant: ModelVariant, result: TypeResult, threshold: Threshold, **facts: object
    ) -> None:
        run.report_type(variant, result, threshold)
        run.record_model(
            variant, result.machine_type, seconds_per_clip=result.seconds_per_clip(), **facts
        )
        results.setdefault(variant, []).append(result)
        thresholds.setdefault(variant, {})[result.machine_type] = threshold

    for type_dir in run.type_dirs():
        machine_type = type_dir.name
        logger.info("== %s: testing the TFLite models", machine_type)
        test_files = run.test_files(type_dir)
        test_features = run.test_features(type_dir)
        training_frames = run.training_frames_loader(type_dir)
        litert: dict[ModelVariant, tuple[TypeResult, Threshold]] = {}
        for variant in tflite_variants(args, run, machine_type):
            model = checked_tflite_model(run, variant, machine_type, test_files)
            scorer = run.anomaly_scorer(variant, machine_type, model, training_frames)
            threshold = run.stored_or_fitted_threshold(
                variant, machine_type, scorer, training_frames
            )
            litert[variant] = run.score(variant, machine_type, scorer, test_features), threshold
            report(variant, *litert[variant])

        # The micro models again, in TFLite Micro; decisions use LiteRT's threshold (same file).
        for variant in tflm_variants(args, set(litert)):
            litert_result, threshold = litert[litert_counterpart(variant)]
            result, differences = score_in_tflm(
                run, variant, machine_type, test_features, litert_result, training_frames
            )
            report(variant, result, threshold, **differences)

    for variant, variant_results in results.items():
        run.write_results(variant, variant_results, thresholds[variant])
    summary = run.write_summary()
    if run.labelled:
        print("Average AUC / pAUC over the machine IDs (per ID: summary.md)")
        print(console_auc_table(run.layout, run.result_facts()))
    logger.info("summary with model sizes, timings and plots: %s", summary)
    # Every variant sees the same clips: report the exclusions once.
    return run.exit_status(next(iter(results.values())))


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
