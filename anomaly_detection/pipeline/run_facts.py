"""What a run's results and thresholds are tied to: facts of its clips, read once, and
the anomaly score (``anomaly_score``) its models score clips by.

:class:`RunFacts` is the base of :class:`~anomaly_detection.pipeline.run_data.RunData`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.dataset import list_train_files, select_machine_type_dirs
from ..evaluation.score_methods import AnomalyScoreMethod
from ..evaluation.scoring import ClipScorer, Predictor
from ..features.frame_store import FrameStore
from ..model.provenance import clip_files_digest
from ..registry.anomaly_scores import anomaly_score_entry
from ..registry.implementation import load

if TYPE_CHECKING:
    from ..core.config import Config
    from ..core.layout import OutputLayout
    from ..registry.variants import ModelVariant

__all__ = ["RunFacts"]


class RunFacts:
    """Facts of the run's clips; its fields are :class:`.context.RunContext`'s."""

    config: Config
    dev_mode: bool
    machine_types: tuple[str, ...] | None
    layout: OutputLayout
    dataset_year: int
    _clip_facts: dict[tuple[str, tuple[Path, ...]], object]

    @property
    def mode(self) -> str:
        """The set this run works on: ``dev`` or ``eval``."""
        return "dev" if self.dev_mode else "eval"

    def unselected_types(self) -> list[str]:
        """Machine types of the data folder that ``--machine-type`` left out of this run."""
        if self.machine_types is None:
            return []
        every = select_machine_type_dirs(self.config.data_directory(self.dev_mode), None)
        return [d.name for d in every if d.name not in self.machine_types]

    def training_clips_digest(self, machine_type: str) -> str | None:
        """:func:`clip_files_digest` of the type's training clips (dev or eval set): a
        decision threshold fitted on other clips is not reused. ``None`` without a
        ``train`` folder (an evaluation set without training clips: the stored
        threshold is all there is)."""
        type_dir = self.config.data_directory(self.dev_mode) / machine_type
        if not (type_dir / "train").is_dir():
            return None
        return self._once("files digest", list_train_files(type_dir), clip_files_digest)

    def _threshold_settings(self, machine_type: str) -> dict[str, Any]:
        """The settings a decision threshold is fitted with, and its training clips."""
        return {
            "frames_per_vector": self.config.feature.frames,
            "percentile": self.config.decision_percentile,
            "training_clips": self.training_clips_digest(machine_type),
            "score": self.config.anomaly_score,
            "year": self.dataset_year,
        }

    def _once(self, fact: str, clips: Sequence[Path], compute: Callable[[Any], Any]) -> Any:
        """``compute(clips)``, read from the clips once per run."""
        key = (fact, tuple(clips))
        if key not in self._clip_facts:
            self._clip_facts[key] = compute(clips)
        return self._clip_facts[key]

    def anomaly_scorer(
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
        entry = anomaly_score_entry(self.config.anomaly_score)
        method: AnomalyScoreMethod = load(entry.implementation)
        return method.scoring_model(
            self.layout.model_file(variant, machine_type),
            model,
            training_frames,
            frames=self.config.feature.frames,
            training_clips=self.training_clips_digest(machine_type),
        )
