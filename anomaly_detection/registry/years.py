"""The DCASE Task 2 years: what each year is, as data.

One :class:`DcaseYear` per year in :data:`YEARS`: its layout, clip names, sections,
channels, evaluator and published archives. The package asks a year's entry
(:func:`year_entry`) instead of comparing year numbers, so a new year is one entry::

    YEARS[2027] = DcaseYear(year=2027, challenge="DCASE2027T2", layout=ONE_TEST_FOLDER, ...)

Years of one layout are told apart from their clips (:mod:`anomaly_detection.data.
dcase_years`): by whether a machine type has one section or several, then by the
clips' channel count; years alike in both (2023 to 2025) are reported as the first.

The archive records are those the organisers' baseline downloads
(``nttcslab/dcase2023_task2_baseline_ae``, ``datasets/download_path_<year>.yaml``).
Only 2020's MD5s are pinned (:mod:`.archives`); for the other years ``get_dataset.sh``
takes them with ``--checksums``. Standard library only: ``get_dataset.sh`` reads this
before any environment exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from .archives import DEV, EVAL_TEST, EVAL_TRAIN, MD5_2020, Archive, three_records, zenodo_archives
from .clip_names import ID_NAMES, SECTION_NAMES_2021, SECTION_NAMES_2022, ClipNames
from .machine_types import (
    DEV_2026,
    EVAL_2023,
    EVAL_2024,
    EVAL_2025,
    EVAL_2026,
    SEVEN_2021,
    SEVEN_2022,
    TYPES_2020,
)

__all__ = [
    "MACHINE_IDS",
    "DOMAIN_FOLDERS",
    "ONE_TEST_FOLDER",
    "REFERENCE_YEAR",
    "DcaseYear",
    "YEARS",
    "year_entry",
    "registered_years",
]

#: Layouts: machine IDs in the names (``<type>/test/anomaly_id_01_*.wav``); sections with
#: a folder per domain (``<type>/source_test/``, ``<type>/target_test/``); sections and
#: domains in the names of one ``<type>/test/`` folder.
MACHINE_IDS, DOMAIN_FOLDERS, ONE_TEST_FOLDER = "machine IDs", "domain folders", "one test folder"
#: The MLPerf Tiny reference's year: the default wherever a year is chosen.
REFERENCE_YEAR = 2020
_CHANNEL_WORDS = {1: "mono", 2: "two-channel", 3: "three-channel", 4: "four-channel"}


@dataclass(frozen=True)
class DcaseYear:
    """One DCASE Task 2 year.

    Attributes
    ----------
    year : int
        The challenge's year.
    challenge : str
        The organisers' name for it (``DCASE2024T2``).
    layout : str
        :data:`MACHINE_IDS`, :data:`DOMAIN_FOLDERS` or :data:`ONE_TEST_FOLDER`.
    names : ClipNames
        Its clip names (:mod:`.clip_names`).
    scoring_set : str
        The name of what one score file covers, ``anomaly_score_<type>_<set>.csv``
        (fields ``{id:02d}``, ``{section:02d}``, ``{domain}``).
    evaluator : str
        Whose rules compute its official figures: ``"2020"`` (AUC and pAUC per machine
        ID, the reference's ``result.csv``), ``"2021"`` (per section and domain) or
        ``"2022"`` (per section, both domains, official score).
    archives : tuple of Archive
        Its published archives, per machine type in the order they are fetched.
    dev_sections, eval_sections : tuple of int
        Sections of each machine type of the development and the evaluation set.
    channels : int
        Channels of its clips.
    feature_channel : int or None
        The channel the features use unless ``feature.channel`` says otherwise;
        ``None``: the mean of the channels.
    attributes_in_names : bool
        Clip names end in their attributes (``_spd_28V_noise_0``).
    attribute_tables : bool
        ``<type>/attributes_XX.csv`` lists each section's clips and attributes.
    evaluation_labels : (str, str) or None
        Zenodo record and file name of the evaluation set's labels, where they are
        published apart from the clips (2020: ``eval_data_list.csv``).
    organisers_model : str
        What one model of the organisers' baseline covers (their ``tools/01_train_legacy.sh``
        and ``train_ae.sh --use_ids``): ``"machine type"`` from 2023, one ``"section"``
        (2021, 2022) or ``"machine ID"`` (2020) before.
    """

    year: int
    challenge: str
    layout: str
    names: ClipNames
    scoring_set: str
    evaluator: str
    archives: tuple[Archive, ...]
    dev_sections: tuple[int, ...] = ()
    eval_sections: tuple[int, ...] = ()
    channels: int = 1
    feature_channel: int | None = None
    attributes_in_names: bool = False
    attribute_tables: bool = False
    evaluation_labels: tuple[str, str] | None = None
    organisers_model: str = "machine type"

    @property
    def sectioned(self) -> bool:
        """Sections and domains (2021 on), not machine IDs."""
        return self.layout != MACHINE_IDS

    @property
    def domain_folders(self) -> bool:
        """The test clips of each domain are in a folder of their own (2021)."""
        return self.layout == DOMAIN_FOLDERS

    def test_folder(self, domain: str) -> str:
        """The folder of a machine type holding its test clips of ``domain`` (``source``
        or ``target``)."""
        return f"{domain}_test" if self.domain_folders else "test"

    @property
    def test_folders(self) -> tuple[str, ...]:
        """The folders of a machine type holding its test clips."""
        return tuple(dict.fromkeys(self.test_folder(domain) for domain in ("source", "target")))

    @property
    def several_sections(self) -> bool:
        """A machine type has several sections (2021, 2022), not one."""
        return max(len(self.dev_sections), len(self.eval_sections)) > 1

    def sections(self, *, dev: bool) -> tuple[int, ...]:
        """The sections of each machine type of the development or evaluation set."""
        return self.dev_sections if dev else self.eval_sections

    def machine_types(self, *parts: str) -> tuple[str, ...]:
        """The machine types whose archives of ``parts`` (all when none) it publishes, in
        the order of its records."""
        chosen = parts or (DEV, EVAL_TRAIN, EVAL_TEST)
        types = (archive.machine_type for archive in self.archives if archive.part in chosen)
        return tuple(dict.fromkeys(types))

    def describe(self, clip_channels: int | None = None) -> str:
        """``DCASE 2026 layout (two-channel clips)``; with ``clip_channels`` (the clips'
        count) other than the year's: ``DCASE 2023 layout, two-channel clips (the year's
        are mono)``."""
        year_words = _channel_words(self.channels)
        if clip_channels is None or clip_channels == self.channels:
            return f"DCASE {self.year} layout ({year_words} clips)"
        clips = _channel_words(clip_channels)
        return f"DCASE {self.year} layout, {clips} clips (the year's are {year_words})"

    def feature_rule(self, channel: int | None, clip_channels: int | None = None) -> str:
        """Which channel of its clips the features use: ``features from channel 0 (the
        year's default)``, where ``channel`` is ``feature.channel`` or the year's default
        and ``clip_channels`` the clips' count (the year's when ``None``)."""
        channels = self.channels if clip_channels is None else clip_channels
        if channel is None:
            return (
                "features from the mean of the channels"
                if channels > 1
                else "features from the mono clips"
            )
        default = " (the year's default)" if channel == self.feature_channel else ""
        return f"features from channel {channel}{default}"


def _channel_words(channels: int) -> str:
    """``mono``, ``two-channel``..."""
    return _CHANNEL_WORDS.get(channels, f"{channels}-channel")


_SECTION_SET, _SECTION_DOMAIN_SET = (
    "section_{section:02d}_test",
    "section_{section:02d}_{domain}_test",
)

#: Every registered year, by its number.
YEARS: dict[int, DcaseYear] = {
    2020: DcaseYear(
        year=2020,
        challenge="DCASE2020T2",
        layout=MACHINE_IDS,
        names=ID_NAMES,
        scoring_set="id_{id:02d}",
        evaluator="2020",
        # MLPerf Tiny's recipe: the additional training data trains the development models.
        archives=zenodo_archives(
            [
                (DEV, "3678171", "dev_data_{type}.zip", TYPES_2020, "dev_data"),
                (EVAL_TRAIN, "3727685", "eval_data_train_{type}.zip", TYPES_2020, "eval_data"),
                (EVAL_TEST, "3841772", "eval_data_test_{type}.zip", TYPES_2020, "eval_data"),
            ],
            md5=MD5_2020,
            also_dev_data=(EVAL_TRAIN,),
        ),
        evaluation_labels=("3951620", "eval_data_list.csv"),
        organisers_model="machine ID",
    ),
    2021: DcaseYear(
        year=2021,
        challenge="DCASE2021T2",
        layout=DOMAIN_FOLDERS,
        names=SECTION_NAMES_2021,
        scoring_set=_SECTION_DOMAIN_SET,
        evaluator="2021",
        archives=three_records(
            ("4562016", "dev_data_{type}.zip", SEVEN_2021),
            ("4660992", "eval_data_{type}_train.zip", SEVEN_2021),
            ("4884786", "eval_data_{type}_test.zip", SEVEN_2021),
        ),
        dev_sections=(0, 1, 2),
        eval_sections=(3, 4, 5),
        organisers_model="section",
    ),
    2022: DcaseYear(
        year=2022,
        challenge="DCASE2022T2",
        layout=ONE_TEST_FOLDER,
        names=SECTION_NAMES_2022,
        scoring_set=_SECTION_SET,
        evaluator="2022",
        archives=three_records(
            ("6355122", "dev_{type}.zip", SEVEN_2022),
            ("6462969", "eval_data_{type}_train.zip", SEVEN_2022),
            ("6586456", "eval_data_{type}_test.zip", SEVEN_2022),
        ),
        dev_sections=(0, 1, 2),
        eval_sections=(3, 4, 5),
        attributes_in_names=True,
        organisers_model="section",
    ),
    2023: DcaseYear(
        year=2023,
        challenge="DCASE2023T2",
        layout=ONE_TEST_FOLDER,
        names=SECTION_NAMES_2022,
        scoring_set=_SECTION_SET,
        evaluator="2022",
        archives=three_records(
            ("7882613", "dev_{type}.zip", SEVEN_2022),
            ("7830345", "eval_data_{type}_train.zip", EVAL_2023),
            ("7860847", "eval_data_{type}_test.zip", EVAL_2023),
        ),
        dev_sections=(0,),
        eval_sections=(0,),
        attributes_in_names=True,
        attribute_tables=True,
    ),
    2024: DcaseYear(
        year=2024,
        challenge="DCASE2024T2",
        layout=ONE_TEST_FOLDER,
        names=SECTION_NAMES_2022,
        scoring_set=_SECTION_SET,
        evaluator="2022",
        archives=three_records(
            ("10902294", "dev_{type}.zip", SEVEN_2022),
            ("11259435", "eval_data_{type}_train.zip", EVAL_2024),
            ("11363076", "eval_data_{type}_test.zip", EVAL_2024),
            renamed={
                "eval_data_3DPrinter_train.zip": "eval_data_3DPrinter_train_r2.zip",
                "eval_data_RoboticArm_train.zip": "eval_data_RoboticArm_train_r2.zip",
            },
        ),
        dev_sections=(0,),
        eval_sections=(0,),
        attributes_in_names=True,
        attribute_tables=True,
    ),
    2025: DcaseYear(
        year=2025,
        challenge="DCASE2025T2",
        layout=ONE_TEST_FOLDER,
        names=SECTION_NAMES_2022,
        scoring_set=_SECTION_SET,
        evaluator="2022",
        archives=three_records(
            ("15097779", "dev_{type}.zip", SEVEN_2022),
            ("15392814", "eval_data_{type}_train.zip", EVAL_2025),
            ("15519362", "eval_data_{type}_test.zip", EVAL_2025),
        ),
        dev_sections=(0,),
        eval_sections=(0,),
        attributes_in_names=True,
        attribute_tables=True,
    ),
    2026: DcaseYear(
        year=2026,
        challenge="DCASE2026T2",
        layout=ONE_TEST_FOLDER,
        names=SECTION_NAMES_2022,
        scoring_set=_SECTION_SET,
        evaluator="2022",
        archives=three_records(
            ("19336329", "dev_{type}.zip", DEV_2026),
            ("20151556", "eval_data_{type}_train.zip", EVAL_2026),
            ("20437238", "eval_data_{type}_test.zip", EVAL_2026),
            renamed={"dev_ToyCar.zip": "dev_ToyCar_r2.zip"},
        ),
        dev_sections=(0,),
        eval_sections=(0,),
        channels=2,
        feature_channel=0,  # two microphones; the organisers' baseline uses channel 0
        attributes_in_names=True,
        attribute_tables=True,
    ),
}


def registered_years() -> tuple[int, ...]:
    """Every registered year, in order."""
    return tuple(sorted(YEARS))


def year_entry(year: int) -> DcaseYear:
    """The registered entry of ``year``.

    Raises
    ------
    ValueError
        ``year`` is not registered (the message lists the registered years).
    """
    try:
        return YEARS[year]
    except (KeyError, TypeError):
        listed = ", ".join(map(str, registered_years()))
        raise ValueError(f"{year} is not a registered DCASE year (registered: {listed})") from None
