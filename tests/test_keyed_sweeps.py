"""A sweep keys each run on every input its scripts read (issue 31): the clips as the scripts
list them (through a linked machine-type folder too) and, in evaluation mode, the labels'
content; Ctrl-C of a sweep while a stage loads Keras leaves one line in the stage's log.

Each run here is recorded by a first sweep interrupted as its first stage starts; its
status is then marked done, as if it had finished (no training): the same sweep reports it
complete, and again after an input changed, not."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset
from conftest import REPO, write_config

RUN = Path("runs") / "base" / "seed_0"


def start_sweep(config: Path, output: Path, mode: str) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "sweep.py"), "--config", str(config)]
    command += ["--output", str(output), "--seeds", "0", mode]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        command,
        cwd=config.parent,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def record_run(config: Path, output: Path, mode: str) -> str:
    """Start the sweep, interrupt it while its first stage loads its libraries, and mark
    the run done; returns the stage's log."""
    process = start_sweep(config, output, mode)
    status = output / RUN / "sweep_run.json"
    deadline = time.monotonic() + 60
    while not status.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # 00_train.py is importing Keras
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    recorded = json.loads(status.read_text())
    assert recorded["state"] == "interrupted"
    status.write_text(json.dumps({**recorded, "state": "done", "stages": ["00", "01"]}))
    return (output / RUN / "stage_00.log").read_text()


def planned(config: Path, output: Path, mode: str) -> str:
    """The sweep's ``N complete, M to run`` (stopped there when a run is to run)."""
    process = start_sweep(config, output, mode)
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"\d+ complete, \d+ to run", line)
        if found:
            if not found[0].endswith(" 0 to run"):
                process.send_signal(signal.SIGINT)
            process.communicate(timeout=120)
            return found[0]
    process.wait(timeout=60)
    raise AssertionError("the sweep printed no plan")


def test_a_linked_type_folder_is_keyed_on_its_clips_and_ctrl_c_is_one_line(tiny_data, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "ToyCar"
    shutil.copytree(tiny_data / "dev_data" / "ToyCar", elsewhere)
    (tmp_path / "data" / "dev_data").mkdir(parents=True)
    (tmp_path / "data" / "dev_data" / "ToyCar").symlink_to(elsewhere, target_is_directory=True)
    config = write_config(tmp_path / "work", tmp_path / "data")
    output = tmp_path / "sweep"
    log = record_run(config, output, "-d").splitlines()  # Ctrl-C while 00 loads Keras
    assert log[0].startswith("== attempt 1: ") and "00_train.py" in log[0]
    assert log[1:] in (
        ["ERROR: interrupted by the user while starting; nothing was written"],
        [  # had it loaded them already
            "ERROR: interrupted by the user; finished outputs are complete, unfinished ones "
            "were not written"
        ],
    ), log
    assert planned(config, output, "-d") == "1 complete, 0 to run"
    for clip in sorted((elsewhere / "test").iterdir())[::2]:
        clip.unlink()  # half the test clips removed, in the linked folder
    assert planned(config, output, "-d") == "0 complete, 1 to run"


def flip_first_label(path: Path, *, column: int) -> None:
    """Correct the first labelled row of a ground truth file (label in ``column``)."""
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.count(",") >= column)
    cells = lines[index].split(",")
    cells[column] = str(1 - int(cells[column]))
    lines[index] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("year", [2020, 2026])
def test_corrected_evaluation_labels_make_a_run_incomplete(year, tiny_data, tmp_path):
    data = tmp_path / "data"
    if year == 2020:
        shutil.copytree(tiny_data / "eval_data", data / "eval_data")
        shutil.copy(tiny_data / "eval_data_list.csv", data / "eval_data_list.csv")
        labels, column = data / "eval_data_list.csv", 2
    else:
        spec = SectionedSpec(
            year=2026, machine_types=("fan",), train_source_clips=2, train_target_clips=1,
            test_clips=1, duration=1.0,
        )  # fmt: skip
        write_sectioned_dataset(data, spec, dev=False, eval_=True)
        labels, column = data / "ground_truth_data" / "ground_truth_fan_section_00_test.csv", 1
    config = write_config(tmp_path / "work", data)
    output = tmp_path / "sweep"
    record_run(config, output, "-e")
    assert planned(config, output, "-e") == "1 complete, 0 to run"
    flip_first_label(labels, column=column)
    assert planned(config, output, "-e") == "0 complete, 1 to run"


def test_a_clip_rewritten_with_its_old_modification_time_changes_the_inputs(tiny_data, tmp_path):
    from anomaly_detection.core.config import load_config
    from anomaly_detection.data.run_inputs import inputs_digest

    shutil.copytree(tiny_data / "dev_data", tmp_path / "data" / "dev_data")
    config = load_config(write_config(tmp_path / "work", tmp_path / "data"))
    before = inputs_digest(config, dev_mode=True, machine_types=None)
    assert inputs_digest(config, dev_mode=True, machine_types=None) == before
    clip = sorted((tmp_path / "data" / "dev_data" / "ToyCar" / "test").iterdir())[0]
    status = clip.stat()
    clip.write_bytes(clip.read_bytes()[:-2] + b"\x01\x02")  # same name and size
    os.utime(clip, ns=(status.st_atime_ns, status.st_mtime_ns))  # as `cp -p` keeps it
    assert clip.stat().st_mtime_ns == status.st_mtime_ns
    assert inputs_digest(config, dev_mode=True, machine_types=None) != before
