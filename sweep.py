#!/usr/bin/env python3
"""Run the pipeline for several seeds and settings, and tell a real gain from seed noise.

    python sweep.py --config baseline.yaml --output sweep --seeds 0 1 2 \\
        --set fit.epochs=50,100 --set fit.batch_size=256,512
    python sweep.py ... --stages 00 01 02 03          # also convert and test the TFLite models
    python sweep.py ... --ray auto                    # the runs as tasks on a Ray cluster
    python sweep.py ... --ray local                   # a Ray instance on this machine
    python sweep.py ... --baseline fit.epochs=100     # gains against this setting

The grid is the product of the ``--set`` values, each combination run once per
seed, each run in ``<output>/runs/<setting>/seed_<seed>/`` (its YAML, models,
results and logs; data and feature cache are shared). Every run's YAML is
validated before anything runs. Runs go side by side on this machine, each
limited to its share of the cores, or as Ray tasks with ``--ray``. Where groups of
models train faster (a GPU; ``fit.group``), the seeds of a setting train first in
one ``00_train.py``, each model as its own run would train it. A run that fails is
attempted again (``--retries``), then reported; the others go on.
Run the same command again to resume: complete runs are skipped.

Writes ``<output>/sweep_summary.csv``, ``sweep_summary.md`` (AUC and pAUC mean,
standard deviation, min and max over the seeds, per setting, model variant and
machine type; each setting's gain over the baseline setting, seed by seed, with its
95 % interval and a verdict: better, worse, within seed noise) and
``sweep_spread.png``. Exit code 1 if a run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anomaly_detection.core.config import load_raw_config
from anomaly_detection.core.errors import ConfigError, OutputError
from anomaly_detection.core.io_utils import check_output_folder
from anomaly_detection.data.ground_truth import find_ground_truth
from anomaly_detection.data.section_ground_truth import DATA_FOLDER
from anomaly_detection.model.backend import KERAS_BACKENDS, check_installed, training_backend
from anomaly_detection.pipeline.cli import run_tool
from anomaly_detection.sweep.groups import plan_groups, train_group
from anomaly_detection.sweep.paired import compare_with_baseline
from anomaly_detection.sweep.plan import (
    LOCK_FILE,
    SPREAD_PLOT,
    STAGES,
    SweepRun,
    parse_override,
    plan_sweep,
)
from anomaly_detection.sweep.runner import run_config, run_locally
from anomaly_detection.sweep.summary import (
    collect_results,
    plot_spread,
    summarize,
    values_by_seed,
    write_summary,
)

logger = logging.getLogger("sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=Path("baseline.yaml"), help="base YAML")
    parser.add_argument("--output", type=Path, required=True, help="folder of the sweep")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=V1,V2",
        help="a YAML key (dotted: fit.epochs) and its values; repeat for a grid",
    )
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=["00", "01"])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-d", "--dev", action="store_true", help="development mode (default)")
    mode.add_argument("-e", "--eval", action="store_true", help="evaluation mode")
    parser.add_argument("--machine-type", nargs="+", metavar="TYPE", dest="machine_types")
    parser.add_argument(
        "--parallel", type=int, help="runs side by side on this machine (default: one per core)"
    )
    parser.add_argument(
        "--retries", type=int, default=1, help="attempts after a failure (default %(default)s)"
    )
    parser.add_argument(
        "--ray", metavar="ADDRESS", help="run on Ray: a cluster address, auto, or local"
    )
    parser.add_argument(
        "--baseline",
        metavar="SETTING",
        help="the setting the others are compared with, seed by seed (default: the first)",
    )
    return parser


def plan(args: argparse.Namespace) -> list[SweepRun]:
    """Every run of the grid, its YAML validated, the training backends checked."""
    if args.retries < 0 or (args.parallel is not None and args.parallel < 1):
        raise ConfigError("--retries must be 0 or more and --parallel 1 or more")
    overrides = [parse_override(text) for text in args.overrides]
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen and chosen not in KERAS_BACKENDS:
        raise ConfigError(f"KERAS_BACKEND={chosen!r} is not a Keras backend")
    if chosen and any(key == "fit.backend" for key, _ in overrides):
        raise ConfigError(f"--set fit.backend=...: KERAS_BACKEND={chosen} would override it")
    raw = load_raw_config(args.config)
    identity = {
        "mode": "eval" if args.eval else "dev",
        "machine_types": sorted(set(args.machine_types or [])),
        "keras_backend": chosen,
    }
    runs = plan_sweep(
        args.config,
        raw,
        overrides,
        sorted(set(args.seeds)),
        args.output,
        n_workers=cores_per_run(args),
        identity=identity,
    )
    settings = list(dict.fromkeys(run.setting for run in runs))
    if args.baseline is not None and args.baseline not in settings:
        raise ConfigError(
            f"--baseline {args.baseline}: not a setting of this sweep ({', '.join(settings)})"
        )
    for run in runs:
        config = run_config(run)
        if "00" in args.stages:
            check_installed(training_backend(config.fit.backend))
        if not (args.eval and "01" in args.stages):
            continue
        labels = find_ground_truth(None, config.eval_ground_truth, config.eval_directory)
        beside = config.eval_directory.parent / DATA_FOLDER  # the 2021+ evaluators' folder
        if labels is None and not beside.is_dir():
            raise ConfigError(
                f"-e: {run.setting} has no ground truth (eval_ground_truth, or "
                f"eval_data_list.csv or {DATA_FOLDER}/ beside eval_directory): no AUC to sweep"
            )
    return runs


def parallel_runs(args: argparse.Namespace) -> int:
    return args.parallel or len(os.sched_getaffinity(0))


def cores_per_run(args: argparse.Namespace) -> int:
    return max(1, len(os.sched_getaffinity(0)) // parallel_runs(args))


def script_options(args: argparse.Namespace) -> list[str]:
    options = ["-e" if args.eval else "-d"]
    if args.machine_types:
        options += ["--machine-type", *args.machine_types]
    return options


def run_sweep(args: argparse.Namespace, runs: list[SweepRun]) -> list[dict[str, Any]]:
    """Run every incomplete run; the statuses of those that did not finish."""
    stages = tuple(args.stages)
    pending = [run for run in runs if not run.is_complete(stages)]
    logger.info(
        "%d runs (%d settings x %d seeds): %d complete, %d to run",
        len(runs),
        len({run.setting for run in runs}),
        len({run.seed for run in runs}),
        len(runs) - len(pending),
        len(pending),
    )
    failed: list[dict[str, Any]] = []

    def on_finished(status: dict[str, Any]) -> None:
        if status["state"] == "done":
            logger.info("done: %s (%.0f s)", status["run"], status.get("seconds", 0))
        else:
            failed.append(status)
            logger.error("failed: %s: %s", status["run"], status.get("error", status["state"]))

    if not pending:
        return failed
    if not args.ray:  # a setting's seeds in one 00_train.py, where groups are faster
        train_groups(args, pending)
    if args.ray:
        from anomaly_detection.sweep.ray_tasks import run_on_ray

        run_on_ray(
            pending,
            stages,
            address=args.ray,
            cores_per_run=cores_per_run(args),
            retries=args.retries,
            script_options=script_options(args),
            on_finished=on_finished,
        )
    else:
        run_locally(
            pending,
            stages,
            parallel=min(parallel_runs(args), len(pending)),
            retries=args.retries,
            on_finished=on_finished,
            script_options=script_options(args),
            python=sys.executable,
        )
    return failed


def train_groups(args: argparse.Namespace, pending: list[SweepRun]) -> None:
    """Stage 00 of each setting's pending runs as one group, where groups are faster
    (``fit.group``); a group that fails leaves its runs to train one by one."""
    for group in plan_groups(pending, args.stages, python=sys.executable):
        logger.info("training %s: %d seeds as one group", group[0].setting, len(group))
        if not train_group(group, script_options=script_options(args), python=sys.executable):
            logger.warning(
                "the group of %s failed (%s): its runs train one by one",
                group[0].setting,
                group[0].stage_log("00"),
            )


def summarize_sweep(args: argparse.Namespace, runs: list[SweepRun], failed: list) -> None:
    """Write the summary of every complete run; one whose results cannot be read is
    added to ``failed``."""
    complete, results = [], []
    for run in runs:
        if run.is_complete(tuple(args.stages)):
            try:
                result = collect_results(run)
                if "keras" not in result:
                    raise ValueError("its result.csv is missing or holds no AUC")
            except (OSError, ValueError, IndexError) as error:
                failed.append({"run": run.name, "failed_stage": "summary", "error": str(error)})
                continue
            results.append(result)
            complete.append(run)
    rows = summarize(complete, results)
    header = f"Mode: {'-e' if args.eval else '-d'}; stages: {' '.join(args.stages)}; " + (
        f"machine types: {' '.join(args.machine_types)}"
        if args.machine_types
        else "all machine types"
    )
    settings = list(dict.fromkeys(run.setting for run in runs))
    baseline = args.baseline or settings[0]
    gains = compare_with_baseline(values_by_seed(complete, results), settings, baseline)
    seeds = sorted(set(args.seeds))
    write_summary(args.output, rows, failed, seeds, header=header, gains=gains)
    plot_spread(args.output / SPREAD_PLOT, rows, gains)
    logger.info("summary of %d complete runs in %s", len(complete), args.output)


def main(args: argparse.Namespace) -> int:
    args.output = args.output.resolve()
    args.stages = [stage for stage in STAGES if stage in args.stages]  # in pipeline order
    runs = plan(args)
    with sweep_lock(args.output), sigterm_as_interrupt():
        failed = run_sweep(args, runs)
        summarize_sweep(args, runs, failed)
    return 1 if failed else 0


@contextlib.contextmanager
def sweep_lock(output: Path) -> Iterator[None]:
    """Hold ``<output>/.sweep.lock``: two sweeps never run in one folder at once."""
    check_output_folder(output, "--output")
    with open(output / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{output}: another sweep is running in this folder") from None
        yield


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM as Ctrl-C: the running stages are interrupted, not orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(run_tool(main, build_parser()))
