"""Bad input: each case a clear one-line error naming the file or key and the cause."""

import logging
import shutil

import numpy as np
import pytest
import soundfile

from anomaly_detection.core.config import FeatureConfig
from anomaly_detection.core.errors import (
    AudioError,
    CacheError,
    DatasetError,
    FeatureError,
    ModelError,
)
from anomaly_detection.data.audio import load_audio
from anomaly_detection.data.dataset import list_test_sets, list_train_files
from anomaly_detection.device.tflite_infer import TFLiteModel
from anomaly_detection.features.cache import FeatureCache
from anomaly_detection.features.clip_features import file_to_log_mel
from anomaly_detection.features.extraction import extract_log_mels
from conftest import run_script, write_config
from keras_model import load_model

RATE = 16000


def machine_signal(seconds=9.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(0).normal(0, 0.02, t.size)
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t) + noise).astype(
        np.float32
    )


def write_wav(path, signal, rate=RATE, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal, rate, subtype=subtype)
    return path


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "normal_id_01_00000000.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"normal_id_01_00000000.wav: empty file \(0 bytes\)"):
        load_audio(empty)


def test_truncated_file(tmp_path):
    full = write_wav(tmp_path / "full.wav", machine_signal())
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:100_000])
    with pytest.raises(AudioError, match=r"cut.wav: truncated WAV file \(99956 of 288000 data"):
        load_audio(cut)


def test_not_audio(tmp_path):
    fake = tmp_path / "fake.wav"
    fake.write_text("this is not a recording\n" * 20)
    with pytest.raises(AudioError, match="fake.wav: not a readable audio file"):
        load_audio(fake)


def test_clip_too_short_for_the_crop(tmp_path):
    short = write_wav(tmp_path / "short.wav", machine_signal(seconds=5.0))
    with pytest.raises(
        FeatureError,
        match=r"clip has 157 log-mel frames \(80000 samples\), "
        r"the crop \[50, 250\) needs 250",
    ):
        file_to_log_mel(short, FeatureConfig())
    clips = extract_log_mels([short], FeatureConfig(), progress=False)
    assert clips[0].log_mel is None and str(short) in str(clips[0].error)


def test_silent_clip_gives_finite_features(tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(9 * RATE, np.float32))
    log_mel = file_to_log_mel(silent, FeatureConfig())
    assert log_mel.shape == (200, 128)
    assert np.all(np.isfinite(log_mel))
    assert np.allclose(log_mel, 10 * np.log10(np.finfo(np.float64).eps), atol=1e-3)


@pytest.mark.parametrize(
    "subtype, tolerance_db", [("PCM_U8", 3.0), ("PCM_24", 1e-3), ("FLOAT", 1e-3), ("PCM_32", 1e-3)]
)
def test_other_encodings_read_like_16_bit(tmp_path, subtype, tolerance_db):
    signal = machine_signal()
    reference = file_to_log_mel(write_wav(tmp_path / "pcm16.wav", signal), FeatureConfig())
    other = file_to_log_mel(
        write_wav(tmp_path / f"{subtype}.wav", signal, subtype=subtype), FeatureConfig()
    )
    # 8-bit quantization noise floors the quietest bins; the machine's bins agree closely.
    loud = reference > np.percentile(reference, 50)
    assert np.median(np.abs(other - reference)[loud]) < tolerance_db


def test_other_sample_rate_is_rejected(tmp_path):
    files = [write_wav(tmp_path / f"normal_id_01_{i:08d}.wav", machine_signal()) for i in range(3)]
    odd = write_wav(tmp_path / "normal_id_01_00000009.wav", machine_signal(rate=22050), rate=22050)
    clips = extract_log_mels(files + [odd], FeatureConfig(), progress=False)
    assert all(clip.error is None for clip in clips[:3])
    assert str(clips[3].error) == (
        f"{odd}: sample rate 22050 Hz differs from the 16000 Hz of the other clips"
    )


def test_unmatched_names_are_ignored_with_a_warning(tmp_path, caplog):
    test_dir = tmp_path / "ToyCar" / "test"
    for name in (
        "normal_id_01_00000000.wav",
        "anomaly_id_01_00000000.wav",
        "id_01_00000000.wav",
        "Normal_id_01_00000001.wav",
        "anomaly-id-01.wav",
        "normal_id_1_00000002.wav",
    ):
        write_wav(test_dir / name, np.zeros(100, np.float32))
    with caplog.at_level(logging.WARNING):
        dev_sets = list_test_sets(tmp_path / "ToyCar", dev_mode=True)
    assert [(t.name, [f.name for f in t.files], t.labels) for t in dev_sets] == [
        ("id_01", ["normal_id_01_00000000.wav", "anomaly_id_01_00000000.wav"], (0, 1))
    ]
    assert "ignored 4 file(s) whose names do not match" in caplog.text
    assert "Normal_id_01_00000001.wav" in caplog.text
    eval_sets = list_test_sets(tmp_path / "ToyCar", dev_mode=False)
    assert eval_sets[0].labels is None and len(eval_sets[0].files) == 3


def test_missing_or_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="ToyCar/train: training folder not found"):
        list_train_files(tmp_path / "ToyCar")
    (tmp_path / "ToyCar" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match="ToyCar/train: no .wav files in the training folder"):
        list_train_files(tmp_path / "ToyCar")
    with pytest.raises(DatasetError, match="ToyCar/test: test folder not found"):
        list_test_sets(tmp_path / "ToyCar", dev_mode=True)
    (tmp_path / "ToyCar" / "test").mkdir()
    with pytest.raises(DatasetError, match="ToyCar/test: no test clips named like"):
        list_test_sets(tmp_path / "ToyCar", dev_mode=True)


