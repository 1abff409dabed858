"""The benchmark's sample files and their list, ``y_labels.csv``: written, read, and the
official ad01 sets (the EEMBC EnergyRunner's and MLCommons' runner's input).

For each selected test clip: ``<clip>_hist_librosa.bin``, its cropped log-mel
spectrogram as raw little-endian float32, frame-major (``n_frames x n_mels``;
200 x 128 = 102,400 bytes with the default configuration); and one
``y_labels.csv`` listing ``<bin file>,2,<label>,<window bytes>,<stride bytes>``
per sample: 2 classes, label 0 normal / 1 anomaly, a window of ``frames``
frames (2,560 bytes) moved one frame (512 bytes) at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import FeatureConfig
from ..core.errors import PipelineError
from ..core.io_utils import write_bytes_atomic, write_csv_atomic
from ..data.dataset import ANOMALY, TestSet
from ..features.clip_features import ClipFeatures

__all__ = [
    "Sample",
    "read_labels",
    "OFFICIAL_SETS",
    "official_set",
    "listed_clips",
    "labels_file_clips",
    "select_clips",
    "sample_file_name",
    "write_sample",
    "write_samples",
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


#: MLCommons Tiny's official ad01 sets (``benchmark/evaluation/datasets/ad01/``), ToyCar
#: IDs 01-04: ``ad01`` holds every 10th test clip from index 3 (35 normal and 27 anomalous
#: per ID); ``ad01-alt`` (accepted since v1.2) 9 per ID and class, mostly the first 9,
#: with the exceptions its published list has (the clip indices below, in its order).
OFFICIAL_SETS = ("ad01", "ad01-alt")
_FIRST_NINE = tuple(range(3, 84, 10))
_ALT_INDICES = {
    ("normal", 1): _FIRST_NINE,
    ("normal", 2): _FIRST_NINE,
    ("normal", 3): _FIRST_NINE,
    ("normal", 4): (*_FIRST_NINE[:8], 343),
    ("anomaly", 1): (*_FIRST_NINE[:8], 93),
    ("anomaly", 2): (*_FIRST_NINE[:7], 223, 93),
    ("anomaly", 3): _FIRST_NINE,
    ("anomaly", 4): _FIRST_NINE,
}
_FULL_COUNTS = {"normal": 35, "anomaly": 27}


def official_set(name: str) -> list[tuple[str, int]]:
    """``(clip file name, label)`` of an official set, in its ``y_labels.csv`` order: every
    normal clip first (ID by ID), then every anomalous one."""
    if name not in OFFICIAL_SETS:
        raise PipelineError(f"--set: unknown set {name!r} (one of {', '.join(OFFICIAL_SETS)})")
    listed = []
    for kind, label in (("normal", 0), ("anomaly", 1)):
        for machine_id in (1, 2, 3, 4):
            indices = (
                _ALT_INDICES[kind, machine_id]
                if name == "ad01-alt"
                else range(3, 10 * _FULL_COUNTS[kind], 10)
            )
            listed += [(f"{kind}_id_{machine_id:02d}_{index:08d}.wav", label) for index in indices]
    return listed


def listed_clips(type_dir: Path, listed: Sequence[tuple[str, int]]) -> list[tuple[Path, int]]:
    """The clips of ``<type_dir>/test`` that ``listed`` names, in its order.

    Raises
    ------
    PipelineError
        Naming the first listed clip that is not there.
    """
    test_dir = type_dir / "test"
    for name, _ in listed:
        if not (test_dir / name).is_file():
            raise PipelineError(
                f"{test_dir / name}: listed clip not found ({len(listed)} listed; the "
                "official sets need ToyCar's development test clips of IDs 01-04)"
            )
    return [(test_dir / name, label) for name, label in listed]


def labels_file_clips(path: Path) -> list[tuple[str, int]]:
    """``(clip file name, label)`` of each sample a ``y_labels.csv`` lists, in its order."""
    suffix = "_hist_librosa.bin"
    listed = []
    for sample in read_labels(path):
        if not sample.name.endswith(suffix):
            raise PipelineError(f"{path}: {sample.name} is not named <clip>{suffix}")
        listed.append((sample.name.removesuffix(suffix) + ".wav", sample.label))
    return listed


def select_clips(test_sets: Sequence[TestSet], every: int = 1) -> list[tuple[Path, int]]:
    """Every ``every``-th clip of each ID and class, with its label: every normal clip
    first, then every anomalous one (the older EEMBC accuracy functions take the first
    results as the normal ones)."""
    if every < 1:
        raise PipelineError(f"--every must be at least 1, got {every}")
    selected = []
    for test_set in test_sets:
        labels = test_set.labels or (0,) * len(test_set.files)
        pairs = list(zip(test_set.files, labels, strict=True))
        for label in sorted(set(labels)):
            selected += [pair for pair in pairs if pair[1] == label][::every]
    return sorted(selected, key=lambda pair: int(pair[1] == ANOMALY))


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
    """Write one ``.bin`` per readable clip and ``y_labels.csv``, and remove other
    samples an earlier export left in ``output``; return the CSV path.

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
    listed = {row[0] for row in rows}
    for other in output.glob("*_hist_librosa.bin"):  # an earlier export's samples
        if other.name not in listed:
            other.unlink()
    return labels_path
