"""Ctrl-C that cannot be swallowed.

A ``KeyboardInterrupt`` raised while Keras pulls a batch from a Python dataset
surfaces inside tf.data, which takes it for the end of the data: ``fit``
returns normally and an interrupted model would be saved as complete. The
handler installed here also records the interruption, and training checks the
record after every batch and after ``fit``.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["install_handler", "ensure_handler", "requested", "raise_if_requested"]

_REQUESTED = threading.Event()


def _on_sigint(signum, frame) -> None:
    _REQUESTED.set()
    raise KeyboardInterrupt


def install_handler() -> None:
    """Route SIGINT (Ctrl-C) through the recording handler (main thread only)."""
    _REQUESTED.clear()
    signal.signal(signal.SIGINT, _on_sigint)


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
