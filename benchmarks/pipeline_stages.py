"""The stages of ``pipeline_benchmark.py`` that run each in a fresh process: the naive
feature baseline, this project's feature extraction, and 03_tflite_test.py's model calls.

Every timing is the best of :data:`REPEATS` runs (the least disturbed by other load; the
baseline gets the same treatment).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from anomaly_detection.core.allocator import retain_freed_memory  # noqa: E402
from anomaly_detection.core.config import FeatureConfig  # noqa: E402
from anomaly_detection.evaluation.scoring import anomaly_score  # noqa: E402
from anomaly_detection.features.cache import FeatureCache  # noqa: E402
from anomaly_detection.features.extraction import extract_log_mels  # noqa: E402
from anomaly_detection.features.spectrogram import frame_stack  # noqa: E402


def naive_features(files: list[Path], feature: FeatureConfig) -> np.ndarray:
    """The reference's way: librosa per clip, one process, a float64 matrix of all vectors."""
    import librosa

    vectors = []
    for path in files:
        signal, sample_rate = librosa.load(path, sr=None, mono=False)
        mel = librosa.feature.melspectrogram(
            y=signal,
            sr=sample_rate,
            n_fft=feature.n_fft,
            hop_length=feature.hop_length,
            n_mels=feature.n_mels,
            power=feature.power,
        )
        log_mel = (20.0 / feature.power * np.log10(mel + sys.float_info.epsilon))[:, 50:250]
        n_vectors = log_mel.shape[1] - feature.frames + 1
        array = np.zeros((n_vectors, feature.vector_dim))
        for t in range(feature.frames):
            array[:, feature.n_mels * t : feature.n_mels * (t + 1)] = log_mel[
                :, t : t + n_vectors
            ].T
        vectors.append(array)
    return np.concatenate(vectors)


def in_fresh_process(function, *args):
    """``function(*args)`` in a new interpreter, as each script runs in its own process
    (no thread pools, heap or TensorFlow state carried over from an earlier stage)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


REPEATS = 3


def timed(function, *args, before=None, **kwargs):
    """``(result, best seconds, all runs' seconds)`` of ``REPEATS`` runs, ``before()`` called
    ahead of each.

    The best run is the one least disturbed by other load on the machine (as
    ``timeit`` reports); the baseline and this project get the same treatment.
    """
    runs = []
    for _ in range(REPEATS):
        if before is not None:
            before()
        start = time.perf_counter()
        result = function(*args, **kwargs)
        runs.append(time.perf_counter() - start)
    return result, min(runs), runs


def warm_page_cache(files) -> None:
    """Read every file once so that all variants measure computation, not the disk."""
    for path in files:
        path.read_bytes()


def naive_stage(files, feature, retain_memory: bool = False) -> dict:
    """The naive feature baseline in a process of its own, as the reference runs (the
    allocator as it is, unless ``retain_memory``), and how far its vectors are from
    this project's."""
    if retain_memory:
        retain_freed_memory()
    warm_page_cache(files)
    naive_features(files[:1], feature)  # librosa's first call compiles numba kernels: not timed
    naive_matrix, naive_seconds, naive_runs = timed(naive_features, files, feature)
    ours = extract_log_mels(files, feature, progress=False)
    ours_matrix = np.concatenate(
        [frame_stack(clip.usable_log_mel(), feature.frames) for clip in ours]
    )
    return {
        "naive_clips": len(files),
        "naive_seconds": naive_seconds,
        "naive_clips_per_s": len(files) / naive_seconds,
        "naive_runs_seconds": naive_runs,
        "naive_matrix_bytes_per_clip": naive_matrix.nbytes / len(files),
        "max_abs_difference_vs_naive_db": float(np.max(np.abs(ours_matrix - naive_matrix))),
    }


def feature_stage(train_files, feature, cache_dir, workers):
    """This project's extraction, in a process set up as the scripts set theirs up."""
    allocator_set = retain_freed_memory()
    warm_page_cache(train_files)
    cache = FeatureCache(cache_dir, feature, workers=workers)

    def empty_cache() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)

    _, cold_seconds, cold_runs = timed(
        extract_log_mels,
        train_files,
        feature,
        cache=cache,
        workers=workers,
        progress=False,
        before=empty_cache,
    )
    _, warm_seconds, _ = timed(
        extract_log_mels, train_files, feature, cache=cache, workers=workers, progress=False
    )
    _, nocache_seconds, nocache_runs = timed(
        extract_log_mels, train_files, feature, workers=workers, progress=False
    )
    n = len(train_files)
    return {
        "clips": n,
        "workers": workers,
        "allocator_retains_freed_memory": allocator_set,
        "cold_cache_seconds": cold_seconds,
        "cold_cache_clips_per_s": n / cold_seconds,
        "cold_cache_runs_seconds": cold_runs,
        "no_cache_runs_seconds": nocache_runs,
        "warm_cache_seconds": warm_seconds,
        "warm_cache_clips_per_s": n / warm_seconds,
        "no_cache_seconds": nocache_seconds,
        "no_cache_clips_per_s": n / nocache_seconds,
        "ratio_warm_vs_recompute": nocache_seconds / warm_seconds,
    }


