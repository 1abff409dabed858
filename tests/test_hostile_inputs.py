"""Hostile inputs, through the scripts' command lines as a user would give them.

Each test names its case from issue 15: a model used with other features or
data than it was trained on, non-finite numbers, a feature cache that must
prove its data, and inputs that once ended in a traceback.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile
import yaml

from anomaly_detection.core.config import FeatureConfig
from anomaly_detection.core.errors import ConversionError, ModelError, TrainingError
from anomaly_detection.device.tflite_convert import check_folding
from anomaly_detection.device.tflite_infer import TFLiteModel
from anomaly_detection.evaluation.thresholds import Threshold, save_threshold
from anomaly_detection.features.cache import FeatureCache
from anomaly_detection.features.clip_features import file_to_log_mel
from anomaly_detection.features.extraction import extract_log_mels
from conftest import REPO, base_config, run_script

RATE = 16000


# ---- helpers ----


def one_line_error(run, *fragments):
    """Exit 1, no traceback, the fragments on ERROR (or ``error:``) lines."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith(("ERROR", "error:"))]
    assert errors, run.stderr[-3000:]
    for fragment in fragments:
        assert any(fragment in line for line in errors), "\n".join(errors)
    return errors


def work_copy(dev_run, tmp_path, *, data=None, **overrides):
    """The dev run's trained models in a fresh folder with a config (``overrides``)."""
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, data or dev_run["data"], **overrides)))
    return config


def data_copy(dev_run, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "dev_data", root / "dev_data")
    return root


def script(name, config, *args, cwd):
    return run_script(name, "-d", "--config", str(config), *args, cwd=cwd)


# ---- 1. a model used with other features or data than it was trained on ----


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"feature.n_fft": 2048}, "trained with feature.n_fft 1024, the configuration has 2048"),
        ({"feature.power": 1.0}, "trained with feature.power 2.0, the configuration has 1.0"),
        (
            {"feature.frame_crop": [0, 200]},
            "trained with feature.frame_crop [50, 250], the configuration has [0, 200]",
        ),
        (
            {"feature.n_mels": 64, "feature.frames": 10},
            "trained with feature.n_mels 128, the configuration has 64",
        ),
    ],
)
def test_case_model_used_with_other_features_stops_01(dev_run, tmp_path, overrides, message):
    config = work_copy(dev_run, tmp_path, **overrides)
    one_line_error(script("01_test.py", config, cwd=tmp_path), "model_ToyCar.hdf5", message)
    assert not (tmp_path / "result" / "result.csv").exists()


