"""The organisers' DCASE 2023+ baseline: their selective Mahalanobis formula and covariance,
their per-batch decision threshold, the evaluators' jackknife interval, their evaluation
label lists. Every expected value is computed here by hand from the formulas of
``nttcslab/dcase2023_task2_baseline_ae`` and ``nttcslab/dcase2024_task2_evaluator``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from anomaly_detection.evaluation.mahalanobis import (
    DomainPrecisions,
    MahalanobisScorer,
    clip_distance,
    load_precisions,
    precision_file,
    save_precisions,
)
from anomaly_detection.evaluation.organisers_mahalanobis import (
    fit_organisers_precisions,
    mean_error_distance,
)
from anomaly_detection.features.frame_store import MemoryFrameStore
from anomaly_detection.features.vector_batches import VectorBatches
from anomaly_detection.model.provenance import file_digest

N_MELS, FRAMES = 3, 2


def _their_score(blocks: np.ndarray, precision: np.ndarray) -> float:
    """Their ``mahalanobis(..., reduction=False)`` then ``mean(dim=1)`` and ``sum / num``:
    the mean over all pairs (i, j) of blocks of ``δᵢ P δⱼᵀ``, written as the double loop."""
    total = 0.0
    for first in blocks:
        for second in blocks:
            total += float(first @ precision @ second)
    return total / len(blocks) ** 2


def _per_block(blocks: np.ndarray, precision: np.ndarray) -> float:
    return float(np.mean([block @ precision @ block for block in blocks]))


SOURCE_P = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
TARGET_P = np.array([[0.5, 0.0, 0.1], [0.0, 4.0, 0.0], [0.1, 0.0, 1.5]])


def test_a_clip_scores_the_quadratic_form_of_its_mean_residual_block():
    precisions = DomainPrecisions({"source": SOURCE_P, "target": TARGET_P}, {"source": 9})
    # residual blocks that mostly cancel: per-block distances are large, the mean small
    blocks = np.array([[1.0, -2.0, 0.5], [-0.8, 1.9, -0.4], [0.3, 0.1, 0.2], [-0.2, 0.2, -0.1]])
    source, target = _their_score(blocks, SOURCE_P), _their_score(blocks, TARGET_P)
    assert mean_error_distance(blocks, precisions) == pytest.approx(min(source, target), rel=1e-6)
    per_block = min(_per_block(blocks, SOURCE_P), _per_block(blocks, TARGET_P))
    assert clip_distance(blocks, precisions) == pytest.approx(per_block, rel=1e-6)
    assert abs(per_block - min(source, target)) > 0.1 * min(source, target)  # >10 % apart

    # the minimum: a clip nearer the target domain takes its target score
    along_target = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.2]])
    source, target = _their_score(along_target, SOURCE_P), _their_score(along_target, TARGET_P)
    assert target < source
    assert mean_error_distance(along_target, precisions) == pytest.approx(target, rel=1e-6)
    along_source = np.array([[0.0, 1.0, 0.0], [0.0, 0.8, 0.0]])
    source, target = _their_score(along_source, SOURCE_P), _their_score(along_source, TARGET_P)
    assert source < target
    assert mean_error_distance(along_source, precisions) == pytest.approx(source, rel=1e-6)


def _store(clips: dict[str, np.ndarray]) -> MemoryFrameStore:
    """A frame store of the named clips' frames (n_frames, N_MELS)."""
    offsets = np.cumsum([0, *(len(frames) for frames in clips.values())])
    store = MemoryFrameStore(np.concatenate(list(clips.values())).astype(np.float32), offsets)
    store.clip_paths = [Path(name) for name in clips]
    return store


def _stacked(frames: np.ndarray) -> np.ndarray:
    return np.concatenate([frames[:-1], frames[1:]], axis=1)  # FRAMES = 2, frame-major


