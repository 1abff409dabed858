"""Running one run of a sweep: its stages (``00_train.py``...) as child processes.

The same function runs a run on this machine (limited to its share of the
cores) or as a Ray task on a cluster node (which reads and writes the shared
folder). A stage that fails marks the run failed, with the stage's last error
line; the run's status file is written at every change, so that a sweep that
is interrupted resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..core.config import Config, parse_config
from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..registry.variants import KERAS
from .plan import SweepRun

__all__ = [
    "STAGE_SCRIPTS",
    "TRAINED_IN_GROUP",
    "begin_run",
    "stages_trained_in_group",
    "record_status",
    "run_stage",
    "execute_run",
    "execute_with_retries",
    "run_locally",
    "run_config",
    "stop_all_runs",
    "last_error_line",
]

STAGE_SCRIPTS = {
    "00": "00_train.py",
    "01": "01_test.py",
    "02": "02_convert.py",
    "03": "03_tflite_test.py",
}
REPO = Path(__file__).resolve().parents[2]
#: The state of a run whose training a group of runs did (:mod:`.groups`).
TRAINED_IN_GROUP = "trained in a group"

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_stopping = threading.Event()


def execute_run(
    run: SweepRun,
    stages: Sequence[str],
    *,
    script_options: Sequence[str],
    python: str,
    cores: Sequence[int] | None = None,
    attempt: int = 1,
    executor: str = "local",
) -> dict[str, Any]:
    """Run ``stages`` of ``run`` in order; return (and record) its status.

    Parameters
    ----------
    run : SweepRun
    stages : sequence of str
        ``"00"``... in order.
    script_options : sequence of str
        Options given to every script (``-d`` or ``-e``, ``--machine-type``...).
    python : str
        The interpreter to run the scripts with.
    cores : sequence of int, optional
        CPU cores the run's processes may use (``None``: all).
    attempt : int
        1 for the first attempt (recorded in the status).
    executor : str
        What runs it (``local``, ``ray worker <pid>``), recorded in the status.

    Returns
    -------
    dict
        ``state`` (``done``, ``failed``, or ``interrupted`` when the sweep was
        stopped), ``stages`` (those finished), ``seconds``, ``attempts``, and for a
        failure ``failed_stage``, ``exit_code`` and ``error``.
    """
    status = begin_run(run, attempt=attempt, executor=executor)
    result_csv = _result_csv(run)
    start = time.perf_counter()
    for stage in stages:
        if _stopping.is_set():
            break
        if stage in status["stages"]:  # trained in a group
            continue
        script = REPO / STAGE_SCRIPTS[stage]
        command = [python, str(script), *script_options, "--config", str(run.config_file), "-q"]
        log = run.stage_log(stage)
        exit_code = run_stage(command, log, cores, header=f"== attempt {attempt}")
        problem = None if exit_code == 0 else last_error_line(log)
        if exit_code == 0 and stage == "01" and not result_csv.is_file():
            problem = f"{script.name} wrote no {result_csv.name} (no labels to compute AUC)"
        if problem is not None or exit_code != 0:
            status.update(
                state="interrupted" if _stopping.is_set() else "failed",
                failed_stage=stage,
                exit_code=exit_code,
                error=problem or f"{script.name} exited with {exit_code}",
                seconds=round(time.perf_counter() - start, 1),
            )
            record_status(run, status)
            return status
        status["stages"].append(stage)
        record_status(run, status)
    done = not _stopping.is_set()
    status.update(
        state="done" if done else "interrupted", seconds=round(time.perf_counter() - start, 1)
    )
    record_status(run, status)
    return status


def begin_run(run: SweepRun, *, attempt: int, executor: str) -> dict[str, Any]:
    """Ready the run's folder (the outputs of another configuration removed, its YAML
    written) and record it running; return its status, whose ``stages`` are those a
    group already trained for this configuration (:data:`TRAINED_IN_GROUP`)."""
    run.folder.mkdir(parents=True, exist_ok=True)
    previous = run.status()
    if previous.get("config_sha256") not in (None, run.digest):
        _forget_outputs(run)  # made with another configuration
    write_text_atomic(run.config_file, run.config_text)
    status: dict[str, Any] = {
        "run": run.name,
        "setting": run.setting,
        "seed": run.seed,
        "config_sha256": run.digest,
        "attempts": attempt,
        "state": "running",
        "stages": stages_trained_in_group(run),
        "host": os.uname().nodename,
        "executor": executor,
    }
    record_status(run, status)
    return status


def stages_trained_in_group(run: SweepRun) -> list[str]:
    """The stages a group trained for the run's current configuration (none if not)."""
    status = run.status()
    if status.get("state") == TRAINED_IN_GROUP and status.get("config_sha256") == run.digest:
        return list(status.get("stages", []))
    return []


