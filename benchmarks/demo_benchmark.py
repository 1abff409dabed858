#!/usr/bin/env python3
"""The README's demo for several training seeds: its AUC spread over seeds and its time.

    python benchmarks/demo_benchmark.py                         # seeds 0-7
    python benchmarks/demo_benchmark.py --seeds 1 --epochs 1    # a quick check

Runs what ``./run_demo.sh`` runs: the synthetic dataset once (its command and options),
then ``00_train.py -d --retrain``, ``01_test.py -d``, ``02_convert.py -d`` and
``03_tflite_test.py -d`` with ``configs/demo.yaml``, once per seed 0 to ``--seeds`` - 1,
each seed in its own folder ``<work>/seed_<n>/`` (its YAML: the demo's with ``seed: n``
and its folders; its own feature cache, so each seed's time is a whole 00-03 run), one
seed after the other. Records per seed the Keras model's average AUC and pAUC, the int8
model's (int8 I/O, in LiteRT), the largest difference of any TFLite variant from Keras,
and the wall time of 00-03; then the mean ± standard deviation (sample) and the minimum
and maximum over the seeds. Prints a table and writes the measurement record ``demo``
(``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

import measurements  # noqa: E402
from anomaly_detection.core.layout import OutputLayout  # noqa: E402
from anomaly_detection.evaluation.report import read_result_csv  # noqa: E402
from anomaly_detection.registry.variants import KERAS, VARIANTS, variant_by_label  # noqa: E402

#: ``run_demo.sh``'s synthetic dataset: ``python -m anomaly_detection.data.synthetic DIR ...``.
DEMO_DATA_OPTIONS = (
    "--machine-types ToyCar --dev-ids 1 2 3 --train-clips 120 --test-normal-clips 40 "
    "--test-anomaly-clips 40 --duration 10 --seed 0"
)
#: ``run_demo.sh``'s scripts, each with ``--config configs/demo.yaml``.
DEMO_SCRIPTS = ("00_train.py -d", "01_test.py -d", "02_convert.py -d", "03_tflite_test.py -d")
DEMO_CONFIG = REPO / "configs" / "demo.yaml"
#: The deployed model: full-integer int8 with int8 input and output, in LiteRT.
INT8 = variant_by_label("tflite_quant_fullint_micro_intio")


def run_logged(command: Sequence[str], *, cwd: Path, log: Path) -> float:
    """Run ``command`` (a script of this repository) with its output appended to ``log``;
    its wall time in seconds.

    Raises
    ------
    SystemExit
        The command failed (one line naming it and the log).
    """
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    with log.open("a") as output:
        run = subprocess.run(
            [sys.executable, *command], cwd=cwd, stdout=output, stderr=output, env=environment
        )
    if run.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed (exit {run.returncode}): see {log}")
    return time.perf_counter() - start


def write_demo_data(work: Path) -> tuple[Path, float]:
    """The demo's synthetic dataset in ``work/data`` (clips already there are kept); its
    root and the seconds it took."""
    root = work / "data"
    work.mkdir(parents=True, exist_ok=True)
    command = ["-m", "anomaly_detection.data.synthetic", str(root), *DEMO_DATA_OPTIONS.split()]
    return root, run_logged(command, cwd=work, log=work / "data.log")


def seed_config(work: Path, data: Path, *, seed: int, epochs: int | None) -> Path:
    """``work/seed_<seed>/demo.yaml``: ``configs/demo.yaml`` with this seed, on ``data``,
    its model, result, cache and log in that folder (``epochs``: the demo's if None)."""
    folder = work / f"seed_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config.update(
        seed=seed,
        dev_directory=str(data / "dev_data"),
        eval_directory=str(data / "eval_data"),
        model_directory=str(folder / "model"),
        result_directory=str(folder / "result"),
        cache_directory=str(folder / "cache"),
        log_file=str(folder / "baseline.log"),
    )
    if epochs is not None:
        config["fit"]["epochs"] = epochs
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_demo(config: Path) -> dict[str, float]:
    """The demo's four scripts with ``config`` (00 with ``--retrain``, as ``run_demo.sh``);
    the seconds of each."""
    folder = config.parent
    seconds = {}
    for script in DEMO_SCRIPTS:
        name, mode = script.split()
        command = [str(REPO / name), mode, "--config", str(config)]
        command += ["--retrain"] if name == "00_train.py" else []
        seconds[name] = run_logged(command, cwd=folder, log=folder / "demo.log")
    return seconds


def average_scores(result_directory: Path) -> dict[str, tuple[float, float]]:
    """``{variant label: (AUC, pAUC)}``: each variant's ``Average`` row of its result file
    in ``result_directory``, averaged over the machine types (as the demo's summary)."""
    layout = OutputLayout(Path("unused"), result_directory, "result.csv")
    scores = {}
    for variant in VARIANTS:
        path = layout.result_csv(variant)
        if path.is_file():
            averages = [ids["Average"] for ids in read_result_csv(path).values()]
            aucs, paucs = zip(*averages, strict=True)
            scores[variant.label] = (statistics.fmean(aucs), statistics.fmean(paucs))
    return scores


