#!/usr/bin/env python3
"""Score the test clips of each machine type with its Keras model.

    python 01_test.py -d   # result/anomaly_score_<type>_id_XX.csv and result/result.csv (AUC, pAUC)
                           # (2021 on: ..._section_XX[_<domain>]_test.csv, official figures)
    python 01_test.py -e   # result/anomaly_score_<type>_id_XX.csv only, or with the published
                           # labels (--ground-truth eval_data_list.csv) also result.csv

Clips that cannot be read are excluded (never scored 0) and listed; the run
then exits with status 1 unless ``--skip-bad-clips`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no CUDA probes

from anomaly_detection.core.interruption import quiet_start

quiet_start()  # Ctrl-C while the libraries load: one line, not their traceback

import common
import keras_model
from anomaly_detection.evaluation.report import console_auc_table, format_result_table
from anomaly_detection.registry.variants import KERAS
from anomaly_detection.registry.years import year_entry

logger = logging.getLogger("01_test")


def build_parser() -> argparse.ArgumentParser:
    return common.build_parser(
        "Compute anomaly scores (and AUC/pAUC) with the Keras models.",
        skip_bad_clips="exit 0 even if some clips could not be read (they are left out)",
        ground_truth=True,
        anomaly_score=True,
    )


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    results, thresholds = [], {}
    for type_dir in run.data.type_dirs():
        machine_type = type_dir.name
        logger.info("== %s: testing", machine_type)
        model_file = run.layout.model_file(KERAS, machine_type)
        model = keras_model.KerasModel(model_file)
        keras_model.check_model_shape(model.model, model_file, run.config.model.shape)
        run.models.check(model_file, run.data.test_files(type_dir), input_dim=model.input_dim)
        training_frames = run.data.training_frames_loader(type_dir)
        scorer = run.scoring.scorer(KERAS, machine_type, model, training_frames)
        threshold = run.scoring.stored_or_fitted_threshold(
            KERAS, machine_type, scorer, training_frames
        )

        test_features = run.data.test_features(type_dir)
        result = run.scoring.score(KERAS, machine_type, scorer, test_features)

        run.outputs.report_type(KERAS, result, threshold)
        run.outputs.record_model(
            KERAS,
            machine_type,
            parameters=model.model.count_params(),
            seconds_per_clip=result.seconds_per_clip(),
        )
        results.append(result)
        thresholds[machine_type] = threshold
    run.outputs.write_results(KERAS, results, thresholds)
    run.outputs.write_summary()
    if (
        run.settings.labelled and not year_entry(run.settings.dataset_year).sectioned
    ):  # per machine ID
        print(format_result_table(results, "Keras model"))
    elif run.settings.labelled:  # the means of each domain's AUC, as result.csv
        print(console_auc_table(run.layout, run.data.result_facts()))
    return run.outputs.exit_status(results)


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
