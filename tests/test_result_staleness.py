"""Results tied to what produced them (after a second hostile review): the clips' contents,
the set a plot or threshold came from, the deployment report's file, the model facts in
summary.md, the machine types a run left out, and a summary refreshed when models change."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil

import yaml
from test_result_integrity import own_run, script, tables_and_stale, with_seed

from anomaly_detection.core.layout import OutputLayout
from anomaly_detection.evaluation.report_sections import models_section
from anomaly_detection.evaluation.results import _type_blocks, _type_rows
from anomaly_detection.registry.variants import KERAS
from conftest import base_config, run_script


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_clip_replaced_by_one_of_the_same_size_makes_its_results_stale(dev_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "dev_data", data / "dev_data")
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, data)))
    assert script("01_test.py", config, cwd=tmp_path).returncode == 0
    normal, anomaly = (
        next((data / "dev_data" / "ToyCar" / "test").glob(f"{kind}_id_01_*.wav"))
        for kind in ("normal", "anomaly")
    )
    assert normal.stat().st_size == anomaly.stat().st_size  # as every DCASE clip
    normal_bytes, anomaly_bytes = normal.read_bytes(), anomaly.read_bytes()
    normal.write_bytes(anomaly_bytes)  # the two swap contents: same names, same sizes
    anomaly.write_bytes(normal_bytes)
    run = script("03_tflite_test.py", config, "--no-tflm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" not in tables and "float AUC" in tables
    assert "| ToyCar | keras | scored on other test clips than the data folder holds now" in stale


def test_an_unlabelled_eval_run_and_an_eval_threshold_leave_the_dev_ones(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True)
    histogram = tmp_path / "result" / "score_histogram_ToyCar_keras.png"
    before = md5(histogram)
    run = run_script("01_test.py", "-e", "--config", str(config), cwd=tmp_path)  # no labels
    assert run.returncode == 0, run.stderr[-2000:]
    assert md5(histogram) == before  # the evaluation set's plot has its own name
    assert (tmp_path / "result" / "score_histogram_ToyCar_keras_eval.png").is_file()
    threshold_file = tmp_path / "model" / "model_ToyCar.hdf5.threshold.json"
    assert set(json.loads(threshold_file.read_text())["by_set"]) == {"id_05"}

    run = script("01_test.py", config, cwd=tmp_path)  # dev again: not the eval clips' threshold
    assert run.returncode == 0, run.stderr[-2000:]
    assert "fitted on other training clips; recomputing" in run.stderr
    assert set(json.loads(threshold_file.read_text())["by_set"]) == {"id_01", "id_02"}
    summary = (tmp_path / "result" / "summary.md").read_text()
    assert "score_histogram_ToyCar_keras.png" in summary and "_eval.png" not in summary


def test_the_threshold_00_fitted_is_the_one_01_uses(dev_run):
    assert "recomputing" not in dev_run["runs"]["01_test.py"].stderr


def test_a_deployment_report_of_another_file_is_left_out(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True)
    model = tmp_path / "model"
    intio = model / "model_ToyCar_quant_fullint_micro_intio.tflite"
    shutil.copy(model / "model_ToyCar_quant_fullint_micro.tflite", intio)  # another file
    sidecar = "model_ToyCar_quant_fullint_micro{}.tflite.provenance.json"
    shutil.copy(model / sidecar.format(""), model / sidecar.format("_intio"))
    run = script("03_tflite_test.py", config, "--no-tflm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "model_ToyCar_quant_fullint_micro_intio.deploy.json: measured on another" in run.stderr
    deployment = (tmp_path / "result" / "summary.md").read_text().partition("## Deployment")[2]
    assert "| ToyCar | model_ToyCar_quant_fullint_micro.tflite |" in deployment
    assert "micro_intio" not in deployment.partition("## Plots")[0]


def keras_rows(layout, info):
    return [
        line for line in models_section(layout, info, [KERAS], ["ToyCar"]) if "| ToyCar" in line
    ]


def test_the_models_table_shows_only_facts_of_the_file_whose_results_it_shows(tmp_path):
    layout = OutputLayout(tmp_path / "model", tmp_path / "result")
    scored = {"digest": "a" * 64, "model_directory": str(tmp_path / "model")}
    entry = {
        "file": "model_ToyCar.hdf5",
        "result_csv": scored,
        "digest": "b" * 64,  # a later run recorded another file (another folder)
        "model_directory": str(tmp_path / "other"),
        "bytes": 317256,
        "seconds_per_clip": 0.05,
    }
    info = {"keras": {"ToyCar": entry}}
    (row,) = [
        line for line in models_section(layout, info, [KERAS], ["ToyCar"]) if "ToyCar" in line
    ]
    assert "`aaaaaaaaaaaa`" in row and "317256" not in row and row.endswith("n/a | n/a | n/a |")
    # a damaged field (a string where a number belongs) is n/a, not a traceback
    info = {"keras": {"ToyCar": {**entry, **scored, "seconds_per_clip": "0.02", "bytes": "x"}}}
    (row,) = [
        line for line in models_section(layout, info, [KERAS], ["ToyCar"]) if "ToyCar" in line
    ]
    assert row.endswith("n/a | n/a | n/a |")


def test_rows_of_machine_types_a_run_left_out_stay_in_result_csv(tmp_path):
    path = tmp_path / "result.csv"
    path.write_text("fan\nid,AUC,pAUC\n0,0.7,0.6\nAverage,0.7,0.6\n\nToyCar\nid,AUC,pAUC\n"
                    "1,0.5,0.5\nAverage,0.5,0.5\n\n")  # fmt: skip
    assert _type_blocks(path, ["fan"], exclude={"ToyCar"}) == (
        "fan\nid,AUC,pAUC\n0,0.7,0.6\nAverage,0.7,0.6\n\n"
    )
    assert _type_blocks(path, ["fan"], exclude={"fan"}) == ""  # scored again: this run's rows
    assert _type_blocks(path, [], exclude=set()) == ""  # every type selected: as the reference
    metrics = tmp_path / "decision_metrics.csv"
    metrics.write_text("machine_type,id,threshold,precision,recall,F1\nfan,0,1.5,1,1,1\n"
                       "ToyCar,1,2.5,0,0,0\n")  # fmt: skip
    assert _type_rows(metrics, ["fan"], exclude={"ToyCar"}) == "fan,0,1.5,1,1,1\n"


def test_retraining_or_converting_refreshes_the_summary(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True)
    assert script("03_tflite_test.py", config, "--no-tflm", cwd=tmp_path).returncode == 0
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" in tables and not stale
    run = script("00_train.py", with_seed(config, 9), "--retrain", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" not in tables and "float AUC" not in tables  # both describe older models
    assert "| ToyCar | keras | model_ToyCar.hdf5 changed since it was scored" in stale


def test_an_evaluation_list_with_labels_other_than_the_published_ones_is_refused(dev_run, tmp_path):
    with open(dev_run["data"] / "eval_data_list.csv", newline="") as handle:
        published = [row for row in csv.reader(handle) if len(row) == 3]
    name, _, label = published[0]
    listed = tmp_path / "y_labels.csv"
    listed.write_text(f"{name.removesuffix('.wav')}_hist_librosa.bin,2,{1 - int(label)},2560,512\n")
    run = run_script(
        "export_eembc.py", "-e", "--labels", str(listed), "--config", str(dev_run["config"]),
        "--ground-truth", str(dev_run["data"] / "eval_data_list.csv"),
        "--output", str(tmp_path / "samples"), cwd=dev_run["work"],
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{name} is listed with label {1 - int(label)}, its published label is {label}" in (
        run.stderr
    )


def test_a_board_file_inside_the_output_folder_is_refused(dev_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.txt").write_text("AUC = 0.900\n")  # e.g. the runner's session folder
    run = run_script(
        "eembc_accuracy.py", "--samples", str(tmp_path), "--output", str(out),
        "--model", str(dev_run["work"] / "model" / "model_ToyCar_quant_fullint_micro_intio.tflite"),
        "--runner-session", str(out),
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "--runner-session is in --output" in run.stderr
    assert (out / "results.txt").read_text() == "AUC = 0.900\n"


def test_a_run_on_one_machine_type_keeps_the_others_rows(dev_run, tmp_path):
    data = tmp_path / "data" / "dev_data"
    shutil.copytree(dev_run["data"] / "dev_data" / "ToyCar", data / "ToyCar")
    shutil.copytree(dev_run["data"] / "dev_data" / "ToyCar", data / "fan")  # a second type
    model = tmp_path / "model"
    shutil.copytree(dev_run["work"] / "model", model)
    for name in ("model_{}.hdf5", "model_{}.hdf5.provenance.json"):
        shutil.copy(model / name.format("ToyCar"), model / name.format("fan"))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, data.parent)))
    assert script("01_test.py", config, cwd=tmp_path).returncode == 0
    result = tmp_path / "result" / "result.csv"
    fan_rows = result.read_text().partition("fan\n")[2]
    run = script("01_test.py", config, "--machine-type", "ToyCar", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert result.read_text().startswith("ToyCar\n")
    assert result.read_text().partition("fan\n")[2] == fan_rows  # kept, after this run's
    metrics = (tmp_path / "result" / "decision_metrics.csv").read_text()
    assert "\nfan,Average," in metrics and "\nToyCar,Average," in metrics
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "| fan |" in tables and not stale
