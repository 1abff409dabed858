"""common.py is the reference's API: its own call patterns, run against it.

The patterns are those of the MLPerf Tiny reference's ``00_train.py``,
``01_test.py`` and ``convert_dataset.py`` (and the DCASE 2020 baseline's),
with their keyword names, argument orders and return types.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import common as com
from anomaly_detection.core.config import FeatureConfig
from anomaly_detection.core.errors import AudioError, ConfigError
from anomaly_detection.features.clip_features import file_to_log_mel
from anomaly_detection.features.spectrogram import frame_stack
from conftest import REPO, base_config


@pytest.fixture()
def reference_folder(tmp_path, tiny_data, monkeypatch):
    """A working folder holding a baseline.yaml that points at the tiny dataset, as the
    reference's scripts expect (they read ./baseline.yaml)."""
    (tmp_path / "baseline.yaml").write_text(yaml.safe_dump(base_config(tmp_path, tiny_data)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_common_and_the_feature_export_load_neither_tensorflow_nor_keras():
    # export_eembc.py computes features only: it must not pay TensorFlow's start-up either.
    code = (
        "import sys; import common, export_eembc; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'librosa') if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"


def test_command_line_chk(capsys):
    assert com.command_line_chk(["-d"]) is True
    assert com.command_line_chk(["--eval"]) is False
    assert com.command_line_chk([]) is None
    assert com.command_line_chk(["-d", "-e"]) is None
    assert "incorrect argument" in capsys.readouterr().out


def test_yaml_load_returns_the_validated_dict(reference_folder):
    param = com.yaml_load()
    assert isinstance(param, dict)
    assert param["feature"]["n_mels"] == 128 and param["fit"]["compile"]["optimizer"] == "adam"
    (reference_folder / "baseline.yaml").write_text("feature: {n_mels: -1}\n")
    with pytest.raises(ConfigError, match="problem"):
        com.yaml_load()


def test_the_reference_00_train_pattern(reference_folder, tiny_data):
    param = com.yaml_load()
    mode = com.command_line_chk(["-d"])
    dirs = com.select_dirs(param=param, mode=mode)
    assert dirs == [str((tiny_data / "dev_data" / "ToyCar").resolve())]
    for target_dir in dirs:
        machine_type = os.path.split(target_dir)[1]
        assert machine_type == "ToyCar"
        files = com.file_list_generator(target_dir)
        assert len(files) == 20 and files == sorted(files) and all(map(os.path.isabs, files))
        train_data = com.list_to_vector_array(
            files,
            msg="generate train_dataset",
            n_mels=param["feature"]["n_mels"],
            frames=param["feature"]["frames"],
            n_fft=param["feature"]["n_fft"],
            hop_length=param["feature"]["hop_length"],
            power=param["feature"]["power"],
        )
        assert train_data.shape == (20 * 196, 640) and train_data.dtype == np.float64
        # The same values as the pipeline's features of the last file.
        last = frame_stack(file_to_log_mel(files[-1], FeatureConfig()), 5)
        np.testing.assert_array_equal(train_data[-196:], last.astype(np.float64))
    assert com.file_list_generator(reference_folder) == []


def test_the_reference_01_test_pattern(reference_folder, tiny_data):
    param = com.yaml_load()
    for mode, data in ((True, "dev_data"), (False, "eval_data")):
        target_dir = com.select_dirs(param=param, mode=mode)[0]
        assert target_dir == str((tiny_data / data / "ToyCar").resolve())
        machine_id_list = com.get_machine_id_list_for_test(target_dir)
        assert machine_id_list == (["id_01", "id_02"] if mode else ["id_05"])
        for id_str in machine_id_list:
            test_files, y_true = com.test_file_list_generator(target_dir, id_str, mode)
            names = [os.path.basename(path) for path in test_files]
            if mode:
                assert names[:5] == [f"normal_{id_str}_{i:08d}.wav" for i in range(5)]
                assert names[5:] == [f"anomaly_{id_str}_{i:08d}.wav" for i in range(5)]
                assert y_true.dtype == np.float64
                np.testing.assert_array_equal(y_true, [0.0] * 5 + [1.0] * 5)
            else:
                assert names == [f"{id_str}_{i:08d}.wav" for i in range(10)] and y_true is None
            score_list = [
                [os.path.basename(path), 0.5 * index] for index, path in enumerate(test_files[:2])
            ]
            csv_path = reference_folder / f"anomaly_score_ToyCar_{id_str}.csv"
            com.save_csv(save_file_path=csv_path, save_data=score_list)
            assert csv_path.read_text() == f"{names[0]},0.0\n{names[1]},0.5\n"


def test_the_reference_convert_dataset_pattern(reference_folder, tiny_data):
    param = com.yaml_load()
    clip = tiny_data / "dev_data" / "ToyCar" / "test" / "normal_id_01_00000000.wav"
    file_path = str(shutil.copy(clip, reference_folder / clip.name))
    vectors = com.file_to_vector_array(
        file_path,
        n_mels=param["feature"]["n_mels"],
        frames=param["feature"]["frames"],
        n_fft=param["feature"]["n_fft"],
        hop_length=param["feature"]["hop_length"],
        power=param["feature"]["power"],
        save_bin=True,
    )
    sample = reference_folder / "normal_id_01_00000000_hist_librosa.bin"
    log_mel = np.fromfile(sample, dtype="<f4").reshape(200, 128)  # frame-major, cropped
    assert sample.stat().st_size == 102_400
    np.testing.assert_array_equal(log_mel, file_to_log_mel(clip, FeatureConfig()))
    # Each 2,560-byte window at a 512-byte stride is one vector (the EEMBC runner's view).
    np.testing.assert_array_equal(vectors[17], log_mel[17:22].reshape(-1))


def test_file_to_vector_array_defaults_and_extra_outputs(reference_folder, tiny_data):
    clip = tiny_data / "dev_data" / "ToyCar" / "test" / "anomaly_id_02_00000001.wav"
    path = shutil.copy(clip, reference_folder / "anomaly_id_02.take2.wav")  # a dotted name
    vectors = com.file_to_vector_array(path, save_png=True, save_hist=True, save_parts=True)
    assert vectors.shape == (196, 64 * 5)  # the reference's default: 64 mels
    stem = "anomaly_id_02.take2_hist_librosa"
    assert (reference_folder / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    text = np.array((reference_folder / f"{stem}.txt").read_text().split(","), dtype=float)
    np.testing.assert_allclose(text.reshape(200, 64)[:5].reshape(-1), vectors[0], rtol=1e-6)
    parts = sorted(reference_folder.glob(f"{stem}_part*.bin"))
    assert len(parts) == 196 and parts[-1].name == f"{stem}_part195.bin"
    np.testing.assert_array_equal(np.fromfile(parts[42], dtype="<f4"), vectors[42])
    with pytest.raises(AudioError, match="file not found"):
        com.file_to_vector_array(reference_folder / "missing.wav")
    with pytest.raises(com.PipelineError, match="method not supported"):
        com.file_to_vector_array(path, method="torchaudio")