def execute_with_retries(
    run: SweepRun, stages: Sequence[str], *, retries: int, **options: Any
) -> dict[str, Any]:
    """:func:`execute_run`, attempted again up to ``retries`` times while it fails."""
    status: dict[str, Any] = {}
    for attempt in range(1, retries + 2):
        status = execute_run(run, stages, attempt=attempt, **options)
        if status["state"] == "done" or _stopping.is_set():
            break
    return status


def run_locally(
    runs: Sequence[SweepRun],
    stages: Sequence[str],
    *,
    parallel: int,
    retries: int,
    on_finished: Callable[[dict[str, Any]], None],
    **options: Any,
) -> None:
    """Run ``runs`` on this machine, ``parallel`` side by side, each pinned to its own
    share of the cores; ``on_finished(status)`` as each one ends.

    Raises
    ------
    KeyboardInterrupt
        After interrupting the running stages (their runs stay incomplete).
    """
    cpus = sorted(os.sched_getaffinity(0))
    share = max(1, len(cpus) // parallel)
    slots: queue.Queue[list[int]] = queue.Queue()
    for slot in range(parallel):
        slots.put(cpus[slot * share : (slot + 1) * share] or cpus)

    def attempt(run: SweepRun) -> dict[str, Any]:
        cores = slots.get()
        try:
            return execute_with_retries(run, stages, retries=retries, cores=cores, **options)
        finally:
            slots.put(cores)

    _stopping.clear()
    pool = concurrent.futures.ThreadPoolExecutor(parallel, "sweep")
    try:
        pending = {pool.submit(attempt, run) for run in runs}
        while pending:
            # A short wait: Ctrl-C may be delivered to one of the pool's threads, and the
            # main thread runs Python's handler only when it wakes (a wait without a
            # timeout would sleep through it until every run has finished).
            finished, pending = concurrent.futures.wait(
                pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                on_finished(future.result())
    except KeyboardInterrupt:
        stop_all_runs()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_stage(command: list[str], log: Path, cores: Sequence[int] | None, header: str) -> int:
    """Run a stage's ``command``, its output appended to ``log`` after ``header``, on
    ``cores`` (all if ``None``), interrupted by :func:`stop_all_runs`; its exit code."""
    with open(log, "a", encoding="utf-8") as output:
        output.write(f"{header}: {' '.join(command)}\n")
        output.flush()
        process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        if cores is not None:  # before the interpreter has started its thread pools
            os.sched_setaffinity(process.pid, cores)
        with _running_lock:
            _running.add(process)
            if _stopping.is_set():  # the sweep was stopped while this stage started
                process.send_signal(signal.SIGINT)
        try:
            return process.wait()
        finally:
            with _running_lock:
                _running.discard(process)


def stop_all_runs() -> None:
    """Interrupt every stage process still running (Ctrl-C of the sweep) and wait for them:
    each finishes or discards what it was writing. No further stage starts."""
    _stopping.set()
    with _running_lock:
        processes = list(_running)
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def last_error_line(log: Path) -> str | None:
    """The last ``error:``/``ERROR:`` line of a stage's last attempt in its log (its
    one-line cause)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    starts = [index for index, line in enumerate(lines) if line.startswith("== attempt")]
    lines = lines[starts[-1] + 1 :] if starts else lines
    for line in reversed(lines):
        if line.startswith(("error:", "ERROR:")):
            return line.split(":", 1)[1].strip()
    return lines[-1].strip() if lines else None


def record_status(run: SweepRun, status: dict[str, Any]) -> None:
    """Write the run's status file (atomically)."""
    write_text_atomic(run.status_file, json.dumps(status, indent=2) + "\n")


def run_config(run: SweepRun) -> Config:
    """The run's validated configuration."""
    return parse_config(yaml.safe_load(run.config_text), source=run.config_file)


def _result_csv(run: SweepRun) -> Path:
    config = run_config(run)
    return OutputLayout(
        config.model_directory, config.result_directory, config.result_file
    ).result_csv(KERAS)


def _forget_outputs(run: SweepRun) -> None:
    """Remove the models and results of an earlier configuration of this run."""
    config = run_config(run)
    for folder in (config.model_directory, config.result_directory):
        shutil.rmtree(folder, ignore_errors=True)
