"""The benchmark script runs end to end at a tiny scale and reports consistent figures."""

import json

from conftest import run_script


def test_benchmark_smoke_run(tmp_path):
    run = run_script(
        "benchmarks/pipeline_benchmark.py",
        "--train-clips",
        "24",
        "--test-clips",
        "16",
        "--duration",
        "9",
        "--naive-clips",
        "4",
        "--throughput-clips",
        "8",
        "--throughput-epochs",
        "1",
        "--tflite-clips",
        "4",
        "--output",
        str(tmp_path),
        cwd=tmp_path,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "benchmark.json").read_text())
    features, tflite = report["features"], report["tflite_testing"]
    assert report["train_clips"] == 24 and report["test_clips"] == 16
    assert features["max_abs_difference_vs_naive_db"] < 1e-3
    assert len(features["naive_runs_seconds"]) == 3
    assert features["naive_seconds"] == min(features["naive_runs_seconds"])
    assert features["warm_cache_clips_per_s"] > features["no_cache_clips_per_s"]
    assert set(tflite["variants"]) == {
        "float",
        "_quant",
        "_quant_fullint",
        "_quant_fullint_micro",
        "_quant_fullint_micro_intio",
    }
    assert tflite["max_relative_score_difference_cache_vs_no_cache"] == 0.0
    assert tflite["max_relative_score_difference_batched_vs_per_vector"] < 1e-5
    memory = report["training_memory"]
    assert 0.3e9 < memory["warm_cache_peak_rss_bytes"] < 1.5e9
    assert "Pipeline benchmark: 24 train + 16 test clips" in run.stdout
