"""Decision thresholds (as in the later DCASE baselines): fitted, stored, loaded.

A model's threshold is the ``decision_percentile`` point of a gamma distribution
fitted to the anomaly scores of its own training clips, one per scoring set too
(``decision_fit: clips``), or, as the organisers' DCASE 2023+ baseline, to the scores
of its training batches (``decision_fit: batches``, one per machine type:
:mod:`.training_scores`). It is stored beside the model file as
``<model file>.threshold.json`` (``<model file><file tag>.threshold.json`` for an
anomaly score with a file tag in :mod:`anomaly_detection.registry.anomaly_scores`)
together with the model file's size, modification time and SHA-256, the score's name
and formula and what it was fitted on (clips, or batches and which), so a retrained or
replaced model, another formula or other batches never use a stale threshold.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError
from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..data.dcase_years import training_set_name
from ..features.frame_store import FrameStore
from ..features.vector_batches import VectorBatches
from ..model.provenance import file_digest
from ..registry.anomaly_scores import DEFAULT_ANOMALY_SCORE, anomaly_score_entry
from ..registry.variants import ModelVariant
from .scoring import ClipScorer, Predictor
from .training_scores import training_batch_scores, training_scores

__all__ = [
    "Threshold",
    "fit_threshold",
    "fit_thresholds_by_set",
    "MIN_CLIPS_PER_SET",
    "save_threshold",
    "load_threshold",
    "fit_and_save_threshold",
    "stored_or_fitted_threshold",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    """Gamma fit of training scores and the threshold at ``percentile``."""

    threshold: float
    percentile: float
    shape: float
    loc: float
    scale: float
    n_clips: int
    model_size: int = 0
    model_mtime_ns: int = 0
    model_digest: str = ""
    #: ``{scoring set: threshold}`` fitted on each set's own training clips (a machine ID
    #: in 2020, a section (and domain in 2021) later); a set not listed (too few clips)
    #: takes the machine type's :attr:`threshold`.
    by_set: dict[str, float] = field(default_factory=dict)
    #: Digest of the training clip list it was fitted on (files, sizes, times).
    training_clips: str = ""
    #: The anomaly score it was fitted on (a name in the anomaly-score registry).
    score: str = DEFAULT_ANOMALY_SCORE
    #: That score's formula (its registry entry's ``formula``; empty before it was recorded).
    formula: str = ""
    #: What the gamma distribution was fitted to: ``clips`` or ``batches`` (``decision_fit``).
    fitted_on: str = "clips"
    #: Which batches (``VectorBatches.record``; empty when fitted on clips).
    batches: str = ""

    def for_set(self, name: str) -> float:
        """The threshold of the clips of the scoring set ``name``."""
        return self.by_set.get(name, self.threshold)


def fit_threshold(scores: np.ndarray, percentile: float) -> Threshold:
    """Fit a gamma distribution to ``scores``; threshold at ``percentile`` (0..1)."""
    import scipy.stats

    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise ModelError(
            f"{int(np.sum(~np.isfinite(scores)))} of {scores.size} training clips have a "
            "non-finite anomaly score: the model is broken (train it again)"
        )
    if scores.size < 2 or np.ptp(scores) == 0:
        # A gamma fit needs spread; with none, the single score value is the threshold.
        value = float(scores.max()) if scores.size else float("nan")
        return Threshold(value, percentile, float("nan"), float("nan"), float("nan"), scores.size)
    shape, loc, scale = scipy.stats.gamma.fit(scores)
    threshold = float(scipy.stats.gamma.ppf(percentile, shape, loc=loc, scale=scale))
    return Threshold(threshold, percentile, float(shape), float(loc), float(scale), scores.size)


#: Training clips a scoring set needs for a gamma fit of its own; with fewer it takes the
#: machine type's.
MIN_CLIPS_PER_SET = 10


def fit_thresholds_by_set(
    scores: np.ndarray, set_names: Sequence[str], percentile: float
) -> Threshold:
    """The machine type's threshold (all ``scores``) with one per scoring set
    (``set_names[i]`` names clip ``i``'s set), each fitted on that set's own training
    scores; a set with fewer than :data:`MIN_CLIPS_PER_SET` clips takes the type's, with a
    warning. Machines of one type differ in loudness: one threshold for all can lie above
    every normal clip of a quiet one, and then it catches almost none of its anomalies."""
    scores = np.asarray(scores, dtype=np.float64)
    overall = fit_threshold(scores, percentile)
    names = np.asarray(set_names)
    by_set = {}
    for name in sorted(set(set_names)):
        own = scores[names == name]
        if own.size >= MIN_CLIPS_PER_SET:
            by_set[name] = fit_threshold(own, percentile).threshold
        else:
            logger.warning(
                "%s: %d training clip(s), fewer than %d: it takes the machine type's decision "
                "threshold",
                name,
                own.size,
                MIN_CLIPS_PER_SET,
            )
    return replace(overall, by_set=by_set)


def save_threshold(
    path: Path, threshold: Threshold, *, model_file: Path, model_digest: str | None = None
) -> None:
    """Write ``threshold`` to ``path``, tagged with the state of ``model_file`` (its size,
    modification time and SHA-256), so that a changed model never reuses it.

    ``model_digest``: the SHA-256 of the very model the threshold was fitted with (the
    bytes this process saved), when known; a file on disk that is not that model then
    never takes the threshold for its own.
    """
    values = [threshold.threshold, *threshold.by_set.values()]
    if not all(math.isfinite(value) for value in values):
        raise ModelError(f"{path}: the decision threshold is {threshold.threshold}; not saved")
    status = model_file.stat()
    fields = {
        **asdict(threshold),
        "model_size": status.st_size,
        "model_mtime_ns": status.st_mtime_ns,
        "model_digest": model_digest or file_digest(model_file),
    }
    # JSON has no NaN: the gamma parameters of a fit without spread are written as null
    fields = {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in fields.items()
    }
    write_text_atomic(path, json.dumps(fields, indent=2, allow_nan=False) + "\n")


def load_threshold(
    path: Path,
    *,
    model_file: Path,
    percentile: float,
    training_clips: str | None = None,
    score: str = DEFAULT_ANOMALY_SCORE,
    fitted_on: str = "clips",
    batches: str = "",
) -> Threshold | None:
    """The threshold stored in ``path``, or ``None`` if absent, unreadable, fitted to
    another state of ``model_file``, for another percentile, anomaly ``score`` or formula
    of it, to other scores than ``fitted_on`` (``clips``, or ``batches`` of another
    ``batches`` record), or (``training_clips`` given) on other training clips (another
    set, or clips added or replaced)."""
    if not path.is_file():
        return None
    try:
        fields: dict[str, Any] = json.loads(path.read_text())
        if "by_id" in fields:  # written before the per-set thresholds were named so
            fields["by_set"] = fields.pop("by_id")
        restored: dict[str, Any] = {
            key: math.nan if value is None else value for key, value in fields.items()
        }
        stored = Threshold(**restored)
        if not math.isfinite(stored.threshold):
            raise ValueError(f"threshold {stored.threshold}")
    except (ValueError, TypeError, AttributeError) as error:
        logger.warning("%s: unreadable threshold file (%s); recomputing", path, error)
        return None
    status = model_file.stat()
    if (stored.model_size, stored.model_mtime_ns) != (status.st_size, status.st_mtime_ns) or (
        stored.model_digest != file_digest(model_file)
    ):
        logger.info("%s: model changed since the threshold was fitted; recomputing", path)
        return None
    if stored.percentile != percentile or "by_set" not in fields:  # or fitted before per-set
        return None
    formula = anomaly_score_entry(score).formula
    if (stored.score, stored.formula) != (score, formula):
        logger.info(
            "%s: fitted on %s scores (formula %r), not %s (%r); recomputing",
            path,
            stored.score,
            stored.formula,
            score,
            formula,
        )
        return None
    if (stored.fitted_on, stored.batches) != (fitted_on, batches):
        logger.info(
            "%s: fitted on training %s %s, not %s %s; recomputing",
            path,
            stored.fitted_on,
            stored.batches,
            fitted_on,
            batches,
        )
        return None
    if training_clips is not None and stored.training_clips != training_clips:
        logger.info("%s: fitted on other training clips; recomputing", path)
        return None
    return stored


def fit_and_save_threshold(
    layout: OutputLayout,
    variant: ModelVariant,
    machine_type: str,
    predict: Predictor | ClipScorer,
    frames: FrameStore,
    *,
    frames_per_vector: int,
    percentile: float,
    training_clips: str | None = None,
    model_digest: str | None = None,
    score: str = DEFAULT_ANOMALY_SCORE,
    year: int = 2020,
    fitted_on: str = "clips",
    batches: VectorBatches | None = None,
) -> Threshold:
    """Fit the model's decision threshold on its training clips' scores (gamma
    distribution, ``percentile``) and save it beside the model file, tagged with
    ``model_digest`` (the SHA-256 of the model ``predict`` runs) or the file's, and
    with ``training_clips`` (the digest of the clip list it was fitted on). One threshold
    per scoring set of ``year``'s layout besides the type's (machine ID, section and
    domain, or section: :func:`~anomaly_detection.data.dcase_years.training_set_name`);
    ``fitted_on="batches"``: the type's only, fitted to the training batches' scores
    (:func:`.training_scores.training_batch_scores` of ``batches``)."""
    if fitted_on == "batches":
        batches = batches or VectorBatches()
        batch_scores = training_batch_scores(
            predict, frames, frames=frames_per_vector, batches=batches
        )
        threshold = replace(fit_threshold(batch_scores, percentile), batches=batches.record)
    else:
        threshold = _fit_on_clips(predict, frames, frames_per_vector, percentile, year)
    formula = anomaly_score_entry(score).formula
    threshold = replace(
        threshold,
        training_clips=training_clips or "",
        score=score,
        formula=formula,
        fitted_on=fitted_on,
    )
    path = layout.threshold_file(variant, machine_type, tag=anomaly_score_entry(score).file_tag)
    model_file = layout.model_file(variant, machine_type)
    save_threshold(path, threshold, model_file=model_file, model_digest=model_digest)
    logger.info(
        "%s %s: threshold %.4g (%g quantile of a gamma fit, %d training %s)",
        machine_type,
        variant.short_name,
        threshold.threshold,
        threshold.percentile,
        threshold.n_clips,
        fitted_on,
    )
    if threshold.by_set:
        per_set = ", ".join(f"{key} {value:.4g}" for key, value in threshold.by_set.items())
        logger.info("%s %s: per scoring set %s", machine_type, variant.short_name, per_set)
    logger.debug("%s: saved %s", machine_type, path)
    return threshold


def _fit_on_clips(
    predict: Predictor | ClipScorer,
    frames: FrameStore,
    frames_per_vector: int,
    percentile: float,
    year: int,
) -> Threshold:
    """The gamma fit of the training clips' scores, with one per scoring set of ``year``."""
    scores = training_scores(predict, frames, frames_per_vector)
    set_names = [training_set_name(path, year) or "" for path in frames.clip_paths]
    if len(set_names) == len(scores) and any(set_names):
        return fit_thresholds_by_set(scores, set_names, percentile)
    return fit_threshold(scores, percentile)  # clips of unknown names: the type's only


def stored_or_fitted_threshold(
    layout: OutputLayout,
    variant: ModelVariant,
    machine_type: str,
    predict: Predictor | ClipScorer,
    training_frames: Callable[[], FrameStore],
    *,
    frames_per_vector: int,
    percentile: float,
    training_clips: str | None = None,
    score: str = DEFAULT_ANOMALY_SCORE,
    year: int = 2020,
    fitted_on: str = "clips",
    batches: VectorBatches | None = None,
) -> Threshold:
    """The threshold saved beside the model, or (absent, stale or fitted on other
    training clips) a new fit: ``training_frames`` is called only then."""
    stored = load_threshold(
        layout.threshold_file(variant, machine_type, tag=anomaly_score_entry(score).file_tag),
        model_file=layout.model_file(variant, machine_type),
        percentile=percentile,
        training_clips=training_clips,
        score=score,
        fitted_on=fitted_on,
        batches=(batches or VectorBatches()).record if fitted_on == "batches" else "",
    )
    if stored is not None:
        return stored
    return fit_and_save_threshold(
        layout,
        variant,
        machine_type,
        predict,
        training_frames(),
        frames_per_vector=frames_per_vector,
        percentile=percentile,
        training_clips=training_clips,
        score=score,
        year=year,
        fitted_on=fitted_on,
        batches=batches,
    )
