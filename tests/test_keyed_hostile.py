"""The last hostile pass of issue 31: results kept beside a run's own are those of the model
file, decision settings and training clips there now, through the scripts' command lines on
tiny synthetic sets."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np
import soundfile
import yaml

from anomaly_detection.model.provenance import file_digest, provenance_path
from conftest import run_script, write_config


def test_rows_a_run_keeps_are_of_the_model_thresholds_and_training_clips_there_now(
    dev_run, tmp_path
):
    """A 2020 run on one machine type keeps the other's rows of result.csv and
    decision_metrics.csv only while its model file, decision settings and training clips
    are those they were computed with."""
    data = tmp_path / "data" / "dev_data"
    for machine_type in ("ToyCar", "fan"):  # fan: ToyCar's clips and model again
        shutil.copytree(dev_run["data"] / "dev_data" / "ToyCar", data / machine_type)
    model = tmp_path / "model"
    shutil.copytree(dev_run["work"] / "model", model)
    for name in ("model_{}.hdf5", "model_{}.hdf5.provenance.json"):
        shutil.copy(model / name.format("ToyCar"), model / name.format("fan"))
    config = write_config(tmp_path, data.parent)
    result = tmp_path / "result" / "result.csv"
    metrics = tmp_path / "result" / "decision_metrics.csv"

    def run_on(machine_type: str) -> str:
        run = run_script(
            "01_test.py", "-d", "--config", str(config), "--machine-type", machine_type,
            cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert result.read_text().startswith(f"{machine_type}\n")
        return run.stderr

    def kept(machine_type: str) -> bool:
        in_metrics = f"\n{machine_type},Average," in metrics.read_text()
        assert in_metrics == (f"\n{machine_type}\n" in result.read_text())
        return in_metrics

    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert kept("fan")

    # fan's model retrained (one weight changed, its provenance written again, as 00 does)
    fan_model = model / "model_fan.hdf5"
    with h5py.File(fan_model, "r+") as handle:
        weights = handle["model_weights/dense/dense/bias"]
        weights[0] = weights[0] + 0.5
    sidecar = provenance_path(fan_model)
    provenance = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**provenance, "model_digest": file_digest(fan_model)}))
    assert "INFO: result.csv: the rows of fan are not kept: model_fan.hdf5 changed since " in (
        run_on("ToyCar")
    )
    assert not kept("fan")

    # a training clip of ToyCar rewritten: its threshold is fitted again, its rows not kept
    run_on("fan")
    assert kept("ToyCar")
    clip = sorted((data / "ToyCar" / "train").iterdir())[0]
    clip.write_bytes(clip.read_bytes())
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    assert (
        "INFO: result.csv: the rows of ToyCar are not kept: thresholds fitted on other "
        "training clips than the data folder holds now"
    ) in run_on("fan")
    assert not kept("ToyCar")

    # another decision_percentile: fan's thresholds and decisions are of the earlier one
    run_on("ToyCar")
    assert kept("fan")
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "decision_percentile": 0.5}))
    assert (
        "INFO: result.csv: the rows of fan are not kept: decisions at decision_percentile 0.9 "
        "(decision_fit clips); the configuration now says 0.5 (clips)\n"
    ) in run_on("ToyCar")
    assert not kept("fan")
    assert "| fan |" not in (tmp_path / "result" / "summary.md").read_text().split("## Models")[0]


def test_a_model_of_mono_clips_is_refused_on_two_channel_clips(dev_run, tmp_path):
    """The clips' channel count is part of a model's provenance, as their sample rate: a
    model of mono clips (feature.channel None) scoring a two-channel copy of its set
    would score the mean of the channels, with the same feature settings."""
    data = tmp_path / "data" / "dev_data"
    shutil.copytree(dev_run["data"] / "dev_data" / "ToyCar", data / "ToyCar")
    for clip in data.glob("ToyCar/*/*.wav"):
        samples, rate = soundfile.read(str(clip), dtype="float32", always_2d=True)
        stacked = np.concatenate([samples, 0.5 * samples], axis=1)
        soundfile.write(str(clip), stacked, rate, subtype="PCM_16", format="WAV")
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = write_config(tmp_path, data.parent)
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: {tmp_path / 'model' / 'model_ToyCar.hdf5'}: trained on 1-channel clips, these "
        "clips are 2-channel (--ignore-provenance goes on with a warning)"
    ]
    assert not (tmp_path / "result" / "result.csv").exists()


def test_a_machine_type_folder_linked_to_a_missing_folder_is_named(dev_run, tmp_path):
    """A machine-type folder that is a link to a folder gone (moved, a drive not mounted) is
    an error naming it, not a type quietly left out of the run and its means; a run on
    other types (--machine-type) is not concerned."""
    data = tmp_path / "data" / "dev_data"
    shutil.copytree(dev_run["data"] / "dev_data" / "ToyCar", data / "ToyCar")
    (data / "fan").symlink_to(tmp_path / "elsewhere" / "fan", target_is_directory=True)
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = write_config(tmp_path, data.parent)
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: {data / 'fan'}: a link to {tmp_path / 'elsewhere' / 'fan'}, which does not "
        "exist (moved, or on a drive not mounted?)"
    ]
    assert not (tmp_path / "result" / "result.csv").exists()
    run = run_script(
        "01_test.py", "-d", "--config", str(config), "--machine-type", "ToyCar", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
