"""TensorFlow Lite Micro: scoring in 03, the deployment report, the size knobs."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from anomaly_detection.core.config import parse_config
from anomaly_detection.core.errors import ConfigError
from anomaly_detection.device.deployment import (
    ARENA_MARGIN_BYTES,
    deployment_report,
    read_deployment_report,
    runs_with_arena,
)
from anomaly_detection.device.tflm import TFLMModel, quantize_like_firmware
from conftest import REPO, base_config, run_script

MICRO = "model_ToyCar_quant_fullint_micro"
INTIO = "model_ToyCar_quant_fullint_micro_intio"
# The reference autoencoder's multiply-accumulates per vector, layer by layer.
REFERENCE_MACS = 640 * 128 + 3 * 128 * 128 + 128 * 8 + 8 * 128 + 3 * 128 * 128 + 128 * 640


def read_scores(path):
    with open(path, newline="") as handle:
        return {name: float(score) for name, score in csv.reader(handle)}


def result_average(path):
    for row in csv.reader(path.read_text().splitlines()):
        if row and row[0] == "Average":
            return float(row[1]), float(row[2])
    raise AssertionError(f"no Average row in {path}")


def test_firmware_rounding_is_half_away_from_zero_and_clamps():
    scale, zero_point = 0.5, 3
    values = np.array([0.25, -0.25, 0.75, -0.75, 1.25, 100.0, -100.0], dtype=np.float32)
    # x / scale = 0.5, -0.5, 1.5, -1.5, 2.5 (ties: away from zero, not to even), then clamped
    expected = np.array([1, -1, 2, -2, 3, 200, -200]) + zero_point
    expected = np.clip(expected, -128, 127)
    assert quantize_like_firmware(values, scale, zero_point).tolist() == expected.tolist()
    assert quantize_like_firmware(values, scale, zero_point).dtype == np.int8
    # numpy's own rounding would differ on the ties
    assert np.round(values[:5] / scale).tolist() == [0, -0, 2, -2, 2]
    # just below a half rounds down, as C's roundf (adding 0.5 in float32 would round up)
    below_half = np.float32(0.49999997)
    assert quantize_like_firmware(np.array([below_half, -below_half]), 1.0, 0).tolist() == [0, 0]


def test_empty_model_section_takes_the_defaults(tmp_path):
    raw = base_config(tmp_path, tmp_path)
    raw["model"] = None
    assert parse_config(raw).model.hidden_units == 128


def test_tflm_scores_every_clip_close_to_litert(dev_run):
    result = dev_run["work"] / "result"
    for postfix in ("_quant_fullint_micro", "_quant_fullint_micro_intio"):
        for machine_id in ("01", "02"):
            tflm = read_scores(result / f"tflm{postfix}_anomaly_score_ToyCar_id_{machine_id}.csv")
            litert = read_scores(
                result / f"tflite{postfix}_anomaly_score_ToyCar_id_{machine_id}.csv"
            )
            assert list(tflm) == list(litert) and len(tflm) == 10
            differences = [abs(tflm[c] - litert[c]) / litert[c] for c in tflm]
            assert max(differences) < 0.01
        tflm_auc = result_average(result / f"tflm{postfix}_result.csv")
        litert_auc = result_average(result / f"tflite{postfix}_result.csv")
        assert abs(tflm_auc[0] - litert_auc[0]) <= 0.01


def test_summary_reports_tflm_against_litert_from_the_score_files(dev_run):
    result = dev_run["work"] / "result"
    summary = (result / "summary.md").read_text()
    assert "## TensorFlow Lite Micro against LiteRT" in summary
    section = summary.split("## TensorFlow Lite Micro against LiteRT")[1].split("\n## ")[0]
    for postfix in ("_quant_fullint_micro", "_quant_fullint_micro_intio"):
        differences = []
        for machine_id in ("01", "02"):
            tflm = read_scores(result / f"tflm{postfix}_anomaly_score_ToyCar_id_{machine_id}.csv")
            litert = read_scores(
                result / f"tflite{postfix}_anomaly_score_ToyCar_id_{machine_id}.csv"
            )
            differences += [abs(tflm[c] - litert[c]) / litert[c] for c in tflm]
        row = next(
            line for line in section.splitlines() if line.startswith(f"| ToyCar | tflm{postfix} |")
        )
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert int(cells[2]) == 20
        assert float(cells[3]) == pytest.approx(max(differences), rel=0.01)
        assert float(cells[4]) == pytest.approx(np.mean(differences), rel=0.01)


def copy_of_run(dev_run, tmp_path):
    """The dev run's models in a fresh work folder (the session's results stay untouched)."""
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, dev_run["data"])))
    return config


def test_no_tflm_skips_the_stage(dev_run, tmp_path):
    config = copy_of_run(dev_run, tmp_path)
    run = run_script("03_tflite_test.py", "-d", "--config", str(config), "--no-tflm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "result" / "tflite_quant_fullint_micro_result.csv").is_file()
    assert not list((tmp_path / "result").glob("tflm*"))


def test_missing_tflm_package_is_one_line(dev_run, tmp_path):
    config = copy_of_run(dev_run, tmp_path)
    fake = tmp_path / "fake" / "tflite_micro"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not installed (simulated)')\n")
    environment = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{REPO}"}
    run = subprocess.run(
        [sys.executable, str(REPO / "03_tflite_test.py"), "-d", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "TFLite Micro interpreter is not installed" in run.stderr
    assert "--no-tflm" in run.stderr


def test_deployment_report_arena_is_exactly_the_smallest_that_runs(dev_run):
    model_dir = dev_run["work"] / "model"
    for name, ops in ((MICRO, {"QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"}), (INTIO, None)):
        report = read_deployment_report(model_dir / f"{name}.deploy.json")
        model = (model_dir / f"{name}.tflite").read_bytes()
        assert report.flash_bytes == len(model)
        assert runs_with_arena(model, report.arena_bytes)
        assert not runs_with_arena(model, report.arena_bytes - 1)
        assert report.recorded_arena_bytes <= report.arena_bytes
        assert report.suggested_arena_bytes % 16 == 0
        assert 0 <= report.suggested_arena_bytes - report.arena_bytes - ARENA_MARGIN_BYTES < 16
        assert report.macs == REFERENCE_MACS
        assert report.ops["FULLY_CONNECTED"] == 10
        assert set(report.ops) == (ops or {"FULLY_CONNECTED"})
        expected_calls = {"FULLY_CONNECTED": "AddFullyConnected()", "QUANTIZE": "AddQuantize()"}
        expected_calls["DEQUANTIZE"] = "AddDequantize()"
        assert report.resolver == [expected_calls[op] for op in report.ops]
    intio = read_deployment_report(model_dir / f"{INTIO}.deploy.json")
    assert intio.input["dtype"] == "int8" and intio.input["shape"] == [1, 640]
    assert -128 <= intio.input["zero_point"] <= 127 and intio.input["scale"] > 0
    # per-tensor int8 (the reference's), as the reference's int8 model: under 5 KB
    assert intio.arena_bytes < 5 * 1024 and intio.fits_reference_firmware


def test_too_small_arena_fails_cleanly_not_with_a_crash(dev_run):
    model_dir = dev_run["work"] / "model"
    report = read_deployment_report(model_dir / f"{INTIO}.deploy.json")
    model = (model_dir / f"{INTIO}.tflite").read_bytes()
    for arena, expected in ((report.arena_bytes, 0), (report.arena_bytes - 1, 1)):
        probe = subprocess.run(
            [sys.executable, "-m", "anomaly_detection.device.arena_probe", str(arena)],
            input=model,
            capture_output=True,
            cwd=REPO,
            check=False,
        )
        assert probe.returncode == expected  # 1: TFLM's error, raised; not a signal


def test_header_holds_the_suggested_arena(dev_run):
    model_dir = dev_run["work"] / "model"
    report = read_deployment_report(model_dir / f"{INTIO}.deploy.json")
    header = (model_dir / f"{INTIO}.h").read_text()
    assert f"constexpr int {INTIO}_tflite_arena_size = {report.suggested_arena_bytes};" in header


def test_summary_has_the_deployment_section(dev_run):
    summary = (dev_run["work"] / "result" / "summary.md").read_text()
    assert "## Deployment (TensorFlow Lite Micro)" in summary
    section = summary.split("## Deployment (TensorFlow Lite Micro)")[1].split("\n## ")[0]
    model_dir = dev_run["work"] / "model"
    for name in (MICRO, INTIO):
        report = read_deployment_report(model_dir / f"{name}.deploy.json")
        row = next(line for line in section.splitlines() if f"| {name}.tflite |" in line)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[2:6] == [
            f"{report.flash_bytes:,}",
            f"{report.arena_bytes:,}",
            f"{report.recorded_arena_bytes:,}",
            f"{report.suggested_arena_bytes:,}",
        ]


def test_tflm_model_matches_its_own_invokes(dev_run):
    """The multi-process scorer gives the scores of one invoke per vector in this process."""
    path = dev_run["work"] / "model" / f"{INTIO}.tflite"
    rng = np.random.default_rng(0)
    log_mels = [rng.normal(-40, 8, (40, 128)).astype(np.float32) for _ in range(6)]
    with TFLMModel(path, workers=2) as model:
        pooled = list(model.anomaly_scores(log_mels, frames=5))
        single = []
        for log_mel in log_mels:
            vectors = np.stack([log_mel[i : i + 5].reshape(-1) for i in range(36)])
            error = vectors.astype(np.float64) - model(vectors).astype(np.float64)
            single.append(float(np.mean(np.mean(error**2, axis=1))))
    assert pooled == pytest.approx(single, rel=1e-12)


# ---- the size knobs ----


def shape_parameters(dim, hidden, bottleneck, layers):
    """Dense + BatchNorm (4 per unit) parameters of the autoencoder, spelled out."""
    widths = [dim, *([hidden] * layers), bottleneck, *([hidden] * layers), dim]
    dense = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return dense + 4 * sum(widths[1:-1])


def test_size_knobs_build_the_stated_shape_and_default_to_the_reference():
    from keras_model import get_model

    assert get_model(640).count_params() == 269_992 == shape_parameters(640, 128, 8, 4)
    small = get_model(640, hidden_units=32, bottleneck_units=4, hidden_layers=2)
    assert small.count_params() == shape_parameters(640, 32, 4, 2)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hidden_units", 0, "'model.hidden_units' must be in [1, 65536], got 0"),
        ("hidden_units", 10**9, "'model.hidden_units' must be in [1, 65536], got 1000000000"),
        ("bottleneck_units", "8", "'model.bottleneck_units' must be an integer"),
        ("hidden_layers", -1, "'model.hidden_layers' must be in [0, 64], got -1"),
        ("per_channel_int8", "yes", "'model.per_channel_int8' must be true or false"),
        ("hiden_units", 8, "unknown key 'model.hiden_units' (did you mean 'model.hidden_units'?)"),
    ],
)
def test_size_knobs_are_validated(tmp_path, key, value, message):
    raw = base_config(tmp_path, tmp_path)
    raw["model"] = {key: value}
    with pytest.raises(ConfigError, match="problem") as error:
        parse_config(raw)
    assert message in str(error.value)


def test_a_smaller_shape_costs_less_on_the_device(tmp_path):
    from anomaly_detection.device.tflite_convert import convert_to_tflite, fold_batch_norm
    from anomaly_detection.registry.model_files import model_file_by_name
    from keras_model import get_model

    rng = np.random.default_rng(1)
    calibration = rng.normal(-40, 10, (256, 640)).astype(np.float32)
    intio = model_file_by_name("intio")
    reports = {}
    for hidden, per_channel in ((128, False), (32, False), (32, True)):
        model = fold_batch_norm(get_model(640, hidden_units=hidden, hidden_layers=2))
        path = tmp_path / f"model_{hidden}_{per_channel}.tflite"
        path.write_bytes(
            convert_to_tflite(model, intio, representative=calibration, per_channel=per_channel)
        )
        reports[hidden, per_channel] = deployment_report(path)
    small, large = reports[32, False], reports[128, False]
    assert small.macs == 640 * 32 + 32 * 32 + 32 * 8 + 8 * 32 + 32 * 32 + 32 * 640
    assert small.flash_bytes < large.flash_bytes / 3
    assert small.arena_bytes <= large.arena_bytes
    # per-channel kernels keep a multiplier and a shift per output channel: a larger arena
    assert reports[32, True].arena_bytes > small.arena_bytes
    assert math.isclose(small.parameters, shape_parameters(640, 32, 8, 2) - 4 * (4 * 32 + 8))


def test_no_tflm_removes_an_earlier_runs_tflm_results(dev_run, tmp_path):
    config = copy_of_run(dev_run, tmp_path)
    shutil.copytree(dev_run["work"] / "result", tmp_path / "result")
    assert list((tmp_path / "result").glob("tflm_*"))
    run = run_script("03_tflite_test.py", "-d", "--config", str(config), "--no-tflm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not list((tmp_path / "result").glob("*tflm_*"))
    summary = (tmp_path / "result" / "summary.md").read_text()
    assert "TFLM micro AUC" not in summary and "against LiteRT" not in summary
    info = json.loads((tmp_path / "result" / "run_info.json").read_text())
    assert not [label for label in info if label.startswith("tflm")]


def test_damaged_deploy_json_is_left_out_of_the_summary(dev_run, tmp_path):
    from anomaly_detection.core.layout import OutputLayout
    from anomaly_detection.device.deployment import deployment_markdown, deployment_reports
    from anomaly_detection.evaluation.report import summary_markdown

    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    shutil.copytree(dev_run["work"] / "result", tmp_path / "result")
    damaged = tmp_path / "model" / f"{INTIO}.deploy.json"
    data = json.loads(damaged.read_text())
    damaged.write_text(json.dumps({**data, "arena_bytes": None}))
    layout = OutputLayout(tmp_path / "model", tmp_path / "result")
    summary = summary_markdown(
        layout,
        0.1,
        more_sections=lambda types: deployment_markdown(deployment_reports(layout, types)),
    )
    section = summary.split("## Deployment (TensorFlow Lite Micro)")[1].split("\n## ")[0]
    assert f"| {MICRO}.tflite |" in section and f"| {INTIO}.tflite |" not in section


def test_a_file_that_is_not_tflite_is_a_model_error(tmp_path):
    from anomaly_detection.core.errors import ModelError

    for name, content in (("empty.tflite", b""), ("noise.tflite", bytes(range(256)) * 8)):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError, match="not a TFLite model"):
            TFLMModel(tmp_path / name)


def test_deploy_json_is_plain_json(dev_run):
    data = json.loads((dev_run["work"] / "model" / f"{INTIO}.deploy.json").read_text())
    assert set(data) >= {"arena_bytes", "recorded_arena_bytes", "suggested_arena_bytes", "ops"}
