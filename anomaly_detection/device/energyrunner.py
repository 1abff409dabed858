"""The EEMBC EnergyRunner's accuracy run of the anomaly detection benchmark, on the host.

The runner feeds each sample file (``*_hist_librosa.bin``, float32 log-mel
frames, listed in ``y_labels.csv`` with its label, window and stride in bytes)
to the device one window at a time. The MLPerf Tiny reference firmware
(``submitter_implemented.cpp``) quantizes the window's floats with C's
``round()`` (half away from zero) and clamps them to int8, invokes the model,
dequantizes the output as ``float(q - zero_point) * scale``, and returns the
mean squared error over the window, accumulated in float32 in index order and
printed as ``m-results-[%0.3f]``. This module repeats that computation in
TensorFlow Lite Micro, bit for bit for firmware built without fused
multiply-add contraction of ``diffsum += diff * diff`` (GCC's
``-ffp-contract=off``; with FMA, as GCC may emit on a Cortex-M4F/M7, about 1
printed result in 100 differs by 0.001), and combines the printed window results of
a file into the file's score by their mean, as MLCommons' open runner does
(``np.mean(results, axis=0)`` in its ``main.py``; the window is 2,560 bytes, the
stride 512 bytes, so a 200-frame sample gives 196 windows).

The older EEMBC accuracy functions (``calculate_ae_auc`` and
``calculate_ae_pr_accuracy`` of MLCommons Tiny's ``eval_functions_eembc.py``)
integrate the ROC curve over 101 thresholds spaced linearly between the lowest
and the highest score, and take the best mean of precision and recall over 100
such thresholds; they read the first ``n_normal`` results as the normal ones.
The current runner's figures (``AUC``, ``Top 1%``) are in :mod:`.mlperf_runner`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import PipelineError
from .tflm import TFLMModel

__all__ = [
    "Sample",
    "read_labels",
    "read_sample",
    "window_results",
    "read_device_scores",
    "simplified_auc",
    "precision_recall_accuracy",
]


@dataclass(frozen=True)
class Sample:
    """One row of ``y_labels.csv``: file name, label (0 normal, 1 anomaly), window and
    stride in bytes."""

    name: str
    label: int
    window_bytes: int
    stride_bytes: int


def read_labels(path: Path) -> list[Sample]:
    """The samples listed in ``y_labels.csv`` (``file,classes,label,window,stride``).

    Raises
    ------
    PipelineError
        Naming the file and line of a malformed row, or a file with no samples.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: cannot read the label file ({error})") from None
    samples: list[Sample] = []
    names: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() == "file":
            continue  # a header row
        try:
            name, classes, label, window, stride = (cell.strip() for cell in row)
            sample = Sample(name, int(label), int(window), int(stride))
            valid = (
                name
                and int(classes) == 2
                and sample.label in (0, 1)
                and sample.window_bytes > 0
                and sample.stride_bytes > 0
                and sample.window_bytes % 4 == 0
                and sample.stride_bytes % 4 == 0
            )
        except ValueError:
            valid = False
        if not valid:
            raise PipelineError(
                f"{path}, line {number}: expected 'file,2,label (0 or 1),window bytes,"
                f"stride bytes' with byte counts multiple of 4, got {','.join(row)!r}"
            )
        if sample.name in names:
            raise PipelineError(f"{path}, line {number}: {sample.name} is listed twice")
        names.add(sample.name)
        samples.append(sample)
    if not samples:
        raise PipelineError(f"{path}: no samples listed")
    return samples


