"""How a registered anomaly score scores clips with a model: the protocol its
implementation follows, and the reference's score.

An entry of :mod:`anomaly_detection.registry.anomaly_scores` names an object following
:class:`AnomalyScoreMethod`. Given a model, it returns the model as it scores clips
under that score: the model itself (a :data:`~.scoring.Predictor`, scored by
:func:`~.scoring.anomaly_score` per clip) or a :class:`~.scoring.ClipScorer` that
scores whole clips, with the state it needs fitted on the training clips and stored
beside the model file (``anomaly_score: mahalanobis``:
:class:`~.organisers_mahalanobis.SelectiveMahalanobis`; ``mahalanobis_per_block``:
:class:`~.mahalanobis.PerBlockMahalanobis`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .scoring import ClipScorer, Predictor

if TYPE_CHECKING:
    from ..features.frame_store import FrameStore
    from ..features.vector_batches import VectorBatches

__all__ = ["AnomalyScoreMethod", "MeanSquaredError"]


@runtime_checkable
class AnomalyScoreMethod(Protocol):
    """How an anomaly score fits and stores its state and scores clips."""

    def scoring_model(
        self,
        model_file: Path,
        predict: Predictor,
        training_frames: Callable[[], FrameStore],
        *,
        frames: int,
        training_clips: str | None,
        batches: VectorBatches,
    ) -> Predictor | ClipScorer:
        """The model as it scores clips under this score, its state fitted and stored
        beside ``model_file`` when absent or stale.

        Parameters
        ----------
        model_file : Path
            The model's file; the score's state is stored beside it.
        predict : Predictor
            The model: vectors (n, frames * n_mels) -> reconstructions, same shape.
        training_frames : callable
            Loads the training clips' log-mel frames; called only when the state must
            be fitted.
        frames : int
            Frames per stacked vector.
        training_clips : str or None
            Digest of the training clip list the stored state must have been fitted on
            (``None``: any, as without a ``train`` folder).
        batches : VectorBatches
            Which of the training clips' vectors the model trained on and the batch size
            (a state fitted on training batches, as the organisers' covariances).

        Returns
        -------
        Predictor or ClipScorer
            A :data:`~.scoring.Predictor` is scored per clip by
            :func:`~.scoring.anomaly_score`; a :class:`~.scoring.ClipScorer` scores
            clips itself.
        """
        ...


class MeanSquaredError:
    """``anomaly_score: mse``, the reference's: the mean over a clip's vectors of their
    mean squared reconstruction error. No state: the model scores clips as it is."""

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
        """``predict`` itself (see :meth:`AnomalyScoreMethod.scoring_model`)."""
        return predict
