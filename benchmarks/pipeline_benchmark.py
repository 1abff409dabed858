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
baseline gets the same treatment). Prints a table, writes ``<output>/benchmark.json`` and
the measurement record ``features`` (``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import json
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

import yaml  # noqa: E402

import measurements  # noqa: E402
from anomaly_detection.core.config import FeatureConfig  # noqa: E402
from anomaly_detection.data.synthetic import SyntheticSpec, write_dataset  # noqa: E402
from pipeline_stages import feature_stage, in_fresh_process, naive_stage, tflite_stage  # noqa: E402


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


def _rate(clips_per_s: float) -> str:
    return f"{clips_per_s:,.1f} clips/s"


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB"


def record_features(report: dict, *, record_dir: Path) -> None:
    """The record ``features``: each stage's figures as the table prints them, and a table
    of each against its baseline (the naive one; for the warm cache, recomputing)."""
    f = report["features"]
    naive, no_cache = _rate(f["naive_clips_per_s"]), _rate(f["no_cache_clips_per_s"])
    cold, warm = _rate(f["cold_cache_clips_per_s"]), _rate(f["warm_cache_clips_per_s"])
    clips = f"{report['train_clips']:,} train + {report['test_clips']:,} test"
    figures = [
        ("clips", f"{clips}, {report['duration_s']:g} s each"),
        ("features, naive baseline (librosa, 1 process)", naive),
        ("features, naive, freed memory kept", _rate(f["naive_retained_memory_clips_per_s"])),
        ("features, cold cache", cold),
        ("features, cold cache vs naive", f"{f['ratio_cold_vs_naive']:.1f}x"),
        ("features, no cache", no_cache),
        ("features, warm cache", warm),
        ("features, warm cache vs recomputing", f"{f['ratio_warm_vs_recompute']:.1f}x"),
        ("max |ours - naive| log-mel", f"{f['max_abs_difference_vs_naive_db']:.2e} dB"),
        ("naive float64 matrix, all clips", _gb(f["naive_matrix_bytes_all_clips"])),
    ]
    rows = [
        ["features, cold cache", naive, cold, f"{f['ratio_cold_vs_naive']:.1f}x"],
        ["features, warm cache", naive, warm, f"{f['ratio_warm_vs_naive']:.1f}x"],
        ["features, warm cache vs recomputing", no_cache, warm],
    ]
    rows[-1].append(f"{f['ratio_warm_vs_recompute']:.1f}x")
    if "tflite_testing" in report:
        lite = report["tflite_testing"]
        ratio = f"{lite['ratio_per_clip_vs_per_vector']:.1f}x"
        per_vector, per_clip = lite["per_vector_clips_per_s"], lite["per_clip_clips_per_s"]
        by_variant = ", ".join(
            f"{name} {values['ratio_per_clip_vs_per_vector']:.1f}x"
            for name, values in lite["variants"].items()
        )
        batched = lite["max_relative_score_difference_batched_vs_per_vector"]
        cached = lite["max_relative_score_difference_cache_vs_no_cache"]
        figures += [
            ("LiteRT testing, one invoke per vector", _rate(per_vector)),
            ("LiteRT testing, one invoke per clip", _rate(per_clip)),
            ("LiteRT testing, per clip vs per vector", f"{ratio} ({by_variant})"),
            ("scores, batched vs per vector", f"{batched:.1e} relative"),
            ("scores, cache vs no cache", f"{cached:.1e} relative"),
        ]
        variants = f"LiteRT testing, all {len(lite['variants'])} variants"
        rows.append([variants, _rate(per_vector), _rate(per_clip), ratio])
    if "training_memory" in report:
        m = report["training_memory"]
        peaks = f"{_gb(m['cold_cache_peak_rss_bytes'])} cold cache, "
        figures.append(
            ("00_train.py peak RSS, 1 epoch", f"{peaks}{_gb(m['warm_cache_peak_rss_bytes'])} warm")
        )
    naive_runs = ", ".join(f"{seconds:.2f}" for seconds in f["naive_runs_seconds"])
    cold_runs = ", ".join(f"{seconds:.2f}" for seconds in f["cold_cache_runs_seconds"])
    columns = ["stage", "baseline", "this project", "ratio"]
    measurements.write_record(
        "features",
        title="Feature extraction, training memory and LiteRT testing",
        figures=figures,
        tables=[{"title": "Against the baseline", "columns": columns, "rows": rows}],
        notes=[
            f"Synthetic ToyCar clips; the naive baseline (librosa per clip, one process, a "
            f"float64 matrix) on {f['naive_clips']} of them; {f['workers']} workers. Each time "
            f"is the best of three runs (naive: {naive_runs} s; cold cache: {cold_runs} s)."
        ],
        raw=report,
        record_dir=record_dir,
    )


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
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record features.json (default %(default)s)",
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
        record_features(report, record_dir=args.record_dir)
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
    record_features(report, record_dir=args.record_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
