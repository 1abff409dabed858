"""Settings and files a hostile or careless user gives: one line each, never a traceback,
never an exit 0 with a wrong number."""

from __future__ import annotations

import csv
import shutil

import pytest
import yaml

from anomaly_detection.core.config_checks import MAX_PARAMETERS, autoencoder_parameters
from conftest import run_script, write_config


def one_line_failure(run) -> str:
    assert run.returncode == 1, run.stderr[-1500:]
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    return "\n".join(lines)


def test_the_parameter_formula_gives_the_reference_models_count():
    assert autoencoder_parameters(640, 128, 8, 4) == 269_992
    assert autoencoder_parameters(640, 64, 8, 2) == 92_040 + 1_056  # Dense + BatchNorm


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"feature.n_fft": 10**8}, "'feature.n_fft' must be in [2, 65536], got 100000000"),
        ({"feature.n_mels": 10**8}, "'feature.n_mels' must be in [1, 1024], got 100000000"),
        (
            {"model.hidden_units": 65536, "model.hidden_layers": 64},
            f"parameters (model.hidden_units 65536, model.hidden_layers 64, "
            f"model.bottleneck_units 8, 640 inputs): at most {MAX_PARAMETERS:,}",
        ),
        (
            {"fit.compile.loss": "sparse_categorical_crossentropy"},
            "'fit.compile.loss' is not a loss for an autoencoder's float target: "
            "'sparse_categorical_crossentropy'",
        ),
    ],
)
def test_impossible_settings_are_one_line_before_any_work(tmp_path, tiny_data, overrides, expected):
    config = write_config(tmp_path, tiny_data)
    settings = yaml.safe_load(config.read_text())
    for key, value in overrides.items():
        *sections, name = key.split(".")
        section = settings
        for part in sections:
            section = section[part]
        section[name] = value
    config.write_text(yaml.safe_dump(settings))
    printed = one_line_failure(
        run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path, timeout=120)
    )
    assert expected in printed and len(printed.splitlines()) <= 3
    assert not (tmp_path / "model").exists()


def test_evaluation_samples_need_the_published_labels(dev_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "eval_data", data / "eval_data")
    config = write_config(tmp_path, data)
    export = ("export_eembc.py", "-e", "--config", str(config), "--output", str(tmp_path / "s"))
    printed = one_line_failure(run_script(*export, cwd=tmp_path))
    assert "-e: the evaluation clips carry no labels in their names" in printed
    assert not (tmp_path / "s").exists()
    labels_file = dev_run["data"] / "eval_data_list.csv"
    run = run_script(*export, "--ground-truth", str(labels_file), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-1500:]
    truth = {}
    with open(labels_file, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) == 3:
                truth[row[0].removesuffix(".wav") + "_hist_librosa.bin"] = int(float(row[2]))
    with open(tmp_path / "s" / "ToyCar" / "y_labels.csv", newline="") as handle:
        exported = {row[0]: int(row[2]) for row in csv.reader(handle)}
    assert exported == {name: truth[name] for name in exported}
    assert set(exported.values()) == {0, 1}


def test_a_cut_sample_is_an_error_not_fewer_windows(dev_run, tmp_path):
    samples = tmp_path / "samples"
    export = run_script(
        "export_eembc.py", "-d", "--config", str(dev_run["config"]), "--every", "5",
        "--output", str(samples), cwd=dev_run["work"],
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-1500:]
    victim = sorted((samples / "ToyCar").glob("*.bin"))[0]
    victim.write_bytes(victim.read_bytes()[:5000])
    run = run_script(
        "eembc_accuracy.py", "--samples", str(samples / "ToyCar"), "--model",
        str(dev_run["work"] / "model" / "model_ToyCar_quant_fullint_micro_intio.tflite"),
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    printed = one_line_failure(run)
    assert f"{victim}: 5000 bytes, a sample of 200 frames of 512 bytes is 102400" in printed
