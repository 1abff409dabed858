"""File helpers: atomic writing (outputs appear complete under their final name or not at
all) and cheap path conversion."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .errors import OutputError

__all__ = [
    "as_path",
    "atomic_path",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_csv_atomic",
    "check_output_folder",
]


def as_path(path: str | Path) -> Path:
    """``path`` as a Path, without parsing it again when it is one (a per-clip cost)."""
    return path if isinstance(path, Path) else Path(path)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    The temporary name keeps ``path``'s suffix (writers such as Keras and
    matplotlib choose the format from it). On any exception, including
    ``KeyboardInterrupt``, the temporary file is removed and ``path`` is left
    as it was.

    Raises
    ------
    OutputError
        Naming ``path``, if it cannot be written (a full disk, no permission, a
        file where a folder should be).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent
        )
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(f"{path}: cannot write ({reason})", reason) from None
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, path)
    except OSError as error:
        temporary_path.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        raise OutputError(f"{path}: cannot write ({reason})", reason) from None
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_csv_atomic(path: Path, rows: Iterable[Sequence[object]]) -> None:
    """Write ``rows`` as CSV with ``\\n`` line endings to ``path`` atomically."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    with atomic_path(path) as temporary:
        # a file name that is not valid UTF-8 is written back as its own bytes
        temporary.write_text(
            buffer.getvalue(), encoding="utf-8", errors="surrogateescape", newline=""
        )


def check_output_folder(path: Path, what: str) -> None:
    """Create ``path`` if needed and check that a file can be written in it, before any
    work whose result would go there.

    Raises
    ------
    OutputError
        Naming ``what`` (the YAML key) and the cause.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: '{what}' is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise OutputError(
            f"{path}: '{what}' is not a writable folder ({error.strerror or error})"
        ) from None
