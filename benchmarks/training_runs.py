"""The vectors ``training_benchmark.py`` trains on, and one candidate's training run, in
the fresh process the benchmark starts for it (``training_benchmark.py --measure``):
Keras picks its backend once per process."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
    """Run in a fresh process (``--measure``): the rate of one training run of candidate
    ``which``: ``reference``, ``scan_float32``, ``scan_bfloat16`` or ``keras_fit``."""
    import numpy as np

    from anomaly_detection.core.config import FeatureConfig, FitConfig
    from anomaly_detection.features.cache import FeatureCache
    from anomaly_detection.model.precision import training_precision
    from anomaly_detection.model.training import seed_everything, split_training_vectors

    files = [Path(line) for line in list_file.read_text().splitlines()]
    feature = FeatureConfig()
    entry = FeatureCache(list_file.parent / "training_cache", feature).entry(files)
    assert entry is not None, "features not cached"
    store = entry.frame_store()
    loop, _, precision = which.partition("_")
    fit = FitConfig(
        epochs=epochs,
        verbose=0,
        loop="keras" if which == "keras_fit" else "scan",
        precision=precision if loop == "scan" else "float32",
    )
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
        "precision": training_precision(fit.precision) if which.startswith("scan") else "",
        "vectors": n_vectors,
        "seconds": seconds,
        "vectors_per_s": n_vectors * epochs / seconds,
        "final_loss": float(history.history["loss"][-1]),
    }
