"""The registries: every entry resolves to working code, and a new entry is all it takes."""

from __future__ import annotations

import csv
import inspect
import json
import math

import numpy as np
import pytest

from anomaly_detection.core.config import load_config
from anomaly_detection.core.errors import ConfigError
from anomaly_detection.evaluation.score_methods import AnomalyScoreMethod
from anomaly_detection.evaluation.scoring import ClipScorer
from anomaly_detection.features.spectrogram import frame_stack
from anomaly_detection.features.vector_batches import VectorBatches
from anomaly_detection.pipeline.context import run_context
from anomaly_detection.pipeline.settings import RunSettings
from anomaly_detection.registry import anomaly_scores
from anomaly_detection.registry.anomaly_scores import (
    ANOMALY_SCORES,
    DEFAULT_ANOMALY_SCORE,
    AnomalyScore,
    anomaly_score_entry,
)
from anomaly_detection.registry.implementation import load
from anomaly_detection.registry.variants import KERAS
from conftest import write_config

# ---- anomaly scores -----------------------------------------------------------------------


def _protocol_parameters(function) -> list[tuple[str, object]]:
    parameters = inspect.signature(function).parameters.values()
    return [(p.name, p.kind) for p in parameters if p.name != "self"]


@pytest.mark.parametrize("entry", ANOMALY_SCORES, ids=lambda entry: entry.name)
def test_every_anomaly_score_names_an_implementation_of_the_protocol(entry):
    method = load(entry.implementation)
    assert isinstance(method, AnomalyScoreMethod)
    assert _protocol_parameters(method.scoring_model) == _protocol_parameters(
        AnomalyScoreMethod.scoring_model
    )


def test_the_anomaly_scores_keep_their_names_and_file_names():
    names = [entry.name for entry in ANOMALY_SCORES]
    assert names == ["mse", "mahalanobis", "mahalanobis_per_block"]
    assert DEFAULT_ANOMALY_SCORE == "mse" == ANOMALY_SCORES[0].name
    mse, mahalanobis, per_block = ANOMALY_SCORES
    assert (mse.formula, mahalanobis.formula, per_block.formula) == ("", "organisers", "")
    assert per_block.state_file_name("m.hdf5", ".npz") == "m.hdf5.mahalanobis_per_block.npz"
    assert mse.threshold_file_name("model_x.hdf5") == "model_x.hdf5.threshold.json"
    assert (
        mahalanobis.threshold_file_name("model_x.hdf5") == "model_x.hdf5.mahalanobis.threshold.json"
    )
    assert mahalanobis.state_file_name("model_x.hdf5", ".npz") == "model_x.hdf5.mahalanobis.npz"
    with pytest.raises(KeyError, match="'maha': not a registered anomaly score"):
        anomaly_score_entry("maha")


def test_the_reference_score_scores_with_the_model_itself(tmp_path):
    def predict(vectors):
        return vectors

    def no_training_frames():
        raise AssertionError("mse fits nothing")

    method = load(anomaly_score_entry("mse").implementation)
    scorer = method.scoring_model(
        tmp_path / "model.hdf5",
        predict,
        no_training_frames,
        frames=5,
        training_clips=None,
        batches=VectorBatches(),
    )
    assert scorer is predict


class _LargestVectorErrorScorer:
    """A clip's score: the largest, over its vectors, of their mean squared error."""

    def __init__(self, predict):
        self.predict = predict

    def anomaly_scores(self, log_mels, *, frames):
        for log_mel in log_mels:
            vectors = frame_stack(log_mel, frames).astype(np.float64)
            errors = np.mean(np.square(vectors - self.predict(vectors)), axis=1)
            yield float(np.max(errors))


class LargestVectorError:
    """``anomaly_score: max``, a score the package does not have: registered by the test."""

    @staticmethod
    def scoring_model(model_file, predict, training_frames, *, frames, training_clips, batches):
        return _LargestVectorErrorScorer(predict)