def test_case_ignore_provenance_downgrades_to_a_warning(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path, **{"feature.power": 1.0})
    run = script("01_test.py", config, "--ignore-provenance", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "WARNING: " in run.stderr and "trained with feature.power 2.0" in run.stderr


def test_case_test_clips_at_another_sample_rate_stop_01(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    for clip in (data / "dev_data" / "ToyCar" / "test").glob("*.wav"):
        samples, rate = soundfile.read(clip, dtype="float32")
        soundfile.write(clip, np.repeat(samples, 3), rate * 3, subtype="PCM_16")  # 48 kHz
    config = work_copy(dev_run, tmp_path, data=data)
    one_line_error(
        script("01_test.py", config, cwd=tmp_path),
        "trained on 16000 Hz clips, these clips are 48000 Hz",
    )


def test_case_tflite_set_from_an_older_keras_model_is_refused(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path, seed=1)  # another model than the converted one
    retrain = script("00_train.py", config, "--retrain", cwd=tmp_path)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    one_line_error(
        script("03_tflite_test.py", config, cwd=tmp_path),
        "model_ToyCar.tflite: converted from another Keras model than the current "
        "model_ToyCar.hdf5 (run 02_convert.py again)",
    )


def test_case_replaced_model_file_does_not_match_its_provenance(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)
    model = keras.models.load_model(tmp_path / "model" / "model_ToyCar.hdf5", compile=False)
    model.save(tmp_path / "model" / "model_ToyCar.hdf5")  # same weights, other bytes
    one_line_error(
        script("01_test.py", config, cwd=tmp_path),
        "model_ToyCar.hdf5: the file is not the one its provenance describes",
    )


def test_case_model_without_provenance_works_with_one_warning(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)
    (tmp_path / "model" / "model_ToyCar.hdf5.provenance.json").unlink()
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("no provenance beside the model") == 1


def test_case_model_input_size_differs_from_the_features(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path, **{"feature.n_mels": 64})
    (tmp_path / "model" / "model_ToyCar.hdf5.provenance.json").unlink()  # only the size check
    one_line_error(
        script("01_test.py", config, cwd=tmp_path),
        "the model takes vectors of 640 values, the features are 320 (n_mels 64 x frames 5)",
    )


def test_case_tflite_input_size_differs_from_the_features(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path, **{"feature.n_mels": 64})
    for sidecar in (tmp_path / "model").glob("*.provenance.json"):
        sidecar.unlink()
    one_line_error(
        script("03_tflite_test.py", config, cwd=tmp_path), "the model takes vectors of 640 values"
    )


# ---- 2. non-finite numbers ----


def float_clip_with_nan(path):
    samples, rate = soundfile.read(path, dtype="float32")
    samples[40000:40100] = np.nan
    soundfile.write(path, samples, rate, subtype="FLOAT")


def test_case_nan_samples_in_a_training_clip_stop_training(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    victim = sorted((data / "dev_data" / "ToyCar" / "train").glob("*.wav"))[3]
    float_clip_with_nan(victim)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, data)))
    run = script("00_train.py", config, cwd=tmp_path)
    one_line_error(run, f"{victim.name}: samples are not finite (NaN or infinity)")
    assert not (tmp_path / "model" / "model_ToyCar.hdf5").exists()


def test_case_non_finite_loss_stops_training_before_saving():
    from anomaly_detection.core.config import FitConfig
    from anomaly_detection.features.frame_store import MemoryFrameStore
    from anomaly_detection.model.training import split_training_vectors, train_autoencoder
    from keras_model import get_model

    frames = np.full((40, 128), 1e30, dtype=np.float32)  # squares overflow float32
    store = MemoryFrameStore(frames, np.array([0, 20, 40]))
    fit = FitConfig(epochs=2, batch_size=8, validation_split=0.0, verbose=0)
    train, _ = split_training_vectors(store, frames=5, fit=fit, seed=0)
    with pytest.raises(TrainingError, match="training diverged: loss became"):
        train_autoencoder(get_model(640), train, None, fit)


