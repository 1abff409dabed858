"""A DCASE year's published archives: one record per machine type and part of the data.

A year publishes three parts: the development set (``dev``), the evaluation set's
training clips (``eval train``, "additional training data") and its test clips
(``eval test``), each part a Zenodo record with one archive per machine type.
``get_dataset.sh`` fetches a year's development archives, and with ``--eval`` its
evaluation archives too (:meth:`Archive.targets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "DEV",
    "EVAL_TRAIN",
    "EVAL_TEST",
    "MD5_2020",
    "Archive",
    "zenodo_archives",
    "three_records",
]

DEV, EVAL_TRAIN, EVAL_TEST = "dev", "eval train", "eval test"


@dataclass(frozen=True)
class Archive:
    """One published archive.

    Attributes
    ----------
    machine_type : str
        The machine type whose clips it holds.
    part : str
        :data:`DEV`, :data:`EVAL_TRAIN` or :data:`EVAL_TEST`.
    record : str
        The Zenodo record publishing it.
    name : str
        Its file name (``dev_ToyCar_r2.zip``).
    target : str
        The folder its part is unpacked into: ``dev_data`` or ``eval_data``.
    md5 : str or None
        Its MD5, where this project pins it (2020); else given with ``--checksums``.
    also_dev_data : bool
        Also unpacked into ``dev_data``, with or without ``--eval`` (MLPerf Tiny's recipe
        trains the development models on the 2020 additional training data too).
    """

    machine_type: str
    part: str
    record: str
    name: str
    target: str
    md5: str | None = None
    also_dev_data: bool = False

    def targets(self, *, evaluation: bool) -> tuple[str, ...]:
        """The folders it is unpacked into, with ``--eval`` or without; ``()``: not fetched."""
        folders = []
        if self.also_dev_data:
            folders.append("dev_data")
        if self.part == DEV or evaluation:
            folders.append(self.target)
        return tuple(dict.fromkeys(folders))


def zenodo_archives(
    parts: Sequence[tuple[str, str, str, Sequence[str], str]],
    *,
    renamed: Mapping[str, str] | None = None,
    md5: Mapping[str, str] | None = None,
    also_dev_data: Sequence[str] = (),
) -> tuple[Archive, ...]:
    """The archives of a year's records.

    Parameters
    ----------
    parts : sequence of (part, record, name, machine types, target)
        Per part: its Zenodo record, the archive name with ``{type}`` for the machine
        type, the machine types it covers and the folder it is unpacked into.
    renamed : mapping, optional
        Archive names a later release of the same record replaced
        (``dev_ToyCar.zip`` -> ``dev_ToyCar_r2.zip``).
    md5 : mapping, optional
        The archives' MD5s by (final) name, where pinned.
    also_dev_data : sequence of str
        The parts also unpacked into ``dev_data`` (:attr:`Archive.also_dev_data`).
    """
    renamed, md5 = renamed or {}, md5 or {}
    archives = []
    for part, record, pattern, machine_types, target in parts:
        for machine_type in machine_types:
            name = pattern.format(type=machine_type)
            name = renamed.get(name, name)
            archives.append(
                Archive(
                    machine_type,
                    part,
                    record,
                    name,
                    target,
                    md5=md5.get(name),
                    also_dev_data=part in also_dev_data,
                )
            )
    return tuple(archives)


def three_records(
    dev: tuple[str, str, Sequence[str]],
    eval_train: tuple[str, str, Sequence[str]],
    eval_test: tuple[str, str, Sequence[str]],
    renamed: Mapping[str, str] | None = None,
) -> tuple[Archive, ...]:
    """A year's archives from its three Zenodo records, each ``(record, archive name with
    {type}, machine types)``: the development set (into ``dev_data``) and the evaluation
    set's training and test clips (into ``eval_data``); ``renamed`` as
    :func:`zenodo_archives`'s."""
    parts = [
        (DEV, *dev, "dev_data"),
        (EVAL_TRAIN, *eval_train, "eval_data"),
        (EVAL_TEST, *eval_test, "eval_data"),
    ]
    return zenodo_archives(parts, renamed=renamed)


#: Published MD5 checksums of the 2020 archives (records 3678171, 3727685, 3841772).
MD5_2020 = {
    "dev_data_fan.zip": "649bdfc06263ae7a838963f43b6641e6",
    "dev_data_pump.zip": "90e7091ef722b7238a7f1009365779cd",
    "dev_data_slider.zip": "da24a757719f0d94d5aa2d646bbfdc86",
    "dev_data_ToyCar.zip": "4dec75ca8d9f666aa9e4c1894a740501",
    "dev_data_ToyConveyor.zip": "03b6aa1bfd09a39d53af0ba39f71fa91",
    "dev_data_valve.zip": "34d2672f55bb041589ef79c10dc89934",
    "eval_data_train_fan.zip": "567798854130c8019df8b664c095ed1e",
    "eval_data_train_pump.zip": "4e33ae9c0db5cc88437675f5e317caee",
    "eval_data_train_slider.zip": "f84f186f4295fc23754abcdd1b0580a7",
    "eval_data_train_ToyCar.zip": "a5d4ccd498af70b04dd74b644b820006",
    "eval_data_train_ToyConveyor.zip": "0e808ac0b761e9fb13d5e0c65caff00d",
    "eval_data_train_valve.zip": "057cdd560caffb8305449541afd28c6d",
    "eval_data_test_fan.zip": "1eb9356a768cadfd0f2e59a5c57e578b",
    "eval_data_test_pump.zip": "23a8f8f924be218c69df67fe07360348",
    "eval_data_test_slider.zip": "0193c769073840332ce3aad84b1ccaa2",
    "eval_data_test_ToyCar.zip": "bea2bdd612f616be8f2b8eb087b32c7c",
    "eval_data_test_ToyConveyor.zip": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2",
    "eval_data_test_valve.zip": "f69c551d2088691050d20cccca9d631c",
}
