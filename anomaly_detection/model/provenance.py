"""What a model was made from, kept beside it and checked before the model is used.

A model scores garbage, with a normal exit, when fed features computed with
other settings or from clips of another sample rate than its training clips,
and a TFLite file converted from an older Keras model silently disagrees with
it. So every model file written here has ``<model file>.provenance.json``
beside it: the feature settings, the training clips' sample rate, channel count
and the digest of their list, the vector size, the package version, the SHA-256 of the
model file it describes and, for a converted model, of the Keras model it was
converted from. The sidecar is written before the model is renamed into
place; a sidecar whose digest does not match its model (a model replaced by
hand, or a crash between the two) is an error, not a guess.

A model without a sidecar (the golden ``ad01.h5``, a file from elsewhere) is
used with one warning saying it cannot be checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.config import FeatureConfig
from ..core.errors import ModelError
from ..core.io_utils import write_text_atomic
from ..data.run_inputs import clip_files_digest

__all__ = [
    "Provenance",
    "provenance_path",
    "file_digest",
    "clip_list_digest",
    "clip_files_digest",
    "feature_settings",
    "feature_differences",
    "make_provenance",
    "write_provenance",
    "read_provenance",
    "check_provenance",
    "check_converted_from",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provenance:
    """The facts checked before a model is used (see the module docstring)."""

    features: dict[str, Any]
    sample_rate: int | None
    vector_dim: int
    training_clips: str
    package_version: str
    model_digest: str
    source_model_digest: str | None = None
    channels: int | None = None  # None: not recorded (a provenance older than the field)


def provenance_path(model_path: Path) -> Path:
    """``<model file>.provenance.json``."""
    return model_path.with_name(f"{model_path.name}.provenance.json")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clip_list_digest(files: Sequence[Path]) -> str:
    """SHA-256 of the training clips' names and sizes, in order."""
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size if path.exists() else -1
        digest.update(f"{path.name}\0{size}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def feature_settings(feature: FeatureConfig) -> dict[str, Any]:
    """The feature keys a model depends on, as YAML writes them."""
    settings = {**feature.log_mel_key(), "frames": feature.frames}
    crop = feature.frame_crop
    settings["frame_crop"] = list(crop) if crop is not None else None
    return settings


def feature_differences(trained: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How the feature settings a model was trained with (``trained``, as its provenance
    holds them) differ from ``current`` (:func:`feature_settings`): every key of either
    compared, a key absent from one meaning its default (an older provenance without
    ``channel`` was trained on the mean of the channels); one line per key."""
    defaults = feature_settings(FeatureConfig())
    problems = []
    for key in [*current, *(key for key in trained if key not in current)]:
        then = trained.get(key, defaults.get(key, _UNKNOWN))
        now = current.get(key, defaults.get(key, _UNKNOWN))
        if then != now:
            problems.append(
                f"trained with feature.{key} {_shown(key, then)}, the configuration has "
                f"{_shown(key, now)}"
            )
    return problems


_UNKNOWN = "(a key this version does not know)"


def _shown(key: str, value: Any) -> str:
    """A feature setting as messages show it: ``channel`` ``None`` says what it means."""
    if key == "channel" and value is None:
        return "None (the mean of the channels)"
    return _UNKNOWN if value is _UNKNOWN else repr(value)


def make_provenance(
    model_path: Path,
    *,
    feature: FeatureConfig,
    sample_rate: int | None,
    training_clips: str,
    source_model: Path | None = None,
    channels: int | None = None,
) -> Provenance:
    """The provenance of the model file at ``model_path`` (already written, under any name)."""
    return Provenance(
        features=feature_settings(feature),
        sample_rate=sample_rate,
        vector_dim=feature.vector_dim,
        training_clips=training_clips,
        package_version=__version__,
        model_digest=file_digest(model_path),
        source_model_digest=file_digest(source_model) if source_model is not None else None,
        channels=channels,
    )


def write_provenance(model_path: Path, provenance: Provenance) -> None:
    """Write the sidecar of ``model_path`` atomically."""
    write_text_atomic(provenance_path(model_path), json.dumps(asdict(provenance), indent=2) + "\n")


def read_provenance(model_path: Path) -> Provenance | None:
    """The sidecar of ``model_path``, or ``None`` if it has none.

    Raises
    ------
    ModelError
        If the sidecar is damaged or describes another file than ``model_path``.
    """
    path = provenance_path(model_path)
    if not path.is_file():
        return None
    try:
        provenance = Provenance(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise ModelError(f"{path}: unreadable provenance ({error})") from None
    if provenance.model_digest != file_digest(model_path):
        raise ModelError(
            f"{model_path}: the file is not the one its provenance describes (replaced "
            f"after it was written, or an interrupted write); write it again or delete {path.name}"
        )
    return provenance


def check_provenance(
    model_path: Path,
    *,
    feature: FeatureConfig,
    sample_rate: int | None,
    channels: int | None = None,
    strict: bool = True,
) -> Provenance | None:
    """Check that ``model_path`` was made for the features, sample rate and channel count
    (``None``: not checked) of the clips about to be fed to it: the same settings on the
    mean of two channels are other features than on mono clips.

    Returns the provenance, or ``None`` (with one warning) for a model without one.

    Raises
    ------
    ModelError
        Naming the differing key and both values (with ``strict=False``, a warning).
    """
    provenance = read_provenance(model_path)
    if provenance is None:
        logger.warning(
            "%s: no provenance beside the model (made elsewhere?); cannot check that it "
            "was trained on these features",
            model_path.name,
        )
        return None
    problems = feature_differences(provenance.features, feature_settings(feature))
    if sample_rate is not None and provenance.sample_rate not in (None, sample_rate):
        problems.append(
            f"trained on {provenance.sample_rate} Hz clips, these clips are {sample_rate} Hz"
        )
    if channels is not None and provenance.channels not in (None, channels):
        problems.append(
            f"trained on {provenance.channels}-channel clips, these clips are {channels}-channel"
        )
    for problem in problems:
        message = f"{model_path}: {problem}"
        if strict:
            raise ModelError(f"{message} (--ignore-provenance goes on with a warning)")
        logger.warning("%s", message)
    return provenance


def check_converted_from(
    model_file: Path, provenance: Provenance | None, source: Path, *, strict: bool = True
) -> None:
    """Check that the converted model at ``model_file`` was made from the Keras model
    now at ``source`` (skipped for a model without provenance or a missing ``source``).

    Raises
    ------
    ModelError
        If it was converted from another (an older) Keras model.
    """
    if provenance is None or provenance.source_model_digest is None or not source.is_file():
        return
    if provenance.source_model_digest != file_digest(source):
        message = (
            f"{model_file}: converted from another Keras model than the current "
            f"{source.name} (run 02_convert.py again)"
        )
        if strict:
            raise ModelError(f"{message}; --ignore-provenance goes on with a warning")
        logger.warning("%s", message)
