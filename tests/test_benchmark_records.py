"""What the demo, test-suite and organisers' benchmarks read and record, on real output of the
programs they run (their full runs take minutes: benchmarks/README.md); the suite benchmark
end to end on one test."""

from __future__ import annotations

import json
import re
import statistics
import sys

import pytest
import yaml
from _pytest.terminal import format_session_duration

from conftest import REPO, run_script

sys.path.insert(0, str(REPO / "benchmarks"))

import demo_benchmark  # noqa: E402
import organisers_benchmark  # noqa: E402
import suite_benchmark  # noqa: E402

# ---- the test suite ------------------------------------------------------------------------
# The tail of `pytest -n auto --dist loadgroup --durations=5 tests/test_architecture.py`.
PYTEST_TAIL = """\
tests/test_architecture.py:98: AssertionError
============================= slowest 5 durations ==============================
2.18s call     tests/test_architecture.py::test_the_package_runs_from_any_folder_under_its_old_and_new_names
0.42s call     tests/test_architecture.py::test_no_subpackage_imports_a_higher_layer
0.09s call     tests/test_architecture.py::test_modules_and_classes_stay_small[evaluation/staleness.py]
0.02s setup    tests/test_architecture.py::test_modules_and_classes_stay_small[device/deployment.py]
0.01s call     tests/test_architecture.py::test_modules_and_classes_stay_small[data/dcase_years.py]
=========================== short test summary info ============================
FAILED tests/test_architecture.py::test_modules_and_classes_stay_small[model/scan_training.py]
FAILED tests/test_architecture.py::test_modules_and_classes_stay_small[registry/years.py]
======================== 2 failed, 110 passed in 5.84s =========================
"""
# The tail of `pytest -q --durations=8 tests/test_measurements.py`.
PYTEST_QUIET_TAIL = """\
.......                                                                  [100%]
============================= slowest 8 durations ==============================
0.04s call     tests/test_measurements.py::test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one

(6 durations < 0.005s hidden.  Use -vv to show these durations.)
7 passed in 0.11s
"""


def test_the_five_slowest_tests_and_the_counts_are_read_from_pytest_output():
    slowest = suite_benchmark.slowest_tests(PYTEST_TAIL)
    assert [(item.seconds, item.phase) for item in slowest] == [
        (2.18, "call"),
        (0.42, "call"),
        (0.09, "call"),
        (0.02, "setup"),
        (0.01, "call"),
    ]
    assert slowest[0].test == (
        "tests/test_architecture.py::test_the_package_runs_from_any_folder_under_its_old_and_new_names"
    )
    assert suite_benchmark.outcome_counts(PYTEST_TAIL) == ({"failed": 2, "passed": 110}, 5.84)

    (only,) = suite_benchmark.slowest_tests(PYTEST_QUIET_TAIL)
    assert only.seconds == 0.04 and only.test.endswith(
        "::test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one"
    )
    assert suite_benchmark.outcome_counts(PYTEST_QUIET_TAIL) == ({"passed": 7}, 0.11)

    # a run of minutes: pytest adds the clock time; singular outcomes count under the plural
    long = f"=== 560 passed, 2 skipped, 1 warning, 1 error in {format_session_duration(1561.2)} ==="
    assert suite_benchmark.outcome_counts(long) == (
        {"passed": 560, "skipped": 2, "warnings": 1, "errors": 1},
        1561.2,
    )
    with pytest.raises(ValueError, match="no summary line"):
        suite_benchmark.outcome_counts("ImportError while loading conftest\n")
    assert suite_benchmark.minutes(1561.2) == "26 min 1 s"
    assert suite_benchmark.minutes(42.4) == "42 s"


