"""Errors of the pipeline. Each message is one line naming the file or key and the cause."""

__all__ = [
    "PipelineError",
    "ConfigError",
    "DatasetError",
    "AudioError",
    "FeatureError",
    "CacheError",
    "ModelError",
    "OutputError",
    "ConversionError",
    "TrainingError",
    "MetricError",
]


class PipelineError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class ConfigError(PipelineError):
    """A configuration file is unreadable or holds invalid keys or values."""


class DatasetError(PipelineError):
    """A data folder is missing, empty or laid out unlike the DCASE dataset."""


class AudioError(PipelineError):
    """An audio file cannot be read or decoded."""


class FeatureError(PipelineError):
    """A clip is unsuitable for the configured features (e.g. too short)."""


class CacheError(PipelineError):
    """The feature cache cannot be written (a full disk, a read-only folder)."""


class OutputError(PipelineError):
    """An output file or folder cannot be written (full disk, no permission, a file in
    the way); ``reason`` is the system's own words."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class ModelError(PipelineError):
    """A model file is missing, corrupt, or unsafe to load."""


class ConversionError(PipelineError):
    """A model cannot be folded or converted to TFLite."""


class TrainingError(PipelineError):
    """Training cannot start (e.g. no usable clips)."""


class MetricError(PipelineError):
    """Metrics are undefined for these labels (e.g. a single class)."""
