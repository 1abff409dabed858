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
- ours: ``anomaly_detection.model.training.train_autoencoder`` as ``00_train.py``
  calls it (vectors gathered batch by batch from the feature-cache file), on
  each backend (``fit.backend``; JAX is the default).

Throughput is vectors (training and validation) per second of an epoch after
the first (the first also compiles: its time is reported apart, and counted
once in the projection). The measurements alternate (reference, ours on each
backend) ``--repeats`` times and the best of each is kept: the machine is noisy,
the ratio is what counts. Then ``00_train.py`` itself runs one epoch on
``--memory-clips`` clips for its peak resident memory (``VmHWM``). Prints a
table, writes ``<output>/training_benchmark.json``, with the projected training
time of the full recipe (7,000 clips, 100 epochs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FULL_RECIPE_CLIPS = 7000
FULL_RECIPE_EPOCHS = 100
VECTORS_PER_CLIP = 196  # 200 cropped frames, 5 per vector


def prepare_vectors(output: Path, clips: int) -> Path:
    """Generate ``clips`` synthetic training clips and cache their features (once)."""
    from anomaly_detection.core.config import FeatureConfig
    from anomaly_detection.data.synthetic import SyntheticSpec, write_dataset
    from anomaly_detection.features.cache import FeatureCache
    from anomaly_detection.features.extraction import extract_log_mels

    ids = (1, 2, 3, 4)
    spec = SyntheticSpec(
        machine_types=("ToyCar",),
        dev_ids=ids,
        train_clips=-(-clips // len(ids)),
        test_normal_clips=1,
        test_anomaly_clips=1,
        duration=11.0,
        seed=1,
    )
    data_root = output / f"training_data_{clips}"
    write_dataset(data_root, spec, dev=True, workers=os.cpu_count() or 1)
    files = sorted((data_root / "dev_data" / "ToyCar" / "train").glob("*.wav"))[:clips]
    cache = FeatureCache(output / "training_cache", FeatureConfig())
    extract_log_mels(files, FeatureConfig(), cache=cache, progress=False)
    list_file = output / f"training_files_{clips}.txt"
    list_file.write_text("\n".join(str(path) for path in files))
    return list_file


def epoch_timer():
    """A Keras callback recording when each epoch ends (``.ends``, perf_counter seconds)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    return EpochTimer()


def measure(which: str, list_file: Path, epochs: int) -> dict:
    """Run in a fresh process (``--measure``): the rate of one training run."""
    import numpy as np

    from anomaly_detection.core.config import FeatureConfig, FitConfig
    from anomaly_detection.features.cache import FeatureCache
    from anomaly_detection.model.training import seed_everything, split_training_vectors

    files = [Path(line) for line in list_file.read_text().splitlines()]
    feature = FeatureConfig()
    entry = FeatureCache(list_file.parent / "training_cache", feature).entry(files)
    assert entry is not None, "features not cached"
    store = entry.frame_store()
    fit = FitConfig(epochs=epochs, verbose=0)
    train, validation = split_training_vectors(store, frames=feature.frames, fit=fit, seed=0)
    import keras

    from keras_model import get_model

    seed_everything(0)
    model = get_model(feature.vector_dim)
    timer = epoch_timer()
    if which == "reference":
        assert validation is not None
        matrix = np.concatenate([train.as_array(), validation.as_array()]).astype(np.float64)
        n_vectors = len(matrix)
        model.compile(optimizer="adam", loss="mean_squared_error")
        start = time.perf_counter()
        history = model.fit(
            matrix,
            matrix,
            epochs=epochs,
            batch_size=512,
            shuffle=True,
            validation_split=0.1,
            verbose=0,
            callbacks=[timer],
        )
    else:
        from anomaly_detection.model.training import train_autoencoder

        n_vectors = train.n_vectors + (validation.n_vectors if validation else 0)
        start = time.perf_counter()
        history = train_autoencoder(model, train, validation, fit, callbacks=[timer])
    seconds = time.perf_counter() - start
    steady = (timer.ends[-1] - timer.ends[0]) / (epochs - 1) if epochs > 1 else float("nan")
    return {
        "first_epoch_seconds": timer.ends[0] - start,
        "steady_epoch_seconds": steady,
        "steady_vectors_per_s": n_vectors / steady,
        "backend": keras.backend.backend(),
        "vectors": n_vectors,
        "seconds": seconds,
        "vectors_per_s": n_vectors * epochs / seconds,
        "final_loss": float(history.history["loss"][-1]),
    }


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backends", nargs="+", default=["jax", "tensorflow"], help="backends of ours"
    )
    parser.add_argument(
        "--memory-clips", type=int, default=7000, help="clips of the memory run (0: none)"
    )
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        which, list_file, epochs = args.measure
        print(json.dumps(measure(which, Path(list_file), int(epochs))))
        return 0

    args.output.mkdir(parents=True, exist_ok=True)
    print(f"vectors of {args.clips} synthetic clips (generated and cached once) ...")
    list_file = prepare_vectors(args.output, args.clips)
    runs: dict[str, list[dict]] = {"reference": []}
    for backend in args.backends:
        runs[f"ours_{backend}"] = []
    for repeat in range(args.repeats):
        for name in runs:
            which, backend = (
                ("reference", "tensorflow") if name == "reference" else ("ours", name[5:])
            )
            run = measure_in_process(which, backend, list_file, args.epochs)
            runs[name].append(run)
            print(
                f"  run {repeat + 1}: {name:<16} {run['steady_vectors_per_s']:8.0f} vectors/s "
                f"(first epoch {run['first_epoch_seconds']:.1f} s)"
            )
    best = {
        name: max(run["steady_vectors_per_s"] for run in values) for name, values in runs.items()
    }
    first_epoch = {
        name: min(run["first_epoch_seconds"] for run in values) for name, values in runs.items()
    }
    default = f"ours_{args.backends[0]}"
    ratio = best[default] / best["reference"]
    full_vectors = FULL_RECIPE_CLIPS * VECTORS_PER_CLIP
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "clips": args.clips,
        "vectors": runs["reference"][0]["vectors"],
        "epochs": args.epochs,
        "runs": runs,
        "best_vectors_per_s": best,
        "ratio_default_vs_reference": ratio,
        "target_ratio": 2.0,
        "meets_target": ratio >= 2.0,
        "projected_training_minutes_full_recipe": {
            name: (first_epoch[name] + full_vectors * (FULL_RECIPE_EPOCHS - 1) / rate) / 60
            for name, rate in best.items()
        },
    }
    if args.memory_clips:
        print(f"00_train.py, 1 epoch on {args.memory_clips} clips: peak memory ...")
        report["training_memory"] = training_memory(args.output, args.memory_clips)
    (args.output / "training_benchmark.json").write_text(json.dumps(report, indent=2))
    print(f"\nTraining benchmark: {report['vectors']} vectors x {args.epochs} epochs, best of")
    print(f"{args.repeats} alternating runs, {os.cpu_count()} cores")
    for name, rate in best.items():
        minutes = report["projected_training_minutes_full_recipe"][name]
        print(
            f"  {name:<16} {rate:8.0f} vectors/s  x{rate / best['reference']:.2f}   "
            f"7,000 clips x 100 epochs: {minutes:5.1f} min"
        )
    print(f"  target: {default} at least 2x reference: {'met' if ratio >= 2 else 'NOT met'}")
    if "training_memory" in report:
        memory = report["training_memory"]
        print(
            f"  00_train.py at {memory['clips']} clips: peak RSS "
            f"{memory['peak_rss_bytes'] / 1e9:.2f} GB (target 1.5 GB)"
        )
    print(f"written {args.output / 'training_benchmark.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
