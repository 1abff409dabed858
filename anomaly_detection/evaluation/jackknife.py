"""The DCASE 2023 to 2025 evaluators' jackknife confidence interval of the official score.

Beside the official score the evaluators (``nttcslab/dcase2023_task2_evaluator`` and its
2024 and 2025 successors,
``jackknife_estimate``, after Mesaros et al., IEEE/ACM TASLP 27(6), 2019, section IV)
report ``official score ci95``: the files of every machine type and section are pooled
(their anomaly scores as they are, labels 0/1), and for AUC and for pAUC (FPR <=
``max_fpr``, McClish-standardised) each file is left out in turn. With ``θᵢ`` the figure
without file ``i`` of ``N``, the jackknife deviation is

    σ = sqrt( Σᵢ (θᵢ - mean θ)² / (N (N - 1)) )

and the half-width ``t · σ``, ``t`` the two-sided 95 % point of Student's t with
``N - 1`` degrees of freedom; ``official score ci95`` is the mean of the two half-widths.
That deviation is the evaluators': the textbook jackknife's (of the pseudo-values) is
``N - 1`` times larger. Their code is not used here; the formula is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .metrics import MetricError, partial_roc_auc, roc_auc

__all__ = ["CONFIDENCE", "jackknife_half_width", "official_score_ci95"]

#: The interval's confidence, as the evaluators'.
CONFIDENCE = 0.95

Statistic = Callable[[np.ndarray, np.ndarray], float]


def jackknife_half_width(statistic: Statistic, labels: np.ndarray, scores: np.ndarray) -> float:
    """The evaluators' 95 % half-width of ``statistic(labels, scores)``, leaving one file
    out at a time.

    Parameters
    ----------
    statistic : callable
        ``(labels (n,), scores (n,)) -> float``.
    labels, scores : np.ndarray, shape (n_files,)

    Returns
    -------
    float
        ``t_{N-1} * sqrt(sum (θᵢ - mean θ)² / (N (N - 1)))``; ``nan`` with fewer than two
        files, or where leaving a file out leaves one class empty.
    """
    import scipy.stats

    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    n_files = labels.size
    if n_files < 2:
        return math.nan
    keep = np.ones(n_files, dtype=bool)
    left_out = np.empty(n_files, dtype=np.float64)
    try:
        for index in range(n_files):
            keep[index] = False
            left_out[index] = statistic(labels[keep], scores[keep])
            keep[index] = True
    except MetricError:
        return math.nan
    deviation = math.sqrt(
        float(np.sum((left_out - left_out.mean()) ** 2)) / (n_files * (n_files - 1))
    )
    t_critical = abs(float(scipy.stats.t.ppf((1 - CONFIDENCE) / 2, n_files - 1)))
    return t_critical * deviation


def official_score_ci95(labels: np.ndarray, scores: np.ndarray, *, max_fpr: float) -> float:
    """``official score ci95``: the mean of the jackknife half-widths of the pooled files'
    AUC and pAUC (:func:`jackknife_half_width`).

    Parameters
    ----------
    labels, scores : np.ndarray, shape (n_files,)
        Every labelled test file of every machine type and section, pooled.
    max_fpr : float
        pAUC's upper false-positive rate.
    """
    auc = jackknife_half_width(roc_auc, labels, scores)
    pauc = jackknife_half_width(lambda y, s: partial_roc_auc(y, s, max_fpr), labels, scores)
    return float(np.mean([auc, pauc]))
