"""A run's models as they score clips: the anomaly score's state, decision thresholds, scores.

:class:`RunScoring` turns a model into its scorer under the configuration's
``anomaly_score`` (the registered score's implementation), fits or reads its decision
threshold on the training clips, and scores every scoring set of a machine type. Each
step delegates to its owner in :mod:`anomaly_detection.evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..evaluation import results as result_files
from ..evaluation import thresholds as decision_thresholds
from ..evaluation.results import TestFeatures
from ..evaluation.score_methods import AnomalyScoreMethod
from ..evaluation.scoring import ClipScorer, Predictor, TypeResult
from ..evaluation.thresholds import Threshold
from ..features.frame_store import FrameStore
from ..features.vector_batches import VectorBatches
from ..registry.anomaly_scores import anomaly_score_entry
from ..registry.implementation import load
from ..registry.variants import ModelVariant
from .run_data import RunData
from .settings import RunSettings

__all__ = ["RunScoring"]


class RunScoring:
    """Scorers, thresholds and scores of one run.

    Parameters
    ----------
    settings : RunSettings
    data : RunData
        The run's clips (the training clips' digest ties thresholds and states to them).
    """

    def __init__(self, settings: RunSettings, data: RunData):
        self.settings = settings
        self.data = data

    def scorer(
        self,
        variant: ModelVariant,
        machine_type: str,
        model: Predictor,
        training_frames: Callable[[], FrameStore],
    ) -> Predictor | ClipScorer:
        """The model as it scores clips under ``anomaly_score``, by the registered score's
        implementation: itself (``mse``, the mean squared error), or with the state the
        score needs (``mahalanobis``: its domains' precisions), stored beside the model
        file or fitted on ``training_frames()`` (called only then) and stored."""
        config = self.settings.config
        entry = anomaly_score_entry(config.anomaly_score)
        method: AnomalyScoreMethod = load(entry.implementation)
        return method.scoring_model(
            self.settings.layout.model_file(variant, machine_type),
            model,
            training_frames,
            frames=config.feature.frames,
            training_clips=self.data.training_clips_digest(machine_type),
            batches=VectorBatches.of(config.fit, config.seed),
        )

    def fit_threshold(
        self,
        variant: ModelVariant,
        machine_type: str,
        scorer: Predictor | ClipScorer,
        frames: FrameStore,
        *,
        model_digest: str | None = None,
    ) -> Threshold:
        """Fit and save the model's decision threshold on its training clips' scores."""
        return decision_thresholds.fit_and_save_threshold(
            self.settings.layout,
            variant,
            machine_type,
            scorer,
            frames,
            model_digest=model_digest,
            **self._threshold_settings(machine_type),
        )

    def stored_or_fitted_threshold(
        self,
        variant: ModelVariant,
        machine_type: str,
        scorer: Predictor | ClipScorer,
        training_frames: Callable[[], FrameStore],
    ) -> Threshold:
        """The threshold saved beside the model, or (absent or stale) a new fit."""
        return decision_thresholds.stored_or_fitted_threshold(
            self.settings.layout,
            variant,
            machine_type,
            scorer,
            training_frames,
            **self._threshold_settings(machine_type),
        )

    def score(
        self,
        variant: ModelVariant,
        machine_type: str,
        scorer: Predictor | ClipScorer,
        test_features: Sequence[TestFeatures],
    ) -> TypeResult:
        """Score every scoring set of a machine type and write its ``anomaly_score`` CSV
        files."""
        settings = self.settings
        return result_files.score_machine_type(
            settings.layout,
            variant,
            machine_type,
            scorer,
            test_features,
            frames=settings.config.feature.frames,
            max_fpr=settings.config.max_fpr,
            progress=settings.progress,
            partial_average=settings.skip_bad_clips,
        )

    def _threshold_settings(self, machine_type: str) -> dict[str, Any]:
        """The settings a decision threshold is fitted with, and its training clips."""
        config = self.settings.config
        return {
            "frames_per_vector": config.feature.frames,
            "percentile": config.decision_percentile,
            "training_clips": self.data.training_clips_digest(machine_type),
            "score": config.anomaly_score,
            "year": self.settings.dataset_year,
            "fitted_on": config.decision_fit,
            "batches": VectorBatches.of(config.fit, config.seed),
        }
