"""ROC AUC and partial AUC, as reported by the DCASE 2020 Task 2 baseline.

The partial AUC up to ``max_fpr`` is McClish-standardised, as
``sklearn.metrics.roc_auc_score(..., max_fpr=...)`` (which the reference calls):
0.5 for a random detector, 1.0 for a perfect one.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import MetricError

__all__ = ["MetricError", "roc_curve", "roc_auc", "partial_roc_auc"]


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise MetricError(
            f"labels {labels.shape} and scores {scores.shape} must be equal-length 1-D"
        )
    n_anomalies = int(np.sum(labels == 1))
    n_normals = int(np.sum(labels == 0))
    if n_anomalies + n_normals != labels.size:
        raise MetricError("labels must be 0 (normal) or 1 (anomaly)")
    if n_anomalies == 0 or n_normals == 0:
        raise MetricError(
            f"AUC needs both classes, got {n_normals} normal and {n_anomalies} anomalous clips"
        )
    if not np.all(np.isfinite(scores)):
        raise MetricError("scores must be finite")
    return labels, scores


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct score threshold.

    Parameters
    ----------
    labels : array, shape (n,)
        0 normal, 1 anomaly.
    scores : array, shape (n,)
        Higher means more anomalous.

    Returns
    -------
    fpr, tpr : np.ndarray, shape (n_thresholds + 1,)
        Starting at (0, 0), ending at (1, 1).
    thresholds : np.ndarray, shape (n_thresholds + 1,)
        Decreasing; the first is ``inf``.
    """
    labels, scores = _check(labels, scores)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    true_positives = np.cumsum(sorted_labels)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    tpr = np.r_[0.0, true_positives / true_positives[-1]]
    fpr = np.r_[0.0, false_positives / false_positives[-1]]
    thresholds = np.r_[np.inf, sorted_scores[last_of_tie]]
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def partial_roc_auc(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """McClish-standardised area under the ROC curve for FPR in ``[0, max_fpr]``."""
    if not 0 < max_fpr <= 1:
        raise MetricError(f"max_fpr must be in (0, 1], got {max_fpr}")
    fpr, tpr, _ = roc_curve(labels, scores)
    if max_fpr == 1:
        return float(np.trapezoid(tpr, fpr))
    stop = np.searchsorted(fpr, max_fpr, side="right")
    tpr_at_max = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    area = np.trapezoid(np.r_[tpr[:stop], tpr_at_max], np.r_[fpr[:stop], max_fpr])
    min_area = 0.5 * max_fpr**2
    max_area = max_fpr
    return float(0.5 * (1 + (area - min_area) / (max_area - min_area)))
