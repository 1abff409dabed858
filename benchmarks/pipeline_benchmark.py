#!/usr/bin/env python3
"""Speed and memory of the pipeline at the real dataset's scale, against a naive baseline.

    .venv/bin/python benchmarks/pipeline_benchmark.py                    # 7,000 + 2,459 clips of 11 s
    .venv/bin/python benchmarks/pipeline_benchmark.py --train-clips 700 --test-clips 246   # quicker

Stages, each measured in its own fresh process, in this run, on the same synthetic clips:

- features: the naive baseline (librosa per clip in one process, stacked into a
  float64 matrix, as the reference's ``list_to_vector_array``) on a subset, in a
  process as the reference's (the C allocator as it is), against this project's
  extraction with a cold cache, a warm cache, and no cache, in a process set up
  as the scripts set theirs up (``allocator.retain_freed_memory``);
- training: ``00_train.py`` on all training clips (1 epoch) in a subprocess,
  peak resident memory (training speed: ``training_benchmark.py``, on the scan loop
  that 00 trains with);
- TFLite testing: one invoke per clip (``03_tflite_test.py``'s way, all cores)
  against one invoke per vector on a default interpreter, for every variant;
- agreement: scores with and without the cache, batched and per-vector.

Every timing is the best of three runs (the least disturbed by other load; the
baseline gets the same treatment). Prints a table and writes ``<output>/benchmark.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from anomaly_detection.core.allocator import retain_freed_memory  # noqa: E402
from anomaly_detection.core.config import FeatureConfig  # noqa: E402
from anomaly_detection.data.synthetic import SyntheticSpec, write_dataset  # noqa: E402
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


def write_training_config(work: Path, data_root: Path, cache_dir: Path) -> Path:
    """``work/bench_train.yaml``: baseline.yaml on ``data_root``'s dev data, 1 epoch, seed 0."""
    config = yaml.safe_load((REPO / "baseline.yaml").read_text())
    config.update(
        dev_directory=str(data_root / "dev_data"),
        model_directory=str(work / "model"),
        result_directory=str(work / "result"),
        cache_directory=str(cache_dir),
        log_file=str(work / "baseline.log"),
        seed=0,
    )
    config["fit"].update(epochs=1, verbose=0)
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "bench_train.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path


def peak_memory_of_training(config_path: Path, log: Path) -> tuple[float, int]:
    """Run ``00_train.py -d --retrain`` with ``config_path`` (stderr to ``log``); its time in
    seconds (start-up included) and peak resident memory in bytes."""
    start = time.perf_counter()
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "00_train.py"),
                "-d",
                "--retrain",
                "-q",
                "--config",
                str(config_path),
            ],
            cwd=config_path.parent,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        peak_kib = 0
        # VmHWM is the peak of this process's own memory since exec; getrusage/wait4
        # would also count what the child inherited through fork from this process.
        while process.poll() is None:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:  # the process has just ended
                continue
            if match := re.search(r"VmHWM:\s+(\d+)", status):
                peak_kib = max(peak_kib, int(match.group(1)))
            time.sleep(0.05)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"00_train.py failed:\n{log.read_text()[-3000:]}")
    return seconds, peak_kib * 1024


