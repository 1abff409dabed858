"""The organisers' DCASE 2023+ baseline: their selective Mahalanobis formula and covariance,
their per-batch decision threshold, the evaluators' jackknife interval, their evaluation
label lists. Every expected value is computed here by hand from the formulas of
``nttcslab/dcase2023_task2_baseline_ae`` and ``nttcslab/dcase2024_task2_evaluator``."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import yaml
from sklearn.metrics import roc_auc_score

from anomaly_detection.core.config import load_config
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset
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
from conftest import REPO, run_script

# Its module-scoped fixtures train models: its tests stay on one pytest-xdist worker
# (./run_tests.sh runs -n auto --dist loadgroup), so that each fixture runs once.
pytestmark = pytest.mark.xdist_group("test_organisers_baseline")

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


def test_results_of_another_formula_are_not_current():
    from anomaly_detection.evaluation.staleness import ResultFacts

    organisers = ResultFacts("dev", 0.1, {}, "mahalanobis")
    before = {"result_csv": {"mode": "dev", "max_fpr": 0.1, "score": "mahalanobis"}}
    assert "under another formula" in organisers.difference(before, "fan")
    now = {"result_csv": organisers.record("fan")}
    assert now["result_csv"]["formula"] == "organisers"
    assert organisers.difference(now, "fan") is None
    mse = ResultFacts("dev", 0.1, {}, "mse")  # the reference's score: its records stay current
    assert mse.difference({"result_csv": {"mode": "dev", "max_fpr": 0.1}}, "fan") is None


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


def test_the_organisers_evaluation_lists_label_by_file_name(tmp_path):
    from anomaly_detection.core.errors import DatasetError
    from anomaly_detection.data.dataset import TestSet
    from anomaly_detection.data.evaluation_lists import read_evaluation_list

    test = tmp_path / "eval_data" / "fan" / "test"
    clips = tuple(test / f"section_00_000{i}.wav" for i in range(3))
    listed = tmp_path / "eval_data_list_2024.csv"
    rows = [
        "ToyCar",
        "section_00_0000.wav,section_00_source_test_normal_0000_a.wav",
        "fan",
        "section_00_0000.wav,section_00_target_test_anomaly_0000_mdl_B.wav",
        "section_00_0001.wav,section_00_source_test_normal_0001_mdl_A.wav",
        "section_00_0002.wav,section_00_source_test_anomaly_0002_mdl_A.wav",
    ]
    listed.write_text("\n".join(rows) + "\n")
    (labelled,) = read_evaluation_list(listed, 2024).label_test_sets(
        "fan", [TestSet("section_00_test", clips, None)]
    )
    assert labelled.labels == (1, 0, 1)
    assert labelled.domains == ("target", "source", "source")

    section_00 = [TestSet("section_00_test", clips, None)]

    def fails(text: str, year: int, message: str, test_sets=None):
        listed.write_text(text)
        with pytest.raises(DatasetError, match=message):
            read_evaluation_list(listed, year).label_test_sets("fan", test_sets or section_00)

    fails("\n".join(rows[:-1]) + "\n", 2024, r"section_00_0002.wav: test clip not in .*\(fan\)")
    extra = rows + ["section_00_0009.wav,section_00_source_test_normal_0009_mdl_A.wav"]
    fails(
        "\n".join(extra) + "\n",
        2024,
        r"eval_data_list_2024.csv:7: fan section_00_0009.wav is listed but not",
    )
    fails(
        "\n".join(rows).replace("source_test_normal_0001", "source_tst_normal_0001"),
        2024,
        r":5: .* is not a 2024 labelled test clip name",
    )
    fails("\n".join(rows[2:]).replace("fan", "pump"), 2024, "machine type 'fan' is not listed")
    fails("section_00_0000.wav,x.wav\n", 2024, ":1: a row before the first machine-type line")
    fails(
        "fan\nid_01_00000000.wav,normal_id_01_00000098.wav,0\n", 2024, "got 3 columns .a 2020 list"
    )
    wrong_section = "\n".join(rows).replace(
        "section_00_target_test_anomaly_0000", "section_01_target_test_anomaly_0000"
    )
    fails(wrong_section, 2024, r":4: labels section_00_0000.wav as a section 01 target clip")
    listed.write_bytes(b"fan\n\xff\xfe,\x00\n")
    with pytest.raises(DatasetError, match="eval_data_list_2024.csv: unreadable"):
        read_evaluation_list(listed, 2024)

    # 2021: the published names keep their domain; a list naming another domain is an error
    source = (test.parent / "source_test" / "section_03_source_test_0000.wav",)
    rows_2021 = "fan\nsection_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav\n"
    listed.write_text(rows_2021)
    (labelled,) = read_evaluation_list(listed, 2021).label_test_sets(
        "fan", [TestSet("section_03_source_test", source, None, domains=("source",))]
    )
    assert labelled.labels == (1,) and labelled.domains == ("source",)
    fails(
        rows_2021.replace("anomaly_0000.wav\n", "anomaly_0000.wav\n").replace(
            ",section_03_source", ",section_03_target"
        ),
        2021,
        "as a section 03 target clip; it is in section_03_source_test",
        [TestSet("section_03_source_test", source, None, domains=("source",))],
    )


def test_the_training_batches_are_scored_as_clips_for_the_organisers_threshold():
    from anomaly_detection.evaluation.training_scores import training_batch_scores

    rng = np.random.default_rng(1)
    store = _store(
        {
            "section_00_source_train_normal_0000_a.wav": rng.normal(size=(30, N_MELS)),
            "section_00_target_train_normal_0000_b.wav": rng.normal(size=(21, N_MELS)),
        }
    )

    def predict(vectors):
        return vectors * 0.5

    batches = VectorBatches(
        batch_size=8, validation_split=0.25, validation_vectors="random", seed=5
    )
    vectors = np.concatenate([_stacked(store.clip(0)), _stacked(store.clip(1))]).astype(np.float64)
    training, validation = batches.split(len(vectors))
    expected = []
    for rows in [*batches.shuffled(training, stream=2), *batches.in_order(validation)]:
        if len(rows) > 1:  # a batch's MSE: mean over its vectors of their mean squared error
            expected.append(np.mean(np.mean((vectors[rows] * 0.5) ** 2, axis=1)))
    scores = training_batch_scores(predict, store, frames=FRAMES, batches=batches)
    assert len(scores) == math.ceil(len(training) / 8) + math.ceil(len(validation) / 8)
    assert np.allclose(scores, expected, rtol=1e-6)

    precisions = DomainPrecisions({"source": SOURCE_P, "target": TARGET_P}, {"source": 9})
    scorer = MahalanobisScorer(predict, precisions, mean_error_distance)
    scores = training_batch_scores(scorer, store, frames=FRAMES, batches=batches)
    first = next(batches.shuffled(training, stream=2))
    blocks = (vectors[first] * 0.5).reshape(-1, N_MELS)
    by_hand = min(_their_score(blocks, SOURCE_P), _their_score(blocks, TARGET_P))
    assert scores[0] == pytest.approx(by_hand, rel=1e-6)


def _batch_store() -> MemoryFrameStore:
    rng = np.random.default_rng(2)
    return _store(
        {
            "section_00_source_train_normal_0000_a.wav": rng.normal(size=(40, N_MELS)),
            "section_00_target_train_normal_0000_b.wav": rng.normal(size=(24, N_MELS)),
        }
    )


def test_a_state_or_threshold_fitted_on_other_batches_is_fitted_again(tmp_path):
    """Changing the split, batch size or seed without training again: the organisers'
    covariances and a per-batch threshold are fitted on the new batches, never the old
    ones reused (the result would depend on which files happened to be there)."""
    from anomaly_detection.core.layout import OutputLayout
    from anomaly_detection.evaluation.organisers_mahalanobis import SelectiveMahalanobis
    from anomaly_detection.evaluation.thresholds import stored_or_fitted_threshold
    from anomaly_detection.registry.variants import KERAS

    layout = OutputLayout(tmp_path, tmp_path / "result")
    model = layout.model_file(KERAS, "fan")
    model.write_bytes(b"a stand-in model")
    store = _batch_store()
    fits = []

    def training_frames():
        fits.append(1)
        return store

    def predict(vectors):
        return vectors * 0.5

    first = VectorBatches(batch_size=8, validation_split=0.2, validation_vectors="random", seed=1)
    for batches, fitted in ((first, 1), (first, 1), (replace(first, seed=2), 2)):
        SelectiveMahalanobis.scoring_model(
            model, predict, training_frames, frames=FRAMES, training_clips="c", batches=batches
        )
        assert len(fits) == fitted, batches
    stored = np.load(precision_file(model, "mahalanobis"))
    assert str(stored["batches"]) == replace(first, seed=2).record

    def threshold(batches):
        return stored_or_fitted_threshold(
            layout,
            KERAS,
            "fan",
            predict,
            training_frames,
            frames_per_vector=FRAMES,
            percentile=0.9,
            fitted_on="batches",
            batches=batches,
        )

    fits.clear()
    threshold(first)
    threshold(first)
    assert len(fits) == 1
    for changed in (
        replace(first, validation_vectors="last"),
        replace(first, batch_size=9),
        replace(first, seed=None),
    ):
        refitted = threshold(changed)
        assert refitted.batches == changed.record
    assert len(fits) == 4


def test_their_batches_of_one_vector_are_left_out_of_the_training_loop_only():
    """Their MSE threshold: the last epoch's training batches (a batch of one skipped, as
    their BatchNorm cannot train on it), then every validation batch; their MAHALA
    threshold: every training and validation batch, none skipped."""
    from anomaly_detection.evaluation.training_scores import training_batch_scores

    store = _batch_store()  # 62 vectors: 55 training, 7 validation
    batches = VectorBatches(batch_size=6, validation_split=0.1, validation_vectors="random", seed=4)
    training, validation = batches.split(len(store.vector_starts(FRAMES)))
    assert (len(training) % 6, len(validation) % 6) == (1, 1)  # a batch of one in each

    def predict(vectors):
        return vectors * 0.5

    mse = training_batch_scores(predict, store, frames=FRAMES, batches=batches)
    assert len(mse) == len(training) // 6 + math.ceil(len(validation) / 6)
    vectors = store.stack(store.vector_starts(FRAMES)[validation[-1:]], FRAMES)
    assert mse[-1] == pytest.approx(np.mean((vectors * 0.5) ** 2), rel=1e-6)

    precisions = DomainPrecisions({"source": SOURCE_P}, {"source": 9})
    scorer = MahalanobisScorer(predict, precisions, mean_error_distance)
    mahala = training_batch_scores(scorer, store, frames=FRAMES, batches=batches)
    assert len(mahala) == math.ceil(len(training) / 6) + math.ceil(len(validation) / 6)


def test_a_sweep_run_scored_under_an_earlier_formula_is_not_complete(tmp_path, monkeypatch):
    """A sweep run finished before ``mahalanobis`` became the organisers' formula (its
    result.csv holds per-block figures) must run again, not join the new runs' spread."""
    from anomaly_detection.registry import anomaly_scores
    from anomaly_detection.sweep.plan import plan_sweep
    from conftest import base_config

    def digest(score: str) -> str:
        raw = base_config(tmp_path, tmp_path / "data", anomaly_score=score)
        (run,) = plan_sweep(
            tmp_path / "base.yaml", raw, [], [0], tmp_path / "sweep", n_workers=1, identity={}
        )
        return run.digest

    now = {score: digest(score) for score in ("mse", "mahalanobis")}
    before = tuple(
        replace(entry, formula="") for entry in anomaly_scores.ANOMALY_SCORES
    )  # every name as it was before formulas were recorded
    monkeypatch.setattr(anomaly_scores, "ANOMALY_SCORES", before)
    assert digest("mahalanobis") != now["mahalanobis"]
    assert digest("mse") == now["mse"]  # a score of one formula only: its runs stay complete


