"""TFLite conversion of the autoencoder: BatchNorm folding, the TFLite model files, C source.

Folding: an inference-mode ``BatchNormalization`` after a ``Dense`` computes
``gamma * (x W + b - mean) / sqrt(var + eps) + beta``, which is the ``Dense``
``x W' + b'`` with ``W' = W * s`` and ``b' = (b - mean) * s + beta`` for
``s = gamma / sqrt(var + eps)``. Both the kernel and the bias are folded, so the
folded model reproduces the Keras model (the reference's folding drops ``b``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import ConversionError
from ..core.io_utils import write_text_atomic
from ..core.native_logs import quiet_native_stderr
from ..model.backend import keras_module
from ..registry.model_files import ModelFile

if TYPE_CHECKING:
    import keras

__all__ = [
    "fold_batch_norm",
    "check_folding",
    "convert_to_tflite",
    "c_array_source",
    "write_c_array",
]

logger = logging.getLogger(__name__)


def _fold(
    dense: keras.layers.Dense, batch_norm: keras.layers.BatchNormalization | None
) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.asarray(dense.kernel, dtype=np.float64)
    bias = np.asarray(dense.bias, dtype=np.float64) if dense.use_bias else np.zeros(kernel.shape[1])
    if batch_norm is None:
        return kernel, bias
    mean = np.asarray(batch_norm.moving_mean, dtype=np.float64)
    variance = np.asarray(batch_norm.moving_variance, dtype=np.float64)
    gamma = (
        np.asarray(batch_norm.gamma, dtype=np.float64) if batch_norm.scale else np.ones_like(mean)
    )
    beta = (
        np.asarray(batch_norm.beta, dtype=np.float64) if batch_norm.center else np.zeros_like(mean)
    )
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    return kernel * scale, (bias - mean) * scale + beta


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """An equivalent model of ``Dense`` layers only, every BatchNorm folded in.

    Accepts a chain of ``Dense`` (linear) each optionally followed by
    ``BatchNormalization`` and an ``Activation`` (ReLU or linear), as built by
    :func:`keras_model.get_model`.
    """
    keras = keras_module()
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    folded: list[tuple[np.ndarray, np.ndarray, str]] = []
    index = 0
    while index < len(layers):
        dense = layers[index]
        if not isinstance(dense, keras.layers.Dense):
            raise ConversionError(
                f"cannot fold layer '{dense.name}' ({type(dense).__name__}): expected Dense"
            )
        index += 1
        batch_norm = None
        if index < len(layers) and isinstance(layers[index], keras.layers.BatchNormalization):
            if dense.activation is not keras.activations.linear:
                raise ConversionError(
                    f"cannot fold BatchNorm after '{dense.name}': the Dense "
                    "layer has a non-linear activation"
                )
            batch_norm = layers[index]
            index += 1
        activation = dense.activation.__name__ if batch_norm is None else "linear"
        if index < len(layers) and isinstance(layers[index], keras.layers.Activation):
            activation = layers[index].activation.__name__
            index += 1
        if activation not in ("relu", "linear"):
            raise ConversionError(f"unsupported activation '{activation}' after '{dense.name}'")
        kernel, bias = _fold(dense, batch_norm)
        folded.append((kernel, bias, activation))

    inputs = keras.Input(shape=(folded[0][0].shape[0],), name="input")
    hidden = inputs
    for number, (kernel, bias, activation) in enumerate(folded):
        layer = keras.layers.Dense(kernel.shape[1], activation=activation, name=f"dense_{number}")
        hidden = layer(hidden)
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return keras.Model(inputs, hidden, name=f"{model.name}_folded")


def check_folding(
    model: keras.Model, folded: keras.Model, vectors: np.ndarray, tolerance: float = 1e-3
) -> float:
    """Compare the folded model with the original on ``vectors``.

    Returns
    -------
    float
        Largest absolute output difference relative to the largest output.

    Raises
    ------
    ConversionError
        If it exceeds ``tolerance``.
    """
    sample = np.asarray(vectors[:4096], dtype=np.float32)
    expected = np.asarray(model.predict_on_batch(sample), dtype=np.float64)
    actual = np.asarray(folded.predict_on_batch(sample), dtype=np.float64)
    difference = float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))
    if not difference <= tolerance:  # NaN fails too
        raise ConversionError(
            f"BatchNorm folding changed the outputs by {difference:.2e} "
            f"(relative), more than {tolerance:.0e}"
        )
    logger.debug("folded model matches the original within %.2e (relative)", difference)
    return difference


def convert_to_tflite(
    model: keras.Model,
    model_file: ModelFile,
    *,
    representative: np.ndarray | None = None,
    batch_size: int = 64,
    per_channel: bool = False,
) -> bytes:
    """Convert a (folded) Keras model to a TFLite flatbuffer.

    Parameters
    ----------
    model : keras.Model
    model_file : ModelFile
        A TFLite file of :data:`~anomaly_detection.registry.model_files.MODEL_FILES`: its
        conversion settings.
    representative : np.ndarray, shape (n_vectors, dim), optional
        Calibration vectors for full-integer files (normal training data).
    batch_size : int
        Vectors per calibration sample.
    per_channel : bool
        Full-integer files: quantize the Dense kernels per output channel
        (today's converter default) instead of per tensor, as the reference's
        converter did. Per-channel quantization needs about five times the TFLite
        Micro tensor arena (its multipliers and shifts are kept per channel).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if model_file.quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if model_file.calibrate:
        if representative is None or len(representative) == 0:
            raise ConversionError(f"model '{model_file.name}' needs calibration vectors")
        calibration = np.asarray(representative, dtype=np.float32)

        def samples() -> Iterator[list[np.ndarray]]:
            for start in range(0, len(calibration), batch_size):
                yield [calibration[start : start + batch_size]]

        converter.representative_dataset = samples
        # The converter's only switch for per-tensor Dense kernels (pinned TensorFlow).
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel
    if model_file.int8_ops_only:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if model_file.int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    # The converter prints its SavedModel signature to stdout (kept in the debug log) and
    # its quantizer's settings to the native standard error (left out).
    captured = io.StringIO()
    try:
        with quiet_native_stderr(), contextlib.redirect_stdout(captured), warnings.catch_warnings():
            # Raised for every calibrated model although calibration supplies the statistics.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            flatbuffer = converter.convert()
    except Exception as error:  # the converter raises many unrelated types
        raise ConversionError(f"TFLite conversion '{model_file.name}' failed: {error}") from error
    logger.debug("converter output: %s", captured.getvalue()[:2000])
    return bytes(flatbuffer)


def c_identifier(name: str) -> str:
    """``name`` as ``xxd -i`` makes a C identifier of it: every character but an ASCII
    letter, digit or ``_`` becomes ``_``, and a leading digit gets ``__`` before it
    (``model_Toy Car.tflite`` -> ``model_Toy_Car_tflite``)."""
    identifier = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"__{identifier}" if identifier[:1].isdigit() else identifier


def c_array_source(
    flatbuffer: bytes, variable: str, header_name: str, *, arena_size: int | None = None
) -> tuple[str, str]:
    """C++ source and header embedding a TFLite model, as ``xxd -i`` but aligned.

    Returns
    -------
    source, header : str
        ``alignas(16) const unsigned char <variable>[]`` and
        ``const unsigned int <variable>_len``; with ``arena_size`` the header also
        holds ``constexpr int <variable>_arena_size``, the suggested ``kTensorArenaSize``.
    """
    variable = c_identifier(variable)
    guard = re.sub(r"[^A-Za-z0-9]", "_", header_name).upper() + "_"
    arena = (
        "\n// Tensor arena measured in TensorFlow Lite Micro plus a margin (see the model's\n"
        "// .deploy.json): constexpr int kTensorArenaSize = "
        f"{variable}_arena_size;\nconstexpr int {variable}_arena_size = {arena_size};\n"
        if arena_size is not None
        else ""
    )
    header = (
        f"// Generated by 02_convert.py: TFLite model as a C array.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {variable}[];\n"
        f"extern const unsigned int {variable}_len;\n{arena}\n#endif  // {guard}\n"
    )
    rows = []
    for start in range(0, len(flatbuffer), 12):
        chunk = flatbuffer[start : start + 12]
        rows.append("  " + ", ".join(f"0x{byte:02x}" for byte in chunk) + ",")
    source = (
        f"// Generated by 02_convert.py: TFLite model as a C array.\n"
        f'#include "{header_name}"\n\n'
        f"alignas(16) const unsigned char {variable}[] = {{\n" + "\n".join(rows) + "\n};\n"
        f"const unsigned int {variable}_len = {len(flatbuffer)};\n"
    )
    return source, header


def write_c_array(
    flatbuffer: bytes, source_path: Path, variable: str, *, arena_size: int | None = None
) -> Path:
    """Write ``<name>.cc`` and ``<name>.h`` beside each other; return the header path."""
    header_path = source_path.with_suffix(".h")
    source, header = c_array_source(flatbuffer, variable, header_path.name, arena_size=arena_size)
    write_text_atomic(header_path, header)
    write_text_atomic(source_path, source)
    return header_path
