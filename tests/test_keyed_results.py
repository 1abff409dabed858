"""Every result keyed on everything it depends on (issue 31), through the scripts' command
lines on tiny synthetic sets: the clips' channels decided from every clip, feature settings
compared both ways, labels in the results' record, no figure over fewer scoring sets or
labels than it says, no earlier figures beside a refused model."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from anomaly_detection.core.config import FeatureConfig
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset
from anomaly_detection.features.cache import FeatureCache
from anomaly_detection.model.provenance import file_digest
from conftest import run_script, write_config

TINY_2026 = SectionedSpec(
    year=2026,
    machine_types=("fan",),
    train_source_clips=3,
    train_target_clips=1,
    test_clips=1,
    duration=1.0,
)
#: Two machine types with two sections each, two-channel clips (the 2026 writer): read as
#: the 2022 layout (several sections); trained on channel 0 (``feature.channel: 0``).
TWO_SECTIONS = SectionedSpec(
    year=2026,
    machine_types=("ToyCar", "fan"),
    train_source_clips=4,
    train_target_clips=1,
    test_clips=2,
    duration=2.0,
    dev_sections=(0, 1),
)


def with_channels(path: Path, channels: int) -> None:
    """Rewrite a clip with ``channels`` channels: its first, then quieter copies."""
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    stacked = np.stack([samples[:, 0] * 0.7**k for k in range(channels)], axis=1)
    soundfile.write(str(path), stacked, rate, subtype="PCM_16", format="WAV")


def one_line_error(run, *fragments: str) -> str:
    """The run failed with one error line (no traceback) holding every fragment."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, run.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def script(name: str, config: Path, *options: str):
    return run_script(name, *options, "--config", str(config), cwd=config.parent)


@pytest.fixture()
def set_2026(tmp_path) -> tuple[Path, Path]:
    """A tiny two-channel 2026 set (fan) and its configuration (no crop, one epoch)."""
    write_sectioned_dataset(tmp_path / "data", TINY_2026)
    config = write_config(
        tmp_path / "work", tmp_path / "data", **{"feature.frame_crop": None, "fit.epochs": 1}
    )
    return tmp_path / "data" / "dev_data" / "fan", config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """:data:`TWO_SECTIONS` (development and evaluation, with the evaluators' ground truth
    folders), trained once on channel 0."""
    root = tmp_path_factory.mktemp("two_sections")
    write_sectioned_dataset(root / "data", TWO_SECTIONS, dev=True, eval_=True)
    settings = {"feature.frame_crop": None, "feature.channel": 0, "fit.epochs": 1}
    config = write_config(root / "work", root / "data", **settings)
    run = script("00_train.py", config, "-d")
    assert run.returncode == 0, run.stderr[-3000:]
    return {"root": root, "config": config}


def copy_of(trained: dict, tmp_path: Path, **overrides) -> tuple[Path, Path]:
    """A copy of the trained set's data and models, and a configuration of them."""
    shutil.copytree(trained["root"] / "data", tmp_path / "data")
    shutil.copytree(trained["root"] / "work" / "model", tmp_path / "work" / "model")
    settings = {"feature.frame_crop": None, "feature.channel": 0, "fit.epochs": 1, **overrides}
    return tmp_path / "data", write_config(tmp_path / "work", tmp_path / "data", **settings)


# ---- 1. the year and its channel rule, from every clip --------------------------------------


def test_one_mono_clip_in_a_two_channel_set_stops_training_and_scoring(set_2026):
    type_dir, config = set_2026
    first = sorted((type_dir / "train").iterdir())[0]
    with_channels(first, 1)
    for name in ("00_train.py", "01_test.py"):
        run = script(name, config, "-d")
        one_line_error(run, f"{first}: 1-channel clip among 2-channel clips such as ")
    assert not (config.parent / "model" / "model_fan.hdf5").exists()


def test_a_three_channel_test_clip_is_named(set_2026):
    type_dir, config = set_2026
    odd = sorted((type_dir / "test").iterdir())[-1]
    with_channels(odd, 3)
    one_line_error(script("01_test.py", config, "-d"), f"{odd}: 3-channel clip among 2-channel")


def test_a_feature_channel_the_clips_lack_is_one_line_before_training(set_2026):
    type_dir, config = set_2026
    raw = yaml.safe_load(config.read_text())
    raw["feature"]["channel"] = 2
    config.write_text(yaml.safe_dump(raw))
    run = script("00_train.py", config, "-d")
    line = one_line_error(run, "a 2-channel clip; feature.channel is 2 (channels count from 0")
    assert str(type_dir) in line
    assert not (config.parent / "model" / "model_fan.hdf5").exists()


def test_clips_of_a_channel_count_the_year_lacks_are_said_so(set_2026):
    type_dir, config = set_2026
    for clip in [*(type_dir / "train").iterdir(), *(type_dir / "test").iterdir()]:
        with_channels(clip, 3)
    run = script("01_test.py", config, "-d")  # no model: stops after the dataset line
    assert (
        "WARNING: dataset: DCASE 2023 layout, three-channel clips (the year's are mono), "
        "features from the mean of the channels (feature.channel chooses one)\n"
    ) in run.stderr
    one_line_error(run, "model_fan.hdf5")


