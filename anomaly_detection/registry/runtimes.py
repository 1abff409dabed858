"""The runtimes a model file is scored in: Keras, LiteRT, TensorFlow Lite Micro.

A :class:`Runtime` names the code that runs a model file in it and the model files
it can run (:mod:`.model_files`); one model file in one runtime is a
:class:`~.variants.ModelVariant`, whose label, short name and result prefix derive
from the two. A new runtime (another interpreter, a board over serial) is one
entry of :data:`RUNTIMES`: ``03_tflite_test.py`` scores in every runtime of
TFLite files, and the reports name it by its title.

The implementation a runtime names (``"package.module:attribute"``, resolved by
:func:`.implementation.load`) is called as ``open(path, *, workers)`` and returns a
context manager of the model: a function of a batch of vectors, shape
``(n, input_dim)``, returning their float32 reconstructions, with an ``input_dim``
attribute (and, optionally, ``anomaly_scores(log_mels, *, frames)`` scoring whole
clips itself); leaving the context releases what the runtime holds (processes,
interpreters).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model_files import MODEL_FILES, ModelFile

__all__ = ["Runtime", "RUNTIMES", "runtime_by_name", "runtimes_running"]


@dataclass(frozen=True)
class Runtime:
    """One runtime: what runs a model file, and how the reports name it.

    Attributes
    ----------
    name : str
        Identifier, unique in :data:`RUNTIMES` (``keras``, ``litert``, ``tflm``).
    title : str
        As the reports print it (``Keras``, ``LiteRT``, ``TFLM``).
    description : str
        Its full name, for logs and the summary (``TensorFlow Lite Micro``).
    label_prefix : str
        A variant's label is this prefix and its model file's postfix (``tflm`` +
        ``_quant_fullint_micro``).
    model_files : tuple of str
        Names of the :data:`~.model_files.MODEL_FILES` it can run, in that table's order.
    implementation : str
        Import path of ``open(path, *, workers)`` (see the module's description).
    prefixed_results : bool
        Whether the result files start with ``<label>_`` (``False``: unprefixed, as the
        reference's Keras results).
    checked_against : str or None
        Name of the runtime that scores the same files first: this runtime's decisions
        use the threshold fitted there for the same file, and its clip scores are
        compared with that runtime's (``None``: it fits its own threshold).
    comparison_note : str
        Why its scores differ from those of ``checked_against``'s, for the summary.
    """

    name: str
    title: str
    description: str
    label_prefix: str
    model_files: tuple[str, ...]
    implementation: str
    prefixed_results: bool = True
    checked_against: str | None = None
    comparison_note: str = ""


#: Every runtime, in the order of the reports; a runtime checked against another
#: comes after it.
RUNTIMES: tuple[Runtime, ...] = (
    Runtime(
        "keras",
        "Keras",
        "Keras",
        label_prefix="keras",
        model_files=tuple(f.name for f in MODEL_FILES if f.suffix == ".hdf5"),
        implementation="keras_model:KerasModel",
        prefixed_results=False,
    ),
    Runtime(
        "litert",
        "LiteRT",
        "LiteRT",
        label_prefix="tflite",
        model_files=tuple(f.name for f in MODEL_FILES if f.suffix == ".tflite"),
        implementation="anomaly_detection.device.tflite_infer:open_in_litert",
    ),
    Runtime(
        "tflm",
        "TFLM",
        "TensorFlow Lite Micro",
        label_prefix="tflm",
        model_files=tuple(f.name for f in MODEL_FILES if f.int8_ops_only),
        implementation="anomaly_detection.device.tflm:TFLMModel",
        checked_against="litert",
        comparison_note="the int8 kernels round differently",
    ),
)


def runtime_by_name(name: str) -> Runtime:
    """The runtime of :data:`RUNTIMES` named ``name``.

    Raises
    ------
    KeyError
        If no runtime has that name.
    """
    for runtime in RUNTIMES:
        if runtime.name == name:
            return runtime
    raise KeyError(f"no runtime named '{name}'")


def runtimes_running(model_file: ModelFile) -> tuple[Runtime, ...]:
    """The runtimes that can run ``model_file``, in :data:`RUNTIMES`' order."""
    return tuple(runtime for runtime in RUNTIMES if model_file.name in runtime.model_files)
