"""The evaluation set's published labels: ``eval_data_list.csv``, read strictly.

After the DCASE 2020 challenge the labels of the evaluation test clips were
published as ``eval_data_list.csv`` (Zenodo record 3951620), in the layout the
official evaluator (``dcase2020_task2_evaluator``) reads: a line holding only a
machine type, then one ``file,original file,label`` row per test clip of that
type (``id_05_00000000.wav,anomaly_id_05_00000012.wav,1``), label 0 normal, 1
anomalous. The evaluator pairs scores with labels by position; here they are
paired by file name, and every mismatch between the list and the test folder
is an error naming the file and the line.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DatasetError
from ..core.io_utils import write_csv_atomic
from .dataset import TestSet

__all__ = [
    "GroundTruth",
    "read_ground_truth",
    "write_ground_truth",
    "find_ground_truth",
    "GROUND_TRUTH_FILE",
]

logger = logging.getLogger(__name__)

#: The list's name, as published and as ``get_dataset.sh --eval`` saves it.
GROUND_TRUTH_FILE = "eval_data_list.csv"
_TEST_FILE = re.compile(r"^(id_\d\d)_[^/\\]*\.wav$")


@dataclass(frozen=True)
class _Entry:
    label: int
    line: int


@dataclass(frozen=True)
class GroundTruth:
    """The labels of one ``eval_data_list.csv`` (``path``): ``labels`` maps each machine
    type to ``{test file name: entry}``, each entry a label (0/1) and its line number.
    """

    path: Path
    labels: dict[str, dict[str, _Entry]]

    def labelled_types(self) -> dict[str, Path]:
        """The machine types the list labels, each with the file that labels it."""
        return {machine_type: self.path for machine_type in self.labels}

    def labels_digest(self, machine_type: str) -> str:
        """SHA-256 of the labels of ``machine_type``'s clips (file names and labels, as read
        here): changes when a label is corrected; results record it."""
        listed = self.labels.get(machine_type, {})
        rows = "".join(f"{name}\0{listed[name].label}\0" for name in sorted(listed))
        return hashlib.sha256(rows.encode("utf-8", "surrogateescape")).hexdigest()

    def label_test_sets(self, machine_type: str, test_sets: Sequence[TestSet]) -> list[TestSet]:
        """``test_sets`` (one machine type's evaluation test clips, by ID) with their labels.

        Raises
        ------
        DatasetError
            If the type or an ID is absent from the list, a test file is not
            listed, or a listed file of the type is not among the test files.
        """
        listed = self.labels.get(machine_type)
        if listed is None:
            raise DatasetError(
                f"{self.path}: machine type '{machine_type}' is not listed "
                f"(listed: {', '.join(self.labels) or 'none'})"
            )
        labelled = []
        present: set[str] = set()
        for test_set in test_sets:
            if not any(name.startswith(f"{test_set.name}_") for name in listed):
                raise DatasetError(f"{self.path}: no entry for {machine_type} {test_set.name}")
            labels = []
            for path in test_set.files:
                entry = listed.get(path.name)
                if entry is None:
                    raise DatasetError(
                        f"{path}: test file not in {self.path} (machine type {machine_type})"
                    )
                labels.append(entry.label)
                present.add(path.name)
            labelled.append(TestSet(test_set.name, test_set.files, tuple(labels)))
        missing = sorted(
            (entry.line, name) for name, entry in listed.items() if name not in present
        )
        if missing:
            line, name = missing[0]
            folder = test_sets[0].files[0].parent if test_sets and test_sets[0].files else "?"
            raise DatasetError(
                f"{self.path}:{line}: {machine_type} {name} is listed but not "
                f"among the test files of {folder} ({len(missing)} such file(s))"
            )
        return labelled


def read_ground_truth(path: str | Path) -> GroundTruth:
    """Read and check an ``eval_data_list.csv``.

    Raises
    ------
    DatasetError
        Naming the file and line: unreadable file, a row before the first
        machine type, a row that is not ``file,original file,label``, a file
        name unlike ``id_XX_*.wav``, a label other than 0 or 1, a file or
        machine type listed twice, or no entry at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: ground-truth list not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read the ground-truth list ({error})") from None
    labels: dict[str, dict[str, _Entry]] = {}
    current: dict[str, _Entry] | None = None
    for line, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        where = f"{path}:{line}"
        if len(cells) == 1:
            if cells[0] in labels:
                raise DatasetError(f"{where}: machine type '{cells[0]}' listed twice")
            current = labels[cells[0]] = {}
            continue
        if current is None:
            raise DatasetError(f"{where}: a row before the first machine-type line")
        name, label = _checked_row(where, cells, current)
        current[name] = _Entry(label, line)
    if not any(labels.values()):
        raise DatasetError(f"{path}: no labelled test files")
    return GroundTruth(path, labels)


def _checked_row(where: str, cells: Sequence[str], listed: dict[str, _Entry]) -> tuple[str, int]:
    """The file name and label of a ``file,original file,label`` row."""
    if len(cells) != 3:
        raise DatasetError(
            f"{where}: expected 'file,original file,label', got {len(cells)} column(s)"
        )
    name, _, label = cells
    if not _TEST_FILE.match(name):
        raise DatasetError(
            f"{where}: '{name[:80]}' is not a test file name like id_05_00000000.wav"
        )
    if label not in ("0", "1"):
        raise DatasetError(f"{where}: label '{label[:20]}' of {name} is not 0 or 1")
    if name in listed:
        raise DatasetError(f"{where}: {name} listed twice (first on line {listed[name].line})")
    return name, int(label)


def write_ground_truth(path: Path, rows: Iterable[tuple[str, str, str, int]]) -> None:
    """Write ``(machine type, file, original file, label)`` rows as an
    ``eval_data_list.csv`` (types in order of appearance, files sorted), atomically."""
    by_type: dict[str, list[tuple[str, str, int]]] = {}
    for machine_type, name, original, label in rows:
        by_type.setdefault(machine_type, []).append((name, original, label))
    lines: list[list[object]] = []
    for machine_type, entries in by_type.items():
        lines.append([machine_type])
        lines += [list(entry) for entry in sorted(entries)]
    write_csv_atomic(path, lines)


def find_ground_truth(
    option: Path | None, configured: Path | None, eval_directory: Path
) -> Path | None:
    """The ground-truth list to use in evaluation mode: ``--ground-truth``, else the YAML's
    ``eval_ground_truth``, else ``eval_data_list.csv`` beside ``eval_directory`` if it exists
    (logged), else ``None`` (scores only)."""
    if option is not None:
        return option
    if configured is not None:
        return configured
    beside = eval_directory.parent / GROUND_TRUTH_FILE
    if beside.is_file():
        logger.info(
            "using the ground truth %s (found beside %s; --ground-truth chooses another)",
            beside,
            eval_directory,
        )
        return beside
    return None
