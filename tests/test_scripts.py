"""The four scripts end to end through their command lines, on the tiny synthetic set."""

import csv
import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from anomaly_detection.registry.variants import TFLITE_VARIANTS
from conftest import REPO, run_script, write_config

SCRIPTS = ("00_train.py", "01_test.py", "02_convert.py", "03_tflite_test.py")


def read_scores(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows and all(len(row) == 2 for row in rows)
    return {name: float(score) for name, score in rows}


def parse_result_csv(path):
    """{type: {id: (auc, pauc)}} from the reference's result.csv layout."""
    lines = path.read_text().split("\n")
    results, index = {}, 0
    while index < len(lines) and lines[index]:
        machine_type = lines[index]
        assert lines[index + 1] == "id,AUC,pAUC"
        index += 2
        rows = {}
        while lines[index]:
            key, auc, pauc = lines[index].split(",")
            rows[key] = (float(auc), float(pauc))
            index += 1
        results[machine_type] = rows
        index += 1
    assert lines[index:] == [""]
    return results


def labels_of(names):
    return np.array([0 if name.startswith("normal_") else 1 for name in names])


def test_training_writes_model_and_loss_plot(dev_run):
    model_dir = dev_run["work"] / "model"
    assert (model_dir / "model_ToyCar.hdf5").stat().st_size > 1_000_000
    png = (model_dir / "history_ToyCar.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "training on" in dev_run["runs"]["00_train.py"].stderr


def test_score_files_and_result_csv(dev_run):
    result_dir = dev_run["work"] / "result"
    results = parse_result_csv(result_dir / "result.csv")
    assert list(results) == ["ToyCar"]
    assert list(results["ToyCar"]) == ["01", "02", "Average"]
    aucs = []
    for machine_id in ("01", "02"):
        scores = read_scores(result_dir / f"anomaly_score_ToyCar_id_{machine_id}.csv")
        names = list(scores)
        assert len(names) == 10
        assert names[:5] == [f"normal_id_{machine_id}_{i:08d}.wav" for i in range(5)]
        assert names[5:] == [f"anomaly_id_{machine_id}_{i:08d}.wav" for i in range(5)]
        values = np.array(list(scores.values()))
        assert np.all(np.isfinite(values)) and np.all(values > 0)
        auc, pauc = results["ToyCar"][machine_id]
        assert auc == pytest.approx(roc_auc_score(labels_of(names), values), abs=1e-12)
        assert pauc == pytest.approx(
            roc_auc_score(labels_of(names), values, max_fpr=0.1), abs=1e-12
        )
        aucs.append((auc, pauc))
    assert results["ToyCar"]["Average"] == pytest.approx(tuple(np.mean(aucs, axis=0)))
    printed = dev_run["runs"]["01_test.py"].stdout
    assert re.search(r"ToyCar\s+Average\s+\d\.\d{4}\s+\d\.\d{4}", printed)


def test_all_tflite_variants_are_written_and_tested(dev_run):
    model_dir, result_dir = dev_run["work"] / "model", dev_run["work"] / "result"
    for variant in TFLITE_VARIANTS:
        assert (model_dir / f"model_ToyCar{variant.postfix}.tflite").stat().st_size > 10_000
        results = parse_result_csv(result_dir / f"tflite{variant.postfix}_result.csv")
        assert list(results["ToyCar"]) == ["01", "02", "Average"]
        for machine_id in ("01", "02"):
            scores = read_scores(
                result_dir / f"tflite{variant.postfix}_anomaly_score_ToyCar_id_{machine_id}.csv"
            )
            assert len(scores) == 10


def test_float_tflite_scores_equal_keras_scores(dev_run):
    result_dir = dev_run["work"] / "result"
    for machine_id in ("01", "02"):
        keras_scores = read_scores(result_dir / f"anomaly_score_ToyCar_id_{machine_id}.csv")
        tflite_scores = read_scores(result_dir / f"tflite_anomaly_score_ToyCar_id_{machine_id}.csv")
        assert list(keras_scores) == list(tflite_scores)
        keras_values = np.array(list(keras_scores.values()))
        tflite_values = np.array(list(tflite_scores.values()))
        assert np.max(np.abs(tflite_values - keras_values) / keras_values) < 1e-4


def test_quantized_scores_stay_close(dev_run):
    result_dir = dev_run["work"] / "result"
    keras_values = np.array(
        list(read_scores(result_dir / "anomaly_score_ToyCar_id_01.csv").values())
    )
    for variant in TFLITE_VARIANTS[1:]:
        values = np.array(
            list(
                read_scores(
                    result_dir / f"tflite{variant.postfix}_anomaly_score_ToyCar_id_01.csv"
                ).values()
            )
        )
        assert np.max(np.abs(values - keras_values) / keras_values) < 0.05, variant.postfix


def test_c_source_holds_the_int8_model(dev_run):
    model_dir = dev_run["work"] / "model"
    name = "model_ToyCar_quant_fullint_micro_intio"
    flatbuffer = (model_dir / f"{name}.tflite").read_bytes()
    source = (model_dir / f"{name}.cc").read_text()
    header = (model_dir / f"{name}.h").read_text()
    assert f"extern const unsigned char {name}_tflite[];" in header
    assert f"alignas(16) const unsigned char {name}_tflite[] = {{" in source
    assert f"const unsigned int {name}_tflite_len = {len(flatbuffer)};" in source
    body = source.split("{", 1)[1].split("}", 1)[0]
    assert bytes(int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", body)) == flatbuffer


def test_existing_model_is_skipped(dev_run):
    model = dev_run["work"] / "model" / "model_ToyCar.hdf5"
    before = model.stat().st_mtime_ns
    run = run_script("00_train.py", "-d", "--config", str(dev_run["config"]), cwd=dev_run["work"])
    assert run.returncode == 0
    assert "exists, skipping" in run.stderr
    assert model.stat().st_mtime_ns == before


def test_evaluation_mode(tmp_path, tiny_data):
    # Without a ground truth (none beside this eval_directory): scores only.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval_data").symlink_to(tiny_data / "eval_data")
    config = write_config(tmp_path, tiny_data, eval_directory=str(tmp_path / "data" / "eval_data"))
    for script in SCRIPTS:
        run = run_script(script, "-e", "--config", str(config), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    result_dir = tmp_path / "result"
    scores = read_scores(result_dir / "anomaly_score_ToyCar_id_05.csv")
    assert list(scores) == [f"id_05_{i:08d}.wav" for i in range(10)]
    assert (tmp_path / "model" / "model_ToyCar.hdf5").is_file()
    assert not (result_dir / "result.csv").exists()
    for variant in TFLITE_VARIANTS:
        assert (
            len(read_scores(result_dir / f"tflite{variant.postfix}_anomaly_score_ToyCar_id_05.csv"))
            == 10
        )
        assert not (result_dir / f"tflite{variant.postfix}_result.csv").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_mode_is_required_and_exclusive(script):
    neither = run_script(script)
    assert neither.returncode == 2
    assert "one of the arguments -d/--dev -e/--eval is required" in neither.stderr
    both = run_script(script, "-d", "-e")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_help_and_version():
    help_run = run_script("01_test.py", "-h")
    assert help_run.returncode == 0
    for option in ("--dev", "--eval", "--config", "--machine-type", "--version"):
        assert option in help_run.stdout
    version = run_script("00_train.py", "-v")
    assert version.returncode == 0 and re.search(r"\d+\.\d+\.\d+", version.stdout)


def test_bad_config_is_one_clear_message(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text((REPO / "baseline.yaml").read_text().replace("epochs : 100", "epochs : -1"))
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1
    assert "'fit.epochs' must be greater than 0" in run.stderr
    assert "Traceback" not in run.stderr
    missing = run_script("01_test.py", "-d", "--config", str(tmp_path / "none.yaml"))
    assert missing.returncode == 1 and "configuration file not found" in missing.stderr


def test_missing_data_folder_is_reported(tmp_path):
    config = write_config(tmp_path, tmp_path / "nowhere")
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1
    assert "dev_data: data folder not found" in run.stderr and "Traceback" not in run.stderr


def test_missing_model_is_reported(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data)
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1
    assert "model_ToyCar.hdf5: model file not found" in run.stderr


def test_warm_runs_write_what_new_processes_write(dev_run, tmp_path):
    """The warm interpreters the tests run scripts in (tests/warm_scripts.py) train and
    score as the new processes of ``dev_run`` did, byte for byte, also on a second run in
    the same interpreter, and print the same lines."""
    config = write_config(tmp_path, dev_run["data"])
    runs = {}
    for script in ("00_train.py", "01_test.py", "01_test.py"):
        runs[script] = run_script(script, "-d", "--config", str(config), cwd=tmp_path)
        assert runs[script].returncode == 0, runs[script].stderr[-2000:]
    fresh_results = dev_run["work"] / "result"
    for name in ("anomaly_score_ToyCar_id_01.csv", "anomaly_score_ToyCar_id_02.csv"):
        assert (tmp_path / "result" / name).read_bytes() == (fresh_results / name).read_bytes()

    def lines(run, folder):
        printed = (run.stdout + run.stderr).splitlines()
        return [line.replace(str(folder), "WORK") for line in printed if " s)" not in line]

    shown = lines(runs["01_test.py"], tmp_path)
    assert "INFO: == ToyCar: testing" in shown and any("Average" in line for line in shown)
    assert shown == lines(dev_run["runs"]["01_test.py"], dev_run["work"])
