#!/usr/bin/env python3
"""Training throughput: this project's training phase against the reference's ``model.fit``.

    .venv/bin/python benchmarks/training_benchmark.py                  # 1,000 clips, 2 epochs
    .venv/bin/python benchmarks/training_benchmark.py --clips 300 --epochs 1   # quicker

Same run, same vectors (the log-mel vectors of ``--clips`` synthetic ToyCar
clips of 11 s, 196 per clip), each measurement in a fresh process because
Keras picks its backend once per process:

- reference: the MLPerf Tiny reference's training call, on TensorFlow:
  ``model.compile(optimizer="adam", loss="mean_squared_error")`` and
  ``model.fit(x, x, epochs, batch_size=512, shuffle=True, validation_split=0.1)``
  on the float64 matrix of all vectors (as its ``list_to_vector_array`` builds it);
- scan (the default): ``anomaly_detection.model.training.train_autoencoder`` as
  ``00_train.py`` calls it (``fit.loop: scan``: 32 optimizer steps per compiled
  call on JAX, each batch gathered in the compiled function from the frames of the
  feature-cache file), in ``fit.precision``
  float32 and, where the CPU has native bfloat16, bfloat16;
- keras_fit: the same with ``fit.loop: keras`` (Keras' ``model.fit``) on each
  backend of ``--backends``.

Throughput is vectors (training and validation) per second of an epoch after
the first (the first also compiles: its time is reported apart, and counted
once in the projection). The measurements alternate, each candidate once per
round, ``--repeats`` rounds: the machine is noisy, so each ratio to the
reference is taken within its round and the median over rounds is reported.
Then ``00_train.py`` itself runs one epoch on
``--memory-clips`` clips for its peak resident memory (``VmHWM``). Prints a
table, writes ``<output>/training_benchmark.json``, with the projected training
time of the full recipe (7,000 clips, 100 epochs), and the measurement record ``training``
(``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import measurements
from training_runs import measure, prepare_vectors

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FULL_RECIPE_CLIPS = 7000
FULL_RECIPE_EPOCHS = 100
VECTORS_PER_CLIP = 196  # 200 cropped frames, 5 per vector


def training_memory(output: Path, clips: int) -> dict:
    """``00_train.py -d`` for one epoch on ``clips`` clips (features cached first): its
    peak resident memory and time, measured as ``pipeline_benchmark.py`` measures them."""
    from pipeline_benchmark import peak_memory_of_training, write_training_config

    list_file = prepare_vectors(output, clips)
    data_root = Path(list_file.read_text().splitlines()[0]).parents[3]
    work = output / "training_memory"
    config_path = write_training_config(work, data_root, output / "training_cache")
    seconds, peak_bytes = peak_memory_of_training(config_path, work / "stderr.log")
    return {"clips": clips, "peak_rss_bytes": peak_bytes, "seconds_1_epoch_with_startup": seconds}


def measure_in_process(which: str, backend: str, list_file: Path, epochs: int) -> dict:
    environment = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, __file__, "--measure", which, str(list_file), str(epochs)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{which} on {backend} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def candidates(backends: list[str], only: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """``name: (which, backend)`` of every measured candidate, the reference first and
    the default (the scan loop in float32) second, bfloat16 where it is native;
    ``only``: these names (the reference always)."""
    from anomaly_detection.model.precision import native_bfloat16

    chosen = {"reference": ("reference", "tensorflow"), "scan_float32": ("scan_float32", "jax")}
    if native_bfloat16():
        chosen["scan_bfloat16"] = ("scan_bfloat16", "jax")
    for backend in backends:
        chosen[f"keras_fit_{backend}"] = ("keras_fit", backend)
    if only is not None:
        unknown = sorted(set(only) - set(chosen))
        if unknown:
            raise SystemExit(f"error: --candidates: no candidate {', '.join(unknown)} here")
        chosen = {
            name: value for name, value in chosen.items() if name == "reference" or name in only
        }
    return chosen


def summarise(runs: dict[str, list[dict]], default: str, epochs: int) -> dict:
    """Median rates and median per-round ratios to the reference, and the projection."""
    rounds = len(runs["reference"])
    rate = {name: [run["steady_vectors_per_s"] for run in values] for name, values in runs.items()}
    ratios = {name: [rate[name][i] / rate["reference"][i] for i in range(rounds)] for name in runs}
    median_rate = {name: float(statistics.median(values)) for name, values in rate.items()}
    median_ratio = {name: float(statistics.median(values)) for name, values in ratios.items()}
    first_epoch = {
        name: float(statistics.median(run["first_epoch_seconds"] for run in values))
        for name, values in runs.items()
    }
    full_vectors = FULL_RECIPE_CLIPS * VECTORS_PER_CLIP
    return {
        "epochs": epochs,
        "runs": runs,
        "ratios_by_round": ratios,
        "median_vectors_per_s": median_rate,
        "median_ratio_vs_reference": median_ratio,
        "default": default,
        "target_ratio": 2.0,
        "meets_target": median_ratio[default] >= 2.0,
        "projected_training_minutes_full_recipe": {
            name: (first_epoch[name] + full_vectors * (FULL_RECIPE_EPOCHS - 1) / value) / 60
            for name, value in median_rate.items()
        },
    }


def print_report(report: dict, output: Path) -> None:
    rounds = len(report["runs"]["reference"])
    print(f"\nTraining benchmark: {report['vectors']} vectors x {report['epochs']} epochs,")
    print(f"{rounds} alternating rounds, {os.cpu_count()} cores; medians, ratios within rounds")
    for name, value in report["median_vectors_per_s"].items():
        minutes = report["projected_training_minutes_full_recipe"][name]
        by_round = ", ".join(f"{ratio:.2f}" for ratio in report["ratios_by_round"][name])
        print(
            f"  {name:<20} {value:8.0f} vectors/s  x{report['median_ratio_vs_reference'][name]:.2f}"
            f" ({by_round})  7,000 clips x 100 epochs: {minutes:5.1f} min"
        )
    default = report["default"]
    met = "met" if report["meets_target"] else "NOT met"
    print(f"  target: {default} at least 2x reference (median of rounds): {met}")
    if "training_memory" in report:
        memory = report["training_memory"]
        print(
            f"  00_train.py at {memory['clips']} clips: peak RSS "
            f"{memory['peak_rss_bytes'] / 1e9:.2f} GB (target 1.5 GB)"
        )
    print(f"written {output / 'training_benchmark.json'}")


def record_training(report: dict, *, record_dir: Path) -> None:
    """The record ``training``: each candidate's median rate beside the reference's, by
    round, and the full recipe's projected time."""
    rows = []
    for name, value in report["median_vectors_per_s"].items():
        rates = ", ".join(f"{run['steady_vectors_per_s']:,.0f}" for run in report["runs"][name])
        ratios = ", ".join(f"{ratio:.2f}" for ratio in report["ratios_by_round"][name])
        minutes = report["projected_training_minutes_full_recipe"][name]
        median_ratio = f"{report['median_ratio_vs_reference'][name]:.2f}x"
        rows.append([name, rates, ratios, f"{value:,.0f}", median_ratio, f"{minutes:.1f} min"])
    default = report["default"]
    figures = [
        ("vectors x epochs", f"{report['vectors']:,} x {report['epochs']}"),
        (
            "reference (model.fit, TensorFlow)",
            f"{report['median_vectors_per_s']['reference']:,.0f} vectors/s",
        ),
        (f"{default} (default)", f"{report['median_vectors_per_s'][default]:,.0f} vectors/s"),
        (f"{default} vs reference", f"{report['median_ratio_vs_reference'][default]:.2f}x"),
        ("target: default at least 2x reference", "met" if report["meets_target"] else "NOT met"),
        (
            f"{default}, 7,000 clips x 100 epochs",
            f"{report['projected_training_minutes_full_recipe'][default]:.1f} min",
        ),
    ]
    if "training_memory" in report:
        memory = report["training_memory"]
        figures.append(
            (
                f"00_train.py peak RSS, {memory['clips']:,} clips, 1 epoch",
                f"{memory['peak_rss_bytes'] / 1e9:.2f} GB",
            )
        )
    columns = ["candidate", "vectors/s by round", "ratio by round", "median vectors/s"]
    columns += ["median ratio", "7,000 clips x 100 epochs"]
    measurements.write_record(
        "training",
        title="Training speed",
        figures=figures,
        tables=[{"title": "Against the reference", "columns": columns, "rows": rows}],
        notes=[
            f"{report['clips']:,} synthetic clips; {len(report['runs']['reference'])} alternating "
            "rounds, each candidate in a fresh process; vectors per second of the epochs after "
            "the first; each ratio taken within its round, the median over rounds reported."
        ],
        raw=report,
        record_dir=record_dir,
    )


