"""Nothing half-written: atomic outputs, Ctrl-C, killed runs, forced retraining."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from anomaly_detection.core.io_utils import atomic_path, write_text_atomic
from conftest import REPO, run_script, write_config


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "result.csv"
    write_text_atomic(target, "complete\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "complete\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.csv"]


def test_model_save_is_atomic(tmp_path, monkeypatch):
    import keras

    from keras_model import get_model, save_model

    model = get_model(640)

    def broken_save(self, path, *args, **kwargs):
        path.write_bytes(b"partial")
        raise KeyboardInterrupt  # interrupted mid-save

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, tmp_path / "model_ToyCar.hdf5")
    assert list(tmp_path.iterdir()) == []


def start_training(work, config):
    """Start 00_train.py and return once it is well into training (epoch 3 begun)."""
    environment = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "00_train.py"), "-d", "--config", str(config)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    stderr_lines = []
    threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True).start()
    for line in process.stdout:  # Keras prints "Epoch N/M" with verbose 2
        if line.startswith("Epoch 3/"):
            break
    threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()
    return process, stderr_lines


@pytest.fixture()
def long_training(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    return tmp_path, write_config(tmp_path, data, **{"fit.epochs": 400, "fit.verbose": 2})


def test_ctrl_c_stops_cleanly_with_status_130(long_training):
    work, config = long_training
    process, stderr_lines = start_training(work, config)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    time.sleep(0.5)
    assert "interrupted by the user" in "".join(stderr_lines)
    model_dir = work / "model"
    assert not model_dir.exists() or not any(model_dir.iterdir())  # no model, no partial file


def test_killed_run_leaves_no_model_and_a_rerun_completes(long_training):
    work, config = long_training
    process, _ = start_training(work, config)
    process.kill()
    process.wait(timeout=60)
    model_dir = work / "model"
    assert not (model_dir / "model_ToyCar.hdf5").exists()
    short = (
        config.read_text().replace("epochs: 400", "epochs: 1").replace("verbose: 2", "verbose: 0")
    )
    config.write_text(short)
    rerun = run_script("00_train.py", "-d", "-q", "--config", str(config), cwd=work)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (model_dir / "model_ToyCar.hdf5").stat().st_size > 1_000_000
    assert not list(model_dir.glob(".*part*"))


def test_retrain_replaces_an_existing_model(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data, **{"fit.epochs": 1})
    assert (
        run_script("00_train.py", "-d", "-q", "--config", str(config), cwd=tmp_path).returncode == 0
    )
    model = tmp_path / "model" / "model_ToyCar.hdf5"
    threshold = tmp_path / "model" / "model_ToyCar.hdf5.threshold.json"
    before = (model.stat().st_mtime_ns, threshold.read_text())
    run = run_script("00_train.py", "-d", "-q", "--retrain", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0
    after = (model.stat().st_mtime_ns, threshold.read_text())
    assert after[0] != before[0] and after[1] != before[1]


def interrupt_when(command, cwd, marker, *, env=None, delay=1.0):
    """Start ``command`` in its own process group, send SIGINT to the whole group (as a
    terminal's Ctrl-C does) once ``marker`` appears in its standard error; return its exit
    status and everything it printed to standard error."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**environment, **(env or {})},
        start_new_session=True,
    )
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: os.read(process.stderr.fileno(), 4096), b"")),
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + 300
    while marker.encode() not in b"".join(chunks):
        assert process.poll() is None and time.monotonic() < deadline, b"".join(chunks)[-2000:]
        time.sleep(0.1)
    time.sleep(delay)  # well inside the stage
    os.killpg(process.pid, signal.SIGINT)
    status = process.wait(timeout=120)
    reader.join(timeout=10)
    return status, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("delay", [0.2, 3.0])  # while the workers start; while they score
def test_ctrl_c_in_the_tflm_stage_is_one_line(dev_run, tmp_path, delay):
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    config = write_config(tmp_path, dev_run["data"], n_workers=2)
    status, printed = interrupt_when(
        [sys.executable, str(REPO / "03_tflite_test.py"), "-d", "--config", str(config)],
        tmp_path,
        "in TensorFlow Lite Micro",
        delay=delay,
    )
    assert status == 130, printed[-2000:]
    assert "Traceback" not in printed and "KeyboardInterrupt" not in printed
    last = printed.rstrip().splitlines()[-1]
    assert last.endswith(
        "interrupted by the user; finished outputs are complete, unfinished ones were not written"
    )


def test_ctrl_c_while_writing_synthetic_data_is_one_line(tmp_path):
    command = [
        sys.executable, "-m", "anomaly_detection.data.synthetic", str(tmp_path / "data"),
        "--train-clips", "400", "--test-normal-clips", "0", "--test-anomaly-clips", "0",
        "--duration", "10", "--workers", "2",
    ]  # fmt: skip
    status, printed = interrupt_when(
        command, tmp_path, "synthetic clips", env={"PYTHONUNBUFFERED": "1"}
    )
    assert status == 130, printed[-2000:]
    assert "Traceback" not in printed and "KeyboardInterrupt" not in printed
    assert printed.rstrip().splitlines()[-1] == (
        "interrupted by the user; the clips written are complete, run the same command again "
        "to write the rest"
    )
    assert not list((tmp_path / "data").rglob("*.part*")) and not list(
        (tmp_path / "data").rglob(".*.wav*")
    )
