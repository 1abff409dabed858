"""MLCommons' own runner, unmodified, against the host DUT (the firmware's serial protocol on
a pseudo-terminal, answered by the int8 model in TFLM).

Reads the runner from ``AD_RUNNER_DIR`` (default ``../shared/third_party/mlcommons-tiny-runner``):
skipped with a message when absent, required in CI (``AD_REQUIRE_REFERENCE=1``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from anomaly_detection.device.benchmark_samples import read_labels
from anomaly_detection.device.dut_process import HostDutProcess, package_environment
from anomaly_detection.device.firmware_monitor import FirmwareMonitor, c_atoi
from anomaly_detection.device.run_official_runner import lock_port
from anomaly_detection.device.tflm import TFLMModel
from anomaly_detection.device.window_replay import read_sample, window_results
from conftest import REPO, run_script

INTIO = "model_ToyCar_quant_fullint_micro_intio.tflite"


def runner_dir() -> Path:
    """The unmodified runner; skipped (or failed, in CI) when absent."""
    default = REPO.parent / "shared" / "third_party" / "mlcommons-tiny-runner"
    path = Path(os.environ.get("AD_RUNNER_DIR", default))
    if not (path / "main.py").is_file():
        message = (
            f"MLCommons' runner not found in {path}: set AD_RUNNER_DIR to a copy of "
            "mlcommons/tiny's benchmark/runner"
        )
        if os.environ.get("AD_REQUIRE_REFERENCE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def child_processes(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


# ---- the firmware's monitor, byte for byte ----


class FakeModel:
    """Records what the monitor asks of the model; its result is the window's mean."""

    input_dim = 4

    def __init__(self):
        self.loaded, self.invokes = [], 0

    def load(self, window):
        self.loaded.append(np.array(window))

    def invoke(self):
        self.invokes += 1

    def result(self):
        return float(np.mean(self.loaded[-1])) if self.loaded else 0.0


def monitor():
    ticks = iter(range(1000, 10**6, 250))
    return FirmwareMonitor(FakeModel(), vendor_name="v", clock_us=lambda: next(ticks))


def test_monitor_answers_as_the_firmware_formats_it():
    dut = monitor()
    assert dut.feed(b"name%") == b"m-name-dut-[v]\r\nm-ready\r\n"
    assert dut.feed(b"profile%") == (
        b"m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[ad01]\r\nm-ready\r\n"
    )
    assert dut.feed(b"timestamp%") == b"m-lap-us-1000\r\nm-ready\r\n"
    assert dut.feed(b"help%").count(b"\r\n") == 13
    window = np.array([1.5, 2.0, -3.25, 8.0], dtype="<f4").tobytes()
    assert dut.feed(b"db load 16%") == b"m-[Expecting 16 bytes]\r\nm-ready\r\n"
    assert dut.feed(f"db {window[:7].hex()[:13]}".encode()) == b""  # no terminator: nothing
    assert dut.feed(b"%") == b"e-[Insufficent number of hex digits]\r\nm-ready\r\n"
    assert dut.feed(f"db {window[:6].hex()}%".encode()) == b"m-ready\r\n"
    assert dut.feed(f"db {window[6:].hex()}ffff%".encode()) == b"m-load-done\r\nm-ready\r\n"
    assert dut.feed(b"infer 3 2%") == (
        b"m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\nm-lap-us-1250\r\n"
        b"m-lap-us-1500\r\nm-infer-done\r\nm-results-[2.062]\r\nm-ready\r\n"
    )
    assert dut.model.invokes == 5 and list(dut.model.loaded[-1]) == [1.5, 2.0, -3.25, 8.0]
    assert dut.feed(b"db print%") == (
        b"m-buffer-00-00-c0-3f-00-00-00-40\r\nm-buffer-00-00-50-c0-00-00-00-41\r\nm-ready\r\n"
    )
    assert dut.feed(b"infer%").startswith(b"m-warmup-start-10\r\n")  # the C defaults: 1, 10


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (b"", b"e-[Unknown command: (null)]\r\n"),
        (b"   ", b"e-[Unknown command: (null)]\r\n"),
        (b"reboot now", b"e-[Unknown command: reboot]\r\n"),
        (b"db", b"e-[Command 'db' requires a subcommand]\r\n"),
        (b"db load", b"e-[Command 'db load' requires the # of bytes]\r\n"),
        (b"db load x", b"e-[Command 'db load' must be >0 bytes]\r\n"),
        (b"db load 6000", b"Supplied buffer size 6000 exceeds maximum of 5120\n"),
        (b"db load -5", b"Supplied buffer size -5 exceeds maximum of 5120\n"),
        (b"db 0x12", b"e-[Invalid hex digit '0x']\r\n"),
        (b"db 12zz", b"e-[Invalid hex digit 'zz']\r\n"),
        (b"infer 0", b"e-[Inference iterations must be >0]\r\n"),
        (b"infer -3 1", b"e-[Inference iterations must be >0]\r\n"),
        (b"infer 1 -1", b"e-[Inference warmup must be >=0]\r\n"),
        (b"x" * 200, b"e-[Unknown command: " + b"x" * 80 + b"]\r\n"),
    ],
)
def test_malformed_commands_get_the_firmwares_error_line(command, answer):
    assert monitor().feed(command + b"%") == answer + b"m-ready\r\n"


