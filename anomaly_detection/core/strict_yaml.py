"""Reading a YAML configuration file strictly: safe tags only, no duplicate keys, few
aliases, and one clear line for a file that cannot be read or parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .config_values import quote
from .errors import ConfigError

__all__ = ["StrictLoader", "read_yaml"]

#: Alias nodes a configuration may use; a "billion laughs" file nests thousands.
_MAX_ALIASES = 64


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and more than a few aliases."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > _MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(
                    f"more than {_MAX_ALIASES} aliases (line {mark.line + 1}); refusing to "
                    "expand them"
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.YAMLError(
                    f"duplicate key {quote(key)} (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The YAML document of a UTF-8 file, parsed by :class:`StrictLoader`.

    Parameters
    ----------
    path : Path

    Returns
    -------
    Any
        The parsed document, as written (a configuration is a mapping; the caller checks).

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, is not UTF-8, or is not valid YAML; the
        message names the file and the cause.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration: {error.strerror}") from None
    try:
        raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {str(error)[:500]}") from None
    return raw