# ---- the preset through the command line -------------------------------------------------
def _preset(work: Path, root: Path) -> Path:
    """``configs/dcase2024_baseline.yaml`` as shipped, its folders under ``work`` and
    ``root``, one epoch."""
    raw = yaml.safe_load((REPO / "configs" / "dcase2024_baseline.yaml").read_text())
    raw.update(
        dev_directory=str(root / "dev_data"),
        eval_directory=str(root / "eval_data"),
        model_directory=str(work / "model"),
        result_directory=str(work / "result"),
        cache_directory=str(work.parent / "cache"),
        log_file=str(work / "baseline.log"),
    )
    raw["fit"].update(epochs=1, verbose=0)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "preset.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def data_2024(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("organisers_2024")
    spec = SectionedSpec(
        year=2024,
        machine_types=("ToyCar", "fan"),
        train_source_clips=12,
        train_target_clips=3,
        test_clips=4,
        duration=9.0,
        seed=24,
    )
    write_sectioned_dataset(root, spec, dev=True, eval_=True)
    return root


def _run(*args: str, cwd: Path) -> None:
    run = run_script(*args, cwd=cwd)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr


def _pooled_ci95(result: Path, truth: dict[str, tuple[int, str]] | None = None) -> float:
    """The evaluators' ``official score ci95`` from our score files: every file pooled,
    steps (1)-(7) of their ``jackknife_estimate`` with scikit-learn's AUCs."""
    labels, scores = [], []
    for path in sorted(result.glob("anomaly_score_*_section_*_test.csv")):
        for name, score in (line.split(",") for line in path.read_text().split()):
            labels.append(truth[name][0] if truth else int("_anomaly_" in name))
            scores.append(float(score))
    y, s, n = np.array(labels), np.array(scores), len(labels)

    def half_width(statistic):
        thetas = np.array([statistic(np.delete(y, i), np.delete(s, i)) for i in range(n)])
        sigma = math.sqrt(np.sum((thetas - thetas.mean()) ** 2) / (n * (n - 1)))
        return abs(scipy.stats.t.ppf(0.025, n - 1)) * sigma

    return (
        half_width(roc_auc_score) + half_width(lambda a, b: roc_auc_score(a, b, max_fpr=0.1))
    ) / 2


