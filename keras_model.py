"""The dense autoencoder of the DCASE 2020 Task 2 / MLPerf Tiny anomaly detection reference.

``input -> [Dense(128) BatchNorm ReLU] x4 -> Dense(8) BatchNorm ReLU
-> [Dense(128) BatchNorm ReLU] x4 -> Dense(input_dim)``: 269,992 parameters
(of which 4,384 non-trainable BatchNorm statistics) for ``input_dim = 640``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from anomaly_detection.core.errors import ModelError
from anomaly_detection.core.io_utils import atomic_path
from anomaly_detection.model.backend import keras_module, tensorflow_left_out

if TYPE_CHECKING:
    import keras

__all__ = [
    "ModelError",
    "get_model",
    "load_model",
    "KerasModel",
    "save_model",
    "model_shape",
    "check_model_shape",
    "has_finite_weights",
    "unusable_model",
]


def get_model(
    input_dim: int, *, hidden_units: int = 128, bottleneck_units: int = 8, hidden_layers: int = 4
) -> keras.Model:
    """Build the (uncompiled) autoencoder for ``input_dim``-long feature vectors.

    Parameters
    ----------
    input_dim : int
        Length of a feature vector (``n_mels * frames``).
    hidden_units, bottleneck_units, hidden_layers : int
        ``hidden_layers`` layers of ``hidden_units`` on each side of a
        ``bottleneck_units`` layer (the reference: 128, 8, 4).
    """
    keras = keras_module()
    shape = (hidden_units,) * hidden_layers
    inputs = keras.Input(shape=(input_dim,), name="input")
    hidden = inputs
    for units in (*shape, bottleneck_units, *shape):
        hidden = keras.layers.Dense(units)(hidden)
        hidden = keras.layers.BatchNormalization()(hidden)
        hidden = keras.layers.Activation("relu")(hidden)
    outputs = keras.layers.Dense(input_dim)(hidden)
    return keras.Model(inputs=inputs, outputs=outputs, name="autoencoder")


def _h5_layer_classes(path: Path) -> list[str]:
    """Class names of every layer recorded in a Keras HDF5 file's model config."""
    with h5py.File(path, "r") as handle:
        config = handle.attrs.get("model_config")
    if config is None:
        raise ModelError(f"{path}: HDF5 file holds no Keras model configuration")
    if isinstance(config, bytes):
        config = config.decode("utf-8")
    classes: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "class_name" in node:
                classes.append(str(node["class_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(config))
    return classes


def load_model(path: str | Path) -> keras.Model:
    """Load a Keras model saved as HDF5 (``.hdf5``/``.h5``) or ``.keras``, uncompiled.

    Loading never runs code stored in the file: an HDF5 model containing a
    ``Lambda`` layer (whose Python bytecode Keras' legacy loader would
    deserialise and run) is refused, and ``.keras`` files load in Keras' safe mode.

    Raises
    ------
    ModelError
        Naming the file and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found (train it with 00_train.py)")
    try:
        if path.suffix in (".h5", ".hdf5"):
            if "Lambda" in _h5_layer_classes(path):
                raise ModelError(
                    f"{path}: model contains a Lambda layer (arbitrary Python "
                    "code); refusing to load it"
                )
            return keras_module().models.load_model(path, compile=False)
        return keras_module().models.load_model(path, compile=False, safe_mode=True)
    except ModelError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ModelError(f"{path}: not a loadable Keras model ({error})") from None


class KerasModel:
    """A Keras model file as the runtime registry runs it: a function of a batch of vectors.

    Parameters
    ----------
    path : Path
        Loaded by :func:`load_model`.
    workers : int
        Unused: Keras spreads a batch over the cores itself.

    Raises
    ------
    ModelError
        Naming the file and the cause, if it does not load.
    """

    def __init__(self, path: str | Path, *, workers: int = 1):
        self.model = load_model(path)

    @property
    def input_dim(self) -> int:
        """Length of the feature vector the model takes."""
        return int(self.model.input_shape[-1])

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Reconstructions of ``vectors`` (shape ``(n, dim)``), one compiled call."""
        return np.asarray(self.model.predict_on_batch(vectors))

    def __enter__(self) -> KerasModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def unusable_model(path: str | Path) -> str | None:
    """Why the model file at ``path`` cannot be used (``None`` if it loads with finite
    weights): a damaged or half-trained file is never taken for a trained model."""
    try:
        model = load_model(path)
    except ModelError as error:
        return str(error).removeprefix(f"{path}: ")
    return None if has_finite_weights(model) else "the model has non-finite weights"


def model_shape(model: keras.Model) -> dict[str, int]:
    """``{"hidden_layers", "hidden_units", "bottleneck_units"}`` of an autoencoder built
    by :func:`get_model` (read from its Dense layers: the last one is the output)."""
    dense = keras_module().layers.Dense
    units = [layer.units for layer in model.layers if isinstance(layer, dense)]
    hidden = units[:-1]
    middle = len(hidden) // 2
    return {
        "hidden_layers": middle,
        "hidden_units": hidden[0] if middle else 0,
        "bottleneck_units": hidden[middle] if hidden else 0,
    }


def check_model_shape(model: keras.Model, path: str | Path, expected: dict[str, int]) -> None:
    """Check that the model at ``path`` has the ``model.*`` shape of the configuration.

    Raises
    ------
    ModelError
        Naming the first differing key and both values, with what to do.
    """
    actual = model_shape(model)
    for key, wanted in expected.items():
        if actual.get(key) != wanted:
            raise ModelError(
                f"{path}: model.{key} is {actual.get(key)} in the model, {wanted} in the "
                "configuration; train it again (00_train.py --retrain) or restore the setting"
            )


def has_finite_weights(model: keras.Model) -> bool:
    """Whether every weight of ``model`` is a finite number."""
    return all(bool(np.all(np.isfinite(weight))) for weight in model.get_weights())


def save_model(
    model: keras.Model, path: str | Path, *, before_publish: Callable[[Path], None] | None = None
) -> None:
    """Save ``model`` atomically; the format follows the suffix.

    ``.hdf5`` (the reference's format, read by every TensorFlow since 2.0) is
    what the pipeline writes; Keras' notice that HDF5 is "legacy" is muted.
    ``before_publish`` is called with the complete temporary file before it is
    renamed into place (to write what describes it, such as its provenance).

    Raises
    ------
    ModelError
        If a weight is not finite (nothing is written).
    """
    if not has_finite_weights(model):
        raise ModelError(f"{path}: the model has non-finite weights; not saved")
    absl_logger = logging.getLogger("absl")
    previous_level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with atomic_path(Path(path)) as temporary, tensorflow_left_out():
            model.save(temporary)
            if before_publish is not None:
                before_publish(temporary)
    finally:
        absl_logger.setLevel(previous_level)
