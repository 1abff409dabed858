"""What a download fetches: a registered year's archives of some machine types, where each
is published and the folders it is unpacked into.

Standard library only, as :mod:`.download`. The records are the years' entries in
:mod:`anomaly_detection.registry.years`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..registry.archives import EVAL_TEST
from ..registry.years import REFERENCE_YEAR, YEARS, DcaseYear, year_entry
from .transfer import DownloadError

__all__ = [
    "Archive",
    "MACHINE_TYPES",
    "ZENODO",
    "registered_year",
    "year_archives",
    "archives_for",
    "archive_url",
    "file_url",
    "labels_url",
]

#: The MLPerf Tiny recipe's machine types (2020).
MACHINE_TYPES = YEARS[REFERENCE_YEAR].machine_types()
ZENODO = "https://zenodo.org/record"


@dataclass(frozen=True)
class Archive:
    """An archive to fetch: its file name, Zenodo record, the folders it is unpacked into
    and its MD5 where the year's entry pins it (2020)."""

    name: str  # e.g. dev_data_ToyCar.zip
    record: str  # Zenodo record
    targets: tuple[str, ...]  # folders it is unpacked into
    md5: str | None = None  # pinned in the year's registry entry (2020)


def registered_year(year: int) -> DcaseYear:
    """The registry entry of ``--year``; a one-line DownloadError listing the registered
    years for another."""
    try:
        return year_entry(year)
    except ValueError as error:
        raise DownloadError(f"--year {error}") from None


def year_archives(year: int, machine_types: Sequence[str], *, evaluation: bool) -> list[Archive]:
    """The archives of ``machine_types`` in ``year``, per type in its records' order: the
    development archives, and (``evaluation``) the evaluation set's training and test
    archives of the types that have them (2020: the MLPerf Tiny recipe's folders).

    Raises
    ------
    DownloadError
        A year not registered, ``evaluation`` for a year without registered evaluation
        test archives, or a machine type the year does not publish.
    """
    entry = registered_year(year)
    if evaluation and not entry.machine_types(EVAL_TEST):
        raise DownloadError(f"--year {year} --eval: its evaluation test archives are not listed")
    known = entry.machine_types()
    unknown = [name for name in machine_types if name not in known]
    if unknown:
        raise DownloadError(
            f"--year {year} has no machine type {', '.join(unknown)}; it has: {', '.join(known)}"
        )
    archives = []
    for machine_type in dict.fromkeys(machine_types):
        for record in entry.archives:
            targets = record.targets(evaluation=evaluation)
            if record.machine_type == machine_type and targets:
                archives.append(Archive(record.name, record.record, targets, record.md5))
    return archives


def archives_for(machine_types: Sequence[str], evaluation: bool) -> list[Archive]:
    """The archives of the MLPerf Tiny recipe (2020) for ``machine_types``."""
    return year_archives(REFERENCE_YEAR, machine_types, evaluation=evaluation)


def archive_url(archive: Archive, base_url: str | None) -> str:
    """Zenodo's URL, or ``<base_url>/<name>`` for a mirror."""
    if base_url:
        return f"{base_url.rstrip('/')}/{archive.name}"
    return f"{ZENODO}/{archive.record}/files/{archive.name}?download=1"


def file_url(name: str, default: str, base_url: str | None) -> str:
    """``<base_url>/<name>`` for a mirror, else ``default``."""
    return f"{base_url.rstrip('/')}/{name}" if base_url else default


def labels_url(labels: tuple[str, str], base_url: str | None) -> str:
    """Where a label list published apart, ``(Zenodo record, file name)``, is fetched."""
    record, name = labels
    return file_url(name, f"{ZENODO}/{record}/files/{name}?download=1", base_url)
