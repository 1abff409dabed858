#!/usr/bin/env python3
"""A full synthetic run per DCASE year: the set in the year's layout, then 00, 01 (MSE),
01 (Mahalanobis), 02 and 03, timed; the official scores of both anomaly scores.

    python benchmarks/dcase_years_benchmark.py [--years 2021 2022 2024 2026] [--work DIR]

Each year uses ``SectionedSpec``'s default sizes (two machine types; 40 source and 4
target training clips, 10 test clips per domain and class, per section; 10 s clips) and
``configs/demo.yaml``'s training (20 epochs, seed 0). Prints a markdown table and writes
the measurement record ``dcase-years`` (``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import measurements  # noqa: E402
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset  # noqa: E402


def official_score(path: Path) -> float:
    """The ``official score`` row of a 2021+ ``result.csv``."""
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if row[:1] == ["official score"]:
                return float(row[2])
    raise ValueError(f"{path}: no official score")


def run_year(year: int, work: Path) -> dict[str, float]:
    """Times (s) of each step and the official scores of one year's synthetic run."""
    root, run_dir = work / f"data{year}", work / f"run{year}"
    run_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = {}
    start = time.perf_counter()
    write_sectioned_dataset(root, SectionedSpec(year=year), dev=True)
    figures["data"] = time.perf_counter() - start
    config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    config.update(
        dev_directory=str(root / "dev_data"),
        eval_directory=str(root / "eval_data"),
        model_directory=str(run_dir / "model"),
        result_directory=str(run_dir / "result"),
        cache_directory=str(run_dir / "cache"),
        log_file=str(run_dir / "log.txt"),
    )
    config["fit"]["verbose"] = 0
    steps = [("00", "00_train.py", "mse"), ("01 mse", "01_test.py", "mse")]
    steps += [("01 mahalanobis", "01_test.py", "mahalanobis")]
    steps += [
        ("02", "02_convert.py", "mahalanobis"),
        ("03 mahalanobis", "03_tflite_test.py", "mahalanobis"),
    ]
    for name, script, score in steps:
        config["anomaly_score"] = score
        path = run_dir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        retrain = ["--retrain"] if script == "00_train.py" else []  # a model left by a run before
        subprocess.run(
            [sys.executable, str(REPO / script), "-d", *retrain, "--config", str(path)],
            cwd=run_dir,
            check=True,
            capture_output=True,
        )
        figures[name] = time.perf_counter() - start
        result = run_dir / "result"
        if name == "01 mse":
            figures["official mse"] = official_score(result / "result.csv")
        if name == "01 mahalanobis":
            figures["official mahalanobis"] = official_score(result / "result.csv")
        if name.startswith("03"):
            micro = "tflite_quant_fullint_micro_result.csv"
            figures["official int8 micro mahalanobis"] = official_score(result / micro)
            figures["official TFLM micro mahalanobis"] = official_score(
                result / "tflm_quant_fullint_micro_result.csv"
            )
    return figures


def year_table(rows: dict[int, dict[str, float]]) -> tuple[list[str], list[list[str]]]:
    """The columns and cells of the years' table: times in whole seconds, official scores
    to four decimals, and each year's total time."""
    keys = list(next(iter(rows.values())))
    columns = ["year", *(key if key.startswith("official") else f"{key} (s)" for key in keys)]
    cells = []
    for year, figures in rows.items():
        total = sum(value for key, value in figures.items() if not key.startswith("official"))
        cells.append(
            [
                str(year),
                *(
                    f"{figures[key]:.4f}" if key.startswith("official") else f"{figures[key]:.0f}"
                    for key in keys
                ),
                f"{total:.0f}",
            ]
        )
    return [*columns, "total (s)"], cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", nargs="+", type=int, default=[2021, 2022, 2024, 2026])
    parser.add_argument("--work", type=Path, default=Path("benchmark_years"))
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record dcase-years.json (default %(default)s)",
    )
    args = parser.parse_args()
    work = args.work.resolve()  # the scripts run in their run folder
    try:
        rows = {year: run_year(year, work) for year in args.years}
    except subprocess.CalledProcessError as error:
        print(error.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
        print(
            f"error: {' '.join(map(str, error.cmd[1:]))} exited {error.returncode}", file=sys.stderr
        )
        return 1
    columns, cells = year_table(rows)
    print(measurements.table_header(columns))
    for row in cells:
        print(measurements.table_row(row))
    measurements.write_record(
        "dcase-years",
        title="A synthetic run per DCASE year",
        figures=[("years", ", ".join(str(year) for year in rows))],
        tables=[{"title": "Times and official scores", "columns": columns, "rows": cells}],
        notes=[
            "Each year's synthetic set (SectionedSpec's defaults: two machine types; 40 source "
            "and 4 target training clips, 10 test clips per domain and class, per section; "
            "10 s clips), configs/demo.yaml's training (20 epochs, seed 0); 00 with the MSE "
            "score, 01 with MSE and Mahalanobis, 02, and 03 with Mahalanobis (LiteRT and TFLM)."
        ],
        raw={str(year): figures for year, figures in rows.items()},
        record_dir=args.record_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
