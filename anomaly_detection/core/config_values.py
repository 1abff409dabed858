"""Raw YAML: a strict loader, its values converted to the typed values of the
configuration by kind, and the checks of their ranges and names.

Each converter returns ``(value, None)`` or ``(None, problem)`` and each check
``None`` or the problem, so that every problem of a file can be collected and
reported at once.
"""

from __future__ import annotations

import difflib
import reprlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = [
    "KINDS",
    "coerce",
    "is_int",
    "quote",
    "OPTIMIZERS",
    "LOSSES",
    "MAX_FRAMES",
    "MAX_N_FFT",
    "MAX_N_MELS",
    "MAX_PARAMETERS",
    "autoencoder_parameters",
    "cross_key_problems",
    "result_file_name",
    "DCASE_SAMPLE_RATE",
    "empty_mel_bands",
    "StrictLoader",
]


def quote(value: Any) -> str:
    """A short ``repr`` of a YAML value for a message (a huge or deeply nested value
    is abbreviated, never expanded)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 2, 4, 4
    short.maxstring = short.maxother = 60
    return short.repr(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value: Any) -> tuple[Any, str | None]:
    return (value, None) if is_int(value) else (None, f"must be an integer, got {quote(value)}")


def _as_float(value: Any) -> tuple[Any, str | None]:
    if is_int(value) or isinstance(value, float):
        return float(value), None
    return None, f"must be a number, got {quote(value)}"


def _as_bool(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    return None, f"must be true or false, got {quote(value)}"


def _as_str(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return value, None
    return None, f"must be a non-empty string, got {quote(value)}"


def _as_path(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value:
        return Path(value), None
    return None, f"must be a path, got {quote(value)}"


def _as_crop(value: Any) -> tuple[Any, str | None]:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(map(is_int, value))
        and 0 <= value[0] < value[1]
    ):
        return (value[0], value[1]), None
    return None, f"must be null or [start, stop] with 0 <= start < stop, got {quote(value)}"


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


# ---- checks of a converted value: None, or the problem ----


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be in [{low}, {high}], got {value}"

    return check


def fraction_open_closed(value: Any) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def fraction_open(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be in (0, 1)"


#: Keras 3 backends (``fit.backend``): JAX trains this model fastest on a CPU.
KERAS_BACKENDS = ("jax", "tensorflow", "torch")

#: ``fit.loop``: many optimizer steps per compiled call (JAX), or Keras' ``model.fit``.
TRAINING_LOOPS = ("scan", "keras")

#: ``fit.precision``: the scan loop's Dense products (bfloat16 only where native).
PRECISIONS = ("float32", "bfloat16")

#: Keras 3 optimizer names ``compile`` accepts as a string (compared in lower case).
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)
#: Keras 3 losses (their ``compile`` names) that compare a float reconstruction with a
#: float target of any sign, as an autoencoder of log-mel vectors needs; classification
#: losses (crossentropies, hinge), and losses of positive targets (msle, poisson), do not.
LOSSES = ("huber", "log_cosh", "mae", "mean_absolute_error", "mean_squared_error", "mse")

#: Upper bounds of the size keys: a log-mel of audio, an autoencoder that fits in memory.
MAX_N_FFT = 65_536
MAX_N_MELS = 1_024
MAX_FRAMES = 1_024
#: Parameters of the autoencoder (the reference's: 269,992); about 16 bytes each while
#: training (weights, gradients, Adam's two moments): 20 million take some 320 MB.
MAX_PARAMETERS = 20_000_000


def autoencoder_parameters(
    input_dim: int, hidden_units: int, bottleneck_units: int, hidden_layers: int
) -> int:
    """Parameters of ``keras_model.get_model``'s autoencoder (Dense kernels and biases,
    four per BatchNorm unit): 269,992 for 640, 128, 8, 4."""
    widths = [input_dim, *[hidden_units] * hidden_layers, bottleneck_units]
    widths += [*[hidden_units] * hidden_layers, input_dim]
    dense = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    batch_norm = 4 * (2 * hidden_layers * hidden_units + bottleneck_units)
    return dense + batch_norm


def one_of(
    names: tuple[str, ...] | Callable[[], tuple[str, ...]], *, lower: bool = False
) -> Callable[[Any], str | None]:
    """The check that a value is one of ``names`` (or of ``names()``, a registry's)."""

    def check(value: Any) -> str | None:
        listed = names() if callable(names) else names
        if (value.lower() if lower else value) in listed:
            return None
        close = difflib.get_close_matches(value.lower() if lower else value, listed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        if listed is LOSSES:
            return f"is not a loss for an autoencoder's float target: {quote(value)}{hint}"
        if listed in (OPTIMIZERS, KERAS_BACKENDS):
            return f"is not a Keras name: {quote(value)}{hint}"
        return f"is {quote(value)}, not one of: {', '.join(listed)}{hint}"

    return check


#: The sample rate of the DCASE recordings, for the checks that need one.
DCASE_SAMPLE_RATE = 16_000


def empty_mel_bands(n_fft: int, n_mels: int, sample_rate: int = DCASE_SAMPLE_RATE) -> int:
    """Mel bands without any FFT bin (all-zero filters) at ``sample_rate`` (Hz; the DCASE
    recordings' 16 kHz by default: the clips' own rate is checked once it is known)."""
    import librosa  # here: loading the configuration needs it only for this check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about the very bands counted here
        filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    return int(np.sum(np.max(filters, axis=1) <= 0))


#: Names the pipeline writes in the result folder besides ``result_file``.
_RESERVED_RESULT_NAMES = ("summary.md", "run_info.json", "decision_metrics.csv")
_RESERVED_RESULT_PREFIXES = ("anomaly_score_", "decision_result_", "tflite", "tflm", "roc_")
#: What one model variant's result prefix adds to another's (``tflite_`` + ``quant_`` is
#: ``tflite_quant_``): a result file starting with one would be another variant's file.
_VARIANT_TAILS = ("quant_", "fullint_", "micro_", "intio_")


def result_file_name(value: Any) -> str | None:
    name = str(value)
    if Path(name).name != name or name in (".", ".."):
        return f"must be a file name in result_directory, without a folder: got {quote(value)}"
    if not name.endswith(".csv"):
        return f"must name a .csv file, got {quote(value)}"
    if name.startswith(_VARIANT_TAILS):
        return (
            f"starts with a part of another model's result prefix ({', '.join(_VARIANT_TAILS)}): "
            f"with a model's prefix it could name another model's file, got {quote(value)}"
        )
    if name in _RESERVED_RESULT_NAMES or name.startswith(_RESERVED_RESULT_PREFIXES):
        return f"names a file the pipeline writes for another purpose: {quote(value)}"
    return None


def seed(value: Any) -> str | None:
    return None if 0 <= value < 2**32 else f"must be in [0, 2**32), got {value}"


def validation_split(value: Any) -> str | None:
    return None if 0 <= value < 1 else "must be in [0, 1)"


def verbose(value: Any) -> str | None:
    return None if value in (0, 1, 2) else "must be 0, 1 or 2"


# ---- reading YAML ----


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


def cross_key_problems(values: dict[str, Any]) -> list[str]:
    """Problems of keys that are valid alone but not together."""
    problems = []
    crop = values.get("feature.frame_crop")
    frames = values.get("feature.frames")
    if crop is not None and frames is not None and frames > crop[1] - crop[0]:
        problems.append(
            f"'feature.frames' ({frames}) is larger than the cropped clip "
            f"({crop[1] - crop[0]} frames from 'feature.frame_crop')"
        )
    n_fft, n_mels = values.get("feature.n_fft"), values.get("feature.n_mels")
    if (
        isinstance(n_fft, int)
        and isinstance(n_mels, int)
        and 2 <= n_fft <= MAX_N_FFT
        and 1 <= n_mels <= MAX_N_MELS
    ):
        empty = empty_mel_bands(n_fft, n_mels)
        if empty:
            problems.append(
                f"'feature.n_fft' ({n_fft}) is too small for 'feature.n_mels' ({n_mels}): "
                f"{empty} mel band(s) would hold no FFT bin at {DCASE_SAMPLE_RATE} Hz"
            )
    problems += _model_size_problems(values)
    return problems


def _model_size_problems(values: dict[str, Any]) -> list[str]:
    """The autoencoder's parameters must stay under :data:`MAX_PARAMETERS`."""
    shape = [
        values.get(key, default)
        for key, default in (
            ("feature.n_mels", 128),
            ("feature.frames", 5),
            ("model.hidden_units", 128),
            ("model.bottleneck_units", 8),
            ("model.hidden_layers", 4),
        )
    ]
    if not all(isinstance(value, int) and value >= 0 for value in shape):
        return []
    n_mels, frames, hidden_units, bottleneck_units, hidden_layers = shape
    parameters = autoencoder_parameters(
        n_mels * frames, hidden_units, bottleneck_units, hidden_layers
    )
    if parameters <= MAX_PARAMETERS:
        return []
    return [
        f"the autoencoder would have {parameters:,} parameters (model.hidden_units "
        f"{hidden_units}, model.hidden_layers {hidden_layers}, model.bottleneck_units "
        f"{bottleneck_units}, {n_mels * frames} inputs): at most {MAX_PARAMETERS:,}"
    ]
