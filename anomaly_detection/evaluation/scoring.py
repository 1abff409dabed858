"""Anomaly scores of test clips, per-ID AUC/pAUC, and the reference's CSV files.

A clip's anomaly score is the mean, over its stacked feature vectors, of each
vector's mean squared reconstruction error. A clip that cannot be read is
excluded and reported, never given a score.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from ..core.io_utils import write_csv_atomic, write_text_atomic
from ..data.dataset import TestSet, scoring_set_label
from ..features.clip_features import ClipFeatures
from ..features.spectrogram import frame_stack
from .metrics import MetricError, partial_roc_auc, roc_auc

__all__ = [
    "Predictor",
    "ClipScorer",
    "keras_predictor",
    "anomaly_score",
    "score_log_mels",
    "SetScores",
    "score_test_set",
    "TypeResult",
    "write_anomaly_score_csv",
    "result_csv_text",
    "write_result_csv",
]

logger = logging.getLogger(__name__)

#: A model as a function: vectors (n, dim) float32 -> reconstructions (n, dim).
Predictor = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class ClipScorer(Protocol):
    """A model that scores whole clips itself (for example on several processes)."""

    def anomaly_scores(self, log_mels: Sequence[np.ndarray], *, frames: int) -> Iterator[float]:
        """The anomaly score of each log-mel spectrogram ``(n_frames, n_mels)``, in order."""
        ...


def anomaly_score(vectors: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean over vectors of the per-vector mean squared error.

    Parameters
    ----------
    vectors, reconstruction : np.ndarray, shape (n_vectors, dim)
    """
    error = np.square(vectors.astype(np.float64) - reconstruction.astype(np.float64))
    return float(np.mean(np.mean(error, axis=1)))


@dataclass
class SetScores:
    """Scores of one scoring set's test clips (excluded clips listed with their reason)."""

    name: str
    files: list[Path]
    scores: np.ndarray  # (n_files,) float64
    labels: np.ndarray | None  # (n_files,) int, development mode only
    excluded: list[tuple[Path, str]] = field(default_factory=list)
    predict_seconds: float = 0.0  # total time spent in the model, for the scored clips
    auc: float = math.nan
    pauc: float = math.nan
    metric_problem: str | None = None
    domains: tuple[str, ...] | None = None  # (n_files,) "source" / "target", 2021 on


def keras_predictor(model: Any) -> Predictor:
    """A Keras model as a :data:`Predictor` (one compiled call per clip)."""

    def predict(vectors: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(vectors))

    return predict


def score_log_mels(
    predict: Predictor, log_mels: Sequence[np.ndarray], *, frames: int
) -> Iterator[float]:
    """The anomaly score of each log-mel spectrogram ``(n_frames, n_mels)``: its
    ``frames``-stacked vectors reconstructed by one ``predict`` call."""
    for log_mel in log_mels:
        vectors = frame_stack(log_mel, frames)
        yield anomaly_score(vectors, predict(vectors))


def clip_scores(
    model: Predictor | ClipScorer, log_mels: Sequence[np.ndarray], frames: int
) -> Iterator[float]:
    """The anomaly score of each log-mel spectrogram: by the model's own
    :meth:`ClipScorer.anomaly_scores`, or by :func:`score_log_mels`."""
    if isinstance(model, ClipScorer):
        return model.anomaly_scores(log_mels, frames=frames)
    return score_log_mels(model, log_mels, frames=frames)


def score_test_set(
    model: Predictor | ClipScorer,
    test_set: TestSet,
    clips: Sequence[ClipFeatures],
    *,
    frames: int,
    max_fpr: float,
    description: str = "scoring",
    progress: bool = True,
) -> SetScores:
    """Score every readable clip of ``test_set``: one ``model`` call per clip, or the
    model's own :meth:`ClipScorer.anomaly_scores`.

    In development mode AUC and pAUC are computed over the scored clips; an ID
    with a single class gets ``nan`` and a ``metric_problem`` instead of a crash.
    """
    clip_labels = test_set.labels or (None,) * len(clips)
    clip_domains = test_set.domains or ("",) * len(clips)
    domain_of = {clip.path: domain for clip, domain in zip(clips, clip_domains, strict=True)}
    readable = [
        (clip, label) for clip, label in zip(clips, clip_labels, strict=True) if clip.error is None
    ]
    excluded = [(clip.path, str(clip.error)) for clip in clips if clip.error is not None]
    log_mels = [clip.usable_log_mel() for clip, _ in readable]
    scores = []
    start = time.perf_counter()
    for score in tqdm(
        clip_scores(model, log_mels, frames),
        total=len(log_mels),
        desc=description,
        unit="clip",
        disable=not progress,
        leave=False,
    ):
        scores.append(score)
    predict_seconds = time.perf_counter() - start
    for (clip, _), score in zip(readable, scores, strict=True):
        if not math.isfinite(score):  # never a score file with NaN: excluded and named
            excluded.append((clip.path, f"{clip.path}: the model's anomaly score is {score}"))
    kept = [
        (clip, label, score)
        for (clip, label), score in zip(readable, scores, strict=True)
        if math.isfinite(score)
    ]
    files = [clip.path for clip, _, _ in kept]
    labels = [label for _, label, _ in kept]
    scores = [score for _, _, score in kept]
    result = SetScores(
        test_set.name,
        files,
        np.asarray(scores, dtype=np.float64),
        np.asarray(labels, dtype=np.int64) if test_set.labels is not None else None,
        excluded,
        predict_seconds,
        domains=tuple(domain_of[path] for path in files) if test_set.domains else None,
    )
    if result.labels is not None:
        try:
            result.auc = roc_auc(result.labels, result.scores)
            result.pauc = partial_roc_auc(result.labels, result.scores, max_fpr)
        except MetricError as error:
            result.metric_problem = f"{test_set.name}: {error}"
        unmeasured = _domains_without_normals(test_set, result)
        if unmeasured and result.metric_problem is None:  # its domain AUC would be nan
            result.auc = result.pauc = math.nan
            result.metric_problem = (
                f"{test_set.name}: no normal {unmeasured} clip scored, no AUC ({unmeasured})"
            )
    return result


