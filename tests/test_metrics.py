"""AUC and partial AUC against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from anomaly_detection.core.errors import MetricError
from anomaly_detection.evaluation.metrics import partial_roc_auc, roc_auc, roc_curve


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("max_fpr", [0.05, 0.1, 0.3, 1.0])
def test_matches_scikit_learn(seed, max_fpr):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 300))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.normal(size=n) + labels * rng.uniform(0, 2)
    if seed % 2:
        scores = np.round(scores, 1)  # ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert partial_roc_auc(labels, scores, max_fpr) == pytest.approx(
        roc_auc_score(labels, scores, max_fpr=max_fpr), abs=1e-12
    )


def test_perfect_and_inverted_detectors():
    labels = np.array([0, 0, 0, 1, 1])
    assert roc_auc(labels, np.array([1, 2, 3, 4, 5])) == 1.0
    assert partial_roc_auc(labels, np.array([1, 2, 3, 4, 5]), 0.1) == 1.0
    assert roc_auc(labels, np.array([5, 4, 3, 2, 1])) == 0.0


def test_roc_curve_ends():
    fpr, tpr, thresholds = roc_curve(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.3]))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds) < 0)


def test_single_class_is_a_clear_error():
    with pytest.raises(MetricError, match="needs both classes, got 3 normal and 0 anomalous"):
        roc_auc(np.zeros(3), np.array([1.0, 2.0, 3.0]))
