"""One writer per output folder: an exclusive lock held for a script run.

Every script that writes to a model or result folder holds ``<folder>/.writer.lock``
(``flock``, released by the kernel when the process ends, even on a crash) for the
whole run. A second run on the same folder stops at once with one line naming the
process that holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import OutputError

__all__ = ["LOCK_FILE", "folder_locks"]

LOCK_FILE = ".writer.lock"


def _holder(lock_path: Path) -> str:
    """What the lock file says of the process holding it (best effort)."""
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return text or "another process"


@contextlib.contextmanager
def folder_locks(folders: Sequence[Path], *, purpose: str | None = None) -> Iterator[None]:
    """Hold the writer lock of each folder (created if missing; each folder once) for
    the body's duration.

    Raises
    ------
    OutputError
        ``<folder>: in use by <script> (pid N, since HH:MM:SS); wait for it to finish or
        use another folder``.
    """
    purpose = purpose or Path(sys.argv[0]).name or "python"
    unique: dict[Path, None] = {}
    for folder in folders:
        unique.setdefault(Path(folder).resolve(), None)
    with contextlib.ExitStack() as stack:
        for folder in unique:
            folder.mkdir(parents=True, exist_ok=True)
            lock_path = folder / LOCK_FILE
            handle = stack.enter_context(open(lock_path, "a+"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(
                    f"{folder}: in use by {_holder(lock_path)}; wait for it to finish or use "
                    "another folder"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{purpose} (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})")
            handle.flush()
        yield
