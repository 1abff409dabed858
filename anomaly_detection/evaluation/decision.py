"""Anomaly decisions (as in the later DCASE baselines): a clip is anomalous when its
score lies above its scoring set's decision threshold (:mod:`.thresholds`). The
decision CSV files, precision, recall and F1, and ``decision_metrics.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.io_utils import write_csv_atomic
from ..data.dataset import scoring_set_label
from .scoring import SetScores, TypeResult
from .thresholds import Threshold

__all__ = ["decision_metrics", "write_decision_csv", "decision_metrics_csv_text"]


def decision_metrics(labels: np.ndarray, decisions: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``decisions`` (1 = anomaly); 0 where undefined."""
    labels = np.asarray(labels)
    decisions = np.asarray(decisions)
    true_positives = int(np.sum((decisions == 1) & (labels == 1)))
    predicted = int(np.sum(decisions == 1))
    actual = int(np.sum(labels == 1))
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def write_decision_csv(path: Path, id_scores: SetScores, threshold: float) -> None:
    """``file name,0|1`` per clip (1: score above the threshold), no header."""
    write_csv_atomic(
        path,
        (
            [file.name, int(score > threshold)]
            for file, score in zip(id_scores.files, id_scores.scores, strict=True)
        ),
    )


def decision_metrics_csv_text(
    results: Sequence[TypeResult], thresholds: dict[str, Threshold]
) -> str:
    """``machine_type,id,threshold,precision,recall,F1`` per scoring set (with its threshold)
    and an ``Average`` per type (with the type's)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["machine_type", "id", "threshold", "precision", "recall", "F1"])
    for result in results:
        threshold = thresholds[result.machine_type]
        rows = []
        for set_scores in result.sets:
            if set_scores.labels is None:  # evaluation mode: no labels, no metrics
                continue
            value = threshold.for_set(set_scores.name)
            metrics = decision_metrics(set_scores.labels, (set_scores.scores > value).astype(int))
            rows.append(metrics)
            writer.writerow(
                [result.machine_type, scoring_set_label(set_scores.name), value, *metrics]
            )
        if rows:
            writer.writerow(
                [
                    result.machine_type,
                    "Average",
                    threshold.threshold,
                    *np.mean(np.asarray(rows), axis=0),
                ]
            )
    return buffer.getvalue()
