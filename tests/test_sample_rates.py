"""Clips at other rates than DCASE's 16 kHz: the feature settings are checked and described
at the clips' own rate."""

from __future__ import annotations

import dataclasses

import pytest

from anomaly_detection.data.synthetic import write_dataset
from conftest import TINY_SPEC, run_script, write_config


@pytest.fixture(scope="module")
def data_48k(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_48k")
    spec = dataclasses.replace(
        TINY_SPEC, sample_rate=48_000, dev_ids=(1,), train_clips=4, test_normal_clips=2,
        test_anomaly_clips=2,
    )  # fmt: skip
    write_dataset(root, spec, dev=True, eval_=False, workers=2, progress=False)
    return root


def test_empty_mel_bands_at_the_clips_rate_stop_the_run(data_48k, tmp_path):
    config = write_config(tmp_path, data_48k, **{"feature.n_fft": 512})
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1
    assert (
        "'feature.n_fft' (512) is too small for 'feature.n_mels' (128) at the clips' 48000 Hz: "
        "13 mel band(s) would hold no FFT bin" in run.stderr
    ), run.stderr[-1500:]
    assert "Traceback" not in run.stderr and not (tmp_path / "model" / "model_ToyCar.hdf5").exists()


def test_the_durations_the_settings_cover_are_logged_with_a_warning(data_48k, tmp_path):
    config = write_config(tmp_path, data_48k, **{"fit.epochs": 1})
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-1500:]
    expected = (
        "WARNING: clips at 48000 Hz, not DCASE's 16 kHz: window 21.3 ms, hop 10.7 ms, frames "
        "50-250 = 0.53-2.67 s (the settings count samples)"
    )
    assert run.stderr.count(expected) == 1