def test_infer_before_db_load_prints_the_firmwares_line_and_keeps_serving():
    dut = monitor()
    answer = dut.feed(b"infer 1 0%").decode()
    assert answer.splitlines()[0] == "Input db has 0 elemented, expected 4"
    assert answer.endswith("m-results-[0.000]\r\nm-ready\r\n") and dut.model.loaded == []
    assert dut.feed(b"db " + b"00" * 3000 + b"%").endswith(b"m-ready\r\n")  # cut at 80
    overflow = dut.feed(b"db load 6000%" + b"db " + b"ab" * 38 + b"%" * 1)
    assert overflow.endswith(b"m-ready\r\n")
    for _ in range(140):  # 140 x 38 bytes > 5,120: the host drops the rest, one line each
        answer = dut.feed(b"db " + b"ab" * 38 + b"%")
    assert answer.startswith(b"e-[host DUT: the byte buffer holds 5120 bytes")
    assert dut.feed(b"name%") == b"m-name-dut-[v]\r\nm-ready\r\n"


def c_loop(buffer, digits):
    """``ee_buffer_parse``'s hex loop as the C code reads, pair by pair (the test's oracle),
    with the host's stop at the buffer's end."""
    for start in range(0, len(digits), 2):
        pair = digits[start : start + 2]
        if any(c not in "0123456789abcdefABCDEF" for c in pair):
            return [f"e-[Invalid hex digit '{pair}']\r\n"]
        if buffer.position >= len(buffer.data):
            return ["overflow"]
        buffer.data[buffer.position] = int(pair, 16)
        buffer.position += 1
        if buffer.position == buffer.size:
            return ["m-load-done\r\n"]
    return []


def test_hex_lines_load_the_buffer_as_the_c_loop_does():
    from anomaly_detection.device.firmware_monitor import ByteBuffer

    rng = np.random.default_rng(7)
    ours, oracle = ByteBuffer(), ByteBuffer()
    for _ in range(3000):
        if rng.random() < 0.05:
            size = int(rng.choice([0, 8, 2560, 5120, 6000]))
            for buffer in (ours, oracle):
                buffer.size, buffer.position = size, 0
        digits = rng.choice(list("0123456789abcdefABCDEF"), int(rng.integers(0, 40)) * 2)
        if len(digits) and rng.random() < 0.1:
            digits[int(rng.integers(0, len(digits)))] = str(rng.choice(list("xG-")))
        line = "".join(digits)
        answer = ours.command([line]) if line else []
        expected = c_loop(oracle, line)
        assert (answer[:1] if not answer or "host DUT" not in answer[0] else ["overflow"]) == (
            expected
        ), line
        assert ours.position == oracle.position and ours.data == oracle.data


