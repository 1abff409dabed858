"""Fetching files over HTTP(S) safely: resumable downloads, MD5 checks, safe unpacking.

Standard library only (``get_dataset.sh`` runs before any environment exists).

- an interrupted download resumes (an HTTP range request on ``<file>.part``);
- free disk space is checked before each download;
- a file is checked against its published MD5 before it is used;
- archive members that would land outside the target folder are refused.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["DownloadError", "verify_md5", "download", "safe_extract", "read_checksums"]


class DownloadError(RuntimeError):
    """A download, checksum or extraction failed."""


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
            announced = _announced_total(response, have if resumed else 0)
            with open(partial, mode) as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
            got = partial.stat().st_size
            expected = announced if announced is not None else size
            if expected is not None and got < expected:  # the connection dropped: keep .part
                raise DownloadError(
                    f"{url}: the connection ended at {got:,} of {expected:,} bytes; run again "
                    f"to resume ({partial.name} is kept)"
                )
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # range not satisfiable: the part is already complete
            pass
        else:
            raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: download failed ({error}); run again to resume") from None
    partial.replace(destination)
    return destination


def _announced_total(response: Any, offset: int) -> int | None:
    """The whole file's size as the response announces it: ``Content-Range``'s total, or
    ``offset`` + ``Content-Length``; ``None`` if it says neither."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None and length.isdigit() else None


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


def read_checksums(path: Path) -> dict[str, str]:
    """``{file name: md5}`` from ``<md5> <file name>`` lines (``#`` comments allowed)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DownloadError(f"{path}: cannot read the checksums file ({error})") from None
    checksums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            if len(parts) != 2:
                raise DownloadError(f"{path}:{number}: expected '<md5> <file name>'")
            checksums[parts[1]] = parts[0]
    return checksums
