"""Folder and file names as a user's data has them: hidden folders, repeated types,
non-ASCII digits, machine types that are not C identifiers; sweeps on changed data."""

from __future__ import annotations

import shutil

import yaml

from anomaly_detection.data.dataset import parse_test_name
from anomaly_detection.device.tflite_convert import c_array_source, c_identifier
from anomaly_detection.sweep.plan import plan_sweep
from conftest import base_config, run_script, write_config


def test_hidden_folders_are_not_machine_types_and_a_repeated_type_is_scored_once(dev_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "dev_data", data / "dev_data")
    (data / "dev_data" / ".ipynb_checkpoints").mkdir()
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = write_config(tmp_path, data)
    run = run_script(
        "01_test.py", "-d", "--config", str(config), "--machine-type", "ToyCar", "ToyCar",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("== ToyCar: testing") == 1
    result = (tmp_path / "result" / "result.csv").read_text().splitlines()
    assert result.count("ToyCar") == 1
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0 and ".ipynb_checkpoints" not in run.stderr


def test_machine_ids_take_ascii_digits_only():
    assert parse_test_name("normal_id_01_00000000.wav", True) == ("id_01", 0)
    assert parse_test_name("normal_id_\u0660\u0661_00000000.wav", True) is None
    assert parse_test_name("id_\u0660\u0661_00000000.wav", False) is None


def test_c_identifiers_are_made_as_xxd_makes_them():
    assert c_identifier("model_Toy Car_quant_fullint_micro_intio.tflite") == (
        "model_Toy_Car_quant_fullint_micro_intio_tflite"
    )
    assert c_identifier("model_toy-car.tflite") == "model_toy_car_tflite"
    assert c_identifier("1model.tflite") == "__1model_tflite"
    source, header = c_array_source(b"\x01\x02", "model_Toy Car.tflite", "model_Toy Car.h")
    assert "const unsigned char model_Toy_Car_tflite[]" in source
    assert "model_Toy_Car_tflite_len" in header


def test_a_sweep_run_on_changed_data_is_not_complete(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    raw = base_config(tmp_path, data)
    config = tmp_path / "base.yaml"
    config.write_text(yaml.safe_dump(raw))

    def digest() -> str:
        (run,) = plan_sweep(
            config, raw, [], [0], tmp_path / "sweep", n_workers=1, identity={"mode": "dev"}
        )
        return run.digest

    before = digest()
    assert digest() == before
    clip = next((data / "dev_data" / "ToyCar" / "train").glob("*.wav"))
    shutil.copy(clip, clip.with_name("normal_id_01_99999999.wav"))  # a clip added
    added = digest()
    assert added != before
    clip.write_bytes(clip.read_bytes()[:-2] + b"\x00\x01")  # a clip replaced, same size
    assert digest() != added


def test_evaluation_ids_without_training_clips_are_named(dev_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "eval_data", data / "eval_data")
    for clip in (data / "eval_data" / "ToyCar" / "test").glob("id_05_*.wav"):
        clip.rename(clip.with_name(clip.name.replace("id_05_", "id_06_")))
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = write_config(tmp_path, data)
    run = run_script("01_test.py", "-e", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-1500:]
    assert "ToyCar: test ID(s) id_06 have no training clips in" in run.stderr
    assert "the model never heard them" in run.stderr