def test_the_runner_reads_ad01_from_the_samples_or_a_link_to_them(tmp_path):
    from anomaly_detection.device.runner_rehearsal import runner_dataset

    (tmp_path / "submission" / "ad01").mkdir(parents=True)
    assert (
        runner_dataset(tmp_path / "submission" / "ad01", tmp_path / "w")
        == (tmp_path / "submission").resolve()
    )
    (tmp_path / "ToyCar").mkdir()
    linked = runner_dataset(tmp_path / "ToyCar", tmp_path / "w")
    assert linked == tmp_path / "w" / "datasets"
    assert (linked / "ad01").resolve() == (tmp_path / "ToyCar").resolve()
    assert runner_dataset(tmp_path / "ToyCar", tmp_path / "w") == linked  # again: relinked


def test_c_atoi():
    assert [c_atoi(t) for t in ("12", " 7x", "-4", "+9", "x", "", "99999999999")] == [
        12, 7, -4, 9, 0, 0, 2**31 - 1,
    ]  # fmt: skip


# ---- the host DUT on a pseudo-terminal ----


@pytest.fixture(scope="module")
def intio_model(dev_run):
    return dev_run["work"] / "model" / INTIO


@pytest.fixture(scope="module")
def six_samples(dev_run, tmp_path_factory):
    """3 normal and 3 anomalous samples of the dev_run clips (196 windows each), exported by
    export_eembc.py into a folder not named ad01 (the rehearsal links it)."""
    work = tmp_path_factory.mktemp("six")
    test_dir = dev_run["data"] / "dev_data" / "ToyCar" / "test"
    rows = []
    for kind, label in (("normal", 0), ("anomaly", 1)):
        for clip in sorted(test_dir.glob(f"{kind}_id_0*.wav"))[:3]:
            rows.append(f"{clip.stem}_hist_librosa.bin,2,{label},2560,512")
    (work / "y_labels.csv").write_text("\n".join(rows) + "\n")
    export = run_script(
        "export_eembc.py", "-d", "--config", str(dev_run["config"]), "--labels",
        str(work / "y_labels.csv"), "--output", str(work / "samples"), cwd=dev_run["work"],
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-2000:]
    return work / "samples" / "ToyCar"


def command(port: serial.Serial, text: str) -> list[str]:
    """The lines the DUT answers to one command, up to m-ready."""
    port.write(f"{text}%".encode())
    lines, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        line = port.readline().decode(errors="replace").rstrip("\r\n")
        lines.append(line)
        if line == "m-ready":
            return lines
    raise AssertionError(f"no m-ready after {text!r}: {lines}")


def test_host_dut_gives_window_replays_result_and_survives_hostile_lines(intio_model, six_samples):
    sample = read_labels(six_samples / "y_labels.csv")[0]
    model = TFLMModel(intio_model)
    windows = read_sample(six_samples, sample, model.input_dim)
    expected = window_results(model, windows[[0, 7]])
    with HostDutProcess(intio_model) as dut, serial.Serial(dut.port, 921600, timeout=5) as port:
        assert command(port, "name") == ["m-name-dut-[host-tflm]", "m-ready"]
        assert command(port, "infer 1 0")[0] == "Input db has 0 elemented, expected 640"
        for index, value in zip((0, 7), expected, strict=True):
            data = windows[index].astype("<f4").tobytes()
            assert command(port, f"db load {len(data)}")[0] == "m-[Expecting 2560 bytes]"
            for start in range(0, len(data), 31):  # as the runner sends it
                answer = command(port, f"db {data[start : start + 31].hex()}")
            assert answer == ["m-load-done", "m-ready"]
            answer = command(port, "infer 2 1")
            assert answer[-2:] == [f"m-results-[{value:0.3f}]", "m-ready"]
            first, second = (int(line.removeprefix("m-lap-us-")) for line in answer[3:5])
            assert 0 < second - first < 1_000_000
        assert command(port, "db 0a0")[0] == "e-[Insufficent number of hex digits]"
        assert command(port, "db 0g")[0] == "e-[Invalid hex digit '0g']"
        assert command(port, "db load 2560")[0] == "m-[Expecting 2560 bytes]"
        assert command(port, "infer 1 0")[0] == "Input db has 0 elemented, expected 640"
        assert command(port, "results") == [f"m-results-[{expected[1]:0.3f}]", "m-ready"]
        port.write(b"infer 200000 0%")  # ~40 s of inferences, left unread: Ctrl-C the DUT
        time.sleep(0.5)
        assert dut.running()
        dut.process.send_signal(signal.SIGINT)
        assert dut.process.wait(10) == 130
    assert list(dut.lines)[-1].startswith(f"host DUT on {dut.port}: stopped by Ctrl-C after")
    assert not any("Traceback" in line for line in dut.lines)


