"""Download and unpack the DCASE 2020 Task 2 archives from Zenodo (standard library only).

- interrupted downloads resume (HTTP range requests on ``<archive>.part``);
- each archive is checked against its published MD5 before it is unpacked;
- archive members that would land outside the target folder are refused;
- free disk space is checked before each download;
- ``--base-url`` points at a mirror holding the archives side by side.

MLPerf Tiny trains on the ToyCar development set plus the additional training
data, both unpacked into ``dev_data/``; ``--eval`` also fetches the evaluation
test set and the additional training data into ``eval_data/``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Archive",
    "MACHINE_TYPES",
    "archives_for",
    "download",
    "verify_md5",
    "safe_extract",
    "main",
    "DownloadError",
]

MACHINE_TYPES = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
ZENODO = "https://zenodo.org/record"
_RECORDS = {"dev_data": "3678171", "eval_data_train": "3727685", "eval_data_test": "3841772"}

# Published MD5 checksums of the Zenodo archives (records 3678171, 3727685, 3841772).
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
}


class DownloadError(RuntimeError):
    """A download, checksum or extraction failed."""


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


def verify_md5(path: Path, expected: str) -> None:
    """Raise :class:`DownloadError` unless ``path``'s MD5 is ``expected``."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise DownloadError(
            f"{path}: MD5 {digest.hexdigest()} does not match the published "
            f"{expected}; the file is corrupt or incomplete (delete it and retry)"
        )


def _remote_size(url: str, timeout: float) -> int | None:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def download(url: str, destination: Path, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``destination``, resuming ``<destination>.part`` if present.

    The free space is checked first (the archive and its unpacked content need
    about twice its size).
    """
    if destination.exists():
        return destination
    partial = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    size = _remote_size(url, timeout)
    if size is not None:
        free = shutil.disk_usage(destination.parent).free
        needed = 2 * size - have
        if free < needed:
            raise DownloadError(
                f"{destination.parent}: {free / 1e9:.1f} GB free, "
                f"{needed / 1e9:.1f} GB needed for {destination.name} and its "
                "content"
            )
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = have > 0 and response.status == 206
            mode = "ab" if resumed else "wb"
            if have and not resumed:
                print(
                    f"  server ignored the resume request; downloading {destination.name} "
                    "from the start"
                )
            with open(partial, mode) as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # range not satisfiable: the part is already complete
            pass
        else:
            raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: download failed ({error}); run again to resume") from None
    partial.replace(destination)
    return destination


def safe_extract(archive: Path, target: Path) -> int:
    """Unpack a zip into ``target``, refusing members that would land outside it.

    Returns the number of members extracted. Nothing is written if any member
    is unsafe.
    """
    target = target.resolve()
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            for member in members:
                destination = (target / member.filename).resolve()
                if member.filename.startswith(("/", "\\")) or not destination.is_relative_to(
                    target
                ):
                    raise DownloadError(
                        f"{archive}: member '{member.filename}' would be written "
                        f"outside {target}; refusing to unpack"
                    )
            bundle.extractall(target)
            return len(members)
    except zipfile.BadZipFile as error:
        raise DownloadError(f"{archive}: not a valid zip archive ({error})") from None


def _read_checksums(path: Path) -> dict[str, str]:
    checksums = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            if len(parts) != 2:
                raise DownloadError(f"{path}:{number}: expected '<md5> <file name>'")
            checksums[parts[1]] = parts[0]
    return checksums


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
        choices=MACHINE_TYPES,
        metavar="TYPE",
        help=f"any of {types}",
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
    add("--download-dir", type=Path, default=Path("downloads"), help="where archives are kept")
    add(
        "--output",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder receiving dev_data/ and eval_data/",
    )
    add("--keep-archives", action="store_true", help="keep the .zip files after unpacking")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    checksums = dict(PUBLISHED_MD5)
    try:
        if args.checksums:
            checksums.update(_read_checksums(args.checksums))
        for archive in archives_for(args.machine_types, args.eval):
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
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run again to resume the download", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
