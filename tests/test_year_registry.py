"""The DCASE year registry: every year is one entry that detection, the synthetic writer, the
configuration, the run context and the downloader read; a year's layout is decided from all
its clips."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from anomaly_detection.core.config import parse_config
from anomaly_detection.core.errors import ConfigError, DatasetError
from anomaly_detection.data import download, synthetic
from anomaly_detection.data.dcase_years import detect_year
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset
from anomaly_detection.registry.archives import DEV, EVAL_TEST, EVAL_TRAIN, three_records
from anomaly_detection.registry.clip_names import SECTION_NAMES_2022, name_pattern
from anomaly_detection.registry.years import (
    DOMAIN_FOLDERS,
    MACHINE_IDS,
    ONE_TEST_FOLDER,
    YEARS,
    DcaseYear,
    year_entry,
)
from conftest import REPO, base_config

DOWNLOADER = "anomaly_detection.data.download"

#: A fictitious year: one section per type, three microphones, the features from the second.
YEAR_2031 = DcaseYear(
    year=2031,
    challenge="DCASE2031T2",
    layout=ONE_TEST_FOLDER,
    names=SECTION_NAMES_2022,
    scoring_set="section_{section:02d}_test",
    evaluator="2022",
    archives=three_records(
        ("31000001", "dev_{type}.zip", ("fan",)),
        ("31000002", "eval_data_{type}_train.zip", ("Blender",)),
        ("31000003", "eval_data_{type}_test.zip", ("Blender",)),
    ),
    dev_sections=(0,),
    eval_sections=(0,),
    channels=3,
    feature_channel=1,
    attributes_in_names=True,
    attribute_tables=True,
)


def test_a_new_year_is_one_registry_entry(tmp_path, monkeypatch, capsys, caplog):
    from anomaly_detection.pipeline.context import context_from_arguments

    monkeypatch.setitem(YEARS, 2031, YEAR_2031)
    root = tmp_path / "data"
    options = ["--machine-types", "fan", "--train-clips", "2", "--test-normal-clips", "1"]
    assert synthetic.main([str(root), "--year", "2031", *options, "--duration", "1", "--eval"]) == 0
    first = sorted((root / "dev_data" / "fan" / "train").iterdir())[0]
    assert first.name == "section_00_source_train_normal_0000_spd_28V_noise_0.wav"
    assert soundfile.info(str(first)).channels == 3
    assert (root / "dev_data" / "fan" / "attributes_00.csv").is_file()
    assert detect_year([root / "dev_data" / "fan"]) == 2031
    assert detect_year([root / "eval_data" / "fan"]) == 2031  # published names

    raw = base_config(tmp_path, root, dataset_year=2031)
    config = parse_config(raw)
    assert config.dataset_year == 2031
    args = argparse.Namespace(dev=True, machine_types=None, no_cache=True, progress=False)
    with caplog.at_level(logging.INFO, logger="anomaly_detection.pipeline.context"):
        run = context_from_arguments(args, config)
    assert run.settings.dataset_year == 2031 and run.config.feature.channel == 1
    assert "dataset: DCASE 2031 layout (three-channel clips), features from channel 1 (the " in (
        caplog.text
    )
    assert [test_set.name for test_set in run.data.test_sets(root / "dev_data" / "fan")] == [
        "section_00_test"
    ]

    capsys.readouterr()
    plan = ["--year", "2031", "--eval", "--machine-types", "fan", "Blender", "--dry-run"]
    assert download.main(plan) == 0
    assert plan_lines(capsys.readouterr().out) == [
        ("dev_fan.zip", "31000001", "dev_data/"),
        ("eval_data_Blender_train.zip", "31000002", "eval_data/"),
        ("eval_data_Blender_test.zip", "31000003", "eval_data/"),
    ]

    monkeypatch.delitem(YEARS, 2031)  # unregistered again: refused with the years listed
    raw["dataset_year"] = 2031
    with pytest.raises(ConfigError, match="dataset_year.*must be one of 2020, 2021, .*, 2026"):
        parse_config(raw)


def dry_run(*options: str, script: bool = False) -> subprocess.CompletedProcess:
    """``get_dataset.sh ... --dry-run`` (the system's ``python3``), or through this Python."""
    command = [str(REPO / "get_dataset.sh")] if script else [sys.executable, "-m", DOWNLOADER]
    return subprocess.run(
        [*command, *options, "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def plan_lines(printed: str) -> list[tuple[str, str, str]]:
    """(archive, Zenodo record, target folders) of each archive line a dry run printed."""
    rows = []
    for line in printed.splitlines():
        parts = line.split("  ")  # name, URL, -> folders, (MD5 known or not)
        if len(parts) == 4 and parts[0].endswith(".zip"):
            name, url, folders, _ = parts
            assert url.endswith(f"/files/{name}?download=1"), line
            record = url.removeprefix("https://zenodo.org/record/").split("/")[0]
            rows.append((name, record, folders.removeprefix("-> ")))
    return rows


def test_dry_runs_list_each_years_archives_from_the_command_line():
    imported = subprocess.run(
        [sys.executable, "-c", f"import sys, {DOWNLOADER}; print(sorted(sys.modules))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not {"numpy", "soundfile", "yaml"} & set(eval(imported.stdout))  # standard library

    run = dry_run("--year", "2024", script=True)
    assert run.returncode == 0, run.stderr
    assert plan_lines(run.stdout) == [("dev_ToyCar.zip", "10902294", "dev_data/")]

    run = dry_run("--year", "2024", "--eval", "--machine-types", "3DPrinter", "bearing")
    assert run.returncode == 0, run.stderr
    assert plan_lines(run.stdout) == [
        ("eval_data_3DPrinter_train_r2.zip", "11259435", "eval_data/"),
        ("eval_data_3DPrinter_test.zip", "11363076", "eval_data/"),
        ("dev_bearing.zip", "10902294", "dev_data/"),
    ]
    assert "note: 2024 publishes no evaluation archives of bearing" in run.stdout

    run = dry_run("--year", "2025", "--eval", "--machine-types", "ToyRCCar", "CoffeeGrinder")
    assert run.returncode == 0, run.stderr
    assert plan_lines(run.stdout) == [
        ("eval_data_ToyRCCar_train.zip", "15392814", "eval_data/"),
        ("eval_data_ToyRCCar_test.zip", "15519362", "eval_data/"),
        ("eval_data_CoffeeGrinder_train.zip", "15392814", "eval_data/"),
        ("eval_data_CoffeeGrinder_test.zip", "15519362", "eval_data/"),
    ]

    run = dry_run("--year", "2026", "--eval", "--machine-types", "ToyCar", "SewingMachine")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("DCASE2026T2: 3 archive(s), DCASE 2026 layout (two-channel")
    assert plan_lines(run.stdout) == [
        ("dev_ToyCar_r2.zip", "19336329", "dev_data/"),
        ("eval_data_SewingMachine_train.zip", "20151556", "eval_data/"),
        ("eval_data_SewingMachine_test.zip", "20437238", "eval_data/"),
    ]

    run = dry_run("--eval")  # 2020: MLPerf Tiny's recipe, MD5s pinned, nothing needed
    assert run.returncode == 0, run.stderr
    assert "eval_data_train_ToyCar.zip  https://zenodo.org/record/3727685/files/" in run.stdout
    assert "-> dev_data/, eval_data/  (MD5 known)" in run.stdout
    assert "eval_data_list.csv  https://zenodo.org/record/3951620/files/" in run.stdout
    assert not (REPO / "downloads" / "eval_data_train_ToyCar.zip").exists()

    run = dry_run("--year", "2019")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (
        "error: --year 2019 is not a registered DCASE year "
        "(registered: 2020, 2021, 2022, 2023, 2024, 2025, 2026)\n"
    )


def tiny_2026(root):
    spec = SectionedSpec(
        year=2026,
        machine_types=("fan",),
        train_source_clips=3,
        train_target_clips=1,
        test_clips=1,
        duration=1.0,
    )
    write_sectioned_dataset(root, spec)
    return root / "dev_data" / "fan"


def make_mono(path):
    signal, rate = soundfile.read(str(path))
    soundfile.write(str(path), signal[:, 0], rate, subtype="PCM_16")


def test_clips_of_different_channel_counts_are_an_error_naming_one_of_each(tmp_path):
    type_dir = tiny_2026(tmp_path)
    assert detect_year([type_dir]) == 2026
    test_clip = sorted((type_dir / "test").iterdir())[2]
    make_mono(test_clip)
    with pytest.raises(DatasetError) as caught:
        detect_year([type_dir])
    message = str(caught.value)
    two_channel = sorted((type_dir / "train").iterdir())[0]
    assert message.startswith(f"{test_clip}: 1-channel clip among 2-channel clips such as ")
    assert f"such as {two_channel} (1 clip(s) of 1 channel(s), 7 of 2)" in message
    assert "\n" not in message


def test_a_two_channel_set_whose_first_clip_is_mono_is_not_taken_for_2023(tmp_path):
    type_dir = tiny_2026(tmp_path)
    first = sorted((type_dir / "train").iterdir())[0]
    make_mono(first)
    with pytest.raises(DatasetError, match=f"^{first}: 1-channel clip among 2-channel"):
        detect_year([type_dir])


def test_every_entry_is_consistent_and_its_names_read_back():
    assert set(YEARS) == {2020, 2021, 2022, 2023, 2024, 2025, 2026}
    for year, entry in YEARS.items():
        assert entry.year == year and entry.challenge == f"DCASE{year}T2"
        assert entry.layout in (MACHINE_IDS, DOMAIN_FOLDERS, ONE_TEST_FOLDER)
        assert entry.evaluator in ("2020", "2021", "2022")
        assert entry.feature_channel is None or 0 <= entry.feature_channel < entry.channels
        assert {archive.part for archive in entry.archives} == {DEV, EVAL_TRAIN, EVAL_TEST}
        names = [archive.name for archive in entry.archives]
        assert len(names) == len(set(names)), year
        fields = {"id": 3, "section": 4, "domain": "target", "label": "anomaly", "index": 7}
        for template in entry.names.every_template():
            name = template.format(**fields, attributes="_mdl_A")
            match = name_pattern(template).match(name)
            assert match is not None, (year, template)
            assert match.groupdict() == {
                key: f"{fields[key]:02d}" if key in ("id", "section") else fields[key]
                for key in match.groupdict()
            }
    assert year_entry(2026).feature_channel == 0 and year_entry(2026).channels == 2
    assert [year for year, entry in YEARS.items() if entry.domain_folders] == [2021]
    pinned = {a.name: a.md5 for a in year_entry(2020).archives}
    assert pinned["eval_data_train_ToyCar.zip"] == "a5d4ccd498af70b04dd74b644b820006"
    assert all(download.PUBLISHED_MD5[name] == md5 for name, md5 in pinned.items())
    with pytest.raises(ValueError, match="2019 is not a registered DCASE year"):
        year_entry(2019)


def test_detection_reads_every_clips_header_cheaply(tmp_path):
    """2,000 clips' channel counts (the project's own header reader) in well under a second."""
    import time

    from anomaly_detection.data.dcase_years import _channel_count

    clip = tmp_path / "clip.wav"
    soundfile.write(str(clip), np.zeros((160, 2), dtype=np.int16), 16000, subtype="PCM_16")
    data = clip.read_bytes()
    files = []
    for index in range(2000):
        path = tmp_path / f"section_00_source_train_normal_{index:04d}.wav"
        path.write_bytes(data)
        files.append(path)
    start = time.perf_counter()
    assert _channel_count(files) == 2
    assert time.perf_counter() - start < 1.5
