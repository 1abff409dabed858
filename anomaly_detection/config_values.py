"""Conversion of raw YAML values to the typed values of the configuration, by kind.

Each converter returns ``(value, None)`` or ``(None, problem)``, so that every
problem of a file can be collected and reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "coerce", "is_int"]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value: Any) -> tuple[Any, str | None]:
    return (value, None) if is_int(value) else (None, f"must be an integer, got {value!r}")


def _as_float(value: Any) -> tuple[Any, str | None]:
    if is_int(value) or isinstance(value, float):
        return float(value), None
    return None, f"must be a number, got {value!r}"


def _as_bool(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    return None, f"must be true or false, got {value!r}"


def _as_str(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return value, None
    return None, f"must be a non-empty string, got {value!r}"


def _as_path(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return Path(value), None
    return None, f"must be a path, got {value!r}"


def _as_crop(value: Any) -> tuple[Any, str | None]:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(map(is_int, value))
        and 0 <= value[0] < value[1]
    ):
        return (value[0], value[1]), None
    return None, f"must be null or [start, stop] with 0 <= start < stop, got {value!r}"


# kind -> (converter of a raw YAML value to (value, None) or (None, problem), null allowed)
KINDS: dict[str, tuple[Callable[[Any], tuple[Any, str | None]], bool]] = {
    "int": (_as_int, False),
    "optional_int": (_as_int, True),
    "float": (_as_float, False),
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