def _result_rows(path: Path) -> dict[str, float]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    return {row[0]: float(row[2]) for row in rows if row[0].startswith("official score")}


@pytest.fixture(scope="module")
def trained_2024(data_2024, tmp_path_factory) -> tuple[Path, Path]:
    """The preset's configuration (one epoch) and its working folder, 00 run once."""
    work = tmp_path_factory.mktemp("preset_2024") / "work"
    config = _preset(work, data_2024)
    _run("00_train.py", "-d", "--config", str(config), cwd=work)
    return config, work


def test_the_preset_scores_their_mse_with_their_files_and_the_ci95(trained_2024):
    config, work = trained_2024
    result = work / "result"
    _run("01_test.py", "-d", "--config", str(config), cwd=work)
    official = _result_rows(result / "result.csv")
    assert official["official score ci95"] == pytest.approx(_pooled_ci95(result), rel=1e-9)
    summary = (result / "summary.md").read_text()
    score, ci95 = official["official score"], official["official score ci95"]
    assert f"Keras **{score:.4f}** ± {ci95:.4f} (ToyCar, fan)" in summary

    threshold = json.loads((work / "model" / "model_fan.hdf5.threshold.json").read_text())
    assert (threshold["fitted_on"], threshold["score"], threshold["by_set"]) == (
        "batches",
        "mse",
        {},
    )

    theirs = result / "dev_data" / "baseline_MSE"
    tail = "_test_seed13711_id(0_)"
    assert {path.name for path in theirs.iterdir()} == {
        *(
            f"{kind}_DCASE2024T2{t}_section_00{tail}.csv"
            for kind in ("anomaly_score", "decision_result")
            for t in ("ToyCar", "fan")
        ),
        *(f"result_DCASE2024T2{t}{tail}_roc.csv" for t in ("ToyCar", "fan")),
        "DCASE2024T2_auc_pauc_extract.csv",
    }
    ours = (result / "anomaly_score_fan_section_00_test.csv").read_text()
    assert (theirs / f"anomaly_score_DCASE2024T2fan_section_00{tail}.csv").read_text() == ours
    totals = {}
    for machine_type in ("ToyCar", "fan"):
        pairs = (
            [line.split(",") for line in ours.split()]
            if machine_type == "fan"
            else [
                line.split(",")
                for line in (result / "anomaly_score_ToyCar_section_00_test.csv")
                .read_text()
                .split()
            ]
        )
        y = np.array([int("_anomaly_" in name) for name, _ in pairs])
        s = np.array([float(value) for _, value in pairs])
        target = np.array(["_target_" in name for name, _ in pairs])
        expected = {
            "AUC (source)": roc_auc_score(y[~target | (y == 1)], s[~target | (y == 1)]),
            "AUC (target)": roc_auc_score(y[target | (y == 1)], s[target | (y == 1)]),
            "pAUC": roc_auc_score(y, s, max_fpr=0.1),
            "pAUC (source)": roc_auc_score(y[~target], s[~target], max_fpr=0.1),
            "pAUC (target)": roc_auc_score(y[target], s[target], max_fpr=0.1),
        }
        with open(theirs / f"result_DCASE2024T2{machine_type}{tail}_roc.csv", newline="") as handle:
            header, section, mean, hmean, blank = list(csv.reader(handle))
        assert section[0] == "00" and mean[0] == "arithmetic mean" and blank == []
        for column, value in expected.items():
            assert float(section[header.index(column)]) == pytest.approx(value, abs=1e-12), column
        totals[machine_type] = [
            expected["AUC (source)"],
            expected["AUC (target)"],
            expected["pAUC"],
        ]
    with open(theirs / "DCASE2024T2_auc_pauc_extract.csv", newline="") as handle:
        extract = {row[1]: row for row in csv.reader(handle)}
    every = [value for values in totals.values() for value in values]
    assert float(extract["TOTAL score"][2]) == pytest.approx(score, abs=1e-12)  # h-mean
    assert float(extract["TOTAL score"][3]) == pytest.approx(np.mean(every), abs=1e-12)
    assert extract["metric"] == ["System", "metric", "h-mean", "a-mean", "ToyCar", "fan"]
    assert extract["TOTAL score"][0] == "baseline_MSE"


