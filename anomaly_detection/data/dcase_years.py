"""Each DCASE Task 2 year's dataset layout, recognised from its clips.

What each year is (layout, clip names, sections, channels) is its entry in
:mod:`anomaly_detection.registry.years`; this module reads data folders by those
entries. The layouts::

    machine IDs      <type>/train/normal_id_01_00000000.wav
                     <type>/test/{normal,anomaly}_id_01_*.wav  (2020; :mod:`.dataset` reads it)
    domain folders   <type>/train/section_00_source_train_normal_0000.wav
                     <type>/source_test/section_00_source_test_anomaly_0000.wav
                     <type>/target_test/section_00_target_test_normal_0000.wav
                     (2021; evaluation: section_03_source_test_0000.wav)
    one test folder  <type>/train/section_00_target_train_normal_0000_<attributes>.wav
                     <type>/test/section_00_source_test_anomaly_0000_<attributes>.wav
                     (evaluation: section_03_0000.wav; section_03_test_0000.wav, as the
                     2022 baseline's README writes them, is read too)

2022 has sections 00-02 (development) and 03-05 (evaluation) of each type; 2023 to 2025
one section (00) per type and ``attributes_00.csv``; 2026 as 2023 with two-channel clips
(the features use channel 0, as the organisers' baseline).

A *scoring set* is what one score file covers: a machine ID (2020), a section and domain
(2021: ``section_00_source_test``), or a section with both domains (2022 on:
``section_00_test``). Its name is the one the official evaluator reads in
``anomaly_score_<type>_<set>.csv``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import AudioError, DatasetError
from ..registry.clip_names import name_pattern, shown_name
from ..registry.years import MACHINE_IDS, YEARS, DcaseYear, year_entry
from .audio import audio_channels
from .dataset import ANOMALY, NORMAL, TestSet, training_machine_id, wav_files

__all__ = [
    "SOURCE",
    "TARGET",
    "DetectedData",
    "detect_data",
    "detect_year",
    "is_sectioned",
    "check_training_names",
    "training_domain",
    "training_set_name",
    "list_section_test_sets",
]

SOURCE, TARGET = "source", "target"


def _name_templates() -> dict[str, bool]:
    """Every registered clip-name template, and whether its layout is sectioned."""
    return {
        template: entry.sectioned
        for entry in YEARS.values()
        for template in entry.names.every_template()
    }


def _type_files(type_dir: Path) -> list[Path]:
    """The clips of a machine type's training and test folders (every layout's)."""
    test_folders = (folder for entry in YEARS.values() for folder in entry.test_folders)
    return [
        path
        for name in dict.fromkeys(["train", *test_folders])
        if (type_dir / name).is_dir()
        for path in wav_files(type_dir / name)
    ]


def _name_fields(name: str, templates: dict[str, bool]) -> tuple[bool, str | None] | None:
    """Whether ``name`` is a sectioned layout's, and its section; ``None``: no layout's."""
    for template, sectioned in templates.items():
        match = name_pattern(template).match(name)
        if match:
            return sectioned, match.groupdict().get("section")
    return None


@dataclass(frozen=True)
class DetectedData:
    """What a data folder's clips are: the DCASE year whose layout they follow, the channel
    count every readable clip has (``None``: none readable) and one of those clips."""

    year: int
    channels: int | None
    example: Path | None


def detect_year(type_dirs: Sequence[Path], forced: int | None = None) -> int:
    """:attr:`DetectedData.year` of :func:`detect_data`."""
    return detect_data(type_dirs, forced).year


def detect_data(type_dirs: Sequence[Path], forced: int | None = None) -> DetectedData:
    """The DCASE year whose layout the machine-type folders ``type_dirs`` follow, and their
    clips' channel count.

    Decided from every clip: the layout from the names and folders, then, among the
    registered years of that layout, the one whose sections per type (one or several)
    and channel count the clips have. Years alike in both (2023, 2024 and 2025) are
    reported as the first of them unless ``forced`` names one.

    Parameters
    ----------
    type_dirs : sequence of Path
        ``<data>/<machine_type>`` folders.
    forced : int, optional
        The YAML's ``dataset_year``: checked against the clips, then used.

    Raises
    ------
    DatasetError
        A folder mixing two layouts, a clip named like no layout (2021 on), clips of
        different channel counts (naming one of each), or a ``forced`` year whose
        layout the clips do not follow; naming a clip.
    """
    templates = _name_templates()
    files = [path for type_dir in type_dirs for path in _type_files(type_dir)]
    fields = {path: _name_fields(path.name, templates) for path in files}
    sections = {path: found[1] for path, found in fields.items() if found and found[0]}
    sectioned = list(sections)
    by_id = [path for path, found in fields.items() if found and not found[0]]
    if sectioned and by_id:
        raise DatasetError(
            f"{by_id[0]}: a DCASE 2020 machine-ID name beside 2021+ section names such as "
            f"{sectioned[0].name}: one layout per data folder"
        )
    unknown = [path for path, found in fields.items() if found is None]
    if sectioned and unknown:
        raise DatasetError(
            f"{unknown[0]}: named like no DCASE layout (expected e.g. "
            "section_00_source_train_normal_0000.wav)"
        )
    per_type: dict[Path, set[str | None]] = {}
    for path, section in sections.items():
        per_type.setdefault(path.parent.parent, set()).add(section)
    channels = _channel_count(files)
    entry = _best_entry(
        _layout(type_dirs, sectioned=bool(sectioned)),
        several_sections=any(len(found) > 1 for found in per_type.values()),
        channels=channels,
    )
    detected = DetectedData(entry.year, channels, files[0] if files else None)
    if forced is None or forced == entry.year:
        return detected
    try:
        wanted = year_entry(forced)
    except ValueError as error:
        raise DatasetError(f"dataset_year: {error}") from None
    if wanted.layout != entry.layout:
        example = (sectioned or by_id or [Path("?")])[0]
        raise DatasetError(
            f"{example}: dataset_year is {forced}, but the clips follow the {entry.year} layout"
        )
    return DetectedData(forced, channels, detected.example)


def _layout(type_dirs: Sequence[Path], *, sectioned: bool) -> str:
    """The data folder's layout: machine IDs, or the sectioned layout whose test folders
    its machine types have (a folder per domain is looked for before one ``test/``)."""
    layouts = {entry.layout: entry.test_folders for entry in YEARS.values() if entry.sectioned}
    ordered = sorted(layouts, key=lambda layout: -len(layouts[layout]))
    if not sectioned or not ordered:
        return MACHINE_IDS
    for layout in ordered:
        if any((d / folder).is_dir() for d in type_dirs for folder in layouts[layout]):
            return layout
    return ordered[-1]


def _best_entry(layout: str, *, several_sections: bool, channels: int | None) -> DcaseYear:
    """The first registered year of ``layout`` with the clips' sections per type (one or
    several), then their channel count; failing those, the first of the layout."""
    candidates = [YEARS[year] for year in sorted(YEARS) if YEARS[year].layout == layout]
    if not candidates:
        raise DatasetError(f"no registered DCASE year has the {layout} layout")
    return max(
        candidates,
        key=lambda entry: (entry.several_sections == several_sections, entry.channels == channels),
    )


def _channel_count(files: Sequence[Path]) -> int | None:
    """The channel count every readable clip has (``None``: no clip readable; an
    unreadable clip is reported when its features are read).

    Raises
    ------
    DatasetError
        Clips of different channel counts: naming the first clip of the rarest count
        and one of the commonest.
    """
    counts: Counter[int] = Counter()
    first: dict[int, Path] = {}
    for path in files:
        try:
            channels = audio_channels(path)
        except AudioError:
            continue
        counts[channels] += 1
        first.setdefault(channels, path)
    if len(counts) > 1:
        (common, n_common), *_, (odd, n_odd) = counts.most_common()
        raise DatasetError(
            f"{first[odd]}: {odd}-channel clip among {common}-channel clips such as "
            f"{first[common]} ({n_odd} clip(s) of {odd} channel(s), {n_common} of {common}): "
            "one channel count per data set"
        )
    return next(iter(counts), None)


def is_sectioned(year: int) -> bool:
    """The year names sections and domains (2021 on), not machine IDs: its registry entry's
    ``sectioned``."""
    return year_entry(year).sectioned


def training_set_name(path: Path, year: int) -> str | None:
    """The scoring set a training clip belongs to (its decision threshold's key): its machine
    ID (2020, ``id_01``), section and domain (2021, ``section_00_source_test``) or section
    (2022 on, ``section_00_test``); ``None`` for a name of no layout."""
    entry = year_entry(year)
    if not entry.sectioned:
        return training_machine_id(path)
    match = name_pattern(entry.names.training).match(path.name)
    if match is None:
        return None
    return _scoring_set(entry, match["section"], match["domain"])


def _scoring_set(entry: DcaseYear, section: str, domain: str | None) -> str:
    """``section_00_source_test`` (2021) or ``section_00_test`` (2022 on)."""
    return entry.scoring_set.format(section=int(section), domain=domain)


def check_training_names(files: Sequence[Path], year: int) -> None:
    """Raise :class:`DatasetError` naming the first clip of a 2021+ ``train/`` folder not
    named as the year's training clips (``section_XX_<domain>_train_normal_NNNN*.wav``): a
    test or anomalous clip there would be trained on as normal."""
    template = year_entry(year).names.training
    for path in files:
        if not name_pattern(template).match(path.name):
            raise DatasetError(
                f"{path}: not a {year} training clip name (expected {shown_name(template)})"
            )


def training_domain(path: Path) -> str | None:
    """``"source"`` or ``"target"`` for a 2021+ training clip's name, else ``None``."""
    for entry in YEARS.values():
        match = name_pattern(entry.names.training).match(path.name)
        if match and match.groupdict().get("domain"):
            return match["domain"]
    return None


def _parse_test(path: Path, entry: DcaseYear, dev_mode: bool) -> tuple[str, str | None, int | None]:
    """Section, domain (``None``: not in the name) and label (``None`` in evaluation) of a
    test clip, or a :class:`DatasetError` naming it."""
    labelled = name_pattern(entry.names.labelled_test).match(path.name)
    if labelled:
        label = NORMAL if labelled["label"] == "normal" else ANOMALY
        return labelled["section"], labelled["domain"], (label if dev_mode else None)
    published = entry.names.evaluation_test
    if not dev_mode:
        for template in published:
            unlabelled = name_pattern(template).match(path.name)
            if unlabelled:
                return unlabelled["section"], unlabelled.groupdict().get("domain"), None
    expected = shown_name(entry.names.labelled_test if dev_mode else published[0])
    raise DatasetError(f"{path}: not a {entry.year} test clip name (expected {expected})")


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
    entry = year_entry(year)
    folders = entry.test_folders
    if entry.domain_folders and (type_dir / "test").is_dir() and wav_files(type_dir / "test"):
        raise DatasetError(
            f"{type_dir / 'test'}: a test/ folder beside the {year} layout's "
            f"{' and '.join(folder + '/' for folder in folders)}: one layout per data folder"
        )
    groups: dict[str, list[tuple[Path, str | None, int | None]]] = {}
    for folder in folders:
        test_dir = type_dir / folder
        if not test_dir.is_dir():
            raise DatasetError(f"{test_dir}: test folder of the {year} layout not found")
        for path in wav_files(test_dir):
            section, domain, label = _parse_test(path, entry, dev_mode)
            if entry.domain_folders and domain != folder.removesuffix("_test"):
                raise DatasetError(f"{path}: a {domain} clip in the {folder}/ folder")
            groups.setdefault(_scoring_set(entry, section, domain), []).append(
                (path, domain, label)
            )
    if not groups:
        raise DatasetError(f"{type_dir}: no test clips in {', '.join(folders)}")
    if not dev_mode:
        _check_one_naming(groups, entry)
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


def _check_one_naming(
    groups: dict[str, list[tuple[Path, str | None, int | None]]], entry: DcaseYear
) -> None:
    """An evaluation folder holds published (unlabelled) names or labelled ones, not both."""
    pattern = name_pattern(entry.names.labelled_test)
    clips = [path for group in groups.values() for path, _, _ in group]
    labelled = [path for path in clips if pattern.match(path.name)]
    published = [path for path in clips if not pattern.match(path.name)]
    if labelled and published:
        raise DatasetError(
            f"{labelled[0]}: a labelled name among published evaluation names such as "
            f"{published[0].name}: one layout per data folder"
        )
