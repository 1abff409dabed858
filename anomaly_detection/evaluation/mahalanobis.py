"""Selective Mahalanobis scores: their stored precision matrices, their scorer, and the
per-block formula (``anomaly_score: mahalanobis_per_block``).

A selective Mahalanobis score measures a clip's reconstruction errors ``e = x - f(x)``,
cut into one block per frame (``n_mels`` values, the organisers' ``block_size``), against
the covariance ``C`` of the training errors of each domain (source, target) and keeps
the smaller of the two. Two formulas are registered
(:mod:`anomaly_detection.registry.anomaly_scores`):

``mahalanobis`` (the organisers', :mod:`.organisers_mahalanobis`)
    the quadratic form of the clip's mean error block, ``ē C^-1 ēᵀ``; their covariance.
``mahalanobis_per_block`` (here)
    the mean over the clip's blocks of their own ``e C^-1 eᵀ``; each domain's covariance
    of all its training error blocks (the domain's mean removed, divided by the block
    count minus one).

``C^-1`` is the inverse; a singular ``C`` (fewer blocks than bands) takes the
pseudo-inverse, with a warning. The precision matrices are stored beside the model file
(``<model><file tag>.npz``: ``.mahalanobis.npz``, ``.mahalanobis_per_block.npz``),
tagged with the model's SHA-256, the training clip list, the score's name and its
formula; a changed model, other clips or a file of another formula (such as one written
before formulas were recorded) refit them, as do other training batches for a state fitted
on them (the organisers'). 2020 sets, with no target domain, have the
source one only.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.io_utils import write_bytes_atomic
from ..data.dcase_years import SOURCE, TARGET, training_domain
from ..features.frame_store import FrameStore
from ..features.spectrogram import frame_stack
from ..features.vector_batches import VectorBatches
from ..model.provenance import file_digest
from ..registry.anomaly_scores import anomaly_score_entry
from .scoring import ClipScorer, Predictor

__all__ = [
    "DomainPrecisions",
    "frame_errors",
    "inverse",
    "fit_domain_precisions",
    "clip_distance",
    "MahalanobisScorer",
    "precision_file",
    "save_precisions",
    "load_precisions",
    "stored_or_fitted",
    "PerBlockMahalanobis",
]

logger = logging.getLogger(__name__)

#: Version of the ``.npz`` contents (3: the score's name and formula recorded).
_FORMAT = 3

#: A clip's (or batch's) distance: its error blocks (n_blocks, n_mels) -> the score.
Distance = Callable[[np.ndarray, "DomainPrecisions"], float]


@dataclass(frozen=True)
class DomainPrecisions:
    """``{domain: C^-1}`` (n_mels, n_mels) float64, with the number of training vectors
    (organisers' formula) or error blocks (per-block) behind each, and what they were
    fitted for: the model file's SHA-256, the training clip list's digest, the registered
    score's name and its formula, and the training batches (``VectorBatches.record``;
    empty for a state that does not depend on them)."""

    matrices: dict[str, np.ndarray]
    vectors: dict[str, int]
    model_digest: str = ""
    training_clips: str = ""
    score: str = "mahalanobis_per_block"
    formula: str = ""
    batches: str = ""


def frame_errors(vectors: np.ndarray, reconstruction: np.ndarray, frames: int) -> np.ndarray:
    """``vectors - reconstruction`` (n, frames * n_mels) as one row per frame block,
    (n * frames, n_mels) float64 (the stacked vectors are frame-major)."""
    errors = vectors.astype(np.float64) - np.asarray(reconstruction, dtype=np.float64)
    return errors.reshape(-1, errors.shape[1] // frames)


def inverse(covariance: np.ndarray, domain: str, count: int) -> np.ndarray:
    """``covariance``'s inverse, or its pseudo-inverse (with a warning) when singular;
    ``count``: the blocks it was estimated from."""
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


def fit_domain_precisions(
    predict: Predictor, store: FrameStore, *, frames: int
) -> DomainPrecisions:
    """The per-block formula's precisions: the covariance of each domain's training error
    blocks (all training clips; the domain's mean removed, divided by the block count
    minus one), inverted.

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
        errors = frame_errors(vectors, predict(vectors), frames)
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
        matrices[domain] = inverse(covariance, domain, count)
        counts[domain] = count
    return DomainPrecisions(matrices, counts)


def clip_distance(errors: np.ndarray, precisions: DomainPrecisions) -> float:
    """The per-block formula: the smaller, over the domains, of the mean ``e C^-1 eᵀ`` of
    a clip's error blocks ``errors`` (n_blocks, n_mels)."""
    distances = [
        float(np.mean(np.sum((errors @ matrix) * errors, axis=1)))
        for matrix in precisions.matrices.values()
    ]
    return min(distances)


class MahalanobisScorer:
    """A model scoring whole clips by a selective Mahalanobis ``distance`` (a
    :class:`~anomaly_detection.evaluation.scoring.ClipScorer`)."""

    def __init__(
        self, predict: Predictor, precisions: DomainPrecisions, distance: Distance = clip_distance
    ):
        self.predict = predict
        self.precisions = precisions
        self.distance = distance

    def anomaly_scores(self, log_mels: Sequence[np.ndarray], *, frames: int) -> Iterator[float]:
        """The score of each log-mel spectrogram ``(n_frames, n_mels)``, in order."""
        for log_mel in log_mels:
            yield self.vectors_score(frame_stack(log_mel, frames), frames=frames)

    def vectors_score(self, vectors: np.ndarray, *, frames: int) -> float:
        """The score of ``vectors`` (n, frames * n_mels) taken together, as one clip's."""
        return self.distance(frame_errors(vectors, self.predict(vectors), frames), self.precisions)


