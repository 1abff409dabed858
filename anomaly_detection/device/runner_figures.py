"""The accuracy figures of the benchmark's runners for ad01, from each sample file's score.

Since MLPerf Tiny v1.3 the benchmark is run by MLCommons' own runner
(``benchmark/runner/`` of ``mlcommons/tiny``). For the anomaly detection model it
sends each sample file in windows (``y_labels.csv``: 2,560 bytes moved by 512),
takes the mean of the file's window results as the file's score, and writes to
``results.txt``:

- ``AUC = %.3f``: scikit-learn's ``roc_auc_score`` of the file scores (exact);
- ``Top 1% = %2.1f``: for anomaly detection, the best over 100 thresholds
  ``min + k/100 (max - min)``, k = 0..99, of ``100 (precision + recall) / 2``, a
  file being decided anomalous when its score is above the threshold, and
  ``precision = TP / (TP + FP + 1e-8)``, ``recall = TP / (TP + FN + 1e-8)``.

The closed division's quality target for ad01 is AUC 0.85.

The older EEMBC accuracy functions (``calculate_ae_auc`` and
``calculate_ae_pr_accuracy`` of MLCommons Tiny's ``eval_functions_eembc.py``)
integrate the ROC curve over 101 thresholds spaced linearly between the lowest
and the highest score, and take the best mean of precision and recall over 100
such thresholds; they read the first ``n_normal`` results as the normal ones.
The files a runner session writes are read by :mod:`.runner_sessions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import PipelineError
from ..evaluation.metrics import MetricError, partial_roc_auc, roc_auc

__all__ = [
    "TARGET_AUC",
    "top1_accuracy",
    "normals_first",
    "accuracy_figures",
    "results_text",
    "simplified_auc",
    "precision_recall_accuracy",
]

#: The closed division's quality target for ad01 (AUC).
TARGET_AUC = 0.85
_EPSILON = 1e-8


def top1_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """The runner's ``Top 1%`` for anomaly detection, in percent (see the module text).

    Parameters
    ----------
    labels : np.ndarray, shape (n_files,)
        0 normal, 1 anomaly.
    scores : np.ndarray, shape (n_files,)
        The files' anomaly scores.

    Returns
    -------
    float
        In percent, 0 to 100 (unrounded; the runner prints it with ``%2.1f``).
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    anomalous = labels == 1
    low, high = float(np.min(scores)), float(np.max(scores))
    best = 0.0
    for k in range(100):
        decided = scores > low + k / 100 * (high - low)
        true_positive = float(np.sum(decided & anomalous))
        false_positive = float(np.sum(decided & ~anomalous))
        false_negative = float(np.sum(~decided & anomalous))
        precision = true_positive / (true_positive + false_positive + _EPSILON)
        recall = true_positive / (true_positive + false_negative + _EPSILON)
        best = max(best, 100.0 * (precision + recall) / 2)
    return best


def normals_first(labels: Sequence[int] | np.ndarray) -> bool:
    """Whether every normal sample is listed before every anomalous one (what the older
    EEMBC functions assume)."""
    labels = np.asarray(labels)
    return bool(np.all(labels[: int(np.sum(labels == 0))] == 0))


def accuracy_figures(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> dict[str, float]:
    """Every figure of one set of file scores, in the samples' listed order.

    Returns
    -------
    dict
        ``auc``, ``pauc`` (exact, FPR <= ``max_fpr``); ``runner_auc`` and ``top1`` (the
        runner's ``AUC`` and ``Top 1%`` as it prints them: 3 and 1 decimals);
        ``simplified_auc`` and ``pr_accuracy`` (the EEMBC functions, each score with its
        label); ``listed_simplified_auc`` and ``listed_pr_accuracy`` (the EEMBC functions
        as they read the list: the first ``n_normal`` results taken as normal);
        ``target_met`` (1.0 when the runner's printed AUC, three decimals, reaches
        :data:`TARGET_AUC`).

    Raises
    ------
    PipelineError
        If the samples are not of both labels.
    """
    try:
        auc, pauc = roc_auc(labels, scores), partial_roc_auc(labels, scores, max_fpr)
    except MetricError as error:
        raise PipelineError(f"no AUC: {error}") from None
    runner_auc = float(f"{auc:.3f}")
    return {
        "auc": auc,
        "pauc": pauc,
        "runner_auc": runner_auc,
        "top1": float(f"{top1_accuracy(labels, scores):2.1f}"),
        "simplified_auc": simplified_auc(labels, scores),
        "pr_accuracy": precision_recall_accuracy(labels, scores),
        "listed_simplified_auc": simplified_auc(labels, scores, listed_order=True),
        "listed_pr_accuracy": precision_recall_accuracy(labels, scores, listed_order=True),
        "target_met": float(runner_auc >= TARGET_AUC),
    }


def results_text(figures: dict[str, float]) -> str:
    """The runner's two accuracy lines of ``results.txt``."""
    return f"AUC = {figures['runner_auc']:.3f}\nTop 1% = {figures['top1']:2.1f}\n"


def _linear_thresholds(scores: np.ndarray, steps: np.ndarray) -> np.ndarray:
    return float(np.min(scores)) + steps * (float(np.max(scores)) - float(np.min(scores)))


def _split(
    labels: np.ndarray, scores: np.ndarray, listed_order: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The scores the EEMBC functions take as normal and as anomalous: by label, or (as
    they do) the first ``n_normal`` in the listed order and the rest."""
    if listed_order:
        n_normal = int(np.sum(labels == 0))
        return scores[:n_normal], scores[n_normal:]
    return scores[labels == 0], scores[labels == 1]


def simplified_auc(labels: np.ndarray, scores: np.ndarray, *, listed_order: bool = False) -> float:
    """The EEMBC functions' ROC AUC: 101 linear thresholds, the first forced to (1, 1),
    trapezoids.

    ``listed_order=True`` repeats their reading of the samples: the first ``n_normal``
    scores are the normal ones, whatever their labels (right only for a normals-first
    list); by default each score goes with its own label.
    """
    normal, anomaly = _split(np.asarray(labels), np.asarray(scores), listed_order)
    thresholds = _linear_thresholds(scores, np.arange(0.0, 1.01, 0.01))
    tpr = np.array([np.mean(anomaly > threshold) for threshold in thresholds])
    fpr = np.array([np.mean(normal > threshold) for threshold in thresholds])
    tpr[0] = fpr[0] = 1.0
    return float(np.sum(0.5 * (tpr[:-1] + tpr[1:]) * (fpr[:-1] - fpr[1:])))


def precision_recall_accuracy(
    labels: np.ndarray, scores: np.ndarray, *, listed_order: bool = False
) -> float:
    """The EEMBC functions' accuracy: best ``100 * (precision + recall) / 2`` over 100
    linear thresholds (thresholds with no positive decision have no precision and are
    skipped). ``listed_order`` as in :func:`simplified_auc`."""
    normal, anomaly = _split(np.asarray(labels), np.asarray(scores), listed_order)
    best = 0.0
    for threshold in _linear_thresholds(scores, np.arange(0.0, 1.0, 0.01)):
        true_positive = int(np.sum(anomaly > threshold))
        decided = true_positive + int(np.sum(normal > threshold))
        if decided == 0:
            continue
        precision, recall = true_positive / decided, true_positive / anomaly.size
        best = max(best, 100.0 * (precision + recall) / 2)
    return best
