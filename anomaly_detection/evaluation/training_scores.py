"""The anomaly scores of a model's training data, to which its decision threshold's gamma
distribution is fitted: one per training clip (:func:`training_scores`), or, as the
organisers' DCASE 2023+ baseline, one per training batch (:func:`training_batch_scores`).

The organisers fit their threshold to the per-batch losses of the last training epoch (a
batch of one vector skipped: BatchNorm cannot train on it) and of every validation batch
(``MSE``), or to the per-batch Mahalanobis scores of every training and validation batch
after the covariance pass (``MAHALA``). Here the batches are the model's training vectors
(:class:`~anomaly_detection.features.vector_batches.VectorBatches`) reshuffled, then its
validation vectors in order, each batch scored as one clip by the finished model in
inference mode; a training batch of one vector is left out for the mean squared error
only, as theirs. For ``MSE`` this differs from theirs, whose training-batch losses are
taken during the last epoch (the weights still moving, BatchNorm on each batch's
statistics).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..core.errors import ModelError
from ..features.frame_store import FrameStore
from ..features.spectrogram import frame_stack
from ..features.vector_batches import VectorBatches
from .scoring import ClipScorer, Predictor, anomaly_score

__all__ = ["training_scores", "training_batch_scores", "vectors_score"]


def training_scores(model: Predictor | ClipScorer, store: FrameStore, frames: int) -> np.ndarray:
    """Anomaly score of every clip in ``store`` (one ``model`` call per clip, or the
    model's own :meth:`~.scoring.ClipScorer.anomaly_scores`)."""
    if isinstance(model, ClipScorer):
        log_mels = _StoreClips(store)  # read clip by clip, as the scorer asks
        return np.asarray(list(model.anomaly_scores(log_mels, frames=frames)), dtype=np.float64)
    scores = []
    for index in range(store.n_clips):  # one clip's frames in memory at a time
        vectors = frame_stack(store.clip(index), frames)
        scores.append(anomaly_score(vectors, model(vectors)))
    return np.asarray(scores, dtype=np.float64)


class _StoreClips(Sequence[np.ndarray]):
    """The clips of a frame store as a sequence of log-mels, each read when indexed."""

    def __init__(self, store: FrameStore):
        self.store = store

    def __len__(self) -> int:
        return self.store.n_clips

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.store.clip(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.store.clip(index % len(self))


def vectors_score(model: Predictor | ClipScorer, vectors: np.ndarray, *, frames: int) -> float:
    """The anomaly score of ``vectors`` (n, frames * n_mels) taken together as one clip's:
    the model's own ``vectors_score`` (a Mahalanobis scorer), else the mean of their mean
    squared reconstruction errors.

    Raises
    ------
    ModelError
        A clip scorer that can neither score vectors nor reconstruct them.
    """
    own = getattr(model, "vectors_score", None)
    if own is not None:
        return float(own(vectors, frames=frames))
    if not callable(model):
        raise ModelError(f"{type(model).__name__} cannot score a batch of training vectors")
    return anomaly_score(vectors, model(vectors))


def training_batch_scores(
    model: Predictor | ClipScorer, store: FrameStore, *, frames: int, batches: VectorBatches
) -> np.ndarray:
    """The score of each training batch: the training vectors in a seeded shuffle, then the
    validation vectors in order, ``batches.batch_size`` at a time, each batch scored by
    :func:`vectors_score`; a training batch of one vector is left out when ``model``
    scores by its mean squared error (theirs comes from the training loop), kept for a
    model with its own ``vectors_score`` (their pass after training).

    Returns
    -------
    np.ndarray, shape (n_batches,), float64
    """
    starts = store.vector_starts(frames)
    training, validation = batches.split(len(starts))
    smallest = 1 if hasattr(model, "vectors_score") else 2
    scores = [
        vectors_score(model, store.stack(starts[rows], frames), frames=frames)
        for rows in itertools.chain(
            (rows for rows in batches.shuffled(training, stream=2) if len(rows) >= smallest),
            batches.in_order(validation),
        )
    ]
    return np.asarray(scores, dtype=np.float64)
