"""Ctrl-C that cannot be swallowed.

A ``KeyboardInterrupt`` raised while Keras pulls a batch from a Python dataset
surfaces inside tf.data, which takes it for the end of the data: ``fit``
returns normally and an interrupted model would be saved as complete. The
handler installed here also records the interruption, and training checks the
record after every batch and after ``fit``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import TracebackType

__all__ = [
    "quiet_start",
    "install_handler",
    "ensure_handler",
    "requested",
    "raise_if_requested",
    "ignore_in_worker",
    "workers_spawned_deaf",
    "deferred",
]

_REQUESTED = threading.Event()


def _on_sigint(signum, frame) -> None:
    _REQUESTED.set()
    raise KeyboardInterrupt


def install_handler() -> None:
    """Route SIGINT (Ctrl-C) through the recording handler (main thread only); an
    interruption recorded since :func:`quiet_start` installed it is kept."""
    if signal.getsignal(signal.SIGINT) is not _on_sigint:
        _REQUESTED.clear()
        signal.signal(signal.SIGINT, _on_sigint)


#: What a script prints when Ctrl-C stops it before it has started its work.
STARTUP_INTERRUPTED = "ERROR: interrupted by the user while starting; nothing was written"


def quiet_start() -> None:
    """For a script to call first, before it loads its libraries (Keras, TensorFlow): Ctrl-C
    while they load ends it with :data:`STARTUP_INTERRUPTED` instead of their import
    traceback (the exit status stays Python's for Ctrl-C), and a Ctrl-C that a library's
    callback swallows (Python prints "Exception ignored in ...") is recorded
    (:func:`requested`) instead of printed. Main thread only. A process started deaf to
    Ctrl-C (a fork server, which imports the script: :func:`workers_spawned_deaf`) stays
    so: nothing is changed."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    install_handler()
    previous_hook = sys.excepthook
    previous_unraisable = sys.unraisablehook

    def excepthook(
        kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            print(STARTUP_INTERRUPTED, file=sys.stderr)
        else:
            previous_hook(kind, value, traceback)

    def unraisablehook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            _REQUESTED.set()
        else:
            previous_unraisable(unraisable)

    sys.excepthook = excepthook
    sys.unraisablehook = unraisablehook


def ensure_handler() -> None:
    """Re-install the handler if something replaced it (keeps a recorded interruption)."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is not _on_sigint
    ):
        signal.signal(signal.SIGINT, _on_sigint)


def requested() -> bool:
    """Whether Ctrl-C was pressed since :func:`install_handler`."""
    return _REQUESTED.is_set()


def raise_if_requested() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed, even if something caught it."""
    if _REQUESTED.is_set():
        raise KeyboardInterrupt


def ignore_in_worker() -> None:
    """In a worker process: leave Ctrl-C to the parent, which stops the pool and prints
    the one line (the terminal sends SIGINT to every process of the job; a worker would
    print its own traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def workers_spawned_deaf() -> Iterator[None]:
    """Ignore Ctrl-C while the body starts a process that must never see it (a fork
    server, whose workers inherit its disposition): an ignored signal stays ignored
    through ``fork`` and ``exec``, so the process prints no traceback when the user
    presses Ctrl-C. A Ctrl-C pressed during the body itself is lost: keep it short
    (start, do not wait). Main thread only (elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C pressed during the body until the body ends, then raise
    ``KeyboardInterrupt``: for steps that must not be cut in half, such as handing a new
    worker process its start-up data. Main thread only (elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        _REQUESTED.set()
        raise KeyboardInterrupt
