"""Shared functions of the four scripts (the reference's ``common.py``).

The implementation lives in the :mod:`anomaly_detection` package, one module per
concern; this module gathers the public functions under the reference's names,
so that code written against the reference keeps working::

    from common import file_to_vector_array, yaml_load
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

# TensorFlow's native logger prints CUDA probes and CPU-feature notes to the console;
# it reads this variable once, when TensorFlow is first imported (just below).
# Set TF_CPP_MIN_LOG_LEVEL=0 to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from anomaly_detection.cli import build_parser, run_script
from anomaly_detection.config import Config, load_config
from anomaly_detection.dataset import (list_test_sets, list_train_files, machine_id_number,
                                       select_machine_type_dirs)
from anomaly_detection.errors import PipelineError
from anomaly_detection.features import (file_to_vector_array, frame_stack, load_audio,
                                        log_mel_spectrogram)
from anomaly_detection.pipeline import (anomaly_score_path, calibration_vectors,
                                        evaluate_machine_type, excluded_clips, feature_cache,
                                        finish_with_exclusions, seed_everything,
                                        decision_threshold, record_model,
                                        training_frames_loader,
                                        report_machine_type, write_results,
                                        format_result_table, history_plot_path, keras_predictor,
                                        load_test_features, load_training_frames,
                                        machine_type_dirs, model_path,
                                        result_csv_path, tflite_path)
from anomaly_detection.eembc import select_clips as select_eembc_clips
from anomaly_detection.eembc import write_samples as write_eembc_samples
from anomaly_detection.extraction import extract_log_mels
from anomaly_detection.io_utils import write_bytes_atomic
from anomaly_detection.report import auc_table
from anomaly_detection.scoring import write_result_csv
from anomaly_detection.tflite_convert import VARIANTS as TFLITE_VARIANTS
from anomaly_detection.tflite_convert import (check_folding, convert_to_tflite, fold_batch_norm,
                                              write_c_array)
from anomaly_detection.tflite_infer import TFLiteModel
from anomaly_detection.training import (plot_training_history, split_training_vectors,
                                        train_autoencoder)

__all__ = [
    "Config", "PipelineError", "build_parser", "run_script", "yaml_load", "load_config",
    "file_to_vector_array", "frame_stack", "load_audio", "log_mel_spectrogram",
    "select_machine_type_dirs", "list_train_files", "list_test_sets", "machine_id_number",
    "save_csv", "machine_type_dirs", "feature_cache", "load_training_frames",
    "split_training_vectors", "train_autoencoder",
    "plot_training_history", "model_path", "history_plot_path", "tflite_path",
    "anomaly_score_path", "result_csv_path", "load_test_features", "evaluate_machine_type",
    "keras_predictor", "excluded_clips", "format_result_table", "write_result_csv",
    "calibration_vectors", "finish_with_exclusions", "seed_everything", "TFLITE_VARIANTS",
    "check_folding", "convert_to_tflite", "fold_batch_norm", "write_c_array", "TFLiteModel",
    "write_bytes_atomic", "select_eembc_clips", "write_eembc_samples", "extract_log_mels",
    "decision_threshold", "record_model", "report_machine_type", "write_results", "auc_table",
    "training_frames_loader",
]


def yaml_load(path: str | Path = "baseline.yaml") -> Config:
    """Load and validate the YAML configuration (the reference's ``yaml_load``).

    Unlike the reference this returns a typed :class:`Config`, not a dict.
    """
    return load_config(path)


def save_csv(save_file_path: str | Path, save_data: Iterable[Sequence[object]]) -> None:
    """Write rows as CSV with ``\\n`` line endings (the reference's ``save_csv``)."""
    from anomaly_detection.io_utils import write_csv_atomic

    write_csv_atomic(Path(save_file_path), save_data)
