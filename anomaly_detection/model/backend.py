"""Which Keras 3 backend a script runs on: chosen before Keras is imported.

Keras reads its backend once, when it is first imported, from the
``KERAS_BACKEND`` environment variable. ``00_train.py`` trains on the backend
that ``fit.backend`` of its YAML names (JAX by default: the fastest on a CPU
here) unless ``KERAS_BACKEND`` is set, which wins. Conversion to TFLite needs
TensorFlow, so ``02_convert.py`` always runs on it; ``01_test.py`` runs on
Keras' default (or ``$KERAS_BACKEND``): Keras 3 model files load in every
backend.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from ..core.config import load_config
from ..core.config_values import KERAS_BACKENDS
from ..core.errors import ConfigError, PipelineError
from ..core.native_logs import quiet_native_stderr

__all__ = [
    "KERAS_BACKENDS",
    "keras_module",
    "choose_training_backend",
    "configured_backend",
    "use_tensorflow_backend",
    "check_keras_backend",
    "training_backend",
    "tensorflow_left_out",
    "check_installed",
]

_PACKAGE = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
_INSTALL = {
    "jax": "pip install jax (GPU: ./prepare_training_env.sh --gpu)",
    "tensorflow": "pip install tensorflow (GPU: pip install 'tensorflow[and-cuda]')",
    "torch": "pip install torch",
}


@functools.cache
def keras_module() -> ModuleType:
    """Keras, imported on first use and without TensorFlow's start-up lines on standard
    error: modules that use Keras import it through this, so that a script's ``--help``, a
    bad option or a bad configuration answers at once instead of after seconds of loading."""
    with quiet_native_stderr():
        import keras

    return keras


def training_backend(config_backend: str) -> str:
    """The backend training runs on: ``$KERAS_BACKEND`` if set, else ``config_backend``."""
    return os.environ.get("KERAS_BACKEND") or config_backend


def choose_training_backend(argv: Sequence[str] | None = None) -> None:
    """Set ``KERAS_BACKEND`` from ``fit.backend`` of the ``--config`` YAML in ``argv``.

    Call before Keras is imported (a script's first lines). Does nothing if
    ``KERAS_BACKEND`` is already set or Keras already loaded; a configuration
    that does not load, or names a backend that is not installed, is left to
    the script's own checks (:func:`check_keras_backend`), which report it.

    Raises
    ------
    SystemExit
        If ``KERAS_BACKEND`` names no Keras backend (Keras would fail to import).
    """
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        if chosen not in KERAS_BACKENDS:
            raise SystemExit(
                f"error: KERAS_BACKEND={chosen!r} is not a Keras backend "
                f"(one of: {', '.join(KERAS_BACKENDS)})"
            )
        if not _installed(chosen):
            raise SystemExit(f"error: KERAS_BACKEND={chosen!r}: {_not_installed(chosen)}")
        return
    if "keras" in sys.modules:
        return
    backend = configured_backend(sys.argv[1:] if argv is None else argv)
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend


def configured_backend(argv: Sequence[str], *, folder: Path | None = None) -> str | None:
    """The backend ``fit.backend`` names in the YAML of ``--config`` in ``argv`` (default
    ``baseline.yaml``; a relative path from ``folder``, by default the working folder).

    ``None`` if the configuration does not load (the script's own checks report it) or
    the backend is not installed (:func:`check_keras_backend` reports it).

    Raises
    ------
    SystemExit
        If ``argv`` holds ``--config`` without its value (argparse's usage line).
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", type=Path, default=Path("baseline.yaml"))
    known, _ = parser.parse_known_args(argv)
    try:
        backend = load_config((folder or Path()) / known.config).fit.backend
    except PipelineError:
        return None
    return backend if _installed(backend) else None


def use_tensorflow_backend() -> None:
    """Run Keras on TensorFlow in this process (the TFLite converter needs it)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"


def check_keras_backend(wanted: str) -> str:
    """Check that Keras runs on ``wanted`` (importing Keras); return the backend's name.

    Raises
    ------
    ConfigError
        If ``wanted`` is not installed, or Keras was loaded with another backend.
    """
    check_installed(wanted)
    import keras

    actual = keras.backend.backend()
    if actual != wanted:
        raise ConfigError(
            f"Keras runs on {actual!r}, not {wanted!r}: it was loaded before the "
            "configuration was read (set KERAS_BACKEND, or call "
            "choose_training_backend() before importing Keras)"
        )
    return actual


def check_installed(backend: str) -> None:
    """Raise :class:`ConfigError` if the package of Keras backend ``backend`` is missing."""
    if not _installed(backend):
        raise ConfigError(f"'fit.backend' {backend!r}: {_not_installed(backend)}")


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(_PACKAGE[backend]) is not None


def _not_installed(backend: str) -> str:
    return f"the package {_PACKAGE[backend]!r} is not installed ({_INSTALL[backend]})"


@contextmanager
def tensorflow_left_out() -> Iterator[None]:
    """Keep Keras from importing TensorFlow when it runs on another backend.

    ``keras.utils.set_random_seed`` and Keras' HDF5 serialisation import
    TensorFlow if it is installed (0.45 GB and 3 s), to seed it or to recognise
    its objects, even when no TensorFlow code runs. Inside this block Keras'
    lazy TensorFlow module reports itself unavailable, unless Keras runs on
    TensorFlow or TensorFlow is already loaded.
    """
    import keras
    from keras.src.utils import module_utils  # Keras' lazy import of TensorFlow

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        yield
        return
    lazy = module_utils.tensorflow
    available = lazy._available
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = available
