"""Where each DCASE Task 2 year's data is published (Zenodo records and archive names).

The records are those the organisers' baseline downloads (``nttcslab/dcase2023_task2_
baseline_ae``, ``datasets/download_path_*.yaml``). The organisers publish no checksums
for 2021 on in a form this project could pin, so ``get_dataset.sh --year`` needs the
MD5s of the archives (``--checksums FILE``; Zenodo lists them on each record's page):
an archive is never unpacked unchecked. 2024's records, and the evaluation sets of 2025
and 2026, are not listed here (``--eval`` for those years is an error).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["YEAR_RECORDS", "year_archives", "year_machine_types"]

# year -> part -> (Zenodo record, archive name pattern, machine types, target folders)
_Part = tuple[str, str, tuple[str, ...], tuple[str, ...]]
_SEVEN_2021 = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")
_SEVEN_2022 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
_EVAL_2023 = ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker")
_DEV_2026 = ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu")
_EVAL_2026 = ("BlowerDustCollector", "Sander", "SewingMachine", "ToothBrush", "ToyDrone")
_DEV, _EVAL = ("dev_data",), ("eval_data",)

YEAR_RECORDS: dict[int, dict[str, _Part]] = {
    2021: {
        "dev": ("4562016", "dev_data_{type}.zip", _SEVEN_2021, _DEV),
        "eval_train": ("4660992", "eval_data_{type}_train.zip", _SEVEN_2021, _EVAL),
        "eval_test": ("4884786", "eval_data_{type}_test.zip", _SEVEN_2021, _EVAL),
    },
    2022: {
        "dev": ("6355122", "dev_{type}.zip", _SEVEN_2022, _DEV),
        "eval_train": ("6462969", "eval_data_{type}_train.zip", _SEVEN_2022, _EVAL),
        "eval_test": ("6586456", "eval_data_{type}_test.zip", _SEVEN_2022, _EVAL),
    },
    2023: {
        "dev": ("7882613", "dev_{type}.zip", _SEVEN_2022, _DEV),
        "eval_train": ("7830345", "eval_data_{type}_train.zip", _EVAL_2023, _EVAL),
        "eval_test": ("7860847", "eval_data_{type}_test.zip", _EVAL_2023, _EVAL),
    },
    2025: {"dev": ("15097779", "dev_{type}.zip", _SEVEN_2022, _DEV)},
    2026: {
        "dev": ("19336329", "dev_{type}.zip", _DEV_2026, _DEV),
        "eval_train": ("20151556", "eval_data_{type}_train.zip", _EVAL_2026, _EVAL),
    },
}
#: Archives renamed by a later release of the same record.
_RENAMED = {(2026, "dev_ToyCar.zip"): "dev_ToyCar_r2.zip"}


def year_machine_types(year: int) -> tuple[str, ...]:
    """Every machine type ``year`` publishes (development and evaluation)."""
    parts = YEAR_RECORDS.get(year, {})
    return tuple(sorted({name for part in parts.values() for name in part[2]}, key=str.lower))


def year_archives(
    year: int, machine_types: Sequence[str], *, evaluation: bool
) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(archive name, Zenodo record, target folders)`` of ``machine_types`` in ``year``:
    the development archives of the types that have them, and (``evaluation``) the
    evaluation set's training and test archives of the types that have those.

    Raises
    ------
    ValueError
        A year without listed records, or a machine type the year does not publish.
    """
    if year not in YEAR_RECORDS:
        listed = ", ".join(map(str, [2020, *YEAR_RECORDS]))
        raise ValueError(f"--year {year}: its records are not listed here (listed: {listed})")
    if evaluation and "eval_test" not in YEAR_RECORDS[year]:
        raise ValueError(f"--year {year} --eval: its evaluation test archives are not listed here")
    known = year_machine_types(year)
    unknown = [name for name in machine_types if name not in known]
    if unknown:
        raise ValueError(
            f"--year {year} has no machine type {', '.join(unknown)}; it has: {', '.join(known)}"
        )
    archives = []
    for part, (record, pattern, types, targets) in YEAR_RECORDS[year].items():
        if part != "dev" and not evaluation:
            continue
        for machine_type in machine_types:
            if machine_type in types:
                name = pattern.format(type=machine_type)
                archives.append((_RENAMED.get((year, name), name), record, targets))
    return archives