MAX = AnomalyScore(
    name="max",
    description="largest per-vector mean squared error",
    implementation=f"{__name__}:LargestVectorError",
    file_tag=".max",
)


def _each_vector_its_mean(vectors: np.ndarray) -> np.ndarray:
    """A stand-in model: every value of a vector reconstructed as the vector's mean."""
    return np.repeat(vectors.mean(axis=1, keepdims=True), vectors.shape[1], axis=1)


def _score_as_the_scripts_do(config_file):
    """Threshold and scores of ToyCar by ``run.scoring.scorer`` and ``run.scoring.score``, as
    01_test.py (a stand-in model file: the score's files are tied to its digest)."""
    run = run_context(RunSettings(load_config(config_file), dev_mode=True))
    model_file = run.layout.model_file(KERAS, "ToyCar")
    model_file.parent.mkdir(parents=True)
    model_file.write_bytes(b"a stand-in model")
    (type_dir,) = run.data.type_dirs()
    training_frames = run.data.training_frames_loader(type_dir)
    scorer = run.scoring.scorer(KERAS, "ToyCar", _each_vector_its_mean, training_frames)
    threshold = run.scoring.stored_or_fitted_threshold(KERAS, "ToyCar", scorer, training_frames)
    result = run.scoring.score(KERAS, "ToyCar", scorer, run.data.test_features(type_dir))
    return run, scorer, threshold, result


def test_a_new_anomaly_score_is_one_registry_entry(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(anomaly_scores, "ANOMALY_SCORES", (*ANOMALY_SCORES, MAX))
    with pytest.raises(
        ConfigError, match="'maxx', not one of: mse, mahalanobis, mahalanobis_per_block, max"
    ):
        load_config(write_config(tmp_path / "typo", tiny_data, anomaly_score="maxx"))

    _, _, _, mse = _score_as_the_scripts_do(write_config(tmp_path / "mse", tiny_data))
    config = write_config(tmp_path / "max", tiny_data, anomaly_score="max")
    run, scorer, threshold, largest = _score_as_the_scripts_do(config)

    assert isinstance(scorer, ClipScorer)
    threshold_file = tmp_path / "max" / "model" / "model_ToyCar.hdf5.max.threshold.json"
    assert sorted(path.name for path in threshold_file.parent.iterdir()) == [
        "model_ToyCar.hdf5",
        "model_ToyCar.hdf5.max.threshold.json",
    ]
    stored = json.loads(threshold_file.read_text())
    assert stored["score"] == "max" and stored["threshold"] == threshold.threshold
    assert set(stored["by_set"]) == {"id_01", "id_02"}
    assert [ids.name for ids in largest.sets] == ["id_01", "id_02"]
    for max_ids, mse_ids in zip(largest.sets, mse.sets, strict=True):
        assert max_ids.files == mse_ids.files and len(max_ids.files) == 10
        assert all(math.isfinite(score) for score in max_ids.scores)
        # the largest vector error is never below the mean one, and above it on real clips
        assert np.all(max_ids.scores > mse_ids.scores)
        assert 0 <= max_ids.auc <= 1
        csv_file = run.layout.anomaly_scores(KERAS, "ToyCar", max_ids.name)
        with csv_file.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert [row[0] for row in rows] == [path.name for path in max_ids.files]
        assert [float(row[1]) for row in rows] == pytest.approx(max_ids.scores, rel=1e-12)
    assert (tmp_path / "mse" / "model" / "model_ToyCar.hdf5.threshold.json").is_file()

    again = run.scoring.stored_or_fitted_threshold(KERAS, "ToyCar", scorer, _no_training_frames)
    assert (again.threshold, again.by_set) == (threshold.threshold, threshold.by_set)
    assert again.model_size == len(b"a stand-in model")  # read back from the file, not refitted


def _no_training_frames():
    raise AssertionError("the stored threshold is current: no fit")
