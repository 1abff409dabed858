"""The selective Mahalanobis anomaly score of the DCASE 2023 baseline (``anomaly_score:
mahalanobis``).

After training, the reconstruction errors ``e = x - f(x)`` of the training vectors, cut
into one block per frame (``n_mels`` values, as the baseline's ``block_size``), give one
covariance per domain (source, target; the mean removed, divided by the count minus one).
A block's distance to a domain is ``e^T C^-1 e`` (the baseline's squared form about zero
error); a clip's score is the mean over all its vectors' blocks, for the domain that gives
the smaller one. ``C^-1`` is the inverse; a singular ``C`` (fewer blocks than bands) takes
the pseudo-inverse, with a warning. The baseline's code centres each training batch on
its own mean, divides by the vector count minus one, and reduces a test batch through the
cross terms of its blocks; here the domain's mean, the block count minus one, and each
clip's blocks' own distances averaged, as ``anomaly_score: mse`` averages its vectors'
errors.

The precision matrices are stored beside the model file (``<model>.mahalanobis.npz``,
the registry entry's file tag), tagged with the model's SHA-256 and the training clip
list; a changed model or other clips refit them. 2020 sets, with no target domain, have
the source one only. :class:`SelectiveMahalanobis` is the registered implementation.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.io_utils import write_bytes_atomic
from ..data.dcase_years import SOURCE, TARGET, training_domain
from ..features.frame_store import FrameStore
from ..features.spectrogram import frame_stack
from ..model.provenance import file_digest
from ..registry.anomaly_scores import anomaly_score_entry
from .scoring import ClipScorer, Predictor

__all__ = [
    "DomainPrecisions",
    "fit_domain_precisions",
    "MahalanobisScorer",
    "stored_or_fitted",
    "SelectiveMahalanobis",
]

logger = logging.getLogger(__name__)

#: Version of the ``.mahalanobis.npz`` contents (2: per-frame blocks of ``n_mels``).
_FORMAT = 2


@dataclass(frozen=True)
class DomainPrecisions:
    """``{domain: C^-1}`` (n_mels, n_mels) float64, with the number of training error blocks
    (vectors x frames) behind each."""

    matrices: dict[str, np.ndarray]
    vectors: dict[str, int]
    model_digest: str = ""
    training_clips: str = ""


def fit_domain_precisions(
    predict: Predictor, store: FrameStore, *, frames: int
) -> DomainPrecisions:
    """Covariance of each domain's training reconstruction errors, inverted.

    Parameters
    ----------
    predict : Predictor
        The model: vectors (n, dim) -> reconstructions (n, dim).
    store : FrameStore
        The training clips' log-mel frames; a clip's domain is read from its name
        (``..._target_train_...``), ``source`` when the name gives none (2020).

    Raises
    ------
    ModelError
        If an error is not finite (a broken model).
    """
    sums: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for index in range(store.n_clips):
        vectors = frame_stack(store.clip(index), frames)
        errors = _frame_errors(vectors, predict(vectors), frames)
        if not np.all(np.isfinite(errors)):
            raise ModelError("the model's reconstruction error of a training clip is not finite")
        domain = training_domain(store.clip_paths[index]) or SOURCE
        bands = errors.shape[1]
        total, outer, count = sums.get(domain, (np.zeros(bands), np.zeros((bands, bands)), 0))
        sums[domain] = (total + errors.sum(axis=0), outer + errors.T @ errors, count + len(errors))
    matrices, counts = {}, {}
    for domain, (total, outer, count) in sorted(sums.items()):
        mean = total / count
        covariance = (outer - count * np.outer(mean, mean)) / max(count - 1, 1)
        matrices[domain] = _inverse(covariance, domain, count)
        counts[domain] = count
    return DomainPrecisions(matrices, counts)


def _frame_errors(vectors: np.ndarray, reconstruction: np.ndarray, frames: int) -> np.ndarray:
    """``vectors - reconstruction`` (n, frames * n_mels) as one row per frame block,
    (n * frames, n_mels) float64 (the stacked vectors are frame-major)."""
    errors = vectors.astype(np.float64) - np.asarray(reconstruction, dtype=np.float64)
    return errors.reshape(-1, errors.shape[1] // frames)


def _inverse(covariance: np.ndarray, domain: str, count: int) -> np.ndarray:
    """``covariance``'s inverse, or its pseudo-inverse (with a warning) when singular."""
    try:
        if count > covariance.shape[0]:
            return np.linalg.inv(covariance)
    except np.linalg.LinAlgError:
        pass
    logger.warning(
        "%s domain: %d error blocks for %d bands, a singular covariance: its pseudo-inverse "
        "is used (distances ignore the directions the training errors never took)",
        domain,
        count,
        covariance.shape[0],
    )
    return np.linalg.pinv(covariance, hermitian=True)


