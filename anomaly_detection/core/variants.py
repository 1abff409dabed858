"""The model variants: the Keras model and each TFLite model converted from it, one registry.

Each :class:`ModelVariant` carries every name the project gives a model: its
label (``keras``, ``tflite_quant``, ...; the key in ``run_info.json`` and in plot
names), the short column name of the summary table, the file-name postfix and
suffix of its model file, and the prefix of its result files. Reports, the
output layout and the scripts iterate over :data:`VARIANTS`; no other module
spells these strings.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ModelVariant",
    "KERAS",
    "TFLITE_VARIANTS",
    "TFLM_VARIANTS",
    "VARIANTS",
    "variant_by_label",
    "litert_counterpart",
]


@dataclass(frozen=True)
class ModelVariant:
    """One model of a machine type, as a file and as a column of the results.

    Attributes
    ----------
    label : str
        ``keras`` or ``tflite<postfix>``.
    short_name : str
        Column name in the summary table (``Keras``, ``float``, ``quant``, ...).
    description : str
        What the model is, for logs and the README.
    postfix : str
        Model file name ``model_<type><postfix><suffix>`` (the reference's postfixes).
    suffix : str
        ``.hdf5`` (Keras) or ``.tflite``.
    quantize, calibrate, int8_ops_only, int8_io : bool
        TFLite conversion settings: dynamic-range or full-integer optimisation,
        calibration on representative data (full integer), int8 builtin ops only
        (TFLite Micro), int8 input and output tensors.
    """

    label: str
    short_name: str
    description: str
    postfix: str = ""
    suffix: str = ".tflite"
    quantize: bool = False
    calibrate: bool = False
    int8_ops_only: bool = False
    int8_io: bool = False

    @property
    def result_prefix(self) -> str:
        """Prefix of the variant's result files: ``''`` (Keras, as the reference) or
        ``<label>_``."""
        return "" if self is KERAS else f"{self.label}_"

    def model_file_name(self, machine_type: str) -> str:
        """``model_<type><postfix><suffix>``, e.g. ``model_ToyCar_quant.tflite``."""
        return f"model_{machine_type}{self.postfix}{self.suffix}"


KERAS = ModelVariant("keras", "Keras", "Keras model (HDF5)", suffix=".hdf5")

TFLITE_VARIANTS: tuple[ModelVariant, ...] = (
    ModelVariant("tflite", "float", "float32"),
    ModelVariant(
        "tflite_quant", "quant", "dynamic-range int8 weights", postfix="_quant", quantize=True
    ),
    ModelVariant(
        "tflite_quant_fullint",
        "fullint",
        "full integer, float I/O",
        postfix="_quant_fullint",
        quantize=True,
        calibrate=True,
    ),
    ModelVariant(
        "tflite_quant_fullint_micro",
        "micro",
        "full integer, int8 ops only, float I/O",
        postfix="_quant_fullint_micro",
        quantize=True,
        calibrate=True,
        int8_ops_only=True,
    ),
    ModelVariant(
        "tflite_quant_fullint_micro_intio",
        "intio",
        "full integer, int8 ops only, int8 I/O",
        postfix="_quant_fullint_micro_intio",
        quantize=True,
        calibrate=True,
        int8_ops_only=True,
        int8_io=True,
    ),
)

#: The TFLite Micro deployable models (int8 ops only), run in the TFLM interpreter.
TFLM_VARIANTS: tuple[ModelVariant, ...] = tuple(
    ModelVariant(
        f"tflm{variant.postfix}",
        f"TFLM {variant.short_name}",
        f"{variant.description}, in TensorFlow Lite Micro",
        postfix=variant.postfix,
        quantize=True,
        calibrate=True,
        int8_ops_only=True,
        int8_io=variant.int8_io,
    )
    for variant in TFLITE_VARIANTS
    if variant.int8_ops_only
)

#: Every variant, in the order of the reports.
VARIANTS: tuple[ModelVariant, ...] = (KERAS, *TFLITE_VARIANTS, *TFLM_VARIANTS)


def variant_by_label(label: str) -> ModelVariant:
    """The variant named ``label``.

    Raises
    ------
    KeyError
        If no variant has that label.
    """
    for variant in VARIANTS:
        if variant.label == label:
            return variant
    raise KeyError(f"no model variant labelled '{label}'")


def litert_counterpart(variant: ModelVariant) -> ModelVariant:
    """The LiteRT variant of the same model file as a TFLM ``variant``."""
    for candidate in TFLITE_VARIANTS:
        if candidate.postfix == variant.postfix:
            return candidate
    raise KeyError(f"no TFLite variant with the postfix '{variant.postfix}'")
