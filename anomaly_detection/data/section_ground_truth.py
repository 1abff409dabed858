"""Labels of a DCASE 2021+ evaluation set: the official evaluators' ground truth folders.

::

    <folder>/ground_truth_data/ground_truth_<type>_section_03_source_test.csv   (2021)
    <folder>/ground_truth_data/ground_truth_<type>_section_00_test.csv          (2022 on)
        file name,label        (0 normal, 1 anomaly; no header)
    <folder>/ground_truth_domain/ground_truth_<type>_section_00_test.csv        (2022 on)
        file name,domain       (0 source, 1 target)

Matched by file name, as strictly as the 2020 list: a test clip without a label, a label
of a clip that is not in the test folder, or a malformed row is an error naming the file
(and line). The 2023+ evaluators' ``ground_truth_attributes`` renaming is not applied:
the score files keep the published test clip names.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DatasetError
from .dataset import TestSet
from .dcase_years import SOURCE, TARGET

__all__ = ["SectionGroundTruth", "find_section_ground_truth"]

DATA_FOLDER, DOMAIN_FOLDER = "ground_truth_data", "ground_truth_domain"
_LABELS_FILE = re.compile(r"^ground_truth_(.+)_section_[0-9]+(_source|_target)?_test\.csv$")


def _read_pairs(path: Path, what: str) -> dict[str, int]:
    """``{file name: 0 or 1}`` of a ground truth file."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found")
    pairs: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from None
    for line, row in enumerate(rows, start=1):
        if len(row) < 2 or row[1].strip() not in ("0", "1") or row[0] in pairs:
            problem = "a repeated file" if row and row[0] in pairs else "not 'file name,0|1'"
            raise DatasetError(f"{path}:{line}: {problem}")
        pairs[row[0]] = int(row[1])
    return pairs


@dataclass(frozen=True)
class SectionGroundTruth:
    """The ground truth folders under ``folder``."""

    folder: Path

    def labelled_types(self) -> dict[str, Path]:
        """The machine types ``ground_truth_data/`` labels, each with its first file."""
        found: dict[str, Path] = {}
        for path in sorted((self.folder / DATA_FOLDER).glob("ground_truth_*.csv")):
            match = _LABELS_FILE.match(path.name)
            if match:
                found.setdefault(match[1], path)
        return found

    def labels_digest(self, machine_type: str) -> str:
        """SHA-256 of the files holding ``machine_type``'s labels and domains (names and
        bytes): changes when a label is corrected; results record it."""
        digest = hashlib.sha256()
        for folder in (DATA_FOLDER, DOMAIN_FOLDER):
            for path in sorted((self.folder / folder).glob(_type_files(machine_type))):
                try:
                    content = path.read_bytes()
                except OSError as error:  # reported when the labels are read
                    content = str(error).encode()
                digest.update(f"{folder}/{path.name}\0{len(content)}\0".encode())
                digest.update(content)
        return digest.hexdigest()

    def label_test_sets(self, machine_type: str, test_sets: Sequence[TestSet]) -> list[TestSet]:
        """``test_sets`` (one machine type's scoring sets) with labels and domains.

        Raises
        ------
        DatasetError
            A missing ground truth file, a file of a scoring set with no test clips (a
            section missing from the test folder), a test clip it does not list, a listed
            clip that is not among the test clips, or a malformed row.
        """
        set_names = {test_set.name for test_set in test_sets}
        for path in sorted((self.folder / DATA_FOLDER).glob(_type_files(machine_type))):
            scoring_set = path.stem.removeprefix(f"ground_truth_{machine_type}_")
            if scoring_set not in set_names:
                raise DatasetError(
                    f"{path}: labels {scoring_set}, which has no {machine_type} test clips"
                )
        labelled = []
        for test_set in test_sets:
            stem = f"ground_truth_{machine_type}_{test_set.name}.csv"
            labels = _read_pairs(self.folder / DATA_FOLDER / stem, "ground truth")
            domains = test_set.domains
            if domains is None:
                path = self.folder / DOMAIN_FOLDER / stem
                by_name = _read_pairs(path, "domain ground truth")
                names = [clip.name for clip in test_set.files]
                missing = [name for name in names if name not in by_name]
                if missing:
                    raise DatasetError(f"{path}: no domain for {missing[0]}")
                extra = sorted(set(by_name) - set(names))
                if extra:
                    raise DatasetError(f"{path}: {extra[0]} is listed but not among the test clips")
                domains = tuple(TARGET if by_name[name] else SOURCE for name in names)
            for path in test_set.files:
                if path.name not in labels:
                    raise DatasetError(
                        f"{path}: test clip not in {self.folder / DATA_FOLDER / stem}"
                    )
            absent = sorted(set(labels) - {path.name for path in test_set.files})
            if absent:
                raise DatasetError(
                    f"{self.folder / DATA_FOLDER / stem}: {absent[0]} is listed but not among "
                    f"the test clips ({len(absent)} such file(s))"
                )
            file_labels = tuple(labels[path.name] for path in test_set.files)
            labelled.append(TestSet(test_set.name, test_set.files, file_labels, domains))
        return labelled


def _type_files(machine_type: str) -> str:
    """The glob pattern of one machine type's ground truth files."""
    return f"ground_truth_{glob.escape(machine_type)}_section_*.csv"


def find_section_ground_truth(
    option: Path | None, configured: Path | None, eval_directory: Path
) -> SectionGroundTruth | None:
    """``--ground-truth FOLDER`` (holding ``ground_truth_data/``), else the YAML's
    ``eval_ground_truth``, else the folder beside ``eval_directory`` when it holds one, else
    ``None`` (score files only).

    Raises
    ------
    DatasetError
        The chosen path is not a folder with ``ground_truth_data/``.
    """
    chosen = option if option is not None else configured
    if chosen is not None:
        if not (chosen / DATA_FOLDER).is_dir():
            raise DatasetError(
                f"{chosen}: the ground truth of a 2021+ set is the folder holding "
                f"{DATA_FOLDER}/ (the official evaluator's)"
            )
        return SectionGroundTruth(chosen)
    if (eval_directory.parent / DATA_FOLDER).is_dir():
        return SectionGroundTruth(eval_directory.parent)
    return None