def test_models_the_firmware_cannot_run_are_refused_at_start(dev_run, intio_model):
    float_io = dev_run["work"] / "model" / "model_ToyCar_quant_fullint_micro.tflite"
    for model, options, cause in (
        (float_io, [], "has float input or output"),
        (intio_model, ["--window-bytes", "2048"], "takes 640 values (2560 bytes of float32)"),
        (dev_run["config"], [], "not a TFLite model"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "anomaly_detection.device.host_dut", "--model", str(model)]
            + options,
            capture_output=True, text=True, env=package_environment(), timeout=60,
        )  # fmt: skip
        assert run.returncode == 1 and cause in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and not run.stdout


# ---- the unmodified runner through the launcher ----


@pytest.fixture(scope="module")
def rehearsal(intio_model, six_samples, tmp_path_factory):
    """``eembc_accuracy.py --official-runner`` on the six samples: the unmodified runner's
    accuracy test through the launcher against the host DUT, and the runner's folder
    digest before and after."""
    runner = runner_dir()
    before = folder_digest(runner)
    output = tmp_path_factory.mktemp("rehearsal") / "out"
    started = time.monotonic()
    run = run_script(
        "eembc_accuracy.py", "--samples", str(six_samples), "--model", str(intio_model),
        "--output", str(output), "--official-runner", "--runner-dir", str(runner),
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    (session,) = (output / "official_runner" / "sessions").iterdir()
    figures = [line for line in (session / "results.txt").read_text().splitlines() if " = " in line]
    print(f"6-file official runner rehearsal: {seconds:.1f} s; {figures}")
    return {
        "run": run,
        "output": output,
        "session": session,
        "untouched": before == folder_digest(runner),
    }


def test_official_runner_accuracy_run_equals_the_host_figures(rehearsal, intio_model, six_samples):
    results = (rehearsal["session"] / "results.txt").read_text()
    with open(rehearsal["output"] / "eembc_accuracy.csv", newline="") as handle:
        rows = {row["source"]: row for row in csv.DictReader(handle)}
    host = rows["host (TFLM)"]
    assert f"AUC = {float(host['runner_auc']):.3f}" in results
    assert f"Top 1% = {float(host['top1']):2.1f}" in results
    stderr = rehearsal["run"].stderr
    assert "official runner's results.txt: AUC = " in stderr
    assert "official runner against host: max |score difference| 0.0000, 0 of 6 files" in stderr
    # the runner's own per-window results are window_replay's, exactly
    model = TFLMModel(intio_model)
    entries = json.loads((rehearsal["session"] / "results.json").read_text())
    assert len(entries) == 6 * 196
    for sample in read_labels(six_samples / "y_labels.csv"):
        expected = window_results(model, read_sample(six_samples, sample, model.input_dim))
        printed = [e["infer"]["results"][0] for e in entries if e["file"] == sample.name]
        assert printed == list(expected)
    log = (rehearsal["session"] / "log.txt").read_text()
    assert "Device name retrieved: host-tflm" in log and "Device model retrieved: ad01" in log
    assert rehearsal["untouched"]  # the runner's folder is as it was


def test_runner_session_of_the_official_runner_has_no_file_beyond_rounding(
    rehearsal, intio_model, six_samples, tmp_path
):
    run = run_script(
        "eembc_accuracy.py", "--samples", str(six_samples), "--model", str(intio_model),
        "--output", str(tmp_path / "again"), "--runner-session", str(rehearsal["session"]),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "runner session against host: max |score difference| 0.0000, 0 of 6" in run.stderr


def test_official_runner_performance_mode_reports_the_hosts_throughput(
    intio_model, six_samples, tmp_path
):
    runner = runner_dir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ad01").symlink_to(six_samples)
    run = subprocess.run(
        [sys.executable, "-m", "anomaly_detection.device.run_official_runner", "--dataset-path",
         str(tmp_path / "data"), "--mode", "p", "--model", str(intio_model), "--runner-dir",
         str(runner), "--session-root", str(tmp_path / "p")],
        capture_output=True, text=True, env=package_environment(), timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    (session,) = (tmp_path / "p" / "sessions").iterdir()
    results = (session / "results.txt").read_text()
    throughputs = [float(line.split()[1]) for line in results.splitlines() if "Throughput:" in line]
    assert len(throughputs) == 5 and all(value > 0 for value in throughputs)
    assert results.count("# Inferences : 1500") == 5
    # a host runs 5 x 1500 inferences in seconds: the runner withholds its median (ERROR 2)
    assert "ERROR 2 - loop exited before 10 seconds" in results or "Median throughput" in results
    summary = run.stdout.strip().splitlines()[-1]
    median = np.median(throughputs)
    assert summary.startswith(
        f"host DUT throughput (this computer's TFLM, not a board's): {median:.1f} inf./s, "
        "median of 5 windows"
    )


def test_a_second_runner_on_the_same_dut_stops_with_one_line(intio_model, six_samples, tmp_path):
    runner = runner_dir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ad01").symlink_to(six_samples)
    with HostDutProcess(intio_model) as dut:
        held = lock_port(dut.port)  # a runner attached (the launcher's own lock)
        second = subprocess.run(
            [sys.executable, "-m", "anomaly_detection.device.run_official_runner",
             "--dataset-path", str(tmp_path / "data"), "--port", dut.port, "--runner-dir",
             str(runner), "--session-root", str(tmp_path / "second")],
            capture_output=True, text=True, env=package_environment(), timeout=60,
        )  # fmt: skip
        os.close(held)
        assert second.returncode == 1
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith(f"error: {dut.port}: another runner is attached to this DUT (")
        assert line.endswith(f" (pid {os.getpid()})); one runner at a time")
        assert not (tmp_path / "second" / "sessions").exists()
        with serial.Serial(dut.port, 921600, timeout=5) as port:
            assert command(port, "name") == ["m-name-dut-[host-tflm]", "m-ready"]


def test_rehearsal_ctrl_c_and_a_second_rehearsal_on_the_same_folder(
    intio_model, six_samples, tmp_path
):
    runner = runner_dir()
    arguments = [
        sys.executable, str(REPO / "eembc_accuracy.py"), "--samples", str(six_samples),
        "--model", str(intio_model), "--output", str(tmp_path / "out"), "--official-runner",
        "--runner-dir", str(runner),
    ]  # fmt: skip
    environment = package_environment()
    first = subprocess.Popen(
        arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    assert first.stderr is not None
    progress = "INFO: official runner: file "
    line = first.stderr.readline()
    while line and not line.startswith(progress):  # until the runner is running
        line = first.stderr.readline()
    assert line.startswith(f"{progress}1/6, window "), line
    second = subprocess.run(arguments, capture_output=True, text=True, env=environment)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"ERROR: {(tmp_path / 'out').resolve()}: in use by eembc_accuracy.py (pid {first.pid}); "
        "wait for it to finish or use another folder"
    ]
    children = child_processes(first.pid)
    assert len(children) == 2  # the host DUT and the runner
    first.send_signal(signal.SIGINT)
    assert first.wait(30) == 130
    lines = [line for line in first.stderr.read().splitlines() if not line.startswith(progress)]
    assert lines == [
        "ERROR: interrupted by the user; finished outputs are complete, unfinished ones were "
        "not written"
    ]
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # both stopped
    assert not (tmp_path / "out" / "results.txt").exists()
