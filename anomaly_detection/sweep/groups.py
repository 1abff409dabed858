"""A setting's seeds trained as one group: one ``00_train.py`` for all of them.

Where groups are faster (``fit.group``: the measured rule of
:mod:`anomaly_detection.model.model_groups`, on the platform JAX finds in a child
process, e.g. a GPU), the runs of one setting that still need stage ``00`` train in
one ``00_train.py`` with ``--group-config``: each run's models land in its own folder,
exactly as its own ``00_train.py`` would have trained them, and its status records
the stage as :data:`~.runner.TRAINED_IN_GROUP`; the other stages then run run by run
as before. A group that fails is not retried as a group: its runs train one by one
(the models it saved are kept, the others trained there, with their own errors).
On a CPU groups are slower than runs side by side on the cores, and are not formed.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Sequence

from ..model.backend import training_backend
from ..model.model_groups import groups_wanted
from .plan import SweepRun
from .runner import (
    REPO,
    STAGE_SCRIPTS,
    TRAINED_IN_GROUP,
    begin_run,
    record_status,
    run_config,
    run_stage,
    stages_trained_in_group,
    stop_all_runs,
)

__all__ = ["plan_groups", "probe_platform", "train_group"]

logger = logging.getLogger(__name__)

_STAGE = "00"


def plan_groups(
    runs: Sequence[SweepRun], stages: Sequence[str], *, python: str
) -> list[list[SweepRun]]:
    """The groups among ``runs``: per setting, its runs that still need stage ``00``, where
    there are 2 or more and :func:`~anomaly_detection.model.model_groups.groups_wanted`
    says yes for its configuration (the platform probed once, only if asked)."""
    if _STAGE not in stages:
        return []
    by_setting: dict[str, list[SweepRun]] = {}
    for run in runs:
        if _STAGE not in stages_trained_in_group(run):
            by_setting.setdefault(run.setting, []).append(run)
    platform = functools.cache(lambda: probe_platform(python))
    groups = []
    for setting_runs in by_setting.values():
        fit = run_config(setting_runs[0]).fit
        if len(setting_runs) > 1 and groups_wanted(
            fit, training_backend(fit.backend), platform=platform
        ):
            groups.append(setting_runs)
    return groups


def probe_platform(python: str) -> str:
    """JAX's platform (``cpu``, ``gpu``, ``tpu``) as a stage's process finds it, asked in a
    child process: the sweep's own process keeps off the accelerator. ``cpu`` if JAX
    does not answer."""
    try:
        answer = subprocess.run(
            [python, "-c", "import jax; print(jax.default_backend())"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("JAX's platform could not be probed (%s): groups as on a CPU", error)
        return "cpu"
    lines = answer.stdout.split()
    if answer.returncode != 0 or not lines:
        logger.warning("JAX's platform could not be probed: groups as on a CPU")
        return "cpu"
    return lines[-1]


def train_group(runs: Sequence[SweepRun], *, script_options: Sequence[str], python: str) -> bool:
    """Stage ``00`` of ``runs`` (one setting) in one ``00_train.py``; whether it succeeded.

    Its output goes to the first run's ``stage_00.log`` and is appended to the others'.

    Raises
    ------
    KeyboardInterrupt
        After interrupting the group's process (the runs stay incomplete).
    """
    statuses = [begin_run(run, attempt=1, executor=f"group of {len(runs)}") for run in runs]
    first, others = runs[0], runs[1:]
    command = [python, str(REPO / STAGE_SCRIPTS[_STAGE]), *script_options]
    command += ["--config", str(first.config_file), "-q", "--group-config"]
    command += [str(run.config_file) for run in others]
    log = first.stage_log(_STAGE)
    start = log.stat().st_size if log.is_file() else 0
    try:
        exit_code = run_stage(command, log, None, header=f"== group of {len(runs)} runs")
    except KeyboardInterrupt:
        stop_all_runs()
        raise
    with open(log, "rb") as handle:
        handle.seek(start)
        output = handle.read()
    for run in others:
        with open(run.stage_log(_STAGE), "ab") as handle:
            handle.write(f"== trained with {first.name}'s group, its log:\n".encode())
            handle.write(output)
    if exit_code != 0:
        return False
    for run, status in zip(runs, statuses, strict=True):
        status.update(state=TRAINED_IN_GROUP, stages=[_STAGE])
        record_status(run, status)
    return True