def test_the_preset_scores_their_mahalanobis_formula(trained_2024):
    config, work = trained_2024
    result, tail = work / "result", "_test_seed13711_id(0_)"

    # files of the per-block formula left under the organisers' names, as written before
    # formulas were recorded: neither is taken for the organisers' formula
    model = work / "model" / "model_fan.hdf5"
    earlier = json.loads((work / "model" / "model_fan.hdf5.threshold.json").read_text())
    earlier.update(score="mahalanobis", threshold=1e9)
    del earlier["formula"]
    stale_threshold = work / "model" / "model_fan.hdf5.mahalanobis.threshold.json"
    stale_threshold.write_text(json.dumps(earlier))
    np.savez(
        work / "model" / "model_fan.hdf5.mahalanobis.npz",
        precision_source=np.eye(128),
        vectors_source=np.asarray(9),
        format=np.asarray(2),
        model_digest=np.asarray(file_digest(model)),
        training_clips=np.asarray(""),
    )
    _run("01_test.py", "-d", "--config", str(config), "--anomaly-score", "mahalanobis", cwd=work)
    threshold = json.loads(stale_threshold.read_text())
    assert threshold["threshold"] != 1e9
    preset = load_config(config)
    batches = VectorBatches.of(preset.fit, preset.seed).record  # the preset's batches
    stored = load_precisions(model, training_clips=None, score="mahalanobis", batches=batches)
    assert stored is not None and stored.formula == "organisers"
    assert not np.allclose(stored.matrices["source"], np.eye(128))
    assert (threshold["score"], threshold["formula"], threshold["fitted_on"]) == (
        "mahalanobis",
        "organisers",
        "batches",
    )
    assert (work / "model" / "model_fan.hdf5.mahalanobis.npz").is_file()
    assert (
        result
        / "dev_data"
        / "baseline_MAHALA"
        / f"anomaly_score_DCASE2024T2fan_section_00{tail}.csv"
    ).is_file()
    summary = (result / "summary.md").read_text()
    assert "selective Mahalanobis distance (the DCASE 2023+ organisers' formula)" in summary
    mahalanobis = _result_rows(result / "result.csv")
    assert math.isfinite(mahalanobis["official score"])
    assert mahalanobis["official score ci95"] == pytest.approx(_pooled_ci95(result), rel=1e-9)