def training_memory_stage(work: Path, data_root: Path, cache_dir: Path) -> dict:
    config_path = write_training_config(work, data_root, cache_dir)
    results = {}
    for cache_state in ("cold", "warm"):
        if cache_state == "cold":
            shutil.rmtree(cache_dir, ignore_errors=True)
        log = work / f"bench_train_{cache_state}.log"
        seconds, peak_bytes = peak_memory_of_training(config_path, log)
        results[f"{cache_state}_cache_seconds_1_epoch_with_startup"] = seconds
        results[f"{cache_state}_cache_peak_rss_bytes"] = peak_bytes
    results["peak_rss_bytes"] = max(
        results["cold_cache_peak_rss_bytes"], results["warm_cache_peak_rss_bytes"]
    )
    return results


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-clips", type=int, default=7000)
    parser.add_argument("--test-clips", type=int, default=2459)
    parser.add_argument("--duration", type=float, default=11.0)
    parser.add_argument(
        "--naive-clips",
        type=int,
        default=300,
        help="clips for the naive feature baseline (default %(default)s)",
    )
    parser.add_argument("--tflite-clips", type=int, default=200)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--features-only",
        action="store_true",
        help="only the feature stage (cold, warm and no cache); writes features_benchmark.json",
    )
    args = parser.parse_args()

    ids = (1, 2, 3, 4)
    spec = SyntheticSpec(
        machine_types=("ToyCar",),
        dev_ids=ids,
        train_clips=-(-args.train_clips // len(ids)),
        test_normal_clips=-(-args.test_clips // (2 * len(ids))),
        test_anomaly_clips=-(-args.test_clips // (2 * len(ids))),
        duration=args.duration,
        seed=1,
    )
    data_root = args.output / f"data_{args.train_clips}_{args.test_clips}_{args.duration:g}s"
    print(f"Synthetic data in {data_root} (generated once, reused)")
    write_dataset(data_root, spec, dev=True, workers=args.workers)
    train_files = sorted((data_root / "dev_data" / "ToyCar" / "train").glob("*.wav"))
    train_files = train_files[: args.train_clips]
    test_files = sorted((data_root / "dev_data" / "ToyCar" / "test").glob("*.wav"))
    test_files = test_files[: args.test_clips]
    cache_dir = args.output / "cache"
    if cache_dir.exists():
        shutil.rmtree(cache_dir)
    feature = FeatureConfig()
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "train_clips": len(train_files),
        "test_clips": len(test_files),
        "duration_s": args.duration,
    }
    print("features ...")
    naive = in_fresh_process(naive_stage, train_files[: args.naive_clips], feature)
    ours = in_fresh_process(feature_stage, train_files, feature, cache_dir, args.workers)
    # The same baseline with this project's allocator setting: what the setting alone gives.
    retained = in_fresh_process(naive_stage, train_files[: args.naive_clips], feature, True)
    naive_rate = naive["naive_clips_per_s"]
    report["features"] = {
        **naive,
        **ours,
        "naive_retained_memory_clips_per_s": retained["naive_clips_per_s"],
        "naive_retained_memory_runs_seconds": retained["naive_runs_seconds"],
        "naive_matrix_bytes_all_clips": naive["naive_matrix_bytes_per_clip"] * len(train_files),
        "ratio_cold_vs_naive": ours["cold_cache_clips_per_s"] / naive_rate,
        "ratio_warm_vs_naive": ours["warm_cache_clips_per_s"] / naive_rate,
    }
    if args.features_only:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "features_benchmark.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report["features"], indent=2))
        return 0
    print("TFLite testing ...")
    report["tflite_testing"] = in_fresh_process(
        tflite_stage, test_files, feature, cache_dir, args.tflite_clips, args.output, args.workers
    )
    print("training memory (00_train.py, 1 epoch, cold and warm cache) ...")
    report["training_memory"] = training_memory_stage(args.output, data_root, cache_dir)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "benchmark.json").write_text(json.dumps(report, indent=2))

    f, m, lite = report["features"], report["training_memory"], report["tflite_testing"]
    per_variant = ", ".join(
        f"{name} x{values['ratio_per_clip_vs_per_vector']:.1f}"
        for name, values in lite["variants"].items()
    )
    print(f"""
Pipeline benchmark: {len(train_files)} train + {len(test_files)} test clips of {args.duration:g} s, {os.cpu_count()} cores
features   naive librosa, 1 process   {f["naive_clips_per_s"]:8.1f} clips/s  ({f["naive_clips"]} clips)
           same, freed memory kept    {f["naive_retained_memory_clips_per_s"]:8.1f} clips/s
           ours, cold cache           {f["cold_cache_clips_per_s"]:8.1f} clips/s  x{f["ratio_cold_vs_naive"]:.1f} naive
           ours, no cache             {f["no_cache_clips_per_s"]:8.1f} clips/s
           ours, warm cache           {f["warm_cache_clips_per_s"]:8.1f} clips/s  x{f["ratio_warm_vs_recompute"]:.1f} recomputing
           max |ours - naive|         {f["max_abs_difference_vs_naive_db"]:.2e} dB
           naive float64 matrix       {f["naive_matrix_bytes_all_clips"] / 1e9:8.2f} GB for all clips
training   00_train.py peak RSS       {m["cold_cache_peak_rss_bytes"] / 1e9:8.2f} GB cold cache, {m["warm_cache_peak_rss_bytes"] / 1e9:.2f} GB warm (1 epoch)
tflite     per-vector invokes         {lite["per_vector_clips_per_s"]:8.1f} clips/s  (all {len(lite["variants"])} variants)
           one invoke per clip        {lite["per_clip_clips_per_s"]:8.1f} clips/s  x{lite["ratio_per_clip_vs_per_vector"]:.1f}
           per variant                {per_variant}
agreement  batched vs per-vector      {lite["max_relative_score_difference_batched_vs_per_vector"]:.1e} relative
           cache vs no cache          {lite["max_relative_score_difference_cache_vs_no_cache"]:.1e} relative
written    {args.output / "benchmark.json"}""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
