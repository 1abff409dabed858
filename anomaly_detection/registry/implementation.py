"""Import paths of the code behind a registered entry, resolved when the entry is used.

A registry entry lives in the lowest layer of the package, while the code that
implements it (an anomaly score's fitting, a runtime's interpreter) lives higher up.
The entry names that code as ``"package.module:attribute"``, as Python packaging's
entry points do; :func:`load` imports it on first use. ``tests/test_registries.py``
resolves every entry's path, so a misspelt one fails the tests, not a user's run.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["load"]


def load(path: str) -> Any:
    """The object that ``path`` (``"package.module:attribute"``) names.

    Raises
    ------
    ValueError
        ``path`` is not of the form ``module:attribute``.
    ImportError, AttributeError
        The module or the attribute does not exist.
    """
    module_name, separator, attribute = path.partition(":")
    if not separator or not module_name or not attribute:
        raise ValueError(f"{path!r}: not an import path of the form 'package.module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)