def test_the_evaluation_set_is_labelled_by_the_organisers_list(data_2024, tmp_path):
    truth: dict[str, tuple[int, str]] = {}
    lines = []
    for machine_type in ("ToyCar", "fan"):
        name = f"ground_truth_{machine_type}_section_00_test.csv"
        labels = dict(
            line.split(",") for line in (data_2024 / "ground_truth_data" / name).read_text().split()
        )
        domains = dict(
            line.split(",")
            for line in (data_2024 / "ground_truth_domain" / name).read_text().split()
        )
        lines.append(machine_type)
        for published, label in sorted(labels.items()):
            domain = "target" if domains[published] == "1" else "source"
            index = published.removesuffix(".wav").split("_")[-1]
            kind = "anomaly" if label == "1" else "normal"
            lines.append(f"{published},section_00_{domain}_test_{kind}_{index}_spd_1.wav")
            truth[published] = (int(label), domain)
    listed = tmp_path / "eval_data_list_2024.csv"
    listed.write_text("\n".join(lines) + "\n")
    config = _preset(tmp_path / "work", data_2024)
    work, result = tmp_path / "work", tmp_path / "work" / "result"
    _run("00_train.py", "-e", "--config", str(config), cwd=work)
    _run("01_test.py", "-e", "--config", str(config), "--ground-truth", str(listed), cwd=work)
    official = _result_rows(result / "result.csv")
    expected = []
    for machine_type in ("ToyCar", "fan"):
        pairs = [
            line.split(",")
            for line in (result / f"anomaly_score_{machine_type}_section_00_test.csv")
            .read_text()
            .split()
        ]
        y = np.array([truth[name][0] for name, _ in pairs])
        s = np.array([float(value) for _, value in pairs])
        target = np.array([truth[name][1] == "target" for name, _ in pairs])
        expected += [
            roc_auc_score(y[~target | (y == 1)], s[~target | (y == 1)]),
            roc_auc_score(y[target | (y == 1)], s[target | (y == 1)]),
            roc_auc_score(y, s, max_fpr=0.1),
        ]
    assert official["official score"] == pytest.approx(scipy.stats.hmean(expected), abs=1e-12)
    assert official["official score ci95"] == pytest.approx(_pooled_ci95(result, truth), rel=1e-9)
    theirs = result / "eval_data" / "baseline_MSE"
    assert (theirs / "result_DCASE2024T2fan_test_seed13711_id(0_)_Eval_roc.csv").is_file()

    listed.write_text("\n".join(lines[:-1]) + "\n")  # one clip without its label
    run = run_script(
        "01_test.py", "-e", "--config", str(config), "--ground-truth", str(listed), cwd=work
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"test clip not in {listed} (fan)" in run.stderr


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("fit.learning_rate", 0, "'fit.learning_rate' must be in (0, 10], got 0.0"),
        ("fit.learning_rate", "fast", "'fit.learning_rate' must be a number, got 'fast'"),
        (
            "fit.validation_vectors",
            "rand",
            "'fit.validation_vectors' is 'rand', not one of: last, random (did you mean 'random'?)",
        ),
        (
            "decision_fit",
            "batch",
            "'decision_fit' is 'batch', not one of: clips, batches (did you mean 'batches'?)",
        ),
        ("organisers_files", "yes", "'organisers_files' must be true or false, got 'yes'"),
    ],
)
def test_the_recipes_keys_are_checked_in_one_line(key, value, expected):
    from anomaly_detection.core.config import parse_config
    from anomaly_detection.core.errors import ConfigError

    raw = yaml.safe_load((REPO / "configs" / "dcase2024_baseline.yaml").read_text())
    section, _, name = key.rpartition(".")
    (raw[section] if section else raw)[name] = value
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "preset.yaml")
    assert str(error.value) == f"preset.yaml: 1 problem(s):\n  {expected}"


