"""The evaluation labels the organisers ship for 2021 to 2025: ``eval_data_list_<year>.csv``.

``nttcslab/dcase2023_task2_baseline_ae`` ships, in ``datasets/``, the published labels of
each year's evaluation set, in the layout its ``tools/rename_eval_wav.py`` reads: a line
holding only a machine type, then one row per test clip of that type, its published name
and its labelled name::

    3DPrinter
    section_00_0001.wav,section_00_target_test_anomaly_0001_mdl_B_spd_2.wav
    section_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav   (2021)

The labelled name gives the clip's label and domain (the year's labelled test name:
``section_XX_<domain>_test_<normal|anomaly>_NNNN*.wav``). Their tool copies the clips
under the labelled names; here the clips keep their published names and take their
labels and domains from the list, matched by file name as strictly as the evaluators'
folders (:mod:`.section_ground_truth`): a test clip the list does not name, a listed clip
of a scored machine type that is not among its test clips, or a malformed row is an error
naming the file and line. The 2020 list (a third column, the label) is read by
:mod:`.ground_truth`.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DatasetError
from ..registry.clip_names import name_pattern, shown_name
from ..registry.years import year_entry
from .dataset import ANOMALY, NORMAL, TestSet

__all__ = ["EvaluationList", "read_evaluation_list"]


@dataclass(frozen=True)
class _Entry:
    section: str
    domain: str
    label: int
    line: int


@dataclass(frozen=True)
class EvaluationList:
    """One ``eval_data_list_<year>.csv``: per machine type, each published test clip name's
    section, domain, label and line."""

    path: Path
    entries: dict[str, dict[str, _Entry]]

    def labelled_types(self) -> dict[str, Path]:
        """The machine types the list labels, each with the list's file."""
        return {machine_type: self.path for machine_type in self.entries}

    def labels_digest(self, machine_type: str) -> str:
        """SHA-256 of ``machine_type``'s rows as read here (published name, section, domain,
        label): changes when a label is corrected; results record it."""
        listed = self.entries.get(machine_type, {})
        rows = "".join(
            f"{name}\0{entry.section}\0{entry.domain}\0{entry.label}\0"
            for name, entry in sorted(listed.items())
        )
        return hashlib.sha256(rows.encode("utf-8", "surrogateescape")).hexdigest()

    def label_test_sets(self, machine_type: str, test_sets: Sequence[TestSet]) -> list[TestSet]:
        """``test_sets`` (one machine type's evaluation scoring sets) with labels and domains.

        Raises
        ------
        DatasetError
            The type is not listed, a test clip is not listed or is listed for another
            section or domain, or a listed clip of the type is not among the test clips.
        """
        listed = self.entries.get(machine_type)
        if listed is None:
            raise DatasetError(
                f"{self.path}: machine type '{machine_type}' is not listed "
                f"(listed: {', '.join(self.entries) or 'none'})"
            )
        labelled, present = [], set()
        for test_set in test_sets:
            labels, domains = [], []
            for index, path in enumerate(test_set.files):
                entry = listed.get(path.name)
                if entry is None:
                    raise DatasetError(f"{path}: test clip not in {self.path} ({machine_type})")
                own_domain = test_set.domains[index] if test_set.domains else entry.domain
                if (
                    f"section_{entry.section}_" not in f"{test_set.name}_"
                    or own_domain != entry.domain
                ):
                    raise DatasetError(
                        f"{self.path}:{entry.line}: labels {path.name} as a section "
                        f"{entry.section} {entry.domain} clip; it is in {test_set.name}"
                        + (f" ({own_domain})" if test_set.domains else "")
                    )
                labels.append(entry.label)
                domains.append(entry.domain)
                present.add(path.name)
            labelled.append(TestSet(test_set.name, test_set.files, tuple(labels), tuple(domains)))
        absent = sorted((entry.line, name) for name, entry in listed.items() if name not in present)
        if absent:
            line, name = absent[0]
            raise DatasetError(
                f"{self.path}:{line}: {machine_type} {name} is listed but not among its test "
                f"clips ({len(absent)} such file(s))"
            )
        return labelled


def read_evaluation_list(path: Path, year: int) -> EvaluationList:
    """Read and check the organisers' ``eval_data_list_<year>.csv`` of a 2021+ ``year``.

    Raises
    ------
    DatasetError
        Naming the file and line: unreadable, a row before the first machine type, a row
        that is not ``published name,labelled name``, a labelled name unlike the year's
        (``section_XX_<domain>_test_<label>_NNNN*.wav``), a name listed twice, a machine
        type listed twice, or no row at all.
    """
    template = year_entry(year).names.labelled_test
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DatasetError(f"{path}: evaluation label list not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from None
    entries: dict[str, dict[str, _Entry]] = {}
    current: dict[str, _Entry] | None = None
    for line, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        where = f"{path}:{line}"
        if not any(cells):
            continue
        if len(cells) == 1:
            if cells[0] in entries:
                raise DatasetError(f"{where}: machine type '{cells[0]}' listed twice")
            current = entries[cells[0]] = {}
            continue
        if current is None:
            raise DatasetError(f"{where}: a row before the first machine-type line")
        if len(cells) != 2:
            raise DatasetError(
                f"{where}: expected 'published name,labelled name', got {len(cells)} columns"
                + (" (a 2020 list: give it to a 2020 set)" if len(cells) == 3 else "")
            )
        published, name = cells
        match = name_pattern(template).match(name)
        if match is None:
            raise DatasetError(
                f"{where}: '{name[:80]}' is not a {year} labelled test clip name "
                f"({shown_name(template)})"
            )
        if published in current:
            raise DatasetError(f"{where}: {published[:80]} listed twice")
        label = ANOMALY if match["label"] == "anomaly" else NORMAL
        current[published] = _Entry(match["section"], match["domain"], label, line)
    if not any(entries.values()):
        raise DatasetError(f"{path}: no labelled test clips")
    return EvaluationList(path, entries)