def clip_scores(model, clip_vectors: list[np.ndarray]) -> list[float]:
    """Anomaly score of each clip with one model call per clip (as 03_tflite_test.py)."""
    return [anomaly_score(vectors, model(vectors)) for vectors in clip_vectors]


def per_vector_scores(model_path: Path, clip_vectors: list[np.ndarray]) -> list[float]:
    """The naive way: one invoke per vector on a default interpreter (int8 I/O quantized
    per vector)."""
    from ai_edge_litert.interpreter import Interpreter

    from anomaly_detection.device.tflite_infer import to_float, to_input_type

    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scores = []
    for vectors in clip_vectors:
        outputs = np.empty_like(vectors)
        for row, vector in enumerate(vectors):
            interpreter.set_tensor(source["index"], to_input_type(vector[None, :], source))
            interpreter.invoke()
            outputs[row] = to_float(interpreter.get_tensor(target["index"]), target)[0]
        scores.append(anomaly_score(vectors, outputs))
    return scores


def tflite_stage(test_files, feature, cache_dir, clips, work: Path, workers: int) -> dict:
    """03_tflite_test's model calls for every TFLite variant: per clip against per vector."""
    from anomaly_detection.device.tflite_convert import convert_to_tflite, fold_batch_norm
    from anomaly_detection.device.tflite_infer import TFLiteModel
    from anomaly_detection.registry.variants import TFLITE_VARIANTS
    from keras_model import get_model

    retain_freed_memory()  # as the scripts do at start-up
    cached = extract_log_mels(
        test_files[:clips], feature, cache=FeatureCache(cache_dir, feature), progress=False
    )
    uncached = extract_log_mels(test_files[:clips], feature, progress=False)
    vectors = [frame_stack(clip.usable_log_mel(), feature.frames) for clip in cached]
    uncached_vectors = [frame_stack(clip.usable_log_mel(), feature.frames) for clip in uncached]
    folded = fold_batch_norm(get_model(feature.vector_dim))
    calibration = np.concatenate(vectors[:20])
    variants = {}
    for variant in TFLITE_VARIANTS:
        model_path = work / f"bench_model{variant.postfix}.tflite"
        model_path.write_bytes(
            convert_to_tflite(
                folded, variant.file, representative=calibration if variant.file.calibrate else None
            )
        )
        model = TFLiteModel(model_path, num_threads=workers)
        batched_list, batched_seconds, _ = timed(clip_scores, model, vectors)
        single_list, single_seconds, _ = timed(per_vector_scores, model_path, vectors)
        batched, single = np.asarray(batched_list), np.asarray(single_list)
        uncached_scores = np.asarray(clip_scores(model, uncached_vectors))
        variants[variant.postfix or "float"] = {
            "per_clip_seconds": batched_seconds,
            "per_vector_seconds": single_seconds,
            "ratio_per_clip_vs_per_vector": single_seconds / batched_seconds,
            "max_relative_score_difference_batched_vs_per_vector": float(
                np.max(np.abs(batched - single) / single)
            ),
            "max_relative_score_difference_cache_vs_no_cache": float(
                np.max(np.abs(batched - uncached_scores) / uncached_scores)
            ),
        }
    per_clip = sum(v["per_clip_seconds"] for v in variants.values())
    per_vector = sum(v["per_vector_seconds"] for v in variants.values())
    return {
        "clips": clips,
        "variants": variants,
        "workers": workers,
        "per_clip_seconds": per_clip,
        "per_vector_seconds": per_vector,
        "per_clip_clips_per_s": clips * len(variants) / per_clip,
        "per_vector_clips_per_s": clips * len(variants) / per_vector,
        "ratio_per_clip_vs_per_vector": per_vector / per_clip,
        "max_relative_score_difference_batched_vs_per_vector": max(
            v["max_relative_score_difference_batched_vs_per_vector"] for v in variants.values()
        ),
        "max_relative_score_difference_cache_vs_no_cache": max(
            v["max_relative_score_difference_cache_vs_no_cache"] for v in variants.values()
        ),
    }
