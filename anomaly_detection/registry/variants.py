"""The model variants: one model file (:mod:`.model_files`) in one runtime (:mod:`.runtimes`).

Each :class:`ModelVariant` carries every name the project gives a scored model: its
label (``keras``, ``tflite_quant``, ``tflm_quant_fullint_micro``, ...; the key in
``run_info.json`` and in plot names), the short column name of the summary table,
and the prefix of its result files, all derived from its file and its runtime.
Reports, the output layout and the scripts iterate over :data:`VARIANTS` and the
groups below, derived from the two tables; no other module spells these strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model_files import KERAS_FILE, ModelFile, model_file_by_name
from .runtimes import RUNTIMES, Runtime, runtime_by_name, runtimes_running

__all__ = [
    "ModelVariant",
    "variants_in",
    "KERAS",
    "TFLITE_RUNTIMES",
    "TFLITE_VARIANTS",
    "TFLM_VARIANTS",
    "VARIANTS",
    "variant_by_label",
]


@dataclass(frozen=True)
class ModelVariant:
    """One model file of a machine type in one runtime: a column of the results.

    The first runtime that runs a file (in :data:`~.runtimes.RUNTIMES`' order: Keras
    for the ``.hdf5`` file, LiteRT for the TFLite files) names it plainly; in any later
    runtime its short name starts with that runtime's title (``TFLM micro``) and its
    description ends with the runtime's name.
    """

    file: ModelFile
    runtime: Runtime

    @property
    def label(self) -> str:
        """``<runtime's label prefix><file's postfix>``: ``keras``, ``tflite_quant``, ..."""
        return f"{self.runtime.label_prefix}{self.file.postfix}"

    @property
    def short_name(self) -> str:
        """Column name in the summary table (``Keras``, ``float``, ..., ``TFLM micro``)."""
        if self._in_first_runtime:
            return self.file.name
        return f"{self.runtime.title} {self.file.name}"

    @property
    def description(self) -> str:
        """What the model is and where it runs, for logs."""
        if self._in_first_runtime:
            return self.file.description
        return f"{self.file.description}, in {self.runtime.description}"

    @property
    def result_prefix(self) -> str:
        """Prefix of the variant's result files: ``''`` (Keras, as the reference) or
        ``<label>_``."""
        return f"{self.label}_" if self.runtime.prefixed_results else ""

    @property
    def postfix(self) -> str:
        """The model file's postfix (``_quant``, ...)."""
        return self.file.postfix

    @property
    def suffix(self) -> str:
        """The model file's suffix (``.hdf5`` or ``.tflite``)."""
        return self.file.suffix

    def model_file_name(self, machine_type: str) -> str:
        """``model_<type><postfix><suffix>``, e.g. ``model_ToyCar_quant.tflite``."""
        return self.file.file_name(machine_type)

    @property
    def _in_first_runtime(self) -> bool:
        return runtimes_running(self.file)[:1] == (self.runtime,)


def variants_in(runtime: Runtime) -> tuple[ModelVariant, ...]:
    """Every model file ``runtime`` runs, as a variant, in the model files' order."""
    return tuple(ModelVariant(model_file_by_name(name), runtime) for name in runtime.model_files)


#: The Keras model, scored by ``00_train.py`` and ``01_test.py``.
KERAS = ModelVariant(KERAS_FILE, runtime_by_name("keras"))

#: The runtimes of TFLite files, scored by ``03_tflite_test.py`` in this order.
TFLITE_RUNTIMES: tuple[Runtime, ...] = tuple(
    runtime
    for runtime in RUNTIMES
    if runtime.model_files
    and all(model_file_by_name(name).suffix == ".tflite" for name in runtime.model_files)
)

#: Every TFLite file in LiteRT (the files ``02_convert.py`` writes).
TFLITE_VARIANTS: tuple[ModelVariant, ...] = variants_in(runtime_by_name("litert"))

#: The TFLite Micro deployable files (int8 ops only) in the TFLM interpreter.
TFLM_VARIANTS: tuple[ModelVariant, ...] = variants_in(runtime_by_name("tflm"))

#: Every variant, in the order of the reports: each runtime's, runtimes in table order.
VARIANTS: tuple[ModelVariant, ...] = tuple(
    variant for runtime in RUNTIMES for variant in variants_in(runtime)
)


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