def test_case_unloadable_model_is_never_skipped_as_existing(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)
    (tmp_path / "model" / "model_ToyCar.hdf5").write_bytes(b"not a model at all")
    run = script("00_train.py", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "not a loadable Keras model" in run.stderr and "training it again" in run.stderr
    assert "exists, skipping" not in run.stderr
    assert keras.models.load_model(tmp_path / "model" / "model_ToyCar.hdf5", compile=False)


def nan_model(path):
    from keras_model import get_model

    model = get_model(640)
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    model.save(path)  # keras itself, as a file from elsewhere would be


def test_case_model_with_nan_weights_is_retrained_and_never_converted(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)
    model_file = tmp_path / "model" / "model_ToyCar.hdf5"
    model_file.with_name("model_ToyCar.hdf5.provenance.json").unlink()
    nan_model(model_file)
    before = {path.name: path.read_bytes() for path in (tmp_path / "model").glob("*.tflite")}
    one_line_error(script("02_convert.py", config, cwd=tmp_path), "non-finite weights")
    after = {path.name: path.read_bytes() for path in (tmp_path / "model").glob("*.tflite")}
    assert after == before  # nothing converted from it
    run = script("00_train.py", config, cwd=tmp_path)
    assert "the model has non-finite weights; training it again" in run.stderr


def test_case_nan_and_huge_samples_in_test_clips_are_excluded_and_named(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    tests = sorted((data / "dev_data" / "ToyCar" / "test").glob("normal_id_01_*.wav"))
    float_clip_with_nan(tests[0])
    samples, rate = soundfile.read(tests[1], dtype="float32")
    soundfile.write(tests[1], samples * np.float32(1e30), rate, subtype="FLOAT")
    config = work_copy(dev_run, tmp_path, data=data)
    (tmp_path / "result").mkdir()
    (tmp_path / "result" / "result.csv").write_text("stale\n")
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "2 test clip(s) could not be scored" in run.stderr
    assert f"{tests[0]}: samples are not finite" in run.stderr
    assert f"{tests[1]}: log-mel spectrogram is not finite" in run.stderr
    assert (tmp_path / "result" / "result.csv").read_text().startswith("ToyCar\nid,AUC,pAUC\n")
    scores = (tmp_path / "result" / "anomaly_score_ToyCar_id_01.csv").read_text()
    assert tests[0].name not in scores and "nan" not in scores.lower()


def test_case_folding_check_fails_on_nan():
    from anomaly_detection.device.tflite_convert import fold_batch_norm
    from keras_model import get_model

    model = get_model(640)
    weights = model.get_weights()
    weights[0][:] = np.nan
    model.set_weights(weights)
    with pytest.raises(ConversionError, match="nan"):
        check_folding(model, fold_batch_norm(model), np.zeros((4, 640), np.float32))


def test_case_non_finite_threshold_is_never_written(tmp_path):
    model_file = tmp_path / "model.hdf5"
    model_file.write_bytes(b"x")
    with pytest.raises(ModelError, match="decision threshold is nan; not saved"):
        save_threshold(
            tmp_path / "t.json",
            Threshold(float("nan"), 0.9, 1.0, 0.0, 1.0, 3),
            model_file=model_file,
        )
    assert not (tmp_path / "t.json").exists()


# ---- 3. a feature cache that can prove its data ----


def cached_clips(tmp_path, dev_run, count=4):
    files = sorted((dev_run["data"] / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:count]
    copies = []
    for path in files:
        copies.append(tmp_path / "clips" / path.name)
        copies[-1].parent.mkdir(exist_ok=True)
        shutil.copy2(path, copies[-1])
    return copies


def test_case_clip_rewritten_with_same_size_and_mtime_is_recomputed(dev_run, tmp_path):
    files = cached_clips(tmp_path, dev_run)
    feature, cache = FeatureConfig(), FeatureCache(tmp_path / "cache", FeatureConfig())
    extract_log_mels(files, feature, cache=cache, progress=False)
    status = files[1].stat()
    samples, rate = soundfile.read(files[1], dtype="int16")
    soundfile.write(files[1], samples[::-1].copy(), rate, subtype="PCM_16")  # same size
    os.utime(files[1], ns=(status.st_atime_ns, status.st_mtime_ns))
    assert files[1].stat().st_size == status.st_size
    clips = extract_log_mels(files, feature, cache=cache, progress=False)
    assert np.array_equal(clips[1].log_mel, file_to_log_mel(files[1], feature))


def test_case_zeroed_cache_data_is_detected_and_recomputed(dev_run, tmp_path, caplog):
    files = cached_clips(tmp_path, dev_run)
    feature, cache = FeatureConfig(), FeatureCache(tmp_path / "cache", FeatureConfig())
    expected = [clip.log_mel.copy() for clip in extract_log_mels(files, feature, cache=cache)]
    index_path, data_path = cache.entry_paths(files)
    data_path.write_bytes(bytes(data_path.stat().st_size))
    clips = extract_log_mels(files, feature, cache=cache, progress=False)
    assert "damaged feature-cache entry" in caplog.text and "checksum" in caplog.text
    for clip, values in zip(clips, expected, strict=True):
        assert np.array_equal(clip.log_mel, values)


def test_case_orphaned_temporary_cache_files_are_removed(dev_run, tmp_path):
    files = cached_clips(tmp_path, dev_run)
    orphan = tmp_path / "cache" / "ab" / ".deadbeef.x1y2.part.f32"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(bytes(4096))
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    extract_log_mels(
        files, FeatureConfig(), cache=FeatureCache(tmp_path / "cache", FeatureConfig())
    )
    assert not orphan.exists()


# ---- 4. one line, never a traceback ----


def test_case_short_16_bit_clip_is_named(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    short = data / "dev_data" / "ToyCar" / "train" / "normal_id_01_99999999.wav"
    soundfile.write(short, np.zeros(RATE, np.int16), RATE, subtype="PCM_16")  # 1 s
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, data)))
    one_line_error(script("00_train.py", config, cwd=tmp_path), "normal_id_01_99999999.wav")
    run = script("00_train.py", config, "--skip-bad-clips", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "normal_id_01_99999999.wav" in run.stderr and "Traceback" not in run.stderr


def test_case_symlink_loop_and_non_utf8_name_in_a_data_folder(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    test_dir = data / "dev_data" / "ToyCar" / "test"
    os.symlink("normal_id_01_loop.wav", test_dir / "normal_id_01_loop.wav")
    source = sorted(test_dir.glob("normal_id_02_*.wav"))[0]
    odd = os.path.join(os.fsencode(test_dir), b"normal_id_02_\xff\xfe.wav")
    shutil.copy(source, odd)
    config = work_copy(dev_run, tmp_path, data=data)
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "1 test clip(s) could not be scored" in run.stderr
    assert "normal_id_01_loop.wav" in run.stderr
    scores = (tmp_path / "result" / "anomaly_score_ToyCar_id_02.csv").read_bytes()
    assert b"normal_id_02_" in scores and scores.count(b"\n") == 11  # the odd name scored


def test_case_yaml_that_is_not_utf8(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"dev_directory: /tmp/\xe9t\xe9\n")
    one_line_error(script("01_test.py", config, cwd=tmp_path), "not UTF-8 text (byte 20)")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seed", -1, "'seed' must be in [0, 2**32), got -1"),
        ("seed", 2**40, "'seed' must be in [0, 2**32), got 1099511627776"),
        ("fit.optimizer", "adamm", "'fit.compile.optimizer' is not a Keras name: 'adamm'"),
        ("fit.loss", "mean_squared_eror", "(did you mean 'mean_squared_error'?)"),
        ("feature.n_fft", 256, "'feature.n_fft' (256) is too small for 'feature.n_mels' (128)"),
    ],
)
def test_case_bad_values_are_rejected_before_any_work(tmp_path, tiny_data, key, value, message):
    raw = base_config(tmp_path, tiny_data)
    if key.startswith("fit."):
        raw["fit"]["compile"][key.split(".")[1]] = value
    elif key.startswith("feature."):
        raw["feature"][key.split(".")[1]] = value
    else:
        raw[key] = value
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = script("00_train.py", config, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert message in run.stderr
    assert not (tmp_path / "cache").exists()  # rejected before any feature was computed


def test_case_duplicate_yaml_keys(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("max_fpr: 0.1\nmax_fpr: 0.2\n")
    one_line_error(script("01_test.py", config, cwd=tmp_path), "duplicate key 'max_fpr' (line 2)")


def test_case_billion_laughs_is_refused_quickly_and_briefly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    lines.append("max_fpr: *a9")
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    run = script("01_test.py", config, cwd=tmp_path)
    assert time.perf_counter() - start < 30
    one_line_error(run, "aliases", "refusing to expand them")
    assert len(run.stderr) < 2000


def test_case_a_nested_value_in_a_message_is_abbreviated(tmp_path, tiny_data):
    raw = base_config(tmp_path, tiny_data)
    raw["max_fpr"] = [[list(range(1000)) for _ in range(5)] for _ in range(5)]  # no aliases
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 1 and len(run.stderr) < 2000 and "..." in run.stderr


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        ("log_file", "folder", "'log_file' is a folder, not a file"),
        ("result_directory", "file", "'result_directory' is a file, not a folder"),
        ("model_directory", "file", "'model_directory' is a file, not a folder"),
        ("model_directory", "read-only", "'model_directory' is not a writable folder"),
    ],
)
def test_case_output_locations_are_checked_before_any_work(tmp_path, tiny_data, key, make, message):
    target = tmp_path / "target"
    if make == "folder":
        target.mkdir()
    elif make == "file":
        target.write_text("in the way\n")
    else:
        target = Path("/proc/sys")  # no one, not even root, creates files there
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tiny_data, **{key: str(target)})))
    run = script("00_train.py", config, cwd=tmp_path)
    one_line_error(run, str(target), message)
    assert "training on" not in run.stderr