def precision_file(model_file: Path, score: str = "mahalanobis_per_block") -> Path:
    """``<model file><file tag>.npz`` of the registered ``score``."""
    entry = anomaly_score_entry(score)
    return model_file.with_name(entry.state_file_name(model_file.name, ".npz"))


def save_precisions(model_file: Path, precisions: DomainPrecisions) -> None:
    """Write ``precisions`` (tagged as they are) to their score's :func:`precision_file`."""
    buffer = io.BytesIO()
    arrays: dict[str, np.ndarray] = {
        **{f"precision_{domain}": matrix for domain, matrix in precisions.matrices.items()},
        **{f"vectors_{domain}": np.asarray(n) for domain, n in precisions.vectors.items()},
        "format": np.asarray(_FORMAT),
        "model_digest": np.asarray(precisions.model_digest),
        "training_clips": np.asarray(precisions.training_clips),
        "score": np.asarray(precisions.score),
        "formula": np.asarray(precisions.formula),
        "batches": np.asarray(precisions.batches),
    }
    np.savez(buffer, allow_pickle=False, **arrays)
    write_bytes_atomic(precision_file(model_file, precisions.score), buffer.getvalue())


def load_precisions(
    model_file: Path,
    *,
    training_clips: str | None,
    score: str = "mahalanobis_per_block",
    batches: str = "",
) -> DomainPrecisions | None:
    """The stored precisions of the model at ``model_file`` for ``score``; ``None`` when
    absent, damaged, of another format or formula, fitted on other training ``batches``
    (their ``VectorBatches.record``), or made for another model file or
    (``training_clips`` given) other training clips."""
    path = precision_file(model_file, score)
    if not path.is_file():
        return None
    formula = anomaly_score_entry(score).formula
    try:
        with np.load(path, allow_pickle=False) as stored:
            if "format" not in stored or int(stored["format"]) != _FORMAT:
                raise ValueError("written by another version")
            if (str(stored["score"]), str(stored["formula"])) != (score, formula):
                raise ValueError(f"fitted for another formula ({stored['formula']})")
            fitted_on = str(stored["batches"]) if "batches" in stored else ""
            if fitted_on != batches:
                raise ValueError(f"fitted on other training batches ({fitted_on or 'unrecorded'})")
            digest, clips = str(stored["model_digest"]), str(stored["training_clips"])
            matrices = {
                domain: stored[f"precision_{domain}"]
                for domain in (SOURCE, TARGET)
                if f"precision_{domain}" in stored
            }
            vectors = {domain: int(stored[f"vectors_{domain}"]) for domain in matrices}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("%s: not usable (%s); fitting again", path, error)
        return None
    finite = all(np.all(np.isfinite(matrix)) for matrix in matrices.values())
    other_clips = training_clips is not None and clips != training_clips
    if digest != file_digest(model_file) or other_clips or not matrices or not finite:
        logger.info("%s: made for another model or other training clips; fitting again", path)
        return None
    return DomainPrecisions(matrices, vectors, digest, clips, score, formula, batches)


def stored_or_fitted(
    model_file: Path,
    training_frames: Callable[[], FrameStore],
    fit: Callable[[FrameStore], DomainPrecisions],
    *,
    training_clips: str | None,
    score: str,
    batches: str = "",
) -> DomainPrecisions:
    """The precisions of ``score`` stored beside ``model_file`` or, absent or stale,
    ``fit(training_frames())`` (called only then), tagged and stored; ``batches``: the
    record of the training batches a fit depends on (empty: none)."""
    stored = load_precisions(
        model_file, training_clips=training_clips, score=score, batches=batches
    )
    if stored is not None:
        return stored
    fitted = replace(
        fit(training_frames()),
        model_digest=file_digest(model_file),
        training_clips=training_clips or "",
        score=score,
        formula=anomaly_score_entry(score).formula,
        batches=batches,
    )
    save_precisions(model_file, fitted)
    counts = ", ".join(f"{domain} {n}" for domain, n in fitted.vectors.items())
    logger.info("%s: %s covariances fitted (%s)", model_file.name, score, counts)
    return fitted


class PerBlockMahalanobis:
    """``anomaly_score: mahalanobis_per_block`` (an
    :class:`~anomaly_detection.evaluation.score_methods.AnomalyScoreMethod`)."""

    @staticmethod
    def scoring_model(
        model_file: Path,
        predict: Predictor,
        training_frames: Callable[[], FrameStore],
        *,
        frames: int,
        training_clips: str | None,
        batches: VectorBatches,
    ) -> Predictor | ClipScorer:
        """A :class:`MahalanobisScorer` of :func:`clip_distance`, its precisions stored
        beside ``model_file`` or fitted on every training clip and stored."""
        precisions = stored_or_fitted(
            model_file,
            training_frames,
            lambda store: fit_domain_precisions(predict, store, frames=frames),
            training_clips=training_clips,
            score="mahalanobis_per_block",
        )
        return MahalanobisScorer(predict, precisions, clip_distance)
