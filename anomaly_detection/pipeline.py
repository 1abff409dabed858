"""The steps the four scripts are made of, one function each.

Paths of every output file are defined here once, so that the scripts, the
report and the tests agree on them.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .config import Config
from .dataset import TestSet, list_test_sets, list_train_files, select_machine_type_dirs
from .errors import TrainingError
from .extraction import ClipFeatures, FeatureCache, extract_log_mels, iter_log_mels
from .decision import (Threshold, decision_metrics_csv_text, fit_threshold, load_threshold,
                       save_threshold, threshold_path, training_scores, write_decision_csv)
from .io_utils import write_text_atomic
from .report import (label_of, plot_roc_curves, plot_score_histograms, summary_markdown,
                     update_run_info)
from .scoring import (IdScores, Predictor, TypeResult, score_test_set, write_anomaly_score_csv,
                      write_result_csv)
from .training import FileFrameStore, FrameStore, MemoryFrameStore

__all__ = ["model_path", "history_plot_path", "tflite_path", "anomaly_score_path",
           "result_csv_path", "feature_cache", "machine_type_dirs", "load_training_frames",
           "TestFeatures", "load_test_features", "evaluate_machine_type", "keras_predictor",
           "excluded_clips", "format_result_table", "calibration_vectors",
           "finish_with_exclusions", "seed_everything",
           "decision_threshold", "training_frames_loader", "report_machine_type",
           "record_model", "write_results"]

logger = logging.getLogger(__name__)


# ---- output paths --------------------------------------------------------------------------
def model_path(config: Config, machine_type: str) -> Path:
    """``<model_directory>/model_<type>.hdf5``."""
    return config.model_directory / f"model_{machine_type}.hdf5"


def history_plot_path(config: Config, machine_type: str) -> Path:
    """``<model_directory>/history_<type>.png``."""
    return config.model_directory / f"history_{machine_type}.png"


def tflite_path(config: Config, machine_type: str, postfix: str) -> Path:
    """``<model_directory>/model_<type><postfix>.tflite``."""
    return config.model_directory / f"model_{machine_type}{postfix}.tflite"


def anomaly_score_path(config: Config, prefix: str, machine_type: str, machine_id: str) -> Path:
    """``<result_directory>/<prefix>anomaly_score_<type>_<id>.csv``."""
    return config.result_directory / f"{prefix}anomaly_score_{machine_type}_{machine_id}.csv"


def result_csv_path(config: Config, prefix: str = "") -> Path:
    """``<result_directory>/<prefix><result_file>``."""
    return config.result_directory / f"{prefix}{config.result_file}"


# ---- data --------------------------------------------------------------------------------
def feature_cache(config: Config, enabled: bool = True) -> FeatureCache | None:
    """The feature cache of ``config`` (``None`` if disabled in the YAML or by option)."""
    if not enabled or config.cache_directory is None:
        return None
    return FeatureCache(config.cache_directory, config.feature)


def machine_type_dirs(config: Config, dev_mode: bool,
                      machine_types: Sequence[str] | None = None) -> list[Path]:
    """Machine-type folders of the dev or eval data, optionally only ``machine_types``."""
    return select_machine_type_dirs(config.data_directory(dev_mode), machine_types)


def load_training_frames(type_dir: Path, config: Config, cache: FeatureCache | None,
                         skip_bad_clips: bool = False, progress: bool = True,
                         max_clips: int | None = None) -> FrameStore:
    """Cropped log-mel frames of the training clips of one machine type.

    Parameters
    ----------
    max_clips : int, optional
        Use this many clips spread evenly over the sorted list (calibration).

    Raises
    ------
    TrainingError
        If any clip is unreadable (unless ``skip_bad_clips``), or none is usable.
    """
    files = list_train_files(type_dir)
    if max_clips is not None and len(files) > max_clips:
        files = [files[i] for i in np.linspace(0, len(files) - 1, max_clips).astype(int)]
    problems: list[str] = []

    def usable_clips(clip_files: Sequence[Path]) -> Iterator[ClipFeatures]:
        for clip in iter_log_mels(clip_files, config.feature, cache, config.workers,
                                  description=f"{type_dir.name} train features",
                                  progress=progress):
            if clip.error is None:
                yield clip
            else:
                logger.error("%s", clip.error)
                problems.append(clip.error)

    def check_problems() -> None:
        if problems and not skip_bad_clips:
            raise TrainingError(f"{type_dir / 'train'}: {len(problems)} unusable clip(s), "
                                f"first: {problems[0]} (fix or remove them, or pass "
                                "--skip-bad-clips)")

    def no_usable_clips() -> TrainingError:
        return TrainingError(f"{type_dir / 'train'}: no usable training clips")

    n_mels = config.feature.n_mels
    if cache is None:
        # Streamed into memory: the clips' frames are held once, never as a list and a copy.
        store = MemoryFrameStore.from_clips((clip.log_mel for clip in usable_clips(files)),
                                            len(files), n_mels)
        check_problems()
        if store.n_clips == 0:
            raise no_usable_clips()
        return store
    # Training reads the frames from the cache file; missing ones are computed into it first.
    entry = cache.entry(files)
    if entry is None:
        usable = [clip.path for clip in usable_clips(files)]
        check_problems()
        if not usable:
            raise no_usable_clips()
        if problems:
            # The cache keeps only error-free clip lists: store the usable ones as their own.
            logger.info("%s: caching the features of the %d usable clips", type_dir.name,
                        len(usable))
            again = iter_log_mels(usable, config.feature, cache, config.workers,
                                  description=f"{type_dir.name} usable train features",
                                  progress=progress)
            if any(clip.error for clip in again):
                raise TrainingError(f"{type_dir / 'train'}: clips changed during the run")
        entry = cache.entry(usable)
        if entry is None:
            raise TrainingError(f"{cache.directory}: the feature-cache entry of {len(usable)} "
                                "training clips was not written (did clips change during the "
                                "run?)")
    return FileFrameStore(entry.data_path, np.asarray(entry.offsets), n_mels)


def calibration_vectors(store: FrameStore, frames: int, max_vectors: int,
                        seed: int = 0) -> np.ndarray:
    """Up to ``max_vectors`` stacked training vectors drawn evenly at random from ``store``.

    Returns
    -------
    np.ndarray, shape (n, frames * n_mels), float32
    """
    starts = store.vector_starts(frames)
    if len(starts) > max_vectors:
        starts = np.sort(np.random.default_rng(seed).choice(starts, max_vectors, replace=False))
    return store.stack(starts, frames)


@dataclass
class TestFeatures:
    """Test clips of one machine ID with their features (or errors)."""

    test_set: TestSet
    clips: list[ClipFeatures]


def load_test_features(type_dir: Path, dev_mode: bool, config: Config,
                       cache: FeatureCache | None, progress: bool = True) -> list[TestFeatures]:
    """Features of every test clip of one machine type, grouped by machine ID."""
    test_sets = list_test_sets(type_dir, dev_mode)
    files = [path for test_set in test_sets for path in test_set.files]
    clips = extract_log_mels(files, config.feature, cache, config.workers,
                             description=f"{type_dir.name} test features", progress=progress)
    grouped, start = [], 0
    for test_set in test_sets:
        grouped.append(TestFeatures(test_set, clips[start:start + len(test_set.files)]))
        start += len(test_set.files)
    return grouped


# ---- scoring -------------------------------------------------------------------------------
def keras_predictor(model) -> Predictor:
    """A Keras model as a :data:`Predictor` (one compiled call per clip)."""
    def predict(vectors: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(vectors))

    return predict


def evaluate_machine_type(predict: Predictor, machine_type: str,
                          test_features: Sequence[TestFeatures], config: Config,
                          prefix: str = "", progress: bool = True) -> TypeResult:
    """Score every ID of a machine type and write its ``anomaly_score`` CSV files."""
    id_results: list[IdScores] = []
    for item in test_features:
        scores = score_test_set(predict, item.test_set, item.clips, config.feature.frames,
                                config.max_fpr, description=f"{prefix}{item.test_set.machine_id}",
                                progress=progress)
        write_anomaly_score_csv(
            anomaly_score_path(config, prefix, machine_type, scores.machine_id), scores)
        if scores.metric_problem:
            logger.warning("%s %s: no AUC: %s", machine_type, scores.machine_id,
                           scores.metric_problem)
        id_results.append(scores)
    return TypeResult(machine_type, id_results)


def training_frames_loader(type_dir: Path, config: Config, cache: FeatureCache | None,
                           progress: bool = True) -> Callable[[], FrameStore]:
    """A function returning the type's training frames, loaded on first call only
    (several models of one type share them for their thresholds)."""
    @functools.cache
    def load() -> FrameStore:
        return load_training_frames(type_dir, config, cache, skip_bad_clips=True,
                                    progress=progress)

    return load


def decision_threshold(model_file: Path, predict: Predictor, type_dir: Path, config: Config,
                       training_frames: Callable[[], FrameStore],
                       refit: bool = False) -> Threshold:
    """The decision threshold of ``model_file``: stored, or fitted on the training clips' scores
    (gamma distribution, ``decision_percentile``) and saved beside the model.

    ``training_frames`` is called only when a threshold has to be fitted.
    """
    if not refit:
        stored = load_threshold(model_file, config.decision_percentile)
        if stored is not None:
            return stored
    scores = training_scores(predict, training_frames(), config.feature.frames)
    threshold = fit_threshold(scores, config.decision_percentile)
    save_threshold(model_file, threshold)
    logger.info("%s: decision threshold %.4g (%g percentile of a gamma fit to %d training "
                "scores) saved to %s", type_dir.name, threshold.threshold, threshold.percentile,
                threshold.n_clips, threshold_path(model_file))
    return threshold


def report_machine_type(result: TypeResult, threshold: Threshold, config: Config,
                        prefix: str, dev_mode: bool) -> None:
    """Decision files, score histograms and (development mode) ROC curves of one type."""
    label = label_of(prefix)
    for ids in result.ids:
        write_decision_csv(config.result_directory / f"{prefix}decision_result_"
                           f"{result.machine_type}_{ids.machine_id}.csv", ids, threshold.threshold)
    plot_score_histograms(result, threshold.threshold, config.result_directory /
                          f"score_histogram_{result.machine_type}_{label}.png", label)
    if dev_mode:
        plot_roc_curves(result, config.max_fpr, config.result_directory /
                        f"roc_{result.machine_type}_{label}.png", label)


def record_model(config: Config, prefix: str, machine_type: str, model_file: Path,
                 **fields: object) -> None:
    """Note a model's file, size and other facts (parameters, timing) for the summary."""
    update_run_info(config.result_directory / "run_info.json", label_of(prefix), machine_type,
                    file=model_file.name, bytes=model_file.stat().st_size, **fields)


