#!/usr/bin/env python3
"""TFLite Micro stage at the MLPerf Tiny scale: 2,459 test clips of 196 vectors each.

    .venv/bin/python benchmarks/tflm_benchmark.py [--clips 2459] [--workers 2]

Builds the reference autoencoder (untrained: TFLM's speed does not depend on
the weights), converts it to the int8 micro model with int8 I/O as 02_convert.py
does, and scores ``--clips`` log-mel spectrograms of 200 x 128 (the cropped
MLPerf Tiny clip) with :class:`~anomaly_detection.device.tflm.TFLMModel`, one invoke
per vector, as 03_tflite_test.py does. Also times one process on a sample, so
the speed-up from the worker processes is measured in the same run. Writes
``benchmarks/output/tflm_benchmark.json`` and the measurement record ``tflm``
(``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import measurements  # noqa: E402
from anomaly_detection.device.tflm import TFLMModel  # noqa: E402
from anomaly_detection.registry.model_files import model_file_by_name  # noqa: E402

TARGET_SECONDS = 60.0
FRAMES, N_MELS, CLIP_FRAMES = 5, 128, 200


def micro_model(path: Path, rng: np.random.Generator) -> None:
    """The int8 micro model with int8 I/O of an untrained autoencoder, calibrated on
    log-mel-like vectors."""
    # Imported here: the spawned worker processes import this script, not Keras.
    from anomaly_detection.device.tflite_convert import convert_to_tflite, fold_batch_norm
    from keras_model import get_model

    calibration = rng.normal(-40.0, 10.0, (2000, FRAMES * N_MELS)).astype(np.float32)
    model = fold_batch_norm(get_model(FRAMES * N_MELS))
    intio = model_file_by_name("intio")
    path.write_bytes(convert_to_tflite(model, intio, representative=calibration))


def time_scores(path: Path, log_mels: list[np.ndarray], workers: int) -> float:
    """Wall seconds to score ``log_mels`` (worker start-up included)."""
    start = time.perf_counter()
    with TFLMModel(path, workers=workers) as model:
        scores = list(model.anomaly_scores(log_mels, frames=FRAMES))
    seconds = time.perf_counter() - start
    if len(scores) != len(log_mels) or not np.all(np.isfinite(scores)):
        raise SystemExit("TFLM returned missing or non-finite scores")
    return seconds


def record_tflm(result: dict, *, sample_clips: int, record_dir: Path) -> None:
    """The record ``tflm``: the workers' time beside one process's (projected from the
    sample), against the target."""
    workers = f"{result['workers']} processes"
    met = "met" if result["meets_target"] else "NOT met"
    one_process = f"{result['projected_seconds_one_process']:.1f} s"
    speedup = f"{result['speedup_over_one_process']:.2f}x"
    invokes = f"{result['clips']:,} x {CLIP_FRAMES - FRAMES + 1} ({result['vectors']:,})"
    measurements.write_record(
        "tflm",
        title="TensorFlow Lite Micro stage",
        figures=[
            ("clips x vectors (invokes)", invokes),
            (f"time per model, {workers}", f"{result['seconds']:.1f} s"),
            ("target", f"{result['target_seconds']:.0f} s: {met}"),
            ("one process, per vector", f"{result['ms_per_vector_one_process']:.3f} ms"),
            ("one process, projected", one_process),
            (f"speed-up of {workers}", speedup),
        ],
        tables=[
            {
                "title": "Against one process",
                "columns": ["run", "all clips", "ratio"],
                "rows": [
                    [f"one process (projected from {sample_clips} clips)", one_process, "1.00x"],
                    [workers, f"{result['seconds']:.1f} s", speedup],
                ],
            }
        ],
        notes=[
            "The int8 micro model with int8 I/O of an untrained reference autoencoder (TFLM's "
            "speed does not depend on the weights), one invoke per vector of random "
            "200 x 128 log-mel spectrograms; worker start-up included."
        ],
        raw=result,
        record_dir=record_dir,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2459)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample-clips", type=int, default=100)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record tflm.json (default %(default)s)",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    log_mels = [
        rng.normal(-40.0, 10.0, (CLIP_FRAMES, N_MELS)).astype(np.float32) for _ in range(args.clips)
    ]
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "micro_intio.tflite"
        micro_model(path, rng)
        sample = log_mels[: args.sample_clips]
        one_process = time_scores(path, sample, workers=1) / len(sample)
        full = time_scores(path, log_mels, workers=args.workers)

    vectors = args.clips * (CLIP_FRAMES - FRAMES + 1)
    result = {
        "clips": args.clips,
        "vectors": vectors,
        "workers": args.workers,
        "seconds": round(full, 2),
        "target_seconds": TARGET_SECONDS,
        "meets_target": full <= TARGET_SECONDS,
        "ms_per_vector_one_process": round(one_process * 1e3 / (CLIP_FRAMES - FRAMES + 1), 4),
        "projected_seconds_one_process": round(one_process * args.clips, 1),
        "speedup_over_one_process": round(one_process * args.clips / full, 2),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "tflm_benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    record_tflm(result, sample_clips=len(sample), record_dir=args.record_dir)
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