def test_the_covariances_are_summed_per_batch_and_divided_by_the_vectors(tmp_path):
    rng = np.random.default_rng(7)
    clips = {
        "section_00_source_train_normal_0000_a.wav": rng.normal(size=(11, N_MELS)),
        "section_00_source_train_normal_0001_a.wav": rng.normal(size=(9, N_MELS)),
        "section_00_target_train_normal_0000_b.wav": rng.normal(size=(14, N_MELS)),
    }
    store = _store(clips)
    shrink = np.array([0.5, 0.9, 0.2] * FRAMES, dtype=np.float32)

    def predict(vectors):  # a model whose residual is a known share of each value
        return vectors * shrink

    batches = VectorBatches(batch_size=9, validation_split=0.2, validation_vectors="random", seed=3)
    fitted = fit_organisers_precisions(predict, store, frames=FRAMES, batches=batches)

    # by hand: the vectors, which of them are training ones, their batches
    vectors = np.concatenate([_stacked(f.astype(np.float32)) for f in clips.values()])
    is_target = np.array([False] * 10 + [False] * 8 + [True] * 13)
    residuals = vectors.astype(np.float64) * (1 - shrink.astype(np.float64))
    training, validation = batches.split(len(vectors))
    assert len(validation) == math.ceil(0.2 * 31) and len(training) == 24
    sums = {"source": np.zeros((N_MELS, N_MELS)), "target": np.zeros((N_MELS, N_MELS))}
    counts = {"source": 0, "target": 0}
    for rows in batches.shuffled(training):
        if len(rows) <= 1:
            continue
        for domain, members in (("source", ~is_target[rows]), ("target", is_target[rows])):
            if members.any():
                blocks = residuals[rows][members].reshape(-1, N_MELS)
                centred = blocks - blocks.mean(axis=0)  # the batch's own mean
                sums[domain] += centred.T @ centred
                counts[domain] += int(members.sum())  # vectors, not blocks
    for domain in ("source", "target"):
        covariance = sums[domain] / (counts[domain] - 1)
        assert np.allclose(np.linalg.inv(fitted.matrices[domain]), covariance, rtol=1e-6)
        assert fitted.vectors[domain] == counts[domain]

    # no target clips: the source covariance alone (the organisers' copy of it)
    source_only = _store({name: frames for name, frames in clips.items() if "source" in name})
    only = fit_organisers_precisions(predict, source_only, frames=FRAMES, batches=batches)
    assert list(only.matrices) == ["source"]

    # scored through the scorer: a clip as the mean residual block, the smaller domain
    scorer = MahalanobisScorer(predict, fitted, mean_error_distance)
    clip = rng.normal(size=(7, N_MELS)).astype(np.float32)
    blocks = (_stacked(clip).astype(np.float64) * (1 - shrink)).reshape(-1, N_MELS)
    expected = min(_their_score(blocks, fitted.matrices[d]) for d in ("source", "target"))
    (score,) = scorer.anomaly_scores([clip], frames=FRAMES)
    assert score == pytest.approx(expected, rel=1e-6)


def test_a_state_of_another_formula_is_refitted_never_reused(tmp_path):
    model = tmp_path / "model_fan.hdf5"
    model.write_bytes(b"model")
    per_block = DomainPrecisions(
        {"source": np.eye(3)}, {"source": 9}, file_digest(model), "clips", "mahalanobis_per_block"
    )
    save_precisions(model, per_block)
    assert precision_file(model, "mahalanobis_per_block").name == (
        "model_fan.hdf5.mahalanobis_per_block.npz"
    )
    assert load_precisions(model, training_clips="clips", score="mahalanobis_per_block")
    assert load_precisions(model, training_clips="clips", score="mahalanobis") is None
    # a per-block state written under the organisers' file name (as before formulas were
    # recorded) is not taken for the organisers' formula
    precision_file(model, "mahalanobis_per_block").rename(precision_file(model, "mahalanobis"))
    assert load_precisions(model, training_clips="clips", score="mahalanobis") is None


def test_the_jackknife_interval_is_the_evaluators_on_a_hand_computed_case():
    from anomaly_detection.evaluation.jackknife import jackknife_half_width, official_score_ci95
    from anomaly_detection.evaluation.metrics import roc_auc

    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
    # each file left out, the AUC counted by hand over the anomalous-normal pairs
    left_out = np.array([4 / 6, 5 / 6, 5 / 6, 4 / 6, 6 / 6, 4 / 6])
    deviation = math.sqrt(np.sum((left_out - left_out.mean()) ** 2) / (6 * 5))
    assert deviation == pytest.approx(2 / 36)
    t_critical = 2.5705818366147395  # Student's t, 5 degrees of freedom, 97.5 %
    assert jackknife_half_width(roc_auc, labels, scores) == pytest.approx(
        t_critical * deviation, rel=1e-9
    )

    def their_half_width(statistic):  # the evaluator's steps (1)-(7), for the pAUC
        thetas = [statistic(np.delete(labels, i), np.delete(scores, i)) for i in range(6)]
        sigma = math.sqrt(np.sum((np.array(thetas) - np.mean(thetas)) ** 2) / (6 * 5))
        return abs(scipy.stats.t.ppf(0.025, 5)) * sigma

    pauc = their_half_width(lambda y, s: roc_auc_score(y, s, max_fpr=0.1))
    auc = their_half_width(roc_auc_score)
    assert auc == pytest.approx(t_critical * 2 / 36, rel=1e-9)
    assert official_score_ci95(labels, scores, max_fpr=0.1) == pytest.approx(
        (auc + pauc) / 2, rel=1e-9
    )
    assert math.isnan(official_score_ci95(labels[:1], scores[:1], max_fpr=0.1))