def test_case_tflite_that_cannot_run_is_a_model_error(dev_run):
    model = TFLiteModel(dev_run["work"] / "model" / "model_ToyCar.tflite")
    with pytest.raises(ModelError, match="LiteRT cannot run this model"):
        model(np.zeros((3, 320), np.float32))


def test_case_export_eembc_output_naming_a_file(dev_run, tmp_path):
    blocker = tmp_path / "samples"
    blocker.write_text("a file\n")
    run = run_script(
        "export_eembc.py",
        "-d",
        "--config",
        str(dev_run["config"]),
        "--output",
        str(blocker),
        cwd=tmp_path,
    )
    one_line_error(run, "samples", "cannot write")


def test_case_corrupt_run_info_is_replaced_with_a_warning(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)
    (tmp_path / "result").mkdir()
    (tmp_path / "result" / "run_info.json").write_text('{"keras": 5')
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unreadable run information" in run.stderr
    assert json.loads((tmp_path / "result" / "run_info.json").read_text())["keras"]["ToyCar"]


def test_case_full_disk_while_writing_results(dev_run, tmp_path):
    config = work_copy(dev_run, tmp_path)

    def small_files():  # files beyond 20 KB fail to grow, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    run = subprocess.run(
        [sys.executable, str(REPO / "01_test.py"), "-d", "--config", str(config), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=small_files,
        timeout=600,
    )
    one_line_error(run, "cannot write", "File too large")
    assert not list((tmp_path / "result").glob(".*.part*"))


