"""Each DCASE Task 2 year's dataset layout, 2020 to 2026: recognised from the file names.

::

    2020       <type>/train/normal_id_01_00000000.wav, <type>/test/{normal,anomaly}_id_01_*.wav
               (machine IDs; :mod:`.dataset` reads it)
    2021       <type>/train/section_00_source_train_normal_0000.wav
               <type>/source_test/section_00_source_test_anomaly_0000.wav
               <type>/target_test/section_00_target_test_normal_0000.wav
               (evaluation: section_03_source_test_0000.wav)
    2022       <type>/train/section_00_target_train_normal_0000_<attributes>.wav
               <type>/test/section_00_source_test_anomaly_0000_<attributes>.wav
               sections 00-02 (development) and 03-05 (evaluation) of each type
               (evaluation test clips: section_03_0000.wav; section_03_test_0000.wav,
               as the 2022 baseline's README writes them, is read too)
    2023-2025  as 2022 with one section (00) per machine type and attributes_00.csv
    2026       as 2023, two-channel clips (the features use channel 0, as the baseline)

A *scoring set* is what one score file covers: a machine ID (2020), a section and domain
(2021: ``section_00_source_test``), or a section with both domains (2022 on:
``section_00_test``). Its name is the one the official evaluator reads in
``anomaly_score_<type>_<set>.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import soundfile

from ..core.errors import DatasetError
from .dataset import ANOMALY, NORMAL, TestSet, parse_test_name, training_machine_id, wav_files

__all__ = [
    "YEARS",
    "SOURCE",
    "TARGET",
    "detect_year",
    "layout_family",
    "is_sectioned",
    "check_training_names",
    "training_domain",
    "training_set_name",
    "list_section_test_sets",
]

YEARS = (2020, 2021, 2022, 2023, 2024, 2025, 2026)
SOURCE, TARGET = "source", "target"
_WAV = r"(?i:\.wav)$"
_SECTION_NAME = re.compile(
    r"^section_([0-9]{2})_(source|target)_(train|test)_(normal|anomaly)_[0-9]+(?:_.*)?" + _WAV
)
_EVAL_2021 = re.compile(r"^section_([0-9]{2})_(source|target)_test_[0-9]+" + _WAV)
_EVAL_2022 = re.compile(r"^section_([0-9]{2})_(?:test_)?[0-9]+" + _WAV)
_DOMAIN_FOLDERS = ("source_test", "target_test")


def layout_family(year: int) -> str:
    """``"2020"`` (machine IDs), ``"2021"`` (domain folders) or ``"2022"`` (sections and
    domains in one ``test/`` folder: 2022 to 2026 share it and their evaluators' rules)."""
    return "2020" if year == 2020 else "2021" if year == 2021 else "2022"


def is_sectioned(year: int) -> bool:
    """The year names sections and domains (2021 on), not machine IDs."""
    return year >= 2021


def _kind(name: str) -> str | None:
    """``"id"`` for a 2020 name, ``"section"`` for a 2021+ name, else ``None``."""
    if parse_test_name(name, dev_mode=False) is not None:
        return "id"
    if _SECTION_NAME.match(name) or _EVAL_2021.match(name) or _EVAL_2022.match(name):
        return "section"
    return None


def _type_files(type_dir: Path) -> list[Path]:
    folders = ("train", "test", *_DOMAIN_FOLDERS)
    return [
        path
        for name in folders
        if (type_dir / name).is_dir()
        for path in wav_files(type_dir / name)
    ]


def detect_year(type_dirs: Sequence[Path], forced: int | None = None) -> int:
    """The DCASE year whose layout the machine-type folders ``type_dirs`` follow.

    2023, 2024 and 2025 share one layout and one evaluator: a set of that layout is
    reported as 2023 unless ``forced`` names the year.

    Parameters
    ----------
    type_dirs : sequence of Path
        ``<data>/<machine_type>`` folders.
    forced : int, optional
        The YAML's ``dataset_year``: checked against the file names, then used.

    Raises
    ------
    DatasetError
        A folder mixing two layouts, a clip named like no layout (2021 on), or a
        ``forced`` year whose layout the names do not follow; naming a file.
    """
    files = [path for type_dir in type_dirs for path in _type_files(type_dir)]
    kinds = {path: _kind(path.name) for path in files}
    sectioned = [path for path, kind in kinds.items() if kind == "section"]
    by_id = [path for path, kind in kinds.items() if kind == "id"]
    if sectioned and by_id:
        raise DatasetError(
            f"{by_id[0]}: a DCASE 2020 machine-ID name beside 2021+ section names such as "
            f"{sectioned[0].name}: one layout per data folder"
        )
    if not sectioned:
        year = 2020
    else:
        unknown = [path for path, kind in kinds.items() if kind is None]
        if unknown:
            raise DatasetError(
                f"{unknown[0]}: named like no DCASE layout (expected e.g. "
                "section_00_source_train_normal_0000.wav)"
            )
        year = _sectioned_year(type_dirs, sectioned)
    if forced is not None and forced != year:
        if layout_family(forced) != layout_family(year):
            example = (sectioned or by_id or [Path("?")])[0]
            raise DatasetError(
                f"{example}: dataset_year is {forced}, but the clips follow the {year} layout"
            )
        return forced
    return year


def _sectioned_year(type_dirs: Sequence[Path], files: Sequence[Path]) -> int:
    if any((type_dir / folder).is_dir() for type_dir in type_dirs for folder in _DOMAIN_FOLDERS):
        return 2021
    sections: dict[Path, set[str]] = {}
    for path in files:
        sections.setdefault(path.parent.parent, set()).add(path.name[8:10])
    if any(len(found) > 1 for found in sections.values()):
        return 2022
    try:
        channels = soundfile.info(str(files[0])).channels
    except (soundfile.LibsndfileError, RuntimeError):
        channels = 1  # an unreadable clip is reported when its features are read
    return 2026 if channels == 2 else 2023


def training_set_name(path: Path, year: int) -> str | None:
    """The scoring set a training clip belongs to (its decision threshold's key): its machine
    ID (2020, ``id_01``), section and domain (2021, ``section_00_source_test``) or section
    (2022 on, ``section_00_test``); ``None`` for a name of no layout."""
    if not is_sectioned(year):
        return training_machine_id(path)
    match = _SECTION_NAME.match(path.name)
    if match is None:
        return None
    domain = f"_{match.group(2)}" if year == 2021 else ""
    return f"section_{match.group(1)}{domain}_test"


def check_training_names(files: Sequence[Path], year: int) -> None:
    """Raise :class:`DatasetError` naming the first clip of a 2021+ ``train/`` folder not
    named ``section_XX_<domain>_train_normal_NNNN*.wav`` (a test or anomalous clip there
    would be trained on as normal)."""
    for path in files:
        match = _SECTION_NAME.match(path.name)
        if not match or match.group(3) != "train" or match.group(4) != "normal":
            raise DatasetError(
                f"{path}: not a {year} training clip name "
                "(expected section_XX_<domain>_train_normal_NNNN*.wav)"
            )


def training_domain(path: Path) -> str | None:
    """``"source"`` or ``"target"`` for a 2021+ training clip's name, else ``None``."""
    match = _SECTION_NAME.match(path.name)
    return match.group(2) if match else None


def _parse_test(path: Path, year: int, dev_mode: bool) -> tuple[str, str | None, int | None]:
    """Section, domain (``None``: not in the name) and label (``None`` in evaluation) of a
    test clip, or a :class:`DatasetError` naming it."""
    match = _SECTION_NAME.match(path.name)
    if match and match.group(3) == "test":
        label = NORMAL if match.group(4) == "normal" else ANOMALY
        return match.group(1), match.group(2), (label if dev_mode else None)
    if not dev_mode:
        pattern = _EVAL_2021 if year == 2021 else _EVAL_2022
        unlabelled = pattern.match(path.name)
        if unlabelled:
            domain = unlabelled.group(2) if year == 2021 else None
            return unlabelled.group(1), domain, None
    expected = (
        "section_XX_<domain>_test_{normal,anomaly}_NNNN*.wav"
        if dev_mode
        else "section_XX_<domain>_test_NNNN.wav"
        if year == 2021
        else "section_XX_NNNN.wav"
    )
    raise DatasetError(f"{path}: not a {year} test clip name (expected {expected})")


def list_section_test_sets(type_dir: Path, year: int, *, dev_mode: bool) -> list[TestSet]:
    """The scoring sets of one machine type of a 2021+ layout, each sorted by file name.

    2021: one set per section and domain (``section_00_source_test``), from the
    ``source_test/`` and ``target_test/`` folders; 2022 on: one set per section
    (``section_00_test``) from ``test/``, with each clip's domain when its name gives it.

    Raises
    ------
    DatasetError
        A missing test folder, or a clip whose name does not fit the year (naming it).
    """
    folders = _DOMAIN_FOLDERS if year == 2021 else ("test",)
    if year == 2021 and (type_dir / "test").is_dir() and wav_files(type_dir / "test"):
        raise DatasetError(
            f"{type_dir / 'test'}: a test/ folder beside the 2021 layout's source_test/ and "
            "target_test/: one layout per data folder"
        )
    groups: dict[str, list[tuple[Path, str | None, int | None]]] = {}
    for folder in folders:
        test_dir = type_dir / folder
        if not test_dir.is_dir():
            raise DatasetError(f"{test_dir}: test folder of the {year} layout not found")
        for path in wav_files(test_dir):
            section, domain, label = _parse_test(path, year, dev_mode)
            if year == 2021:
                folder_domain = folder.removesuffix("_test")
                if domain != folder_domain:
                    raise DatasetError(f"{path}: a {domain} clip in the {folder}/ folder")
                key = f"section_{section}_{domain}_test"
            else:
                key = f"section_{section}_test"
            groups.setdefault(key, []).append((path, domain, label))
    if not groups:
        raise DatasetError(f"{type_dir}: no test clips in {', '.join(folders)}")
    if not dev_mode:
        _check_one_naming(groups)
    test_sets = []
    for key in sorted(groups):
        entries = sorted(groups[key], key=lambda entry: entry[0].name)
        domains = tuple(domain for _, domain, _ in entries)
        test_sets.append(
            TestSet(
                key,
                tuple(path for path, _, _ in entries),
                tuple(label for _, _, label in entries if label is not None) if dev_mode else None,
                domains=domains if all(domains) else None,  # type: ignore[arg-type]
            )
        )
    return test_sets


def _check_one_naming(groups: dict[str, list[tuple[Path, str | None, int | None]]]) -> None:
    """An evaluation folder holds published (unlabelled) names or labelled ones, not both."""
    entries = [path for group in groups.values() for path, _, _ in group]
    labelled = [path for path in entries if _SECTION_NAME.match(path.name)]
    published = [path for path in entries if not _SECTION_NAME.match(path.name)]
    if labelled and published:
        raise DatasetError(
            f"{labelled[0]}: a labelled name among published evaluation names such as "
            f"{published[0].name}: one layout per data folder"
        )