def spread(values: Sequence[float], digits: int = 4) -> tuple[str, str]:
    """``("mean ± standard deviation", "minimum–maximum")`` of ``values``, to ``digits``
    decimals (the sample standard deviation; none with one value)."""
    mean = f"{statistics.fmean(values):.{digits}f}"
    if len(values) > 1:
        mean += f" ± {statistics.stdev(values):.{digits}f}"
    return mean, f"{min(values):.{digits}f}–{max(values):.{digits}f}"


@dataclass(frozen=True)
class SeedRun:
    """One seed's demo: each script's seconds and each variant's average (AUC, pAUC)."""

    seed: int
    seconds: dict[str, float]
    scores: dict[str, tuple[float, float]]

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def largest_difference(self) -> float:
        """The largest AUC difference of a TFLite variant from the Keras model."""
        keras_auc = self.scores[KERAS.label][0]
        others = [auc for label, (auc, _) in self.scores.items() if label != KERAS.label]
        return max(abs(auc - keras_auc) for auc in others)

    def row(self) -> list[str]:
        """The seed's cells of :data:`COLUMNS`."""
        keras_auc, keras_pauc = self.scores[KERAS.label]
        numbers = (keras_auc, keras_pauc, self.scores[INT8.label][0], self.largest_difference())
        return [str(self.seed), *(f"{value:.4f}" for value in numbers), f"{self.total_seconds:.0f}"]


COLUMNS = ["seed", "Keras AUC", "Keras pAUC", "int8 AUC (LiteRT)", "max TFLite - Keras"]
COLUMNS.append("00-03 (s)")


def spread_figures(runs: Sequence[SeedRun]) -> list[tuple[str, str]]:
    """The spread over the seeds: mean ± standard deviation and minimum–maximum of the
    Keras AUC and pAUC, the int8 model's AUC and the wall time of 00-03, and the largest
    difference of a TFLite variant from Keras."""
    figures = []
    for name, values in (
        ("Keras AUC", [run.scores[KERAS.label][0] for run in runs]),
        ("Keras pAUC", [run.scores[KERAS.label][1] for run in runs]),
        ("int8 AUC (LiteRT, int8 I/O)", [run.scores[INT8.label][0] for run in runs]),
    ):
        mean, extremes = spread(values)
        figures += [(f"{name}, mean ± std", mean), (f"{name}, min–max", extremes)]
    largest = max(run.largest_difference() for run in runs)
    mean, extremes = spread([run.total_seconds for run in runs], digits=0)
    return figures + [
        ("largest |TFLite - Keras| AUC, any variant and seed", f"{largest:.4f}"),
        ("00-03 wall time per seed, mean ± std", f"{mean} s"),
        ("00-03 wall time per seed, min–max", f"{extremes} s"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0 to N-1 (default 8)")
    parser.add_argument("--epochs", type=int, help="instead of the demo's 20 (a quick check)")
    parser.add_argument("--work", type=Path, default=REPO / "benchmark_demo")
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record demo.json (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds: at least 1")

    reused = (args.work / "data" / "dev_data").is_dir()
    data, data_seconds = write_demo_data(args.work)
    print(f"synthetic dataset ({data}): {data_seconds:.0f} s", flush=True)
    print(measurements.table_header(COLUMNS), flush=True)
    runs = []
    for seed in range(args.seeds):
        config = seed_config(args.work, data, seed=seed, epochs=args.epochs)
        seconds = run_demo(config)
        runs.append(SeedRun(seed, seconds, average_scores(config.parent / "result")))
        print(measurements.table_row(runs[-1].row()), flush=True)

    epochs = args.epochs or yaml.safe_load(DEMO_CONFIG.read_text())["fit"]["epochs"]
    figures = [("seeds", f"{args.seeds} (0-{args.seeds - 1})"), ("epochs", str(epochs))]
    figures += spread_figures(runs)
    kept = " (its clips were there: kept)" if reused else ""
    figures.append(("synthetic dataset", f"{data_seconds:.0f} s{kept}"))
    for label, value in figures:
        print(f"{label}: {value}")
    measurements.write_record(
        "demo",
        title="The demo over training seeds",
        figures=figures,
        tables=[{"title": "Per seed", "columns": COLUMNS, "rows": [run.row() for run in runs]}],
        notes=[
            "./run_demo.sh's dataset (3 IDs, 600 clips) and scripts with configs/demo.yaml, "
            "one run per seed, one after another; average AUC and pAUC over the IDs; "
            "00-03 with a cold feature cache (each seed its own)."
        ],
        raw={"data_seconds": data_seconds, "runs": [vars(run) for run in runs]},
        record_dir=args.record_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