def _domains_without_normals(test_set: TestSet, result: SetScores) -> str | None:
    """The first domain of the set (2021 on) none of whose normal clips was scored: the
    set's own domain in 2021 (``section_00_source_test``), source and target from 2022
    (``section_00_test``, whose AUC (source) and AUC (target) need both)."""
    if test_set.domains is None or result.labels is None or result.domains is None:
        return None
    expected = set(test_set.domains)
    if not test_set.name.endswith(("_source_test", "_target_test")):
        expected |= {"source", "target"}
    scored = {d for d, label in zip(result.domains, result.labels, strict=True) if label == 0}
    return next((domain for domain in sorted(expected) if domain not in scored), None)


def write_anomaly_score_csv(path: Path, id_scores: SetScores) -> None:
    """``file name,score`` per clip, no header (the reference's format)."""
    write_csv_atomic(
        path,
        (
            [file.name, float(score)]
            for file, score in zip(id_scores.files, id_scores.scores, strict=True)
        ),
    )


@dataclass
class TypeResult:
    """AUC/pAUC of every scoring set of one machine type."""

    machine_type: str
    sets: list[SetScores]
    #: Average over the sets that have an AUC when some have none (``--skip-bad-clips``);
    #: otherwise such an average is ``nan``: it would describe fewer sets than it says.
    partial_average: bool = False

    def missing_auc(self) -> list[SetScores]:
        """The labelled scoring sets without an AUC (one class only, or no readable clip)."""
        return [
            scores for scores in self.sets if scores.labels is not None and math.isnan(scores.auc)
        ]

    def seconds_per_clip(self) -> float:
        """Mean model inference time per scored clip, in seconds."""
        clips = sum(len(scores.files) for scores in self.sets)
        if not clips:
            return math.nan
        return sum(scores.predict_seconds for scores in self.sets) / clips

    def average(self) -> tuple[float, float]:
        """Mean AUC and pAUC over the scoring sets; ``nan`` when a labelled set has none,
        unless :attr:`partial_average` (then over the sets that have them)."""
        valid = [(scores.auc, scores.pauc) for scores in self.sets if not math.isnan(scores.auc)]
        if not valid or (self.missing_auc() and not self.partial_average):
            return math.nan, math.nan
        auc, pauc = np.mean(np.asarray(valid), axis=0)
        return float(auc), float(pauc)


def result_csv_text(results: Sequence[TypeResult]) -> str:
    """The reference's ``result.csv``: per type a name row, ``id,AUC,pAUC``, one
    row per ID (``01``...), an ``Average`` row and a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for result in results:
        writer.writerow([result.machine_type])
        writer.writerow(["id", "AUC", "pAUC"])
        for scores in result.sets:
            writer.writerow([scoring_set_label(scores.name), scores.auc, scores.pauc])
        writer.writerow(["Average", *result.average()])
        writer.writerow([])
    return buffer.getvalue()


def write_result_csv(path: Path, results: Sequence[TypeResult]) -> None:
    """Write :func:`result_csv_text` atomically."""
    write_text_atomic(path, result_csv_text(results))


def relative_score_differences(result: TypeResult, reference: TypeResult) -> np.ndarray:
    """``|score - reference| / |reference|`` of every clip scored in both (matched by file).

    Returns
    -------
    np.ndarray, shape (n_clips,), float64
    """
    reference_scores = {
        file: score
        for set_scores in reference.sets
        for file, score in zip(set_scores.files, set_scores.scores, strict=True)
    }
    differences = [
        abs(score - reference_scores[file]) / max(abs(reference_scores[file]), 1e-300)
        for set_scores in result.sets
        for file, score in zip(set_scores.files, set_scores.scores, strict=True)
        if file in reference_scores
    ]
    return np.asarray(differences, dtype=np.float64)
