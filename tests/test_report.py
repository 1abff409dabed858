"""Reports, plots and decisions: numbers checked against the CSVs and the saved thresholds."""

import csv
import json
import re

import numpy as np
import pytest
import scipy.stats

from anomaly_detection.evaluation.decision import decision_metrics
from anomaly_detection.evaluation.report import read_result_csv
from anomaly_detection.evaluation.thresholds import fit_threshold
from anomaly_detection.model.provenance import file_digest
from anomaly_detection.registry.variants import VARIANTS
from conftest import run_script

PNG = b"\x89PNG\r\n\x1a\n"


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_gamma_threshold_recovers_the_percentile():
    scores = scipy.stats.gamma.rvs(4.0, loc=2.0, scale=1.5, size=5000, random_state=0)
    threshold = fit_threshold(scores, 0.9)
    assert threshold.threshold == pytest.approx(
        scipy.stats.gamma.ppf(0.9, 4.0, loc=2.0, scale=1.5), rel=0.03
    )
    assert np.mean(scores <= threshold.threshold) == pytest.approx(0.9, abs=0.015)
    flat = fit_threshold(np.full(4, 3.0), 0.9)
    assert flat.threshold == 3.0


def test_precision_recall_f1():
    labels = np.array([0, 0, 1, 1, 1])
    assert decision_metrics(labels, np.array([0, 1, 1, 1, 0])) == pytest.approx(
        (2 / 3, 2 / 3, 2 / 3)
    )
    assert decision_metrics(labels, np.zeros(5)) == (0.0, 0.0, 0.0)


# The reference's result prefixes and this project's labels and column names, spelled out.
LABELS = (
    "keras",
    "tflite",
    "tflite_quant",
    "tflite_quant_fullint",
    "tflite_quant_fullint_micro",
    "tflite_quant_fullint_micro_intio",
    "tflm_quant_fullint_micro",
    "tflm_quant_fullint_micro_intio",
)
SHORT_NAMES = dict(
    zip(
        LABELS,
        ("Keras", "float", "quant", "fullint", "micro", "intio", "TFLM micro", "TFLM intio"),
        strict=True,
    )
)


def prefix_of(label):
    return "" if label == "keras" else f"{label}_"


def model_file_of(work, label):
    """The model file a variant runs: TFLM runs the micro models LiteRT also runs."""
    if label == "keras":
        return work / "model" / "model_ToyCar.hdf5"
    postfix = label[label.index("_") :] if "_" in label else ""
    return work / "model" / f"model_ToyCar{postfix}.tflite"


def test_the_registry_names_every_variant_as_the_reports_do():
    assert tuple(variant.label for variant in VARIANTS) == LABELS
    for variant in VARIANTS:
        assert variant.short_name == SHORT_NAMES[variant.label]
        assert variant.result_prefix == prefix_of(variant.label)
    assert [variant.model_file_name("fan") for variant in VARIANTS] == [
        "model_fan.hdf5",
        "model_fan.tflite",
        "model_fan_quant.tflite",
        "model_fan_quant_fullint.tflite",
        "model_fan_quant_fullint_micro.tflite",
        "model_fan_quant_fullint_micro_intio.tflite",
        "model_fan_quant_fullint_micro.tflite",
        "model_fan_quant_fullint_micro_intio.tflite",
    ]


def test_decisions_follow_the_saved_threshold(dev_run):
    work = dev_run["work"]
    for label in LABELS:
        prefix = prefix_of(label)
        model_file = model_file_of(work, label)
        stored = json.loads((model_file.parent / f"{model_file.name}.threshold.json").read_text())
        assert stored["percentile"] == 0.9 and stored["n_clips"] == 20
        assert stored["model_size"] == model_file.stat().st_size
        threshold = stored["threshold"]
        assert set(stored["by_set"]) == {"id_01", "id_02"}  # 10 training clips each: their own
        decided = 0
        for machine_id in ("01", "02"):
            own = stored["by_set"][f"id_{machine_id}"]
            scores = dict(
                rows(work / "result" / f"{prefix}anomaly_score_ToyCar_id_{machine_id}.csv")
            )
            decisions = rows(
                work / "result" / f"{prefix}decision_result_ToyCar_id_{machine_id}.csv"
            )
            assert [name for name, _ in decisions] == list(scores)
            for name, decision in decisions:
                assert int(decision) == int(float(scores[name]) > own)
                decided += int(decision)
        metrics = rows(work / "result" / f"{prefix}decision_metrics.csv")
        assert metrics[0] == ["machine_type", "id", "threshold", "precision", "recall", "F1"]
        assert [row[1] for row in metrics[1:]] == ["01", "02", "Average"]
        assert [float(row[2]) for row in metrics[1:]] == pytest.approx(
            [stored["by_set"]["id_01"], stored["by_set"]["id_02"], threshold]
        )
        assert decided > 0


