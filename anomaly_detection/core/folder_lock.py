"""One writer per output folder: an exclusive lock held for a script run.

Every script that writes to a model or result folder holds an exclusive ``flock`` on the
folder itself for its whole run (released by the kernel when the process ends, even on a
crash; no lock file is left behind). A second run on the same folder stops at once with
one line naming the process that holds it (read from ``/proc/locks`` on Linux).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import OutputError

__all__ = ["folder_locks", "lock_holder"]


def lock_holder(folder: Path) -> str:
    """``<script> (pid N)`` of the process holding ``folder``'s lock, as far as
    ``/proc`` tells; ``another process`` otherwise."""
    try:
        status = os.stat(folder)
        device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and device in fields:
                pid = int(fields[fields.index(device) - 1])
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                script = next(
                    (Path(os.fsdecode(a)).name for a in arguments[1:] if a.endswith(b".py")),
                    Path(os.fsdecode(arguments[0])).name,
                )
                return f"{script} (pid {pid})"
    except (OSError, ValueError, IndexError):
        pass
    return "another process"


@contextlib.contextmanager
def folder_locks(folders: Sequence[Path]) -> Iterator[None]:
    """Hold the writer lock of each folder (created if missing; each folder once) for
    the body's duration.

    Raises
    ------
    OutputError
        ``<folder>: in use by <script> (pid N); wait for it to finish or use another
        folder``.
    """
    unique = dict.fromkeys(Path(folder).resolve() for folder in folders)
    with contextlib.ExitStack() as stack:
        for folder in unique:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            stack.callback(os.close, descriptor)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(
                    f"{folder}: in use by {lock_holder(folder)}; wait for it to finish or use "
                    "another folder"
                ) from None
        yield
