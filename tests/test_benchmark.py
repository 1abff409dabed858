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
        "--tflite-clips",
        "4",
        "--output",
        str(tmp_path),
        "--record-dir",
        str(tmp_path / "records"),
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
    record = json.loads((tmp_path / "records" / "features.json").read_text())
    figures = dict(record["figures"])
    assert figures["clips"] == "24 train + 16 test, 9 s each"
    assert figures["features, cold cache vs naive"] == f"{features['ratio_cold_vs_naive']:.1f}x"
    assert figures["00_train.py peak RSS, 1 epoch"].endswith(
        f"{memory['warm_cache_peak_rss_bytes'] / 1e9:.2f} GB warm"
    )
    assert record["raw"] == report


def test_training_benchmark_smoke_run(tmp_path):
    run = run_script(
        "benchmarks/training_benchmark.py",
        "--clips",
        "8",
        "--epochs",
        "2",
        "--repeats",
        "2",
        "--backends",
        "--candidates",
        "scan_float32",
        "--memory-clips",
        "0",
        "--output",
        str(tmp_path),
        "--record-dir",
        str(tmp_path / "records"),
        cwd=tmp_path,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "training_benchmark.json").read_text())
    assert list(report["runs"])[:2] == ["reference", "scan_float32"]
    assert list(report["runs"]) == ["reference", "scan_float32"]  # --candidates, no keras_fit
    assert report["default"] in ("scan_float32", "scan_bfloat16")
    reference = [run["steady_vectors_per_s"] for run in report["runs"]["reference"]]
    for name, runs in report["runs"].items():
        assert len(runs) == 2 and all(run["vectors"] == 8 * 196 for run in runs)
        ratios = [
            run["steady_vectors_per_s"] / ref for run, ref in zip(runs, reference, strict=True)
        ]
        assert report["ratios_by_round"][name] == ratios
        assert report["median_ratio_vs_reference"][name] == sum(ratios) / 2
    assert report["runs"]["scan_float32"][0]["precision"] == "float32"
    assert report["meets_target"] == (report["median_ratio_vs_reference"][report["default"]] >= 2)
    assert "medians, ratios within rounds" in run.stdout
    record = json.loads((tmp_path / "records" / "training.json").read_text())
    default = report["default"]
    assert dict(record["figures"])[f"{default} vs reference"] == (
        f"{report['median_ratio_vs_reference'][default]:.2f}x"
    )
    (table,) = record["tables"]
    assert [row[0] for row in table["rows"]] == ["reference", "scan_float32"]
