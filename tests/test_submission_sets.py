"""The MLPerf Tiny ad01 evaluation sets, exported exactly as MLCommons lists them."""

from __future__ import annotations

import shutil

import pytest

from anomaly_detection.device.benchmark_samples import official_set
from conftest import reference_dir, run_script, write_config


@pytest.fixture(scope="module")
def official_clips(tiny_data, tmp_path_factory):
    """dev_data/ToyCar/test holding every clip the official sets name (copies of tiny
    clips: only the names and labels matter here)."""
    root = tmp_path_factory.mktemp("ad01")
    test_dir = root / "dev_data" / "ToyCar" / "test"
    test_dir.mkdir(parents=True)
    source = tiny_data / "dev_data" / "ToyCar" / "test"
    normal = next(source.glob("normal_id_01_*.wav"))
    anomaly = next(source.glob("anomaly_id_01_*.wav"))
    for name, label in official_set("ad01"):
        shutil.copy(anomaly if label else normal, test_dir / name)
    return root


@pytest.mark.parametrize(
    "option, official", [("ad01", "y_labels.csv"), ("ad01-alt", "y_labels_alt.csv")]
)
def test_the_official_sets_are_exported_byte_for_byte(official_clips, tmp_path, option, official):
    expected = (reference_dir() / "ad01" / official).read_bytes()
    config = write_config(tmp_path, official_clips)
    out = tmp_path / "samples"
    run = run_script(
        "export_eembc.py", "-d", "--set", option, "--config", str(config), "--output", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-1500:]
    assert (out / option / "y_labels.csv").read_bytes() == expected
    names = [line.split(",")[0] for line in expected.decode().splitlines()]
    assert len(names) == {"ad01": 248, "ad01-alt": 72}[option]
    assert sorted(p.name for p in (out / option).glob("*.bin")) == sorted(names)
    assert all((out / option / name).stat().st_size == 102_400 for name in names)

    # --labels with the official list exports the same files in its order.
    again = tmp_path / "again"
    run = run_script(
        "export_eembc.py", "-d", "--labels", str(reference_dir() / "ad01" / official),
        "--config", str(config), "--output", str(again), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-1500:]
    assert (again / "ToyCar" / "y_labels.csv").read_bytes() == expected


def test_a_listed_clip_that_is_missing_is_named(official_clips, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(official_clips, data)
    missing = data / "dev_data" / "ToyCar" / "test" / "anomaly_id_02_00000013.wav"
    missing.unlink()
    config = write_config(tmp_path, data)
    run = run_script(
        "export_eembc.py", "-d", "--set", "ad01", "--config", str(config), "--output",
        str(tmp_path / "samples"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{missing}: listed clip not found" in run.stderr
    assert not (tmp_path / "samples" / "ad01" / "y_labels.csv").exists()


def test_every_nth_clip_puts_the_normal_samples_first(dev_run, tmp_path):
    run = run_script(
        "export_eembc.py", "-d", "--every", "2", "--config", str(dev_run["config"]),
        "--output", str(tmp_path / "samples"), cwd=dev_run["work"],
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-1500:]
    labels = [
        int(line.split(",")[2])
        for line in (tmp_path / "samples" / "ToyCar" / "y_labels.csv").read_text().splitlines()
    ]
    assert labels == sorted(labels) and labels.count(0) == 6 and labels.count(1) == 6
