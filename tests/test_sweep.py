"""sweep.py: a 2-seed x 2-setting grid on the tiny dataset, its summary checked against the
runs' own result.csv files; resume after an interruption; a Ray run with a failing setting."""

from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_script, write_config

# Its module-scoped fixture trains or converts models: its tests stay on one pytest-xdist
# worker (./run_tests.sh runs -n auto --dist loadgroup), so that the fixture runs once.
pytestmark = pytest.mark.xdist_group("test_sweep")

SETTINGS = ("fit.batch_size=256", "fit.batch_size=512")


def sweep_command(config: Path, output: Path, *extra: str) -> list[str]:
    return [
        "sweep.py",
        "--config",
        str(config),
        "--output",
        str(output),
        "--set",
        "fit.batch_size=256,512",
        *extra,
    ]


def read_auc_average(result_csv: Path) -> tuple[float, float]:
    """The ToyCar ``Average`` row of a result.csv, read independently of the package."""
    with open(result_csv, newline="") as handle:
        for row in csv.reader(handle):
            if row and row[0] == "Average":
                return float(row[1]), float(row[2])
    raise AssertionError(f"no Average row in {result_csv}")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_data) -> dict:
    work = tmp_path_factory.mktemp("sweep")
    config = write_config(work, tiny_data, **{"fit.epochs": 1})
    output = work / "out"
    result = run_script(*sweep_command(config, output, "--seeds", "0", "1"), cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"work": work, "config": config, "output": output, "result": result}


def test_sweep_summary_matches_the_runs_result_files(sweep):
    output = sweep["output"]
    with open(output / "sweep_summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    keras_rows = {
        (row["setting"], row["machine_type"]): row for row in rows if row["model"] == "keras"
    }
    assert set(keras_rows) == {(s, t) for s in SETTINGS for t in ("ToyCar", "Average")}
    for setting in SETTINGS:
        runs = [output / "runs" / setting / f"seed_{seed}" for seed in (0, 1)]
        pairs = [read_auc_average(run / "result" / "result.csv") for run in runs]
        aucs, paucs = [auc for auc, _ in pairs], [pauc for _, pauc in pairs]
        for machine_type in ("ToyCar", "Average"):  # one machine type: its average is the same
            row = keras_rows[(setting, machine_type)]
            assert int(row["runs"]) == 2
            assert float(row["auc_mean"]) == pytest.approx(statistics.mean(aucs), abs=1e-6)
            assert float(row["auc_std"]) == pytest.approx(statistics.stdev(aucs), abs=1e-6)
            assert float(row["auc_min"]) == pytest.approx(min(aucs), abs=1e-6)
            assert float(row["auc_max"]) == pytest.approx(max(aucs), abs=1e-6)
            assert float(row["pauc_mean"]) == pytest.approx(statistics.mean(paucs), abs=1e-6)
            assert float(row["pauc_std"]) == pytest.approx(statistics.stdev(paucs), abs=1e-6)
        # each run used its own setting and seed
        for seed, run in zip((0, 1), runs, strict=True):
            used = yaml.safe_load((run / "config.yaml").read_text())
            assert (used["seed"], used["fit"]["batch_size"]) == (seed, int(setting.split("=")[1]))
    assert (output / "sweep_spread.png").stat().st_size > 5000
    markdown = (output / "sweep_summary.md").read_text()
    assert "| fit.batch_size=256 | keras | **Average** | 2 |" in markdown