def test_the_presets_hold_the_organisers_recipe(tmp_path):
    from anomaly_detection.core.config import load_config, parse_config
    from anomaly_detection.core.errors import ConfigError

    for year in (2023, 2024, 2025, 2026):
        config = load_config(REPO / "configs" / f"dcase{year}_baseline.yaml")
        fit = config.fit
        assert (fit.batch_size, fit.epochs, fit.learning_rate, config.seed) == (
            256,
            100,
            0.001,
            13711,
        )
        assert (config.feature.frame_crop, fit.validation_vectors, fit.validation_split) == (
            None,
            "random",
            0.1,
        )
        assert (config.dataset_year, config.decision_fit, config.organisers_files) == (
            year,
            "batches",
            True,
        )
        assert config.feature.channel == (0 if year == 2026 else None)
        assert fit.keras_optimizer == {"class_name": "adam", "config": {"learning_rate": 0.001}}
    raw = yaml.safe_load((REPO / "configs" / "dcase2024_baseline.yaml").read_text())
    raw["seed"] = None
    with pytest.raises(ConfigError, match="'organisers_files' needs a 'seed'"):
        parse_config(raw)


def test_the_random_validation_split_is_seeded_and_holds_out_a_tenth():
    last = VectorBatches(validation_split=0.1, validation_vectors="last")
    training, validation = last.split(95)
    assert list(training) == list(range(85)) and list(validation) == list(range(85, 95))
    random = VectorBatches(validation_split=0.1, validation_vectors="random", seed=13711)
    training, validation = random.split(95)
    assert len(validation) == 10 and len(training) == 85  # ceil(0.1 * 95), as train_test_split
    assert sorted([*training, *validation]) == list(range(95))
    assert max(validation) > 0 and min(validation) < 85  # not the last tenth
    again, _ = VectorBatches(validation_split=0.1, validation_vectors="random", seed=13711).split(
        95
    )
    assert list(again) == list(training)