def clip_distance(errors: np.ndarray, precisions: DomainPrecisions) -> float:
    """The smaller, over the domains, of the mean ``e^T C^-1 e`` of a clip's error blocks
    ``errors`` (n_blocks, n_mels)."""
    distances = [
        float(np.mean(np.sum((errors @ matrix) * errors, axis=1)))
        for matrix in precisions.matrices.values()
    ]
    return min(distances)


class MahalanobisScorer:
    """A model scoring whole clips by :func:`clip_distance` (a
    :class:`~anomaly_detection.evaluation.scoring.ClipScorer`)."""

    def __init__(self, predict: Predictor, precisions: DomainPrecisions):
        self.predict = predict
        self.precisions = precisions

    def anomaly_scores(self, log_mels: Sequence[np.ndarray], *, frames: int) -> Iterator[float]:
        """The score of each log-mel spectrogram ``(n_frames, n_mels)``, in order."""
        for log_mel in log_mels:
            vectors = frame_stack(log_mel, frames)
            yield clip_distance(
                _frame_errors(vectors, self.predict(vectors), frames), self.precisions
            )


def precision_file(model_file: Path) -> Path:
    """``<model file>.mahalanobis.npz`` (the registry entry's file tag)."""
    entry = anomaly_score_entry("mahalanobis")
    return model_file.with_name(entry.state_file_name(model_file.name, ".npz"))


def save_precisions(model_file: Path, precisions: DomainPrecisions) -> None:
    """Write ``precisions`` (tagged as they are) to :func:`precision_file`."""
    buffer = io.BytesIO()
    arrays: dict[str, np.ndarray] = {
        **{f"precision_{domain}": matrix for domain, matrix in precisions.matrices.items()},
        **{f"vectors_{domain}": np.asarray(n) for domain, n in precisions.vectors.items()},
        "format": np.asarray(_FORMAT),
        "model_digest": np.asarray(precisions.model_digest),
        "training_clips": np.asarray(precisions.training_clips),
    }
    np.savez(buffer, allow_pickle=False, **arrays)
    write_bytes_atomic(precision_file(model_file), buffer.getvalue())


def load_precisions(model_file: Path, *, training_clips: str | None) -> DomainPrecisions | None:
    """The stored precisions of the model at ``model_file``; ``None`` when absent, damaged,
    or made for another model file or (``training_clips`` given) other training clips."""
    path = precision_file(model_file)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if "format" not in stored or int(stored["format"]) != _FORMAT:
                raise ValueError("written by another version")
            digest, clips = str(stored["model_digest"]), str(stored["training_clips"])
            matrices = {
                domain: stored[f"precision_{domain}"]
                for domain in (SOURCE, TARGET)
                if f"precision_{domain}" in stored
            }
            vectors = {domain: int(stored[f"vectors_{domain}"]) for domain in matrices}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("%s: unreadable (%s); fitting again", path, error)
        return None
    finite = all(np.all(np.isfinite(matrix)) for matrix in matrices.values())
    other_clips = training_clips is not None and clips != training_clips
    if digest != file_digest(model_file) or other_clips or not matrices or not finite:
        logger.info("%s: made for another model or other training clips; fitting again", path)
        return None
    return DomainPrecisions(matrices, vectors, digest, clips)


def stored_or_fitted(
    model_file: Path,
    predict: Predictor,
    training_frames: Callable[[], FrameStore],
    *,
    frames: int,
    training_clips: str | None,
) -> DomainPrecisions:
    """The precisions stored beside ``model_file`` or, absent or stale, fitted on
    ``training_frames()`` (called only then) and stored."""
    stored = load_precisions(model_file, training_clips=training_clips)
    if stored is not None:
        return stored
    fitted = fit_domain_precisions(predict, training_frames(), frames=frames)
    digest = file_digest(model_file)
    fitted = DomainPrecisions(fitted.matrices, fitted.vectors, digest, training_clips or "")
    save_precisions(model_file, fitted)
    counts = ", ".join(f"{domain} {n} error blocks" for domain, n in fitted.vectors.items())
    logger.info("%s: Mahalanobis covariances fitted (%s)", model_file.name, counts)
    return fitted


class SelectiveMahalanobis:
    """``anomaly_score: mahalanobis`` (an
    :class:`~anomaly_detection.evaluation.score_methods.AnomalyScoreMethod`)."""

    @staticmethod
    def scoring_model(
        model_file: Path,
        predict: Predictor,
        training_frames: Callable[[], FrameStore],
        *,
        frames: int,
        training_clips: str | None,
    ) -> Predictor | ClipScorer:
        """A :class:`MahalanobisScorer` with the domains' precisions stored beside
        ``model_file``, or fitted on ``training_frames()`` and stored (:func:`stored_or_fitted`)."""
        precisions = stored_or_fitted(
            model_file, predict, training_frames, frames=frames, training_clips=training_clips
        )
        return MahalanobisScorer(predict, precisions)