def test_case_upper_case_wav_extension_is_accepted(dev_run, tmp_path):
    data = data_copy(dev_run, tmp_path)
    test_dir = data / "dev_data" / "ToyCar" / "test"
    first = sorted(test_dir.glob("anomaly_id_01_*.wav"))[0]
    first.rename(first.with_suffix(".WAV"))
    config = work_copy(dev_run, tmp_path, data=data)
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    scores = (tmp_path / "result" / "anomaly_score_ToyCar_id_01.csv").read_text()
    assert first.with_suffix(".WAV").name in scores and scores.count("\n") == 10


def test_case_threshold_of_a_model_rewritten_with_the_same_size_and_mtime_is_refit(tmp_path):
    from anomaly_detection.evaluation.thresholds import load_threshold

    model_file = tmp_path / "model.tflite"
    model_file.write_bytes(b"first model bytes")
    save_threshold(
        tmp_path / "t.json", Threshold(5.0, 0.9, 1.0, 0.0, 1.0, 3), model_file=model_file
    )
    status = model_file.stat()
    assert load_threshold(tmp_path / "t.json", model_file=model_file, percentile=0.9)
    model_file.write_bytes(b"other model bytes")  # same size
    os.utime(model_file, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert load_threshold(tmp_path / "t.json", model_file=model_file, percentile=0.9) is None
