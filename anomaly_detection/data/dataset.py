"""File discovery and labels for the DCASE 2020 Task 2 directory layout.

::

    <data_dir>/<machine_type>/train/normal_id_01_00000000.wav ...
    <data_dir>/<machine_type>/test/normal_id_01_00000000.wav     (development: labelled)
    <data_dir>/<machine_type>/test/anomaly_id_01_00000000.wav
    <data_dir>/<machine_type>/test/id_05_00000000.wav            (evaluation: no label)

Test files whose names match neither pattern are ignored with a warning,
never guessed at.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DatasetError

__all__ = [
    "DatasetError",
    "TestSet",
    "NORMAL",
    "ANOMALY",
    "select_machine_type_dirs",
    "list_train_files",
    "list_test_sets",
    "parse_test_name",
    "scoring_set_label",
]

logger = logging.getLogger(__name__)

NORMAL, ANOMALY = 0, 1
# ASCII digits only, as the reference's patterns ("\d" would take "id_٠١" too); .WAV too
_LABELLED = re.compile(r"^(normal|anomaly)_(id_[0-9][0-9])_.*(?i:\.wav)$")
_UNLABELLED = re.compile(r"^(id_[0-9][0-9])_.*(?i:\.wav)$")


@dataclass(frozen=True)
class TestSet:
    """The test clips of one scoring set: what one ``anomaly_score_<type>_<name>.csv``
    covers, a machine ID in 2020 (``id_01``), a section and domain in 2021
    (``section_00_source_test``), a section from 2022 on (``section_00_test``).

    ``labels`` holds 0 (normal) / 1 (anomaly) per file in development mode and
    is ``None`` in evaluation mode. From 2021 on (:mod:`.dcase_years`) ``domains`` gives
    each file's ``"source"`` or ``"target"`` (``None`` when the names do not say).
    """

    name: str
    files: tuple[Path, ...]
    labels: tuple[int, ...] | None
    domains: tuple[str, ...] | None = None


def scoring_set_label(name: str) -> str:
    """A scoring set's name as ``result.csv``'s ``id`` column writes it: ``'id_01'`` ->
    ``'01'``; a 2021+ set without its ``section_`` and ``_test``:
    ``'section_00_source_test'`` -> ``'00_source'``."""
    if name.startswith("section_"):
        return name.removeprefix("section_").removesuffix("_test")
    return name.split("_", 1)[1]


def select_machine_type_dirs(
    data_dir: Path, machine_types: Sequence[str] | None = None, *, skip_broken_links: bool = False
) -> list[Path]:
    """The machine-type folders under ``data_dir``, sorted by name.

    Parameters
    ----------
    data_dir : Path
        ``dev_data`` or ``eval_data`` folder.
    machine_types : sequence of str, optional
        Only these types (each must exist; a repeated one is taken once); all when
        ``None``. Folders whose name starts with a dot are skipped.
    skip_broken_links : bool
        Leave out a link whose target does not exist instead of raising (listing the
        types a run left out, whose results are judged only where they can be).

    Raises
    ------
    DatasetError
        No data folder, a chosen type without a folder, or a chosen (or, with all types,
        any) entry that is a link to a folder gone: a type is never quietly left out.
    """
    if not data_dir.is_dir():
        raise DatasetError(
            f"{data_dir}: data folder not found (run ./get_dataset.sh, "
            "or set dev_directory/eval_directory in the YAML)"
        )
    # Hidden folders (.ipynb_checkpoints, .git) are not machine types.
    entries = sorted(path for path in data_dir.iterdir() if not path.name.startswith("."))
    found = [path for path in entries if path.is_dir()]
    chosen = None if machine_types is None else list(dict.fromkeys(machine_types))
    for path in entries:
        broken = path.is_symlink() and not path.exists()
        if broken and not skip_broken_links and (not chosen or path.name in chosen):
            raise DatasetError(
                f"{path}: a link to {os.readlink(path)}, which does not exist (moved, or on "
                "a drive not mounted?)"
            )
    if chosen:  # each type once, in the given order
        by_name = {path.name: path for path in found}
        missing = [name for name in chosen if name not in by_name]
        if missing:
            raise DatasetError(
                f"{data_dir}: no folder for machine type(s) {', '.join(missing)}; "
                f"found: {', '.join(by_name) or 'none'}"
            )
        found = [by_name[name] for name in chosen]
    if not found:
        raise DatasetError(f"{data_dir}: no machine-type folders (expected e.g. {data_dir}/ToyCar)")
    return found


def wav_files(folder: Path) -> list[Path]:
    """The ``.wav`` files of ``folder`` (any case of the extension: ``.WAV`` too), by name.

    Entries are not opened here: a broken link is listed, and reported when read.
    """
    return sorted(path for path in folder.iterdir() if path.suffix.lower() == ".wav")


def list_train_files(type_dir: Path) -> list[Path]:
    """All ``*.wav`` files of ``<type_dir>/train``, sorted by name."""
    train_dir = type_dir / "train"
    if not train_dir.is_dir():
        raise DatasetError(f"{train_dir}: training folder not found")
    files = wav_files(train_dir)
    if not files:
        raise DatasetError(f"{train_dir}: no .wav files in the training folder")
    return files


def training_machine_id(path: Path) -> str | None:
    """The machine ID (``id_XX``) a training clip's name gives (``normal_id_XX_*.wav``)."""
    match = _LABELLED.match(path.name)
    return match.group(2) if match else None