def test_a_dataset_year_of_other_channels_says_what_the_features_are_of(set_2026):
    _, config = set_2026
    raw = yaml.safe_load(config.read_text())
    raw["dataset_year"] = 2023  # the 2023 layout, whose clips are mono
    config.write_text(yaml.safe_dump(raw))
    run = script("01_test.py", config, "-d")  # no model: stops after the dataset line
    assert (
        "WARNING: dataset: DCASE 2023 layout, two-channel clips (the year's are mono), "
        "features from the mean of the channels (feature.channel chooses one)\n"
    ) in run.stderr
    one_line_error(run, "model_fan.hdf5")


# ---- 2. feature settings compared both ways ---------------------------------------------------


def test_a_model_of_channel_0_is_refused_on_the_mean_of_the_channels(trained, tmp_path):
    _, config = copy_of(trained, tmp_path)
    raw = yaml.safe_load(config.read_text())
    del raw["feature"]["channel"]  # the key dropped: the mean of the channels
    config.write_text(yaml.safe_dump(raw))
    run = script("01_test.py", config, "-d", "--machine-type", "fan")
    one_line_error(
        run,
        "model_fan.hdf5: trained with feature.channel 0, the configuration has None (the "
        "mean of the channels)",
    )
    assert not (tmp_path / "work" / "result" / "result.csv").exists()


def test_absent_feature_keys_mean_their_defaults_and_the_cache_keys_every_one(tmp_path):
    from anomaly_detection.model.provenance import feature_differences

    older = {"n_mels": 128, "n_fft": 1024, "hop_length": 512, "power": 2.0, "frames": 5}
    older["frame_crop"] = [50, 250]  # a provenance written before `channel` was recorded
    mean = {**older, "channel": None}
    assert feature_differences(older, mean) == []
    assert feature_differences(older, {**older, "channel": 0}) == [
        "trained with feature.channel None (the mean of the channels), the configuration has 0"
    ]
    assert feature_differences({**older, "window": "hann"}, mean) == [
        "trained with feature.window 'hann', the configuration has (a key this version does "
        "not know)"
    ]
    clips = [tmp_path / "a.wav"]
    soundfile.write(str(clips[0]), np.zeros((1600, 2), dtype=np.float32), 16000)
    keys = {
        channel: FeatureCache(tmp_path, FeatureConfig(channel=channel)).entry_paths(clips)
        for channel in (None, 0, 1)
    }
    assert len(set(keys.values())) == 3


# ---- 3. labels in the results' record ---------------------------------------------------------


def test_rows_of_corrected_labels_or_changed_clips_are_not_kept(dev_run, tmp_path):
    """A run on ToyCar keeps the other types' rows of result.csv only while their labels
    and clips are those they were computed on."""
    data = tmp_path / "data"
    listed = (dev_run["data"] / "eval_data_list.csv").read_text()
    (data / "eval_data_list.csv").parent.mkdir(parents=True)
    types = ("ToyCar", "fan", "pump")  # fan, pump: ToyCar's clips and model again
    (data / "eval_data_list.csv").write_text("".join(listed.replace("ToyCar", t) for t in types))
    model = tmp_path / "work" / "model"
    shutil.copytree(dev_run["work"] / "model", model)
    for machine_type in types:
        shutil.copytree(dev_run["data"] / "eval_data" / "ToyCar", data / "eval_data" / machine_type)
        for name in ("model_{}.hdf5", "model_{}.hdf5.provenance.json"):
            if machine_type != "ToyCar":
                shutil.copy(model / name.format("ToyCar"), model / name.format(machine_type))
    config = write_config(tmp_path / "work", data)
    assert script("01_test.py", config, "-e").returncode == 0
    result = tmp_path / "work" / "result" / "result.csv"
    assert "\nfan\n" in result.read_text() and "\npump\n" in result.read_text()
    rows = (data / "eval_data_list.csv").read_text().split("fan\n")
    name, original, label = rows[1].split("\n", 1)[0].split(",")
    corrected = f"{name},{original},{1 - int(label)}"  # one label of fan corrected
    rows[1] = rows[1].replace(f"{name},{original},{label}", corrected, 1)
    (data / "eval_data_list.csv").write_text("fan\n".join(rows))
    for clip in sorted((data / "eval_data" / "pump" / "test").iterdir())[::2]:
        clip.unlink()  # half of pump's test clips removed
    run = script("01_test.py", config, "-e", "--machine-type", "ToyCar")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        "INFO: ground truth: the labels of fan, pump are not used (--machine-type ToyCar)\n"
        in run.stderr
    )
    assert result.read_text().startswith("ToyCar\n")
    assert "fan" not in result.read_text() and "pump" not in result.read_text()
    summary = (tmp_path / "work" / "result" / "summary.md").read_text().split("## Models")[0]
    assert "| ToyCar |" in summary and "| fan |" not in summary and "| pump |" not in summary