def test_the_suite_benchmark_records_one_test_run(tmp_path):
    one = "tests/test_measurements.py::test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one"
    run = run_script(
        "benchmarks/suite_benchmark.py",
        "--pytest-args",
        f"{one} -p no:cacheprovider",
        "--record-dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    record = json.loads((tmp_path / "test-suite.json").read_text())
    figures = dict(record["figures"])
    assert (figures["tests"], figures["outcomes"], figures["pytest exit status"]) == (
        "1",
        "1 passed",
        "0",
    )
    assert re.fullmatch(r"\d+ s", figures["wall time"])
    assert record["raw"]["counts"] == {"passed": 1}
    assert {row[0] for row in record["tables"][0]["rows"]} == {one}  # its call, maybe setup


# ---- the demo ------------------------------------------------------------------------------
def test_the_demo_benchmark_runs_what_run_demo_sh_runs(tmp_path):
    script = " ".join((REPO / "run_demo.sh").read_text().replace("\\\n", " ").split())
    assert f"-m anomaly_detection.data.synthetic demo {demo_benchmark.DEMO_DATA_OPTIONS}" in script
    for command in demo_benchmark.DEMO_SCRIPTS:
        assert f'"$PYTHON" {command} --config "$CONFIG"' in script
    assert "CONFIG=configs/demo.yaml" in script

    config = demo_benchmark.seed_config(tmp_path, tmp_path / "data", seed=5, epochs=None)
    assert config == tmp_path / "seed_5" / "demo.yaml"
    written, demo = (
        yaml.safe_load(config.read_text()),
        yaml.safe_load(demo_benchmark.DEMO_CONFIG.read_text()),
    )
    folders = {"dev_directory", "eval_directory", "model_directory", "result_directory"}
    folders |= {"cache_directory", "log_file"}
    assert {key for key in demo if written[key] != demo[key]} == folders | {"seed"}
    assert written["seed"] == 5 and written["result_directory"] == str(tmp_path / "seed_5/result")
    assert written["dev_directory"] == str(tmp_path / "data" / "dev_data")
    quick = demo_benchmark.seed_config(tmp_path, tmp_path / "data", seed=0, epochs=1)
    assert yaml.safe_load(quick.read_text())["fit"]["epochs"] == 1


# A seed's result files from `demo_benchmark.py --seeds 1 --epochs 1` (Keras, int8 I/O, TFLM).
RESULTS = {
    "result.csv": "01,0.57125,0.5460526315789473\n02,0.6675,0.5098684210526315\n"
    "03,0.663125,0.5230263157894737\nAverage,0.6339583333333333,0.5263157894736842\n",
    "tflite_quant_fullint_micro_intio_result.csv": "01,0.5718749999999999,0.5493421052631579\n"
    "02,0.6675,0.5098684210526315\n03,0.6625,0.5230263157894737\n"
    "Average,0.6339583333333333,0.5274122807017544\n",
    "tflm_quant_fullint_micro_result.csv": "01,0.57125,0.5493421052631579\n"
    "02,0.6675,0.5098684210526315\n03,0.6625,0.5230263157894737\n"
    "Average,0.63375,0.5274122807017544\n",
}


def test_the_demo_benchmark_reads_each_variant_and_spreads_over_seeds(tmp_path):
    for name, rows in RESULTS.items():
        (tmp_path / name).write_text(f"ToyCar\nid,AUC,pAUC\n{rows}\n")
    scores = demo_benchmark.average_scores(tmp_path)
    assert scores == {
        "keras": (0.6339583333333333, 0.5263157894736842),
        "tflite_quant_fullint_micro_intio": (0.6339583333333333, 0.5274122807017544),
        "tflm_quant_fullint_micro": (0.63375, 0.5274122807017544),
    }
    run = demo_benchmark.SeedRun(0, {"00_train.py": 13.5, "03_tflite_test.py": 30.0}, scores)
    assert run.row() == ["0", "0.6340", "0.5263", "0.6340", "0.0002", "44"]

    aucs = [0.9558, 0.9402, 0.9650]
    runs = [
        demo_benchmark.SeedRun(
            seed,
            {"00_train.py": 170.0 + seed},
            {**scores, "keras": (auc, auc - 0.05), "tflite_quant_fullint_micro_intio": (auc, 0)},
        )
        for seed, auc in enumerate(aucs)
    ]
    figures = dict(demo_benchmark.spread_figures(runs))
    mean, deviation = statistics.fmean(aucs), statistics.stdev(aucs)
    assert figures["Keras AUC, mean ± std"] == f"{mean:.4f} ± {deviation:.4f}"
    assert figures["Keras AUC, min–max"] == "0.9402–0.9650"
    assert figures["Keras pAUC, min–max"] == "0.8902–0.9150"
    assert figures["int8 AUC (LiteRT, int8 I/O), mean ± std"] == f"{mean:.4f} ± {deviation:.4f}"
    # the TFLM model's 0.63375 against the Keras AUC of each seed: the largest, seed 2's
    largest = f"{0.9650 - 0.63375:.4f}"
    assert figures["largest |TFLite - Keras| AUC, any variant and seed"] == largest
    assert figures["00-03 wall time per seed, mean ± std"] == "171 ± 1 s"
    assert figures["00-03 wall time per seed, min–max"] == "170–172 s"
    assert demo_benchmark.spread([0.9558]) == ("0.9558", "0.9558–0.9558")  # one seed: no std


# ---- the organisers' presets ---------------------------------------------------------------
# The end of a 2024 result.csv written by `01_test.py -d --anomaly-score mahalanobis_per_block`
# with configs/dcase2024_baseline.yaml (organisers_benchmark.py --years 2024 --epochs 1).
OFFICIAL_TAIL = """\
,,AUC,pAUC,precision,recall,F1 score
"arithmetic mean over all machine types, sections, and domains",,0.6575000000000001,0.611842105263158,0.5,0.05,0.09090909090909091
"harmonic mean over all machine types, sections, and domains",,0.5509731297719528,0.608375778155065,4.440892098500625e-16,4.4408920985006163e-16,4.44089209850062e-16

official score,,0.5688646697192394
official score ci95,,0.0012467610456860672
"""


def test_the_organisers_benchmark_reads_the_official_score_and_its_interval(tmp_path):
    result = tmp_path / "result.csv"
    result.write_text(OFFICIAL_TAIL)
    assert organisers_benchmark.official_figures(result) == (
        0.5688646697192394,
        0.0012467610456860672,
    )
    result.write_text(OFFICIAL_TAIL.replace("official score ci95,,0.0012467610456860672\n", ""))
    assert organisers_benchmark.official_figures(result) == (0.5688646697192394, None)
    result.write_text(OFFICIAL_TAIL.split("\n\n")[0])
    with pytest.raises(SystemExit, match=f"error: {re.escape(str(result))}: no official score"):
        organisers_benchmark.official_figures(result)

    year = {
        "scores": {
            "mse": {"seconds": 8.4, "official": 0.4428441908400291, "ci95": 0.0011795962455876},
            "mahalanobis": {"seconds": 10.8, "official": 0.4678325681932594, "ci95": None},
        }
    }
    assert organisers_benchmark.score_rows(2024, year) == [
        ["2024", "mse", "0.4428", "± 0.0012", "", "8"],
        ["2024", "mahalanobis", "0.4678", "n/a", "+0.0250", "11"],
    ]


def test_the_organisers_benchmark_runs_each_preset_as_shipped_but_for_its_folders(tmp_path):
    for year in (2024, 2026):
        preset = yaml.safe_load((REPO / "configs" / f"dcase{year}_baseline.yaml").read_text())
        path = organisers_benchmark.preset_config(
            year, tmp_path / f"run{year}", tmp_path / "data", epochs=None
        )
        written = yaml.safe_load(path.read_text())
        changed = {key for key in preset if written[key] != preset[key]}
        assert changed == {
            "dev_directory",
            "eval_directory",
            "model_directory",
            "result_directory",
            "cache_directory",
            "log_file",
            "fit",
        }
        assert written["fit"] == {**preset["fit"], "verbose": 0}
        assert written["model_directory"] == str(tmp_path / f"run{year}" / "model")
    quick = organisers_benchmark.preset_config(2024, tmp_path, tmp_path / "data", epochs=2)
    assert yaml.safe_load(quick.read_text())["fit"]["epochs"] == 2
