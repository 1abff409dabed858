"""The selective Mahalanobis score as the DCASE 2023+ organisers' baseline computes it
(``anomaly_score: mahalanobis``; ``nttcslab/dcase2023_task2_baseline_ae``,
``networks/dcase2023t2_ae/dcase2023t2_ae.py`` and ``networks/criterion/mahala.py``).

**Covariances.** After training, one pass over the training vectors (those
``fit.validation_split`` did not hold out) in shuffled batches of ``fit.batch_size``,
the model in inference mode; a batch of one vector is skipped, as theirs. In each batch
the residuals ``x - f(x)`` of the vectors of source clips, cut into blocks of
``n_mels`` values, are centred on *that batch's* mean block and add ``Dᵀ D`` to the
source sum; those of target clips (the word ``target`` in the file name) likewise to the
target sum. Each sum is divided by the number of *vectors* (not blocks) of its domain
minus one; with no target clip the target covariance is the source one (here: the
source precision alone, the same minimum).

**A clip's score.** Against one covariance, the mean over all pairs ``(i, j)`` of the
clip's residual blocks of ``δᵢ C⁻¹ δⱼᵀ``, which is the quadratic form ``δ̄ C⁻¹ δ̄ᵀ`` of
its mean residual block; the clip's score is the smaller of its source and target
scores. A batch of vectors is scored the same way (the organisers' per-batch scores,
to which their decision threshold is fitted: ``decision_fit: batches``).

A batch without a source vector adds nothing to the source sum, as theirs (the empty
product of their centred residuals is a zero matrix). Their covariances are float32 on the
device; here float64. The covariances depend on the batches: stored, they record them
(``VectorBatches.record``), and another split, batch size or seed fits them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..data.dcase_years import SOURCE, TARGET
from ..features.frame_store import FrameStore
from ..features.vector_batches import VectorBatches
from .mahalanobis import DomainPrecisions, MahalanobisScorer, inverse, stored_or_fitted
from .scoring import ClipScorer, Predictor

__all__ = [
    "target_vectors",
    "fit_organisers_precisions",
    "mean_error_distance",
    "SelectiveMahalanobis",
]

logger = logging.getLogger(__name__)

#: The word that makes a clip a target-domain clip in the organisers' loader.
_TARGET_WORD = "target"


def target_vectors(store: FrameStore, starts: np.ndarray) -> np.ndarray:
    """Whether each vector (its first store row in ``starts``) comes from a clip whose file
    name holds the word ``target``; all ``False`` when the store does not know its files.

    Returns
    -------
    np.ndarray, shape (n_vectors,), bool
    """
    if not store.clip_paths:
        return np.zeros(len(starts), dtype=bool)
    clip_of = np.searchsorted(store.clip_offsets, starts, side="right") - 1
    targets = np.asarray([_TARGET_WORD in path.name for path in store.clip_paths], dtype=bool)
    return targets[clip_of]


def fit_organisers_precisions(
    predict: Predictor, store: FrameStore, *, frames: int, batches: VectorBatches
) -> DomainPrecisions:
    """Each domain's covariance as the organisers' baseline sums it, inverted.

    Parameters
    ----------
    predict : Predictor
        The model: vectors (n, frames * n_mels) -> reconstructions, same shape.
    store : FrameStore
        The training clips' log-mel frames (with their file names).
    frames : int
        Frames per stacked vector.
    batches : VectorBatches
        The split (only the training vectors count) and the batch size.

    Returns
    -------
    DomainPrecisions
        ``vectors``: the training vectors behind each domain's covariance.

    Raises
    ------
    ModelError
        A residual is not finite (a broken model), or fewer than two source vectors.
    """
    starts = store.vector_starts(frames)
    targets = target_vectors(store, starts)
    training, _ = batches.split(len(starts))
    bands = store.n_mels
    sums = {SOURCE: np.zeros((bands, bands)), TARGET: np.zeros((bands, bands))}
    counts = {SOURCE: 0, TARGET: 0}
    for rows in batches.shuffled(training):
        if len(rows) <= 1:
            continue
        vectors = store.stack(starts[rows], frames)
        residuals = vectors.astype(np.float64) - np.asarray(predict(vectors), dtype=np.float64)
        if not np.all(np.isfinite(residuals)):
            raise ModelError("the model's reconstruction error of a training vector is not finite")
        for domain, members in ((SOURCE, ~targets[rows]), (TARGET, targets[rows])):
            if not members.any():
                continue
            blocks = residuals[members].reshape(-1, bands)
            centred = blocks - blocks.mean(axis=0)
            sums[domain] += centred.T @ centred
            counts[domain] += int(members.sum())
    if counts[SOURCE] < 2:
        raise ModelError(f"{counts[SOURCE]} source training vector(s): no source covariance")
    matrices, vectors_behind = {}, {}
    for domain in (SOURCE, TARGET):
        if counts[domain] == 0:
            logger.info("no target training clips: the target covariance is the source one")
            continue
        covariance = sums[domain] / max(counts[domain] - 1, 1)
        matrices[domain] = inverse(covariance, domain, counts[domain] * frames)
        vectors_behind[domain] = counts[domain]
    return DomainPrecisions(matrices, vectors_behind)


def mean_error_distance(errors: np.ndarray, precisions: DomainPrecisions) -> float:
    """The organisers' formula: the smaller, over the domains, of the mean over all pairs
    ``(i, j)`` of the error blocks ``errors`` (n_blocks, n_mels) of ``δᵢ C⁻¹ δⱼᵀ``, computed
    as ``δ̄ C⁻¹ δ̄ᵀ`` of the mean block ``δ̄``."""
    mean = errors.mean(axis=0)
    return min(float(mean @ matrix @ mean) for matrix in precisions.matrices.values())


class SelectiveMahalanobis:
    """``anomaly_score: mahalanobis``, the organisers' formula (an
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
        """A :class:`~.mahalanobis.MahalanobisScorer` of :func:`mean_error_distance`, its
        precisions stored beside ``model_file`` or fitted by
        :func:`fit_organisers_precisions` and stored."""

        def fit(store: FrameStore) -> DomainPrecisions:
            return fit_organisers_precisions(predict, store, frames=frames, batches=batches)

        precisions = stored_or_fitted(
            model_file,
            training_frames,
            fit,
            training_clips=training_clips,
            score="mahalanobis",
            batches=batches.record,
        )
        return MahalanobisScorer(predict, precisions, mean_error_distance)