def test_their_file_names_are_refused_where_their_models_are_per_section(tmp_path):
    import argparse

    from anomaly_detection.core.config import load_config
    from anomaly_detection.core.errors import PipelineError
    from anomaly_detection.pipeline.context import context_from_arguments
    from conftest import write_config

    spec = SectionedSpec(
        year=2022,
        machine_types=("fan",),
        train_source_clips=1,
        train_target_clips=1,
        test_clips=1,
        duration=9.0,
        dev_sections=(0, 1),  # several sections: the 2022 layout
    )
    write_sectioned_dataset(tmp_path / "data", spec)
    config = load_config(write_config(tmp_path, tmp_path / "data", organisers_files=True))
    args = argparse.Namespace(dev=True, machine_types=None, no_cache=True, progress=False)
    with pytest.raises(
        PipelineError, match="the organisers' 2022 baseline trains one model per section"
    ):
        context_from_arguments(args, config)


def test_the_sweep_summary_carries_the_ci95_over_seeds(tmp_path):
    from anomaly_detection.evaluation.jackknife import official_score_ci95
    from anomaly_detection.evaluation.official import official_result_csv_text
    from anomaly_detection.evaluation.scoring import SetScores, TypeResult
    from anomaly_detection.evaluation.thresholds import Threshold
    from anomaly_detection.sweep.plan import SweepRun
    from anomaly_detection.sweep.summary import collect_results, summarize, write_summary
    from conftest import base_config

    rng = np.random.default_rng(0)
    runs, results, half_widths = [], [], []
    for seed in (0, 1):
        labels = np.array([0, 1] * 8)
        scores = rng.normal(size=16) + labels
        domains = ("source",) * 8 + ("target",) * 8
        files = [Path(f"section_00_{i:04d}.wav") for i in range(16)]
        result = TypeResult(
            "fan", [SetScores("section_00_test", files, scores, labels, domains=domains)]
        )
        threshold = Threshold(0.5, 0.9, 1.0, 0.0, 1.0, 10)
        folder = tmp_path / f"seed_{seed}"
        config = base_config(folder, tmp_path, seed=seed)
        (folder / "result").mkdir(parents=True)
        text = official_result_csv_text(2024, [result], {"fan": threshold}, max_fpr=0.1)
        (folder / "result" / "result.csv").write_text(text)
        half_widths.append(official_score_ci95(labels, scores, max_fpr=0.1))
        runs.append(SweepRun("base", seed, folder, yaml.safe_dump(config), "digest"))
        results.append(collect_results(runs[-1]))
    rows = {row.machine_type: row for row in summarize(runs, results)}
    assert rows["official score ci95"].aucs == pytest.approx(half_widths, rel=1e-12)
    assert list(rows)[-2:] == ["official score", "official score ci95"]
    write_summary(tmp_path, list(rows.values()), [], [0, 1])
    assert (
        "| base | keras | **official score ci95** | 2 |"
        in (tmp_path / "sweep_summary.md").read_text()
    )
