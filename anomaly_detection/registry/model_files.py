"""The model files of a machine type: the Keras model and the TFLite files converted from it.

A :class:`ModelFile` is what ``00_train.py`` or ``02_convert.py`` writes: its name
``model_<type><postfix><suffix>`` (the reference's postfixes), its short name (a
column of the summary table) and, for a TFLite file, the conversion settings that
make it. Which runtime runs which file is in :mod:`.runtimes`; a file in a runtime is
a :class:`~.variants.ModelVariant`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelFile", "KERAS_FILE", "MODEL_FILES", "model_file_by_name"]


@dataclass(frozen=True)
class ModelFile:
    """One model file of a machine type, and how it is made.

    Attributes
    ----------
    name : str
        Short name, the file's column in the summary table (``Keras``, ``float``,
        ``quant``, ...); unique in :data:`MODEL_FILES`.
    description : str
        What the model is, for logs.
    postfix : str
        ``model_<type><postfix><suffix>`` (the reference's postfixes).
    suffix : str
        ``.hdf5`` (Keras) or ``.tflite``.
    quantize, calibrate, int8_ops_only, int8_io : bool
        TFLite conversion settings: dynamic-range or full-integer optimisation,
        calibration on representative data (full integer), int8 builtin ops only
        (TFLite Micro), int8 input and output tensors.
    """

    name: str
    description: str
    postfix: str = ""
    suffix: str = ".tflite"
    quantize: bool = False
    calibrate: bool = False
    int8_ops_only: bool = False
    int8_io: bool = False

    def file_name(self, machine_type: str) -> str:
        """``model_<type><postfix><suffix>``, e.g. ``model_ToyCar_quant.tflite``."""
        return f"model_{machine_type}{self.postfix}{self.suffix}"


#: The trained model (``00_train.py``), the source of every TFLite file.
KERAS_FILE = ModelFile("Keras", "Keras model (HDF5)", suffix=".hdf5")

#: Every model file, the Keras model first, then the TFLite files ``02_convert.py`` writes.
MODEL_FILES: tuple[ModelFile, ...] = (
    KERAS_FILE,
    ModelFile("float", "float32"),
    ModelFile("quant", "dynamic-range int8 weights", postfix="_quant", quantize=True),
    ModelFile(
        "fullint",
        "full integer, float I/O",
        postfix="_quant_fullint",
        quantize=True,
        calibrate=True,
    ),
    ModelFile(
        "micro",
        "full integer, int8 ops only, float I/O",
        postfix="_quant_fullint_micro",
        quantize=True,
        calibrate=True,
        int8_ops_only=True,
    ),
    ModelFile(
        "intio",
        "full integer, int8 ops only, int8 I/O",
        postfix="_quant_fullint_micro_intio",
        quantize=True,
        calibrate=True,
        int8_ops_only=True,
        int8_io=True,
    ),
)


def model_file_by_name(name: str) -> ModelFile:
    """The model file of :data:`MODEL_FILES` named ``name``.

    Raises
    ------
    KeyError
        If no model file has that name.
    """
    for model_file in MODEL_FILES:
        if model_file.name == name:
            return model_file
    raise KeyError(f"no model file named '{name}'")