# ---- 4. figures over less than they say -------------------------------------------------------


def test_a_section_trained_on_but_not_in_the_test_folder_fails_the_run(trained, tmp_path):
    data, config = copy_of(trained, tmp_path)
    test_dir = data / "dev_data" / "fan" / "test"
    for clip in test_dir.glob("section_01_*.wav"):
        clip.unlink()  # a partly unpacked test folder
    run = script("01_test.py", config, "-d", "--machine-type", "fan")
    one_line_error(
        run,
        f"{test_dir.parent}: no test clips of section_01_test in test/, though its training "
        "clips have them (a partly unpacked archive?); --skip-bad-clips scores the other sets",
    )
    assert not (tmp_path / "work" / "result" / "result.csv").exists()
    for clip in test_dir.glob("section_00_*_anomaly_*.wav"):
        clip.unlink()  # and section 00 without anomalies
    run = script("01_test.py", config, "-d", "--machine-type", "fan", "--skip-bad-clips")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "section_01_test in test/, though its training clips have them" in run.stderr
    assert "left out (--skip-bad-clips): the figures cover the other sets" in run.stderr
    assert (
        "WARNING: fan: no AUC for section_00_test; result.csv's AUC and pAUC means (this "
        "type's and over all types) and its official score are nan\n"
    ) in run.stderr
    official = next(
        row for row in csv.reader((tmp_path / "work" / "result" / "result.csv").open())
        if row[:1] == ["official score"]
    )  # fmt: skip
    assert official[2] == "nan"


def test_a_section_in_the_test_folder_but_not_in_the_training_folder_is_named(trained, tmp_path):
    data, config = copy_of(trained, tmp_path)
    for clip in (data / "dev_data" / "fan" / "train").glob("section_01_*.wav"):
        clip.unlink()  # a partly copied training folder
    run = script("01_test.py", config, "-d", "--machine-type", "fan")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        "WARNING: fan: scoring set(s) section_01_test have no training clips in "
        f"{data / 'dev_data' / 'fan' / 'train'} (the model never heard them)\n"
    ) in run.stderr


def test_labels_of_a_machine_type_without_clips_are_an_error(trained, tmp_path, tiny_data):
    data, config = copy_of(trained, tmp_path / "2026")
    extra = data / "ground_truth_data" / "ground_truth_pump_section_00_test.csv"
    extra.write_text("section_00_0000.wav,0\n")
    one_line_error(
        script("01_test.py", config, "-e"),
        f"{extra}: labels machine type pump, which has no folder in {data / 'eval_data'}",
    )
    run = script(
        "export_eembc.py", config, "-e", "--machine-type", "fan", "--every", "50",
        "--output", str(tmp_path / "samples"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        "INFO: ground truth: the labels of ToyCar, pump are not used (--machine-type fan)\n"
        in run.stderr
    )
    shutil.copytree(tiny_data / "eval_data", tmp_path / "2020" / "eval_data")
    listed = (tiny_data / "eval_data_list.csv").read_text()
    (tmp_path / "2020" / "eval_data_list.csv").write_text(
        listed + "valve\nid_00_00000000.wav,anomaly_id_00_00000000.wav,1\n"
    )
    config = write_config(tmp_path / "2020" / "work", tmp_path / "2020")
    one_line_error(
        script("01_test.py", config, "-e"),
        f"{tmp_path / '2020' / 'eval_data_list.csv'}: labels machine type valve, which has "
        f"no folder in {tmp_path / '2020' / 'eval_data'}",
    )


# ---- 5. output folders ------------------------------------------------------------------------


def test_a_refused_model_leaves_no_figures_and_results_name_their_model(dev_run, tmp_path):
    model_dir = dev_run["work"] / "model"
    intio = model_dir / "model_ToyCar_quant_fullint_micro_intio.tflite"
    export = script(
        "export_eembc.py", dev_run["config"], "-d", "--every", "3",
        "--output", str(tmp_path / "samples"),
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-3000:]
    out = tmp_path / "out"

    def accuracy(model: Path):
        return run_script(
            "eembc_accuracy.py", "--samples", str(tmp_path / "samples" / "ToyCar"),
            "--model", str(model), "--output", str(out),
        )  # fmt: skip

    assert accuracy(intio).returncode == 0
    lines = (out / "results.txt").read_text().splitlines()
    assert lines[0].startswith("AUC = ") and lines[1].startswith("Top 1% = ")
    assert lines[2:] == [f"model = {intio.name} (SHA-256 {file_digest(intio)[:12]})"]
    refused = model_dir / "model_ToyCar_quant_fullint_micro.tflite"  # float input and output
    one_line_error(accuracy(refused), f"{refused}: the reference firmware runs a model with int8")
    for name in ("results.txt", "eembc_accuracy.csv", "eembc_scores.csv"):
        assert not (out / name).exists(), name