def read_sample(
    directory: Path, sample: Sample, input_dim: int, *, frames: int | None = None
) -> np.ndarray:
    """The windows of one sample file, shape ``(n_windows, input_dim)`` float32.

    ``frames``: the log-mel frames a sample holds (200 for the reference's crop); the
    file must then be exactly ``frames`` strides (one stride is one frame's bytes).

    Raises
    ------
    PipelineError
        If the file is missing, its size does not hold whole float32 values and at
        least one window, is not ``frames`` frames, or the window does not match the
        model's input.
    """
    path = Path(directory) / sample.name
    if sample.window_bytes != 4 * input_dim:
        raise PipelineError(
            f"{path}: window of {sample.window_bytes} bytes in y_labels.csv, but the model "
            f"takes {input_dim} float32 values ({4 * input_dim} bytes)"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PipelineError(f"{path}: cannot read sample ({error.strerror})") from None
    expected = None if frames is None else frames * sample.stride_bytes
    if expected is not None and len(data) != expected:
        raise PipelineError(
            f"{path}: {len(data)} bytes, a sample of {frames} frames of "
            f"{sample.stride_bytes} bytes is {expected} (a cut or foreign file; --frames "
            "sets another frame count)"
        )
    if len(data) % 4 or len(data) < sample.window_bytes:
        raise PipelineError(
            f"{path}: {len(data)} bytes, not whole float32 values holding at least one "
            f"{sample.window_bytes}-byte window"
        )
    values = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise PipelineError(f"{path}: holds non-finite values")
    stride = sample.stride_bytes // 4
    starts = range(0, len(values) - input_dim + 1, stride)
    return np.stack([values[start : start + input_dim] for start in starts])


def window_results(model: TFLMModel, windows: np.ndarray) -> np.ndarray:
    """What the firmware prints for each window: its float32 mean squared error,
    rounded to three decimals (``%0.3f``).

    Returns
    -------
    np.ndarray, shape (n_windows,), float64
    """
    reconstruction = model(windows)  # quantized, invoked and dequantized as the firmware does
    squared = np.square(reconstruction - windows, dtype=np.float32)
    # float32 running sum in index order (cumsum is sequential), then / count in float32
    mse = np.cumsum(squared, axis=1, dtype=np.float32)[:, -1] / np.float32(windows.shape[1])
    return np.asarray([float(f"{float(value):.3f}") for value in mse], dtype=np.float64)


def read_device_scores(path: Path, samples: Sequence[Sample]) -> np.ndarray:
    """Per-file scores measured on a device (``file,score`` rows, header optional), in
    the order of ``samples``.

    Raises
    ------
    PipelineError
        Naming the file and the problem: a bad row, a non-finite score, a file listed
        twice, missing from ``samples`` or not scored.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = [
                (number, row)
                for number, row in enumerate(csv.reader(handle), start=1)
                if row and "".join(row).strip()
            ]
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: cannot read device scores ({error})") from None
    if rows and [cell.strip().lower() for cell in rows[0][1]] == ["file", "score"]:
        rows = rows[1:]
    scores: dict[str, float] = {}
    known = {sample.name for sample in samples}
    for number, row in rows:
        try:
            name, text = (cell.strip() for cell in row)
            score = float(text)
        except ValueError:
            raise PipelineError(
                f"{path}, line {number}: expected 'file,score', got {','.join(row)!r}"
            ) from None
        if not math.isfinite(score):
            raise PipelineError(f"{path}: score of {name} is not finite ({text})")
        if name not in known:
            raise PipelineError(f"{path}: {name} is not listed in y_labels.csv")
        if name in scores:
            raise PipelineError(f"{path}: {name} is scored twice")
        scores[name] = score
    missing = [sample.name for sample in samples if sample.name not in scores]
    if missing:
        raise PipelineError(f"{path}: no score for {len(missing)} sample(s), first {missing[0]}")
    return np.asarray([scores[sample.name] for sample in samples], dtype=np.float64)


def _linear_thresholds(scores: np.ndarray, steps: np.ndarray) -> np.ndarray:
    return float(np.min(scores)) + steps * (float(np.max(scores)) - float(np.min(scores)))


def _split(
    labels: np.ndarray, scores: np.ndarray, listed_order: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The scores the EEMBC functions take as normal and as anomalous: by label, or (as
    they do) the first ``n_normal`` in the listed order and the rest."""
    if listed_order:
        n_normal = int(np.sum(labels == 0))
        return scores[:n_normal], scores[n_normal:]
    return scores[labels == 0], scores[labels == 1]


def simplified_auc(labels: np.ndarray, scores: np.ndarray, *, listed_order: bool = False) -> float:
    """The EEMBC functions' ROC AUC: 101 linear thresholds, the first forced to (1, 1),
    trapezoids.

    ``listed_order=True`` repeats their reading of the samples: the first ``n_normal``
    scores are the normal ones, whatever their labels (right only for a normals-first
    list); by default each score goes with its own label.
    """
    normal, anomaly = _split(np.asarray(labels), np.asarray(scores), listed_order)
    thresholds = _linear_thresholds(scores, np.arange(0.0, 1.01, 0.01))
    tpr = np.array([np.mean(anomaly > threshold) for threshold in thresholds])
    fpr = np.array([np.mean(normal > threshold) for threshold in thresholds])
    tpr[0] = fpr[0] = 1.0
    return float(np.sum(0.5 * (tpr[:-1] + tpr[1:]) * (fpr[:-1] - fpr[1:])))


def precision_recall_accuracy(
    labels: np.ndarray, scores: np.ndarray, *, listed_order: bool = False
) -> float:
    """The EEMBC functions' accuracy: best ``100 * (precision + recall) / 2`` over 100
    linear thresholds (thresholds with no positive decision have no precision and are
    skipped). ``listed_order`` as in :func:`simplified_auc`."""
    normal, anomaly = _split(np.asarray(labels), np.asarray(scores), listed_order)
    best = 0.0
    for threshold in _linear_thresholds(scores, np.arange(0.0, 1.0, 0.01)):
        true_positive = int(np.sum(anomaly > threshold))
        decided = true_positive + int(np.sum(normal > threshold))
        if decided == 0:
            continue
        precision, recall = true_positive / decided, true_positive / anomaly.size
        best = max(best, 100.0 * (precision + recall) / 2)
    return best
