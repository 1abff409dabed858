"""``get_dataset.sh``: the DCASE 2020 Task 2 data, its published labels, the reference's models.

Standard library only (it runs before any environment exists); the transfers
(resume, MD5 check, safe unpacking, free space) are :mod:`.transfer`'s.

- MLPerf Tiny trains on the ToyCar development set plus the additional training
  data, both unpacked into ``dev_data/``; ``--eval`` also fetches the
  evaluation test set and the additional training data into ``eval_data/`` and
  the evaluation set's labels, ``eval_data_list.csv``, beside it.
- ``--pretrained`` fetches the MLPerf Tiny reference's trained models from the
  MLCommons Tiny repository at a pinned commit and installs them:
  ``model/model_ToyCar.hdf5`` (the golden ``ad01.h5``) and, under
  ``pretrained/``, its float and int8 TFLite conversions under this project's
  names (score them with ``03_tflite_test.py --model-directory pretrained``).
- ``--base-url`` points at a mirror holding the files side by side.
- ``--year 2021`` .. ``2026``: that year's archives (:mod:`.year_archives`), checked
  against the MD5s given with ``--checksums``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DatasetError
from ..core.io_utils import atomic_path
from .ground_truth import GROUND_TRUTH_FILE, read_ground_truth
from .transfer import DownloadError, download, read_checksums, safe_extract, verify_md5
from .year_archives import year_archives

__all__ = ["Archive", "MACHINE_TYPES", "PUBLISHED_MD5", "PRETRAINED", "archives_for", "main"]

MACHINE_TYPES = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
ZENODO = "https://zenodo.org/record"
_RECORDS = {"dev_data": "3678171", "eval_data_train": "3727685", "eval_data_test": "3841772"}
#: The evaluation set's labels (Zenodo record 3951620). No checksum is published for it:
#: it is checked for its structure instead (see :mod:`.ground_truth`).
GROUND_TRUTH_URL = f"{ZENODO}/3951620/files/{GROUND_TRUTH_FILE}?download=1"

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

# Published MD5 checksums of the Zenodo archives (records 3678171, 3727685, 3841772) and of
# the reference's trained models.
PUBLISHED_MD5 = {
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
    # The .md5 files beside the models in the MLCommons Tiny repository.
    "ad01.h5": "ba1ba77919813dbace1b4ca8b549adc2",
    "ad01_fp32.tflite": "58fc53fe2cd587c76dd947b1b7c06623",
    "ad01_int8.tflite": "361fa1b1b871e2068b2ab38d9805ef56",
}


@dataclass(frozen=True)
class Archive:
    name: str  # e.g. dev_data_ToyCar.zip
    record: str  # Zenodo record
    targets: tuple[str, ...]  # folders it is unpacked into


def archives_for(machine_types: Sequence[str], evaluation: bool) -> list[Archive]:
    """The archives of the MLPerf Tiny recipe for ``machine_types``."""
    archives = []
    for machine_type in machine_types:
        archives.append(
            Archive(f"dev_data_{machine_type}.zip", _RECORDS["dev_data"], ("dev_data",))
        )
        archives.append(
            Archive(
                f"eval_data_train_{machine_type}.zip",
                _RECORDS["eval_data_train"],
                ("dev_data", "eval_data") if evaluation else ("dev_data",),
            )
        )
        if evaluation:
            archives.append(
                Archive(
                    f"eval_data_test_{machine_type}.zip", _RECORDS["eval_data_test"], ("eval_data",)
                )
            )
    return archives


def archive_url(archive: Archive, base_url: str | None) -> str:
    """Zenodo's URL, or ``<base_url>/<name>`` for a mirror."""
    if base_url:
        return f"{base_url.rstrip('/')}/{archive.name}"
    return f"{ZENODO}/{archive.record}/files/{archive.name}?download=1"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="get_dataset.sh",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
    add(
        "--year",
        type=int,
        default=2020,
        help="the DCASE year's data (2021 on: needs --checksums; see year_archives)",
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
    return parser


def _file_url(name: str, default: str, base_url: str | None) -> str:
    return f"{base_url.rstrip('/')}/{name}" if base_url else default


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


def _chosen_archives(args: argparse.Namespace, checksums: dict[str, str]) -> list[Archive]:
    """The archives of ``--year`` and ``--machine-types``; a DownloadError for an unknown
    type or year, or (2021 on) an archive whose MD5 ``--checksums`` does not give."""
    if args.year == 2020:
        unknown = [name for name in args.machine_types if name not in MACHINE_TYPES]
        if unknown:
            raise DownloadError(
                f"--machine-types: no {', '.join(unknown)} in 2020; any of "
                + ", ".join(MACHINE_TYPES)
            )
        return archives_for(args.machine_types, args.eval)
    try:
        chosen = year_archives(args.year, args.machine_types, evaluation=args.eval)
    except ValueError as error:
        raise DownloadError(str(error)) from None
    archives = [Archive(name, record, targets) for name, record, targets in chosen]
    unchecked = [archive.name for archive in archives if archive.name not in checksums]
    if unchecked:
        raise DownloadError(
            f"no MD5 known for {', '.join(unchecked)} ({args.year}): pass --checksums FILE "
            "('<md5>  <archive name>' lines, from the Zenodo record's page)"
        )
    return archives


def _fetch_archives(args: argparse.Namespace, checksums: dict[str, str]) -> None:
    for archive in _chosen_archives(args, checksums):
        url = archive_url(archive, args.base_url)
        path = args.download_dir / archive.name
        print(f"{archive.name}: downloading {url}")
        download(url, path)
        verify_md5(path, checksums[archive.name])
        for target in archive.targets:
            count = safe_extract(path, args.output / target)
            print(f"{archive.name}: {count} files unpacked into {args.output / target}")
        if not args.keep_archives:
            path.unlink()


def _fetch_ground_truth(args: argparse.Namespace, checksums: dict[str, str]) -> None:
    """``eval_data_list.csv`` beside ``eval_data/``: its MD5 checked if one is given with
    --checksums (none is published), its structure always."""
    url = _file_url(GROUND_TRUTH_FILE, GROUND_TRUTH_URL, args.base_url)
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
        url = _file_url(name, f"{TINY_MODELS_URL}/{name}", args.base_url)
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
        if args.pretrained:
            _fetch_pretrained(args, checksums)
        else:
            _fetch_archives(args, checksums)
            if args.eval and args.year == 2020:  # later years' labels: the evaluators'
                _fetch_ground_truth(args, checksums)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run again to resume the download", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