def test_sweep_resumes_where_it_was_interrupted(sweep):
    work, output = sweep["work"], sweep["output"]
    complete = sorted(output.glob("runs/*/seed_*/sweep_run.json"))
    before = {path: path.stat().st_mtime_ns for path in complete}
    # a third seed; interrupted once one of its runs is training
    command = [sys.executable, str(REPO / sweep_command(sweep["config"], output)[0])]
    command += sweep_command(sweep["config"], output, "--seeds", "0", "1", "2")[1:]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        command, cwd=work, env=environment, stderr=subprocess.PIPE, text=True
    )
    new_status = output / "runs" / SETTINGS[0] / "seed_2" / "sweep_run.json"
    deadline = time.monotonic() + 120
    while not new_status.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # well into 00_train.py
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert json.loads(new_status.read_text())["state"] != "done"

    result = run_script(*sweep_command(sweep["config"], output, "--seeds", "0", "1", "2"), cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 complete, 2 to run" in result.stderr
    assert {path: path.stat().st_mtime_ns for path in complete} == before  # not run again
    with open(output / "sweep_summary.csv", newline="") as handle:
        runs = {row["runs"] for row in csv.DictReader(handle) if row["model"] == "keras"}
    assert runs == {"3"}

    again = run_script(*sweep_command(sweep["config"], output, "--seeds", "0", "1", "2"), cwd=work)
    assert again.returncode == 0 and "6 complete, 0 to run" in again.stderr


def test_sweep_refuses_bad_settings_before_running(sweep, tiny_data):
    for bad, message in [
        ("fit.epochs=1,0", "'fit.epochs' must be greater than 0"),
        ("fit.epoch=3", "unknown key 'fit.epoch'"),
        ("seed=4", "use --seeds"),
        ("nonsense", "expected key=value"),
        ("cache_directory=null,'null'", "two values give the same setting 'cache_directory=null'"),
        ("model_directory=/tmp/m", "every run has its own"),
    ]:
        command = ["sweep.py", "--config", str(sweep["config"]), "--output", "x", "--set", bad]
        result = run_script(*command, cwd=sweep["work"])
        assert result.returncode == 1, bad
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    unlabelled = write_config(
        sweep["work"] / "unlabelled", tiny_data, eval_directory=str(sweep["work"] / "eval_data")
    )
    eval_without_labels = run_script(
        "sweep.py", "--config", str(unlabelled), "--output", "x", "-e", cwd=sweep["work"]
    )
    assert eval_without_labels.returncode == 1
    assert "has no ground truth" in eval_without_labels.stderr
    assert not (sweep["work"] / "x" / "runs").exists()


def test_sweep_refuses_a_busy_or_unusable_output_folder(sweep, tmp_path):
    import fcntl

    (tmp_path / "a_file").write_text("")
    command = ["sweep.py", "--config", str(sweep["config"]), "--seeds", "0", "--output"]
    result = run_script(*command, str(tmp_path / "a_file"), cwd=sweep["work"])
    assert result.returncode == 1 and "'--output' is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    with open(sweep["output"] / ".sweep.lock", "w") as lock:  # a sweep running there
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_script(*command, str(sweep["output"]), cwd=sweep["work"])
    assert result.returncode == 1
    assert "another sweep is running in this folder" in result.stderr
    unreachable = run_script(
        *command, str(tmp_path / "o"), "--ray", "127.0.0.1:9", cwd=sweep["work"]
    )
    assert unreachable.returncode == 1 and "no Ray cluster answers there" in unreachable.stderr


def test_sweep_on_a_local_ray_instance_with_a_failing_run(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data, **{"fit.epochs": 1})
    missing = tmp_path / "no_such_data"
    command = [
        "sweep.py",
        "--config",
        str(config),
        "--output",
        str(tmp_path / "out"),
        "--seeds",
        "0",
        "--set",
        f"dev_directory={tiny_data / 'dev_data'},{missing}",
        "--ray",
        "local",
    ]
    result = run_script(*command, cwd=tmp_path, timeout=900)
    assert result.returncode == 1, result.stderr[-3000:]
    statuses = [
        json.loads(path.read_text())
        for path in (tmp_path / "out").glob("runs/*/seed_0/sweep_run.json")
    ]
    by_state = {status["state"]: status for status in statuses}
    assert set(by_state) == {"done", "failed"}
    good, bad = by_state["done"], by_state["failed"]
    assert str(tiny_data) in good["setting"] and good["stages"] == ["00", "01"]
    assert bad["failed_stage"] == "00" and bad["attempts"] == 2  # retried once
    assert str(missing) in bad["error"]
    # the runs ran as Ray tasks, in Ray's worker processes
    assert all(status["executor"].startswith("ray worker ") for status in statuses)
    markdown = (tmp_path / "out" / "sweep_summary.md").read_text()
    assert "## Failed runs" in markdown and "after 2 attempt(s)" in markdown
    assert f"{good['setting']} | keras | **Average** | 1 |" in markdown
