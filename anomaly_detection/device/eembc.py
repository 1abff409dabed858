"""Evaluation samples for the EEMBC EnergyRunner (the MLPerf Tiny benchmark harness).

For each selected test clip: ``<clip>_hist_librosa.bin``, its cropped log-mel
spectrogram as raw little-endian float32, frame-major (``n_frames x n_mels``;
200 x 128 = 102,400 bytes with the default configuration); and one
``y_labels.csv`` listing ``<bin file>,2,<label>,<window bytes>,<stride bytes>``
per sample: 2 classes, label 0 normal / 1 anomaly, a window of ``frames``
frames (2,560 bytes) moved one frame (512 bytes) at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.config import FeatureConfig
from ..core.errors import PipelineError
from ..core.io_utils import write_bytes_atomic, write_csv_atomic
from ..data.dataset import ANOMALY, TestSet
from ..features.logmel import ClipFeatures

__all__ = ["select_clips", "sample_file_name", "write_sample", "write_samples"]


def select_clips(test_sets: Sequence[TestSet], every: int = 1) -> list[tuple[Path, int]]:
    """Every ``every``-th clip of each ID (normals and anomalies alike), with its label."""
    if every < 1:
        raise PipelineError(f"--every must be at least 1, got {every}")
    selected = []
    for test_set in test_sets:
        labels = test_set.labels or (0,) * len(test_set.files)
        selected += list(zip(test_set.files, labels, strict=True))[::every]
    return selected


def sample_file_name(clip: Path) -> str:
    """``normal_id_01_00000000.wav`` -> ``normal_id_01_00000000_hist_librosa.bin``."""
    return f"{clip.stem}_hist_librosa.bin"


def write_sample(path: Path, values: np.ndarray) -> None:
    """Write ``values`` as raw little-endian float32 in C order (a log-mel spectrogram
    ``(n_frames, n_mels)`` is frame-major), atomically."""
    write_bytes_atomic(path, np.ascontiguousarray(values, dtype="<f4").tobytes())


def write_samples(
    clips: Sequence[ClipFeatures], labels: Sequence[int], output: Path, feature: FeatureConfig
) -> Path:
    """Write one ``.bin`` per readable clip and ``y_labels.csv``; return the CSV path.

    Raises
    ------
    PipelineError
        If a clip could not be read (naming it).
    """
    bytes_per_frame = feature.n_mels * 4
    rows = []
    for clip, label in zip(clips, labels, strict=True):
        name = sample_file_name(clip.path)
        write_sample(output / name, clip.usable_log_mel())
        rows.append(
            [name, 2, int(label == ANOMALY), feature.frames * bytes_per_frame, bytes_per_frame]
        )
    labels_path = output / "y_labels.csv"
    write_csv_atomic(labels_path, rows)
    return labels_path
