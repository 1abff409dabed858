"""``get_dataset.sh``: a DCASE year's data, the 2020 evaluation labels, the reference's models.

Standard library only (it runs before any environment exists); the transfers
(resume, MD5 check, safe unpacking, free space) are :mod:`.transfer`'s, each year's
records its entry's in :mod:`anomaly_detection.registry.years`.

- MLPerf Tiny (2020, the default) trains on the ToyCar development set plus the
  additional training data, both unpacked into ``dev_data/``; ``--eval`` also
  fetches the evaluation test set and the additional training data into
  ``eval_data/`` and the evaluation set's labels, ``eval_data_list.csv``, beside it.
- ``--pretrained`` fetches the MLPerf Tiny reference's trained models from the
  MLCommons Tiny repository at a pinned commit and installs them:
  ``model/model_ToyCar.hdf5`` (the golden ``ad01.h5``) and, under
  ``pretrained/``, its float and int8 TFLite conversions under this project's
  names (score them with ``03_tflite_test.py --model-directory pretrained``).
- ``--base-url`` points at a mirror holding the files side by side.
- ``--year 2021`` .. ``2026``: that year's archives (development; ``--eval``: the
  evaluation set's training and test archives too), checked against the MD5s given
  with ``--checksums``.
- ``--dry-run`` prints what would be fetched (name, URL, target folders, whether an
  MD5 is known) and fetches nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import DatasetError
from ..core.io_utils import atomic_path
from ..registry.archives import DEV, EVAL_TEST
from ..registry.years import REFERENCE_YEAR, YEARS, registered_years
from .download_plan import (
    MACHINE_TYPES,
    Archive,
    archive_url,
    archives_for,
    file_url,
    labels_url,
    registered_year,
    year_archives,
)
from .ground_truth import GROUND_TRUTH_FILE, read_ground_truth
from .transfer import DownloadError, download, read_checksums, safe_extract, verify_md5

__all__ = [
    "Archive",
    "MACHINE_TYPES",
    "PUBLISHED_MD5",
    "PRETRAINED",
    "archives_for",
    "year_archives",
    "main",
]


#: The MLCommons Tiny repository at a pinned commit, so that the bytes never change.
TINY_COMMIT = "0d61a709b2ce7c6fecce3abf4fcfe8b0a86a53b8"
TINY_MODELS_URL = (
    f"https://raw.githubusercontent.com/mlcommons/tiny/{TINY_COMMIT}/"
    "v0.5/training/anomaly_detection/trained_models"
)
#: The reference's trained models and where they are installed (relative to --output).
#: ad01_fp32 is the reference's float conversion (BatchNorm folded), ad01_int8 its int8
#: model with int8 input and output (byte-identical to its
#: baseline_tf23/model/model_ToyCar_quant_fullint_micro_intio.tflite).
PRETRAINED = {
    "ad01.h5": Path("model/model_ToyCar.hdf5"),
    "ad01_fp32.tflite": Path("pretrained/model_ToyCar.tflite"),
    "ad01_int8.tflite": Path("pretrained/model_ToyCar_quant_fullint_micro_intio.tflite"),
}

#: Published MD5 checksums of the 2020 archives (pinned in their registry entry) and of the
#: reference's trained models (the .md5 files beside them in the MLCommons Tiny repository).
PUBLISHED_MD5 = {
    **{a.name: a.md5 for a in YEARS[REFERENCE_YEAR].archives if a.md5 is not None},
    "ad01.h5": "ba1ba77919813dbace1b4ca8b549adc2",
    "ad01_fp32.tflite": "58fc53fe2cd587c76dd947b1b7c06623",
    "ad01_int8.tflite": "361fa1b1b871e2068b2ab38d9805ef56",
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="get_dataset.sh",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="./get_dataset.sh --synthetic [generator options] writes a synthetic set "
        "instead, offline, after preparing .venv (options: python -m "
        "anomaly_detection.data.synthetic -h).",
    )
    add = parser.add_argument
    types = ", ".join(MACHINE_TYPES)
    add(
        "--machine-types",
        nargs="+",
        default=["ToyCar"],
        metavar="TYPE",
        help=f"any of {types} (2020; another --year: its own)",
    )
    years = registered_years()
    add(
        "--year",
        type=int,
        default=REFERENCE_YEAR,
        help=f"the DCASE year's data, {years[0]} to {years[-1]} (from 2021: needs --checksums)",
    )
    add(
        "--eval",
        action="store_true",
        help="also the evaluation test set (and additional training data) into eval_data/",
    )
    add("--base-url", help="mirror holding the .zip files side by side")
    add(
        "--checksums",
        type=Path,
        metavar="FILE",
        help="file of '<md5> <archive name>' lines overriding the published ones",
    )
    add(
        "--download-dir",
        type=Path,
        default=None,
        help="where archives are kept (default: downloads/ in the repository)",
    )
    add(
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder receiving dev_data/ and eval_data/ (default: the repository)",
    )
    add("--keep-archives", action="store_true", help="keep the downloaded files after use")
    add(
        "--pretrained",
        action="store_true",
        help="fetch the MLPerf Tiny reference's trained models instead of data: "
        "model/model_ToyCar.hdf5 and pretrained/*.tflite",
    )
    add("--force", action="store_true", help="with --pretrained: replace existing models")
    add(
        "--dry-run",
        action="store_true",
        help="print what would be fetched (name, URL, target folders, MD5 known) and exit",
    )
    return parser


def _install(source: Path, destination: Path, *, force: bool) -> str:
    """Copy ``source`` to ``destination`` atomically; an existing different file is kept
    unless ``force``. Returns what was done."""
    data = source.read_bytes()
    if destination.is_file():
        if destination.read_bytes() == data:
            return "already installed"
        if not force:
            raise DownloadError(
                f"{destination}: exists and differs from {source.name}; "
                "keeping it (pass --force to replace it)"
            )
    with atomic_path(destination) as temporary:
        temporary.write_bytes(data)
    return "installed"


def _md5(archive: Archive, checksums: dict[str, str]) -> str | None:
    """The MD5 an archive is checked against: given with --checksums, else pinned."""
    return checksums.get(archive.name, archive.md5)


def _note_unfetched(args: argparse.Namespace) -> None:
    """Name the chosen machine types of which nothing of the asked part is fetched (from
    2023 the evaluation set has machine types of its own)."""
    entry = registered_year(args.year)
    evaluated, developed = entry.machine_types(EVAL_TEST), entry.machine_types(DEV)
    without = [name for name in args.machine_types if name not in evaluated]
    if args.eval and without:
        print(
            f"note: {args.year} publishes no evaluation archives of {', '.join(without)}; "
            f"its evaluation machine types: {', '.join(evaluated)}"
        )
    only_eval = [name for name in args.machine_types if name not in developed]
    if not args.eval and only_eval:
        names = ", ".join(only_eval)
        print(f"note: {args.year} publishes only evaluation archives of {names}: add --eval")


def _print_plan(args: argparse.Namespace, checksums: dict[str, str]) -> None:
    """``--dry-run``: one line per file that would be fetched."""
    if args.pretrained:
        for name, target in PRETRAINED.items():
            url = file_url(name, f"{TINY_MODELS_URL}/{name}", args.base_url)
            print(f"{name}  {url}  -> {args.output / target}  (MD5 known)")
        return
    entry = registered_year(args.year)
    archives = year_archives(args.year, args.machine_types, evaluation=args.eval)
    print(f"{entry.challenge}: {len(archives)} archive(s), {entry.describe()}")
    for archive in archives:
        folders = ", ".join(f"{args.output / target}/" for target in archive.targets)
        known = "MD5 known" if _md5(archive, checksums) else "no MD5 known: pass --checksums"
        print(f"{archive.name}  {archive_url(archive, args.base_url)}  -> {folders}  ({known})")
    if args.eval and entry.evaluation_labels is not None:
        url = labels_url(entry.evaluation_labels, args.base_url)
        print(
            f"{entry.evaluation_labels[1]}  {url}  -> {args.output / GROUND_TRUTH_FILE}"
            "  (no MD5 published: its structure is checked)"
        )
    _note_unfetched(args)


def _fetch_archives(args: argparse.Namespace, checksums: dict[str, str]) -> None:
    archives = year_archives(args.year, args.machine_types, evaluation=args.eval)
    _note_unfetched(args)
    known = {archive.name: md5 for archive in archives if (md5 := _md5(archive, checksums))}
    unchecked = [archive.name for archive in archives if archive.name not in known]
    if unchecked:
        raise DownloadError(
            f"no MD5 known for {', '.join(unchecked)} ({args.year}): pass --checksums FILE "
            "('<md5>  <archive name>' lines, from the Zenodo record's page)"
        )
    for archive in archives:
        url = archive_url(archive, args.base_url)
        path = args.download_dir / archive.name
        print(f"{archive.name}: downloading {url}")
        download(url, path)
        verify_md5(path, known[archive.name])
        for target in archive.targets:
            count = safe_extract(path, args.output / target)
            print(f"{archive.name}: {count} files unpacked into {args.output / target}")
        if not args.keep_archives:
            path.unlink()


def _fetch_ground_truth(
    args: argparse.Namespace, checksums: dict[str, str], labels: tuple[str, str]
) -> None:
    """``eval_data_list.csv`` beside ``eval_data/`` from ``labels`` (Zenodo record, file
    name): its MD5 checked if one is given with --checksums (none is published), its
    structure always."""
    url = labels_url(labels, args.base_url)
    path = args.download_dir / GROUND_TRUTH_FILE
    print(f"{GROUND_TRUTH_FILE}: downloading {url}")
    download(url, path)
    if GROUND_TRUTH_FILE in checksums:
        verify_md5(path, checksums[GROUND_TRUTH_FILE])
    try:
        truth = read_ground_truth(path)
    except DatasetError as error:  # its message names the file and line
        raise DownloadError(f"{error}; delete it and retry") from None
    missing = [name for name in args.machine_types if name not in truth.labels]
    if missing:
        raise DownloadError(f"{path}: no labels for {', '.join(missing)}; delete it and retry")
    print(
        f"{GROUND_TRUTH_FILE}: {_install(path, args.output / GROUND_TRUTH_FILE, force=True)} "
        f"({sum(map(len, truth.labels.values()))} labelled test files)"
    )
    if not args.keep_archives:
        path.unlink()


def _fetch_pretrained(args: argparse.Namespace, checksums: dict[str, str]) -> None:
    for name, target in PRETRAINED.items():
        url = file_url(name, f"{TINY_MODELS_URL}/{name}", args.base_url)
        path = args.download_dir / name
        print(f"{name}: downloading {url}")
        download(url, path)
        verify_md5(path, checksums[name])
        print(
            f"{name}: {_install(path, args.output / target, force=args.force)} as "
            f"{args.output / target}"
        )
        if not args.keep_archives:
            path.unlink()


def _resolve_paths(args: argparse.Namespace) -> None:
    """Relative paths given on the command line are the caller's (``get_dataset.sh`` runs
    in the repository and passes the caller's folder as ``AD_CALLER_DIR``); the defaults
    are the repository's. A folder option naming a file is an error."""
    caller = Path(os.environ.get("AD_CALLER_DIR") or ".")
    for name, default in (("download_dir", Path("downloads")), ("output", Path("."))):
        value = getattr(args, name)
        path = default if value is None else value if value.is_absolute() else caller / value
        if path.exists() and not path.is_dir():
            option = "--" + name.replace("_", "-")
            raise DownloadError(f"{path}: {option} names a file, not a folder")
        setattr(args, name, path)
    if args.checksums is not None and not args.checksums.is_absolute():
        args.checksums = caller / args.checksums


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    checksums = dict(PUBLISHED_MD5)
    try:
        _resolve_paths(args)
        if args.checksums:
            checksums.update(read_checksums(args.checksums))
        if args.dry_run:
            _print_plan(args, checksums)
        elif args.pretrained:
            _fetch_pretrained(args, checksums)
        else:
            _fetch_archives(args, checksums)
            # Labels published apart (2020); later years' are the evaluators' folders.
            labels = registered_year(args.year).evaluation_labels
            if args.eval and labels is not None:
                _fetch_ground_truth(args, checksums, labels)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run again to resume the download", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