def training_machine_ids(files: Sequence[Path]) -> set[str]:
    """The machine IDs (``id_XX``) named by training clips (``normal_id_XX_*.wav``)."""
    return {machine_id for path in files if (machine_id := training_machine_id(path))}


def parse_test_name(name: str, dev_mode: bool) -> tuple[str, int | None] | None:
    """Machine ID and label of a test file name, or ``None`` if it fits no pattern.

    In development mode only ``normal_id_XX_*.wav`` / ``anomaly_id_XX_*.wav``
    match; in evaluation mode ``id_XX_*.wav`` too, and the label is ``None``.
    """
    labelled = _LABELLED.match(name)
    if labelled:
        label = NORMAL if labelled.group(1) == "normal" else ANOMALY
        return labelled.group(2), (label if dev_mode else None)
    unlabelled = _UNLABELLED.match(name)
    if unlabelled and not dev_mode:
        return unlabelled.group(1), None
    return None


def list_test_sets(type_dir: Path, dev_mode: bool) -> list[TestSet]:
    """The test clips of each machine ID under ``<type_dir>/test``.

    Files are ordered as in the reference: normals then anomalies (development),
    by name within each group. Names that fit no pattern are logged and skipped.
    """
    test_dir = type_dir / "test"
    if not test_dir.is_dir():
        raise DatasetError(f"{test_dir}: test folder not found")
    by_id: dict[str, list[tuple[int, Path]]] = {}
    ignored: list[str] = []
    for path in wav_files(test_dir):
        parsed = parse_test_name(path.name, dev_mode)
        if parsed is None:
            ignored.append(path.name)
            continue
        machine_id, label = parsed
        by_id.setdefault(machine_id, []).append((label if label is not None else 0, path))
    if ignored:
        expected = "normal_id_XX_*.wav or anomaly_id_XX_*.wav" if dev_mode else "id_XX_*.wav"
        logger.warning(
            "%s: ignored %d file(s) whose names do not match %s: %s",
            test_dir,
            len(ignored),
            expected,
            ", ".join(ignored[:5]) + (" ..." if len(ignored) > 5 else ""),
        )
    if not by_id:
        raise DatasetError(
            f"{test_dir}: no test clips named like "
            + ("normal_id_XX_*.wav / anomaly_id_XX_*.wav" if dev_mode else "id_XX_*.wav")
        )
    test_sets = []
    for machine_id in sorted(by_id):
        entries = sorted(by_id[machine_id], key=lambda entry: (entry[0], entry[1].name))
        files = tuple(path for _, path in entries)
        labels = tuple(label for label, _ in entries) if dev_mode else None
        test_sets.append(TestSet(machine_id, files, labels))
    return test_sets