def test_corrupt_models(tmp_path):
    hdf5 = tmp_path / "model_ToyCar.hdf5"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelError, match="model_ToyCar.hdf5: not a loadable Keras model"):
        load_model(hdf5)
    tflite = tmp_path / "model_ToyCar.tflite"
    tflite.write_bytes(b"garbage" * 50)
    with pytest.raises(ModelError, match="model_ToyCar.tflite: not a valid TFLite model"):
        TFLiteModel(tflite)
    with pytest.raises(ModelError, match="model_X.tflite: TFLite model not found"):
        TFLiteModel(tmp_path / "model_X.tflite")


def test_lambda_layers_are_refused(tmp_path):
    import keras

    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(4)(inputs))
    path = tmp_path / "lambda.hdf5"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="lambda.hdf5: model contains a Lambda layer"):
        load_model(path)


def test_unwritable_cache_is_a_clear_error(tmp_path, tiny_data):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    files = sorted((tiny_data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:2]
    cache = FeatureCache(blocker / "cache", FeatureConfig())
    with pytest.raises(
        CacheError,
        match=r"not_a_folder/cache: cannot write the feature cache "
        r"\(Not a directory\); .* or pass --no-cache",
    ):
        extract_log_mels(files, FeatureConfig(), cache=cache, progress=False)
    config = write_config(tmp_path, tiny_data, cache_directory=str(blocker / "cache"))
    run = run_script("00_train.py", "-d", "-q", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    # found before any work: the output folders are checked first
    assert "cache: 'cache_directory' is not a writable folder (Not a directory)" in run.stderr
    assert (
        run_script(
            "00_train.py", "-d", "-q", "--no-cache", "--config", str(config), cwd=tmp_path
        ).returncode
        == 0
    )


@pytest.fixture()
def tree_with_bad_clips(tmp_path, tiny_data):
    """The tiny dataset with one unreadable test clip and a trained model."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    config = write_config(tmp_path, data)
    assert (
        run_script("00_train.py", "-d", "-q", "--config", str(config), cwd=tmp_path).returncode == 0
    )
    bad = data / "dev_data" / "ToyCar" / "test" / "anomaly_id_01_00000002.wav"
    bad.write_bytes(b"")
    return tmp_path, config, bad


def test_unreadable_test_clip_is_excluded_never_scored(tree_with_bad_clips):
    work, config, bad = tree_with_bad_clips
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=work)
    assert run.returncode == 1
    assert "1 test clip(s) could not be scored and were excluded" in run.stderr
    assert f"{bad}: empty file (0 bytes)" in run.stderr
    assert "pass --skip-bad-clips" in run.stderr
    scores = (work / "result" / "anomaly_score_ToyCar_id_01.csv").read_text()
    assert bad.name not in scores and scores.count("\n") == 9
    allowed = run_script("01_test.py", "-d", "--skip-bad-clips", "--config", str(config), cwd=work)
    assert allowed.returncode == 0 and "excluded" in allowed.stderr


def test_single_class_id_gets_a_message_not_a_crash(tree_with_bad_clips):
    work, config, _ = tree_with_bad_clips
    test_dir = work / "data" / "dev_data" / "ToyCar" / "test"
    for anomaly in test_dir.glob("anomaly_id_02_*.wav"):
        anomaly.unlink()
    run = run_script("01_test.py", "-d", "--skip-bad-clips", "--config", str(config), cwd=work)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        "id_02: no AUC: id_02: AUC needs both classes, got 5 normal and 0 anomalous" in run.stderr
    )
    lines = (work / "result" / "result.csv").read_text().splitlines()
    assert lines[3] == "02,nan,nan"
    assert lines[4].startswith("Average,") and "nan" not in lines[4]


def test_an_average_missing_an_id_is_nan_and_fails_unless_told(tree_with_bad_clips):
    work, config, bad = tree_with_bad_clips
    bad.unlink()
    test_dir = work / "data" / "dev_data" / "ToyCar" / "test"
    for normal in test_dir.glob("normal_id_01_*.wav"):  # ignored: names are case-sensitive
        normal.rename(normal.with_name("N" + normal.name[1:]))
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=work)
    assert run.returncode == 1
    assert "ToyCar: no AUC for id_01; the Average is nan (pass --skip-bad-clips" in run.stderr
    lines = (work / "result" / "result.csv").read_text().splitlines()
    assert lines[2] == "01,nan,nan" and lines[4] == "Average,nan,nan"
    allowed = run_script("01_test.py", "-d", "--skip-bad-clips", "--config", str(config), cwd=work)
    assert allowed.returncode == 0
    assert "the Average covers the other 1 ID(s) only" in allowed.stderr
    lines = (work / "result" / "result.csv").read_text().splitlines()
    assert lines[4] == f"Average,{lines[3].split(',')[1]},{lines[3].split(',')[2]}"


def test_unreadable_training_clip_stops_training(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    bad = data / "dev_data" / "ToyCar" / "train" / "normal_id_01_00000003.wav"
    bad.write_text("not audio")
    config = write_config(tmp_path, data)
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 1
    assert "1 unusable clip(s), first:" in run.stderr and str(bad) in run.stderr
    assert not (tmp_path / "model" / "model_ToyCar.hdf5").exists()
    skipped = run_script(
        "00_train.py", "-d", "-q", "--skip-bad-clips", "--config", str(config), cwd=tmp_path
    )
    assert skipped.returncode == 0
    assert (tmp_path / "model" / "model_ToyCar.hdf5").is_file()
