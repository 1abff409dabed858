#!/usr/bin/env python3
"""The organisers' presets (``configs/dcase<year>_baseline.yaml``) on a synthetic set of their
year: the official score of each anomaly score, with the evaluators' jackknife interval.

    python benchmarks/organisers_benchmark.py                       # 2024 and 2026, 100 epochs
    python benchmarks/organisers_benchmark.py --years 2024 --epochs 2   # a quick check

Per year of ``--years``: the synthetic set in the year's layout (``SectionedSpec``'s
default sizes: two machine types; 40 source and 4 target training clips, 10 test clips
per domain and class, per section; 10 s clips), the year's preset as shipped but for its
folders (under ``<work>/run<year>/``; ``--epochs`` to train fewer), ``00_train.py -d --retrain``
once, then ``01_test.py -d --anomaly-score S`` for each score of ``--scores`` (default
``mse``, ``mahalanobis``, the organisers' formula, and ``mahalanobis_per_block``), each
timed, its ``result.csv``'s ``official score`` and ``official score ci95`` read after it.
Prints a table and writes the measurement record ``organisers-presets``
(``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

import measurements  # noqa: E402
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset  # noqa: E402
from anomaly_detection.evaluation.official import read_official_ci95, read_official_score  # noqa: E402
from anomaly_detection.registry.anomaly_scores import anomaly_score_names  # noqa: E402
from demo_benchmark import run_logged  # noqa: E402

COLUMNS = ["year", "anomaly score", "official score", "ci95", "vs mse", "01 (s)"]


def preset_config(year: int, run_dir: Path, data: Path, *, epochs: int | None) -> Path:
    """``run_dir/preset.yaml``: ``configs/dcase<year>_baseline.yaml`` on ``data``, its
    model, result, cache and log in ``run_dir`` (``epochs``: the preset's if None)."""
    config = yaml.safe_load((REPO / "configs" / f"dcase{year}_baseline.yaml").read_text())
    config.update(
        dev_directory=str(data / "dev_data"),
        eval_directory=str(data / "eval_data"),
        model_directory=str(run_dir / "model"),
        result_directory=str(run_dir / "result"),
        cache_directory=str(run_dir / "cache"),
        log_file=str(run_dir / "baseline.log"),
    )
    config["fit"]["verbose"] = 0
    if epochs is not None:
        config["fit"]["epochs"] = epochs
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "preset.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def official_figures(result_csv: Path) -> tuple[float, float | None]:
    """The ``official score`` of a 2021+ ``result.csv`` and its ``ci95`` (None if absent).

    Raises
    ------
    SystemExit
        The file has no official score (one line naming it).
    """
    score = read_official_score(result_csv)
    if score is None:
        raise SystemExit(f"error: {result_csv}: no official score row")
    return score, read_official_ci95(result_csv)


def run_year(year: int, work: Path, *, scores: Sequence[str], epochs: int | None) -> dict:
    """Seconds of the data, of 00 and of each score's 01, and each score's official score
    and ci95, for one year."""
    data, run_dir = work / f"data{year}", work / f"run{year}"
    start = time.perf_counter()
    write_sectioned_dataset(data, SectionedSpec(year=year), dev=True)
    figures: dict = {"data_seconds": time.perf_counter() - start, "scores": {}}
    config = preset_config(year, run_dir, data, epochs=epochs)
    log = run_dir / "scripts.log"
    script = [str(REPO / "00_train.py"), "-d", "--retrain", "--config", str(config)]
    figures["train_seconds"] = run_logged(script, cwd=run_dir, log=log)
    for score in scores:
        script = [str(REPO / "01_test.py"), "-d", "--config", str(config)]
        seconds = run_logged([*script, "--anomaly-score", score], cwd=run_dir, log=log)
        official, ci95 = official_figures(run_dir / "result" / "result.csv")
        figures["scores"][score] = {"seconds": seconds, "official": official, "ci95": ci95}
    return figures


def score_rows(year: int, figures: dict) -> list[list[str]]:
    """The table's rows of one year: each score's official score, ci95, difference from
    ``mse`` (when measured) and 01's seconds."""
    baseline = figures["scores"].get("mse", {}).get("official")
    rows = []
    for score, values in figures["scores"].items():
        ci95 = "n/a" if values["ci95"] is None else f"± {values['ci95']:.4f}"
        compared = baseline is not None and score != "mse"
        difference = f"{values['official'] - baseline:+.4f}" if compared else ""
        official = f"{values['official']:.4f}"
        rows.append([str(year), score, official, ci95, difference, f"{values['seconds']:.0f}"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", nargs="+", type=int, default=[2024, 2026])
    parser.add_argument(
        "--scores", nargs="+", choices=anomaly_score_names(), default=list(anomaly_score_names())
    )
    parser.add_argument("--epochs", type=int, help="instead of the preset's 100 (a quick check)")
    parser.add_argument("--work", type=Path, default=REPO / "benchmark_organisers")
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record organisers-presets.json (default %(default)s)",
    )
    args = parser.parse_args(argv)
    for year in args.years:
        if not (REPO / "configs" / f"dcase{year}_baseline.yaml").is_file():
            parser.error(f"--years: no preset configs/dcase{year}_baseline.yaml")

    print(measurements.table_header(COLUMNS), flush=True)
    years, rows = {}, []
    for year in args.years:
        years[year] = run_year(year, args.work, scores=args.scores, epochs=args.epochs)
        for row in score_rows(year, years[year]):
            print(measurements.table_row(row), flush=True)
            rows.append(row)
    epochs = args.epochs or "the preset's (100)"
    figures = [("years", ", ".join(str(year) for year in years)), ("epochs", str(epochs))]
    for year, values in years.items():
        times = f"{values['data_seconds']:.0f} s, {values['train_seconds']:.0f} s"
        figures.append((f"{year}: synthetic set, 00_train.py", times))
    measurements.write_record(
        "organisers-presets",
        title="The organisers' presets on synthetic data",
        figures=figures,
        tables=[{"title": "Official scores", "columns": COLUMNS, "rows": rows}],
        notes=[
            "configs/dcase<year>_baseline.yaml as shipped (its seed, batches, every frame) on "
            "each year's synthetic set (two machine types; 40 source and 4 target training "
            "clips, 10 test clips per domain and class; 10 s clips); 00 once, 01 per anomaly "
            "score; ci95: the evaluators' jackknife 95 % half-width of the official score."
        ],
        raw={str(year): values for year, values in years.items()},
        record_dir=args.record_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