def test_summary_matches_the_result_csvs(dev_run):
    result = dev_run["work"] / "result"
    summary = (result / "summary.md").read_text()

    def cells_of(line):
        return [cell.strip().strip("*") for cell in line.strip("|").split("|")]

    table = [
        line
        for line in summary.splitlines()
        if line.startswith("| ")
        and cells_of(line)[:2] in (["ToyCar", "01"], ["ToyCar", "02"], ["ToyCar", "Average"])
    ]
    assert len(table) == 3
    header = next(line for line in summary.splitlines() if line.startswith("| type | id"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[2:] == [
        f"{SHORT_NAMES[label]} {metric}" for label in LABELS for metric in ("AUC", "pAUC")
    ]
    for line in table:
        cells = cells_of(line)
        machine_id = cells[1]
        for index, label in enumerate(LABELS):
            expected = read_result_csv(result / f"{prefix_of(label)}result.csv")["ToyCar"][
                machine_id
            ]
            assert float(cells[2 + 2 * index]) == pytest.approx(expected[0], abs=5e-5)
            assert float(cells[3 + 2 * index]) == pytest.approx(expected[1], abs=5e-5)


def test_summary_lists_models_and_links_existing_plots(dev_run):
    work = dev_run["work"]
    summary = (work / "result" / "summary.md").read_text()
    for label in LABELS:
        row = next(
            line for line in summary.splitlines() if line.startswith(f"| ToyCar | {label} |")
        )
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        model_file = work / "model" / cells[2]
        assert cells[3] == f"`{file_digest(model_file)[:12]}`"
        assert cells[4] == f"`{(work / 'model').resolve()}`"
        assert int(cells[5]) == model_file.stat().st_size
        assert model_file == model_file_of(work, label)
        if label.startswith("tflm"):
            assert cells[6] == "n/a"  # the LiteRT row of the same file gives it
        else:
            assert int(cells[6]) == (269_992 if label == "keras" else 265_864)
        assert float(cells[7]) > 0
    links = re.findall(r"\]\(([^)]+\.png)\)", summary)
    assert len(links) == 2 * len(LABELS)
    for link in links:
        assert (work / "result" / link).read_bytes()[:8] == PNG
    assert (
        "Average AUC / pAUC over the machine IDs (per ID: summary.md)"
        in dev_run["runs"]["03_tflite_test.py"].stdout
    )


def test_log_file_and_quiet_mode(dev_run):
    log = (dev_run["work"] / "baseline.log").read_text()
    assert "== ToyCar: training on" in log and "== ToyCar: testing" in log
    quiet = run_script(
        "01_test.py", "-d", "-q", "--config", str(dev_run["config"]), cwd=dev_run["work"]
    )
    assert quiet.returncode == 0
    assert "INFO" not in quiet.stderr


def test_machine_type_selection(dev_run):
    run = run_script(
        "01_test.py",
        "-d",
        "--machine-type",
        "fan",
        "--config",
        str(dev_run["config"]),
        cwd=dev_run["work"],
    )
    assert run.returncode == 1
    assert "no folder for machine type(s) fan; found: ToyCar" in run.stderr
    selected = run_script(
        "01_test.py",
        "-d",
        "--machine-type",
        "ToyCar",
        "-q",
        "--config",
        str(dev_run["config"]),
        cwd=dev_run["work"],
    )
    assert selected.returncode == 0


def test_each_machine_id_gets_a_threshold_of_its_own(caplog):
    import scipy.stats

    from anomaly_detection.evaluation.thresholds import fit_thresholds_by_set

    rng = np.random.default_rng(0)
    quiet = 13 + 26 * rng.beta(2, 2, 100)  # normal scores of ID 01 run 13-39
    loud = 31 + 63 * rng.beta(2, 2, 100)  # ID 02's 31-94
    scores = np.concatenate([quiet, loud])
    ids = ["id_01"] * 100 + ["id_02"] * 100
    threshold = fit_thresholds_by_set(scores, ids, 0.9)
    for machine_id, own in (("id_01", quiet), ("id_02", loud)):
        shape, loc, scale = scipy.stats.gamma.fit(own)
        expected = scipy.stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
        assert threshold.for_set(machine_id) == pytest.approx(expected)
    assert threshold.threshold > quiet.max()  # one threshold for both misses ID 01's anomalies
    anomalies_01 = quiet.max() + rng.uniform(1, 15, 10)
    labels = np.r_[np.zeros(100), np.ones(10)]
    single = decision_metrics(labels, np.r_[quiet, anomalies_01] > threshold.threshold)[2]
    own = decision_metrics(labels, np.r_[quiet, anomalies_01] > threshold.for_set("id_01"))[2]
    assert own > single

    few = fit_thresholds_by_set(np.r_[quiet, loud[:4]], ["id_01"] * 100 + ["id_02"] * 4, 0.9)
    assert few.for_set("id_02") == few.threshold and "id_01" in few.by_set
    assert "id_02: 4 training clip(s), fewer than 10" in caplog.text