def main() -> int:
    from anomaly_detection.core.config import FitConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument(
        "--backends", nargs="*", default=["jax"], help="backends of the keras_fit candidate"
    )
    parser.add_argument(
        "--candidates",
        nargs="+",
        metavar="NAME",
        help="only these candidates besides the reference (e.g. scan_float32)",
    )
    parser.add_argument(
        "--memory-clips", type=int, default=7000, help="clips of the memory run (0: none)"
    )
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record training.json (default %(default)s)",
    )
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        which, list_file, epochs = args.measure
        print(json.dumps(measure(which, Path(list_file), int(epochs))))
        return 0

    args.output.mkdir(parents=True, exist_ok=True)
    print(f"vectors of {args.clips} synthetic clips (generated and cached once) ...")
    list_file = prepare_vectors(args.output, args.clips)
    chosen = candidates(args.backends, args.candidates)
    default = f"scan_{FitConfig().precision}"  # what 00_train.py trains with by default
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for repeat in range(args.repeats):
        for name, (which, backend) in chosen.items():
            run = measure_in_process(which, backend, list_file, args.epochs)
            runs[name].append(run)
            print(
                f"  round {repeat + 1}: {name:<20} {run['steady_vectors_per_s']:8.0f} vectors/s "
                f"(first epoch {run['first_epoch_seconds']:.1f} s)",
                flush=True,
            )
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "clips": args.clips,
        "vectors": runs["reference"][0]["vectors"],
        **summarise(runs, default, args.epochs),
    }
    if args.memory_clips:
        print(f"00_train.py, 1 epoch on {args.memory_clips} clips: peak memory ...")
        report["training_memory"] = training_memory(args.output, args.memory_clips)
    (args.output / "training_benchmark.json").write_text(json.dumps(report, indent=2))
    print_report(report, args.output)
    record_training(report, record_dir=args.record_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
