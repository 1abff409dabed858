"""Configuration: ``baseline.yaml`` loaded and validated once into a typed object.

Every key of the reference's ``baseline.yaml`` is required, so that a typo never
silently falls back to a default. Keys this project adds are optional and
default to the documented values. All problems are collected and reported at
once, before any work starts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..registry.anomaly_scores import DEFAULT_ANOMALY_SCORE, anomaly_score_names
from ..registry.training_loops import GROUP_MODES, training_loop_names
from ..registry.years import registered_years
from .config_checks import cross_key_problems
from .config_values import (
    DECISION_FITS,
    KERAS_BACKENDS,
    LOSSES,
    MAX_FRAMES,
    MAX_N_FFT,
    MAX_N_MELS,
    OPTIMIZERS,
    PRECISIONS,
    VALIDATION_ORDERS,
    between,
    coerce,
    fraction_open,
    fraction_open_closed,
    learning_rate_range,
    non_negative,
    one_of,
    positive,
    result_file_name,
    seed,
    validation_split,
    verbose,
)
from .errors import ConfigError
from .strict_yaml import read_yaml

__all__ = [
    "FeatureConfig",
    "FitConfig",
    "ModelConfig",
    "Config",
    "load_config",
    "load_raw_config",
    "parse_config",
    "path_keys",
]


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel feature parameters (``feature:`` section).

    ``frame_crop`` is the half-open range of log-mel frames kept from each
    clip, ``(50, 250)`` in the MLPerf Tiny reference; ``None`` keeps all
    frames (original DCASE 2020 behaviour).
    """

    n_mels: int = 128
    frames: int = 5
    n_fft: int = 1024
    hop_length: int = 512
    power: float = 2.0
    frame_crop: tuple[int, int] | None = (50, 250)
    channel: int | None = None  # None: channels averaged (librosa's mono); else this one

    @property
    def vector_dim(self) -> int:
        """Length of one stacked feature vector, ``n_mels * frames``."""
        return self.n_mels * self.frames

    def log_mel_key(self) -> dict[str, object]:
        """Parameters that determine a clip's (cropped) log-mel spectrogram, every one of
        them whatever its value (``channel`` ``None``: the mean of the channels)."""
        return {
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "power": self.power,
            "frame_crop": self.frame_crop,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class FitConfig:
    """Training parameters (``fit:`` section), as passed to Keras; ``backend`` is the
    Keras 3 backend ``00_train.py`` trains on (``$KERAS_BACKEND`` overrides it);
    ``loop`` is ``"scan"`` (many steps per compiled call, on JAX) or ``"keras"``
    (``model.fit``), ``precision`` the scan loop's Dense arithmetic; ``group`` whether
    several models of one shape train side by side in one compiled program (``auto``:
    where measured faster, see :mod:`anomaly_detection.registry.training_loops`);
    ``learning_rate`` the optimizer's (``None``: Keras' default for it, Adam's 0.001);
    ``validation_vectors`` which vectors ``validation_split`` holds out (``last``, as
    Keras; ``random``, as the organisers' DCASE 2023+ baseline)."""

    optimizer: str = "adam"
    loss: str = "mean_squared_error"
    epochs: int = 100
    batch_size: int = 512
    shuffle: bool = True
    validation_split: float = 0.1
    verbose: int = 1
    backend: str = "jax"
    loop: str = "scan"
    precision: str = "float32"
    group: str = "auto"
    learning_rate: float | None = None
    validation_vectors: str = "last"

    @property
    def keras_optimizer(self) -> str | dict[str, Any]:
        """What Keras' ``optimizers.get`` and ``compile`` take: the optimizer's name, or
        with a ``learning_rate`` its configuration."""
        if self.learning_rate is None:
            return self.optimizer
        return {"class_name": self.optimizer, "config": {"learning_rate": self.learning_rate}}


@dataclass(frozen=True)
class ModelConfig:
    """The autoencoder's shape and its int8 quantization (optional ``model:`` section).

    ``hidden_layers`` Dense layers of ``hidden_units`` on each side of a
    ``bottleneck_units`` layer; the reference's 4 x 128 and 8 (269,992
    parameters) by default. ``per_channel_int8`` quantizes the Dense kernels of
    the full-integer TFLite models per output channel (today's converter
    default) instead of per tensor (what the reference's converter produced;
    about a fifth of the tensor arena in TFLite Micro).
    """

    hidden_units: int = 128
    bottleneck_units: int = 8
    hidden_layers: int = 4
    per_channel_int8: bool = False

    @property
    def shape(self) -> dict[str, int]:
        """The keys that set the network's shape, as ``keras_model.model_shape`` reads them."""
        return {
            "hidden_layers": self.hidden_layers,
            "hidden_units": self.hidden_units,
            "bottleneck_units": self.bottleneck_units,
        }


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. Paths are as written in the YAML
    (relative paths are relative to the working directory, as in the reference)."""

    dev_directory: Path
    eval_directory: Path
    model_directory: Path
    result_directory: Path
    result_file: str
    max_fpr: float
    feature: FeatureConfig
    fit: FitConfig
    model: ModelConfig = ModelConfig()
    cache_directory: Path | None = Path("./cache")
    n_workers: int = 0
    decision_percentile: float = 0.9
    seed: int | None = None
    log_file: Path = Path("./baseline.log")
    eval_ground_truth: Path | None = None
    dataset_year: int | None = None  # None: recognised from the file names
    anomaly_score: str = DEFAULT_ANOMALY_SCORE
    decision_fit: str = "clips"
    organisers_files: bool = False
    source: Path | None = field(default=None, compare=False)

    def data_directory(self, dev_mode: bool) -> Path:
        """``dev_directory`` in development mode, ``eval_directory`` otherwise."""
        return self.dev_directory if dev_mode else self.eval_directory

    @property
    def workers(self) -> int:
        """Threads for feature extraction and TFLite inference (``n_workers: 0``: all cores)."""
        return self.n_workers if self.n_workers > 0 else (os.cpu_count() or 1)


_REQUIRED = object()


def _registered(year: int) -> str | None:
    """``dataset_year``: one of the registered DCASE years (read when checked)."""
    years = registered_years()
    return None if year in years else f"must be one of {', '.join(map(str, years))}, got {year}"


@dataclass(frozen=True)
class _Key:
    path: str
    kind: str  # int, float, optional_float, bool, str, path, optional_path, optional_int, crop
    default: Any = _REQUIRED
    check: Callable[[Any], str | None] | None = None


_KEYS: tuple[_Key, ...] = (
    _Key("dev_directory", "path"),
    _Key("eval_directory", "path"),
    _Key("model_directory", "path"),
    _Key("result_directory", "path"),
    _Key("result_file", "str", check=result_file_name),
    _Key("max_fpr", "float", check=fraction_open_closed),
    _Key("feature.n_mels", "int", check=between(1, MAX_N_MELS)),
    _Key("feature.frames", "int", check=between(1, MAX_FRAMES)),
    _Key("feature.n_fft", "int", check=between(2, MAX_N_FFT)),
    _Key("feature.hop_length", "int", check=between(1, MAX_N_FFT)),
    _Key("feature.power", "float", check=positive),
    _Key("feature.frame_crop", "crop", default=(50, 250)),
    _Key("feature.channel", "optional_int", default=None, check=between(0, 63)),
    _Key("fit.compile.optimizer", "str", check=one_of(OPTIMIZERS, lower=True)),
    _Key("fit.compile.loss", "str", check=one_of(LOSSES)),
    _Key("fit.epochs", "int", check=positive),
    _Key("fit.batch_size", "int", check=positive),
    _Key("fit.shuffle", "bool"),
    _Key("fit.validation_split", "float", check=validation_split),
    _Key("fit.verbose", "int", check=verbose),
    _Key("fit.backend", "str", default="jax", check=one_of(KERAS_BACKENDS)),
    _Key("fit.loop", "str", default="scan", check=one_of(training_loop_names)),
    _Key("fit.group", "str", default="auto", check=one_of(GROUP_MODES)),
    _Key("fit.precision", "str", default="float32", check=one_of(PRECISIONS)),
    _Key("fit.learning_rate", "optional_float", default=None, check=learning_rate_range),
    _Key("fit.validation_vectors", "str", default="last", check=one_of(VALIDATION_ORDERS)),
    _Key("model.hidden_units", "int", default=128, check=between(1, 65536)),
    _Key("model.bottleneck_units", "int", default=8, check=between(1, 65536)),
    _Key("model.hidden_layers", "int", default=4, check=between(0, 64)),
    _Key("model.per_channel_int8", "bool", default=False),
    _Key("cache_directory", "optional_path", default="./cache"),
    _Key("n_workers", "int", default=0, check=non_negative),
    _Key("decision_percentile", "float", default=0.9, check=fraction_open),
    _Key("seed", "optional_int", default=None, check=seed),
    _Key("log_file", "path", default="./baseline.log"),
    _Key("eval_ground_truth", "optional_path", default=None),
    _Key("dataset_year", "optional_int", default=None, check=_registered),
    _Key("anomaly_score", "str", default=DEFAULT_ANOMALY_SCORE, check=one_of(anomaly_score_names)),
    _Key("decision_fit", "str", default="clips", check=one_of(DECISION_FITS)),
    _Key("organisers_files", "bool", default=False),
)
_SECTIONS = {"feature", "fit", "fit.compile", "model"}


def path_keys() -> tuple[str, ...]:
    """The keys whose values are paths (relative ones are relative to the working folder)."""
    return tuple(key.path for key in _KEYS if key.kind in ("path", "optional_path"))


def _flatten(raw: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if path in _SECTIONS and value is None:
            continue  # an empty section (every key commented out)
        if path in _SECTIONS and isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def parse_config(raw: Any, source: str | Path = "<config>") -> Config:
    """Validate a parsed YAML mapping and build a :class:`Config`.

    Raises
    ------
    ConfigError
        Listing every problem found (missing, unknown or misspelled keys,
        wrong types, values out of range), one per line.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(raw).__name__}")
    flat = _flatten(raw)
    known = {key.path for key in _KEYS}
    problems: list[str] = []
    for path in sorted(set(flat) - known):
        close = difflib.get_close_matches(path, known | _SECTIONS, n=1)
        if path in _SECTIONS:
            problems.append(f"'{path}' must be a mapping of keys")
        else:
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown key '{path}'{hint}")
    values: dict[str, Any] = {}
    for key in _KEYS:
        if key.path not in flat:
            if key.default is _REQUIRED:
                problems.append(f"missing key '{key.path}'")
                continue
            raw_value = key.default
        else:
            raw_value = flat[key.path]
        value, problem = coerce(key.kind, raw_value)
        if problem is None and key.check is not None and value is not None:
            problem = key.check(value)
        if problem is not None:
            problems.append(f"'{key.path}' {problem}")
        else:
            values[key.path] = value

    problems += cross_key_problems(values)
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))

    top_level = {key: value for key, value in values.items() if "." not in key}
    return Config(
        **top_level,
        feature=FeatureConfig(**_section(values, "feature.")),
        fit=FitConfig(**_section(values, "fit.")),
        model=ModelConfig(**_section(values, "model.")),
        source=Path(source),
    )


def _section(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The values of the keys under ``prefix``, by their last name (``fit.compile.loss``:
    ``loss``), which is the field name of the section's dataclass."""
    return {key.rsplit(".", 1)[1]: value for key, value in values.items() if key.startswith(prefix)}


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML configuration file (``yaml.safe_load`` only).

    Raises
    ------
    ConfigError
        If the file is missing, is not valid YAML, or fails validation.
    """
    path = Path(path)
    return parse_config(read_yaml(path), source=path)


def load_raw_config(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a configuration file, as written, after validating it as
    :func:`load_config` does (the reference's ``yaml_load``)."""
    path = Path(path)
    raw = read_yaml(path)
    parse_config(raw, source=path)
    return raw
