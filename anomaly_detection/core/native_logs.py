"""What native libraries write to standard error: held, filtered or redirected.

TensorFlow writes absl lines ("All log messages before absl::InitializeLog()",
"Could not find cuda drivers", "This TensorFlow binary is optimized ...") straight to
the process's file descriptor 2 while it is imported, twice, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; its TFLite converter prints ``fully_quantize: ...``
there for every full-integer model; LiteRT announces its XNNPACK delegate.
:func:`quiet_native_stderr` holds fd 2 while such a call runs and writes back only the
lines that are not one of those known messages.
``--verbose`` on the command line, or ``AD_LIBRARY_LOGS=1``, lets everything through.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = [
    "LIBRARY_NOISE",
    "library_logs_wanted",
    "quiet_native_stderr",
    "redirected_stderr",
    "silenced_stderr",
]

#: Lines the libraries print on every run that tell a user nothing about this run.
LIBRARY_NOISE = re.compile(
    r"absl::InitializeLog\(\)"
    r"|cudart_stub\.cc|Could not find cuda drivers"
    r"|cpu_feature_guard\.cc|rebuild TensorFlow with the appropriate compiler flags"
    r"|oneDNN custom operations are on|TF_ENABLE_ONEDNN_OPTS"
    r"|^fully_quantize: \d, inference_type: "
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|cuInit: UNKNOWN ERROR|failed call to cuInit"
    r"|^INFO: Created TensorFlow Lite XNNPACK delegate for CPU"
)


def library_logs_wanted() -> bool:
    """The user asked to see the libraries' own lines (``--verbose``, ``AD_LIBRARY_LOGS=1``)."""
    return os.environ.get("AD_LIBRARY_LOGS") == "1" or "--verbose" in sys.argv[1:]


@contextlib.contextmanager
def redirected_stderr(target: BinaryIO | None = None) -> Iterator[None]:
    """Send what native code writes to the process's standard error (fd 2) to ``target``
    (discarded when ``None``) while the body runs: TFLM reports each failed allocation
    there, and prints its allocation recording there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") if target is None else contextlib.nullcontext(target) as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def silenced_stderr() -> contextlib.AbstractContextManager[None]:
    """:func:`redirected_stderr` to nowhere."""
    return redirected_stderr(None)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold the process's standard error while the body runs; then write back every line
    but the libraries' known noise (:data:`LIBRARY_NOISE`), in order.

    Python's own writes in the body (``sys.stderr``) are held and written back too, so
    nothing the project prints is lost, only delayed to the end of the body. Does nothing
    when :func:`library_logs_wanted`.
    """
    if library_logs_wanted():
        yield
        return
    with tempfile.TemporaryFile() as held:
        try:
            with redirected_stderr(held):
                yield
        finally:
            held.seek(0)
            kept = [
                line
                for line in held.read().decode(errors="replace").splitlines(keepends=True)
                if not LIBRARY_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
