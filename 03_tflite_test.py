#!/usr/bin/env python3
"""Score the test clips with each TFLite model in each runtime of TFLite files: LiteRT, then
the int8 micro models in TensorFlow Lite Micro, one invoke per vector as on the device.

    python 03_tflite_test.py -d
    python 03_tflite_test.py -d --model-directory pretrained   # the reference's own models

For each variant ``<postfix>`` (``''``, ``_quant``, ``_quant_fullint``,
``_quant_fullint_micro``, ``_quant_fullint_micro_intio``) writes
``result/tflite<postfix>_anomaly_score_<type>_id_XX.csv`` and, in development
mode (or with ``--ground-truth`` in evaluation mode),
``result/tflite<postfix>_result.csv``; for the two micro models also
``result/tflm<postfix>_*`` from TFLite Micro (``--no-tflm`` skips them), whose
decisions use the threshold fitted for the same file in LiteRT. The runtimes and the
files each runs are the entries of ``anomaly_detection/registry/runtimes.py``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from anomaly_detection.core.interruption import quiet_start

quiet_start()  # Ctrl-C while the libraries load: one line, not their traceback

import common
from anomaly_detection.core.errors import ModelError
from anomaly_detection.device.tflm import tflm_runtime
from anomaly_detection.evaluation.report import console_auc_table
from anomaly_detection.evaluation.report_sections import comparison_facts
from anomaly_detection.evaluation.scoring import TypeResult, relative_score_differences
from anomaly_detection.evaluation.thresholds import Threshold
from anomaly_detection.features.frame_store import FrameStore
from anomaly_detection.model.provenance import check_converted_from
from anomaly_detection.pipeline.context import TestFeatures
from anomaly_detection.registry.implementation import load
from anomaly_detection.registry.runtimes import Runtime, runtime_by_name
from anomaly_detection.registry.variants import (
    KERAS,
    TFLITE_RUNTIMES,
    TFLITE_VARIANTS,
    ModelVariant,
    variants_in,
)

logger = logging.getLogger("03_tflite_test")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Compute anomaly scores (and AUC/pAUC) with the TFLite models.",
        skip_bad_clips="exit 0 even if some clips could not be read (they are left out)",
        ground_truth=True,
        anomaly_score=True,
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


@dataclass(frozen=True)
class TypeData:
    """What every model of one machine type is scored on."""

    machine_type: str
    test_files: list[Path]
    test_features: list[TestFeatures]
    training_frames: Callable[[], FrameStore]


@dataclass(frozen=True)
class Scored:
    """One variant's result on one machine type and the threshold of its decisions."""

    variant: ModelVariant
    result: TypeResult
    threshold: Threshold


def runtimes_to_score(args: argparse.Namespace, run: common.RunContext) -> list[Runtime]:
    """The runtimes of TFLite files in the registry's order (LiteRT, then TFLM); with
    ``--no-tflm`` without TFLM, whose earlier results are removed (they would sit beside
    new models); else TFLM's package is checked before any work (one line if absent)."""
    tflm = runtime_by_name("tflm")
    if args.no_tflm:
        run.outputs.forget_results(variants_in(tflm))
        return [runtime for runtime in TFLITE_RUNTIMES if runtime != tflm]
    tflm_runtime(hint=", or pass --no-tflm")
    return list(TFLITE_RUNTIMES)


def type_data(run: common.RunContext, type_dir: Path) -> TypeData:
    """The test clips, their features and the training frames (loaded on first use)."""
    return TypeData(
        type_dir.name,
        run.data.test_files(type_dir),
        run.data.test_features(type_dir),
        run.data.training_frames_loader(type_dir),
    )


def check_model_directory(
    args: argparse.Namespace, run: common.RunContext, machine_type: str
) -> None:
    """With ``--model-directory``: the TFLite files of ``machine_type`` there (at least one)."""
    if args.model_directory is None:
        return
    found = [
        run.layout.model_file(variant, machine_type)
        for variant in TFLITE_VARIANTS  # every TFLite file
        if run.layout.model_file(variant, machine_type).is_file()
    ]
    if not found:
        raise ModelError(
            f"{args.model_directory}: no TFLite model of {machine_type} (expected "
            f"e.g. {TFLITE_VARIANTS[0].model_file_name(machine_type)})"
        )
    logger.info("%s: scoring %s", machine_type, ", ".join(path.name for path in found))