def write_results(results: Sequence[TypeResult], thresholds: dict[str, float], config: Config,
                  prefix: str, dev_mode: bool) -> Path:
    """After all types: ``result.csv`` and decision metrics (development), ``summary.md``.

    Returns the summary's path.
    """
    if dev_mode:
        write_result_csv(result_csv_path(config, prefix), results)
        write_text_atomic(config.result_directory / f"{prefix}decision_metrics.csv",
                          decision_metrics_csv_text(results, thresholds))
    summary = config.result_directory / "summary.md"
    write_text_atomic(summary, summary_markdown(config.result_directory, config.result_file,
                                                config.max_fpr))
    return summary


def excluded_clips(results: Sequence[TypeResult]) -> list[tuple[Path, str]]:
    """Every clip excluded from scoring, with its reason."""
    return [entry for result in results for ids in result.ids for entry in ids.excluded]


def finish_with_exclusions(results: Sequence[TypeResult], skip_bad_clips: bool) -> int:
    """Report clips excluded from scoring; exit status 1 if any, unless allowed."""
    excluded = excluded_clips(results)
    if not excluded:
        return 0
    log = logger.warning if skip_bad_clips else logger.error
    log("%d test clip(s) could not be scored and were excluded from the scores and AUC:",
        len(excluded))
    for _, reason in excluded:
        log("  %s", reason)
    if skip_bad_clips:
        return 0
    logger.error("failing because of the excluded clips (pass --skip-bad-clips to accept them)")
    return 1


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and the Keras backend (nothing when ``seed`` is ``None``)."""
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)


def format_result_table(results: Sequence[TypeResult], title: str) -> str:
    """A plain-text AUC/pAUC table for the console."""
    lines = [title, f"{'type':<14}{'id':<8}{'AUC':>8}{'pAUC':>8}"]
    for result in results:
        for ids in result.ids:
            lines.append(f"{result.machine_type:<14}{ids.machine_id:<8}"
                         f"{ids.auc:>8.4f}{ids.pauc:>8.4f}")
        auc, pauc = result.average()
        lines.append(f"{result.machine_type:<14}{'Average':<8}{auc:>8.4f}{pauc:>8.4f}")
    return "\n".join(lines)
