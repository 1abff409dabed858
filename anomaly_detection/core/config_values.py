"""Configuration values: raw YAML values converted to typed values by kind, and the
checks of their ranges and names.

Each converter returns ``(value, None)`` or ``(None, problem)`` and each check
``None`` or the problem, so that every problem of a file can be collected and
reported at once.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .layout import reserved_result_names

__all__ = [
    "KINDS",
    "coerce",
    "is_int",
    "quote",
    "OPTIMIZERS",
    "LOSSES",
    "MAX_FRAMES",
    "MAX_N_FFT",
    "MAX_N_MELS",
    "result_file_name",
]


def quote(value: Any) -> str:
    """A short ``repr`` of a YAML value for a message (a huge or deeply nested value
    is abbreviated, never expanded)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 2, 4, 4
    short.maxstring = short.maxother = 60
    return short.repr(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value: Any) -> tuple[Any, str | None]:
    return (value, None) if is_int(value) else (None, f"must be an integer, got {quote(value)}")


def _as_float(value: Any) -> tuple[Any, str | None]:
    if is_int(value) or isinstance(value, float):
        return float(value), None
    return None, f"must be a number, got {quote(value)}"


def _as_bool(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    return None, f"must be true or false, got {quote(value)}"


def _as_str(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return value, None
    return None, f"must be a non-empty string, got {quote(value)}"


def _as_path(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return Path(value), None
    return None, f"must be a path, got {quote(value)}"


def _as_crop(value: Any) -> tuple[Any, str | None]:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(map(is_int, value))
        and 0 <= value[0] < value[1]
    ):
        return (value[0], value[1]), None
    return None, f"must be null or [start, stop] with 0 <= start < stop, got {quote(value)}"


# kind -> (converter of a raw YAML value to (value, None) or (None, problem), null allowed)
KINDS: dict[str, tuple[Callable[[Any], tuple[Any, str | None]], bool]] = {
    "int": (_as_int, False),
    "optional_int": (_as_int, True),
    "float": (_as_float, False),
    "optional_float": (_as_float, True),
    "bool": (_as_bool, False),
    "str": (_as_str, False),
    "path": (_as_path, False),
    "optional_path": (_as_path, True),
    "crop": (_as_crop, True),
}


def coerce(kind: str, value: Any) -> tuple[Any, str | None]:
    """Return ``(value, None)`` or ``(None, problem)`` for a raw YAML value."""
    convert, nullable = KINDS[kind]
    if value is None and nullable:
        return None, None
    return convert(value)


# ---- checks of a converted value: None, or the problem ----


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be in [{low}, {high}], got {value}"

    return check


def fraction_open_closed(value: Any) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def fraction_open(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be in (0, 1)"


#: Keras 3 backends (``fit.backend``): JAX trains this model fastest on a CPU.
KERAS_BACKENDS = ("jax", "tensorflow", "torch")

#: ``fit.precision``: the scan loop's Dense products (bfloat16 only where native).
PRECISIONS = ("float32", "bfloat16")

#: ``fit.validation_vectors``: the last fraction held out (Keras' ``validation_split``, the
#: reference) or a random one (the organisers' DCASE 2023+ baseline).
VALIDATION_ORDERS = ("last", "random")

#: ``decision_fit``: the decision threshold's gamma distribution fitted to the training
#: clips' scores (per scoring set) or to the training batches' (the organisers' baseline).
DECISION_FITS = ("clips", "batches")

#: Keras 3 optimizer names ``compile`` accepts as a string (compared in lower case).
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)
#: Keras 3 losses (their ``compile`` names) that compare a float reconstruction with a
#: float target of any sign, as an autoencoder of log-mel vectors needs; classification
#: losses (crossentropies, hinge), and losses of positive targets (msle, poisson), do not.
LOSSES = ("huber", "log_cosh", "mae", "mean_absolute_error", "mean_squared_error", "mse")

#: Upper bounds of the size keys: a log-mel of audio, an autoencoder that fits in memory.
MAX_N_FFT = 65_536
MAX_N_MELS = 1_024
MAX_FRAMES = 1_024


def one_of(
    names: tuple[str, ...] | Callable[[], tuple[str, ...]], *, lower: bool = False
) -> Callable[[Any], str | None]:
    """The check that a value is one of ``names`` (or of ``names()``, a registry's)."""

    def check(value: Any) -> str | None:
        listed = names() if callable(names) else names
        if (value.lower() if lower else value) in listed:
            return None
        close = difflib.get_close_matches(value.lower() if lower else value, listed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        if listed is LOSSES:
            return f"is not a loss for an autoencoder's float target: {quote(value)}{hint}"
        if listed in (OPTIMIZERS, KERAS_BACKENDS):
            return f"is not a Keras name: {quote(value)}{hint}"
        return f"is {quote(value)}, not one of: {', '.join(listed)}{hint}"

    return check


def result_file_name(value: Any) -> str | None:
    name = str(value)
    if Path(name).name != name or name in (".", ".."):
        return f"must be a file name in result_directory, without a folder: got {quote(value)}"
    if not name.endswith(".csv"):
        return f"must name a .csv file, got {quote(value)}"
    reserved = reserved_result_names()
    if name.startswith(reserved.variant_tails):
        tails = ", ".join(reserved.variant_tails)
        return (
            f"starts with a part of another model's result prefix ({tails}): "
            f"with a model's prefix it could name another model's file, got {quote(value)}"
        )
    if name in reserved.names or name.startswith(reserved.prefixes):
        return f"names a file the pipeline writes for another purpose: {quote(value)}"
    return None


def learning_rate_range(value: Any) -> str | None:
    return None if 0 < value <= 10 else f"must be in (0, 10], got {value}"


def seed(value: Any) -> str | None:
    return None if 0 <= value < 2**32 else f"must be in [0, 2**32), got {value}"


def validation_split(value: Any) -> str | None:
    return None if 0 <= value < 1 else "must be in [0, 1)"


def verbose(value: Any) -> str | None:
    return None if value in (0, 1, 2) else "must be 0, 1 or 2"