def variants_to_score(
    args: argparse.Namespace,
    run: common.RunContext,
    runtime: Runtime,
    machine_type: str,
    scored: Mapping[ModelVariant, Scored],
) -> list[ModelVariant]:
    """The files ``runtime`` runs: all, or with ``--model-directory`` those there; for a
    runtime checked against another (TFLM), those the other has just scored."""
    variants = variants_in(runtime)
    if runtime.checked_against is not None:
        other = runtime_by_name(runtime.checked_against)
        return [variant for variant in variants if ModelVariant(variant.file, other) in scored]
    if args.model_directory is None:
        return list(variants)
    return [v for v in variants if run.layout.model_file(v, machine_type).is_file()]


def check_model_file(run: common.RunContext, path: Path, input_dim: int, data: TypeData) -> None:
    """A model file once opened: made for these features and clips, and converted from the
    Keras model now beside it (a set of models from one Keras model only)."""
    provenance = run.models.check(path, data.test_files, input_dim=input_dim)
    keras_file = run.layout.model_file(KERAS, data.machine_type)
    check_converted_from(path, provenance, keras_file, strict=not run.settings.ignore_provenance)


def reference_score(variant: ModelVariant, scored: Mapping[ModelVariant, Scored]) -> Scored | None:
    """The same file's score in the runtime ``variant``'s runtime is checked against (TFLM:
    LiteRT's); ``None`` for a runtime that fits its own threshold."""
    if variant.runtime.checked_against is None:
        return None
    return scored[ModelVariant(variant.file, runtime_by_name(variant.runtime.checked_against))]


def score_variant(
    run: common.RunContext,
    variant: ModelVariant,
    data: TypeData,
    scored: Mapping[ModelVariant, Scored],
    checked: set[Path],
) -> Scored:
    """Score one file in its runtime and write its decisions, plots and ``run_info.json``
    facts. The first runtime to open a file checks it; a runtime checked against another
    takes that one's threshold for the same file and records how far its scores are."""
    machine_type, reference = data.machine_type, reference_score(variant, scored)
    path = run.layout.model_file(variant, machine_type)
    logger.info("%s: %s in %s", machine_type, variant.label, variant.runtime.description)
    with load(variant.runtime.implementation)(path, workers=run.config.workers) as model:
        if path not in checked:
            check_model_file(run, path, model.input_dim, data)
            checked.add(path)
        scorer = run.scoring.scorer(variant, machine_type, model, data.training_frames)
        if reference is None:
            threshold = run.scoring.stored_or_fitted_threshold(
                variant, machine_type, scorer, data.training_frames
            )
        else:
            threshold = reference.threshold
        result = run.scoring.score(variant, machine_type, scorer, data.test_features)
    facts = {}
    if reference is not None:
        differences = relative_score_differences(result, reference.result)
        facts = comparison_facts(differences, reference.variant.runtime)
    run.outputs.report_type(variant, result, threshold)
    run.outputs.record_model(
        variant, machine_type, seconds_per_clip=result.seconds_per_clip(), **facts
    )
    return Scored(variant, result, threshold)


def score_machine_type(
    args: argparse.Namespace, run: common.RunContext, runtimes: list[Runtime], type_dir: Path
) -> dict[ModelVariant, Scored]:
    """Every selected file of one machine type in each runtime, runtime after runtime."""
    logger.info("== %s: testing the TFLite models", type_dir.name)
    check_model_directory(args, run, type_dir.name)
    data = type_data(run, type_dir)
    scored: dict[ModelVariant, Scored] = {}
    checked: set[Path] = set()
    for runtime in runtimes:
        for variant in variants_to_score(args, run, runtime, data.machine_type, scored):
            scored[variant] = score_variant(run, variant, data, scored, checked)
    return scored


def write_results(run: common.RunContext, by_type: list[dict[ModelVariant, Scored]]) -> None:
    """After all machine types: each variant's ``result.csv`` and decision metrics."""
    for variant in dict.fromkeys(variant for scored in by_type for variant in scored):
        scored = [of_type[variant] for of_type in by_type if variant in of_type]
        thresholds = {item.result.machine_type: item.threshold for item in scored}
        run.outputs.write_results(variant, [item.result for item in scored], thresholds)


def report_summary(run: common.RunContext) -> None:
    """The summary, and with labelled clips the console table of average AUC / pAUC."""
    summary = run.outputs.write_summary()
    if run.settings.labelled:
        print("Average AUC / pAUC over the machine IDs (per ID: summary.md)")
        print(console_auc_table(run.layout, run.data.result_facts()))
    logger.info("summary with model sizes, timings and plots: %s", summary)


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    runtimes = runtimes_to_score(args, run)
    by_type = [
        score_machine_type(args, run, runtimes, type_dir) for type_dir in run.data.type_dirs()
    ]
    write_results(run, by_type)
    report_summary(run)
    # Every variant sees the same clips: report the exclusions once, by the first's.
    return run.outputs.exit_status([next(iter(scored.values())).result for scored in by_type])


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
