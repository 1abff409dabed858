"""DCASE 2021 to 2026: layouts, score file names and the official figures, recomputed here
independently (scikit-learn's AUCs, the evaluators' definitions) from our own score and
decision files."""

from __future__ import annotations

import csv
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from anomaly_detection.core.errors import DatasetError
from anomaly_detection.data.dcase_years import detect_year, list_section_test_sets
from anomaly_detection.data.synthetic_years import SectionedSpec, write_sectioned_dataset
from conftest import run_script, write_config

EPS = sys.float_info.epsilon
TYPES = ("ToyCar", "fan")


def tiny_spec(year: int) -> SectionedSpec:
    return SectionedSpec(
        year=year,
        machine_types=TYPES,
        train_source_clips=12,
        train_target_clips=2,
        test_clips=4,
        duration=9.0,
        seed=year,
        dev_sections=(0, 1) if year < 2023 else None,
    )


@pytest.fixture(scope="module", params=[2021, 2022, 2024, 2026])
def year_data(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"dcase{request.param}")
    write_sectioned_dataset(root, tiny_spec(request.param), dev=True, eval_=True)
    return request.param, root


@pytest.fixture(scope="module")
def trained_2026(tmp_path_factory):
    """A model folder of each machine type trained once on a 2026 set (two channels), its
    data root and the work folder: tests copy the folder instead of training again."""
    root = tmp_path_factory.mktemp("dcase2026_trained_data")
    write_sectioned_dataset(root, tiny_spec(2026))
    work = tmp_path_factory.mktemp("dcase2026_trained")
    config = write_config(work, root)
    run = run_script("00_train.py", "-d", "--config", str(config), cwd=work)
    assert run.returncode == 0, run.stderr[-3000:]
    return root, work / "model"


# ---- the evaluators' definitions, written here from their documentation ----------------
def hmean(values):
    values = np.maximum(np.asarray(values, dtype=float), EPS)
    return len(values) / np.sum(1 / values)


def prf(labels, decisions):
    tp = np.sum((labels == 1) & (decisions == 1))
    precision = tp / max(np.sum(decisions == 1), EPS)
    recall = tp / max(np.sum(labels == 1), EPS)
    return [precision, recall, 2 * precision * recall / max(precision + recall, EPS)]


def read_pairs(path):
    with open(path, newline="") as handle:
        return sorted((row[0], float(row[1])) for row in csv.reader(handle))


def truth_from_folders(root: Path):
    """{clip name: (label, domain)} from the evaluator-style ground truth folders."""
    truth = {}
    for path in (root / "ground_truth_data").glob("*.csv"):
        domains = {}
        if (root / "ground_truth_domain" / path.name).is_file():
            domains = dict(read_pairs(root / "ground_truth_domain" / path.name))
        for name, label in read_pairs(path):
            domain = "target" if domains.get(name, "_target_" in path.name) else "source"
            truth[name] = (int(label), domain)
    return truth


def expected_figures(result_dir: Path, year: int, prefix: str = "", truth=None):
    """{(type, section[, domain]): figures} and the official score, from the score files
    (labels and domains from the names, or from ``truth``)."""
    rows, official = {}, []
    for machine_type in TYPES:
        for path in sorted(result_dir.glob(f"{prefix}anomaly_score_{machine_type}_section_*")):
            name = path.name.removeprefix(prefix)
            scores = read_pairs(path)
            decisions = dict(
                read_pairs(Path(str(path).replace("anomaly_score_", "decision_result_")))
            )
            names = [file for file, _ in scores]
            if truth is None:
                y = np.array([int("_anomaly_" in file) for file in names])
            else:
                y = np.array([truth[file][0] for file in names])
            s = np.array([score for _, score in scores])
            d = np.array([int(decisions[file]) for file in names])
            section = name.split("_section_")[1][:2]
            if year == 2021:
                domain = name.split("_")[-2]
                figures = [roc_auc_score(y, s), roc_auc_score(y, s, max_fpr=0.1), *prf(y, d)]
                rows[machine_type, section, domain] = figures
                official += figures[:2]
                continue
            if truth is None:
                domains = np.array(["target" if "_target_" in f else "source" for f in names])
            else:
                domains = np.array([truth[file][1] for file in names])
            figures = {"AUC (all)": roc_auc_score(y, s), "pAUC": roc_auc_score(y, s, max_fpr=0.1)}
            for domain in ("source", "target"):
                pick = (domains == domain) | (y == 1)
                figures[f"AUC ({domain})"] = roc_auc_score(y[pick], s[pick])
                own = domains == domain
                p, r, f = prf(y[own], d[own])
                figures |= {
                    f"precision ({domain})": p,
                    f"recall ({domain})": r,
                    f"F1 score ({domain})": f,
                }
            rows[machine_type, section] = figures
            official += [figures["AUC (source)"], figures["AUC (target)"], figures["pAUC"]]
    return rows, hmean(official)


def read_result(path: Path, year: int):
    rows, official, current, header = {}, None, None, None
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row:
                current = None
            elif row[0] == "official score":
                official = float(row[2])
            elif current is None and len(row) == 1:
                current = row[0]
            elif current and row[0] == "section":
                header = row
            elif current and re.fullmatch("[0-9]{2}", row[0]):
                if year == 2021:
                    rows[current, row[0], row[1]] = [float(v) for v in row[2:]]
                else:
                    rows[current, row[0]] = dict(zip(header[1:], map(float, row[1:]), strict=True))
    return rows, official


def assert_official(result_dir: Path, year: int, prefix: str = "", truth=None):
    expected, official = expected_figures(result_dir, year, prefix, truth)
    written, written_official = read_result(result_dir / f"{prefix}result.csv", year)
    assert set(written) == set(expected) and expected
    for key, figures in expected.items():
        if year == 2021:
            assert np.allclose(written[key], figures, rtol=0, atol=1e-12), key
        else:
            for column, value in figures.items():
                assert abs(written[key][column] - value) <= 1e-12, (key, column)
    assert abs(written_official - official) <= 1e-12
    return official


def expected_score_files(year: int, sections):
    if year == 2021:
        return {
            f"anomaly_score_{t}_section_{s:02d}_{d}_test.csv"
            for t in TYPES
            for s in sections
            for d in ("source", "target")
        }
    return {f"anomaly_score_{t}_section_{s:02d}_test.csv" for t in TYPES for s in sections}


# ---- tests -------------------------------------------------------------------------------
def test_each_layout_is_recognised_from_its_names(year_data):
    year, root = year_data
    expected = 2023 if year == 2024 else year  # 2023-2025 share one layout
    dev = sorted((root / "dev_data").iterdir())
    assert detect_year(dev) == expected
    assert detect_year(sorted((root / "eval_data").iterdir())) == expected
    if year == 2024:
        assert detect_year(dev, forced=2024) == 2024
    sets = list_section_test_sets(dev[0], expected, dev_mode=True)
    assert all(s.labels is not None and len(s.labels) == len(s.files) for s in sets)
    assert all(s.domains is not None for s in sets)
    unlabelled = list_section_test_sets(
        sorted((root / "eval_data").iterdir())[0], expected, dev_mode=False
    )
    assert all(s.labels is None for s in unlabelled)


def test_mixed_or_unknown_names_are_one_line_errors(tmp_path):
    root = tmp_path / "mixed"
    write_sectioned_dataset(
        root,
        SectionedSpec(
            year=2022,
            machine_types=("fan",),
            train_source_clips=1,
            train_target_clips=1,
            test_clips=1,
            duration=9.0,
            dev_sections=(0,),
        ),
    )
    train = root / "dev_data" / "fan" / "train"
    (train / "normal_id_01_00000000.wav").write_bytes(b"")
    with pytest.raises(
        DatasetError, match=r"normal_id_01_00000000.wav: a DCASE 2020 machine-ID name"
    ):
        detect_year([root / "dev_data" / "fan"])
    (train / "normal_id_01_00000000.wav").unlink()
    (train / "recording.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"recording.wav: named like no DCASE layout"):
        detect_year([root / "dev_data" / "fan"])
    (train / "recording.wav").unlink()
    with pytest.raises(
        DatasetError, match="dataset_year is 2021, but the clips follow the 2023 layout"
    ):
        detect_year([root / "dev_data" / "fan"], forced=2021)


def test_both_anomaly_scores_write_the_official_files_and_figures(year_data, tmp_path):
    year, root = year_data
    config = write_config(tmp_path, root)
    for script in ("00_train.py", "01_test.py"):
        run = run_script(script, "-d", "--config", str(config), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
    result = tmp_path / "result"
    sections = tiny_spec(year).sections(True)
    assert {p.name for p in result.glob("anomaly_score_*")} == expected_score_files(year, sections)
    assert {p.name for p in result.glob("decision_result_*")} == {
        name.replace("anomaly_score_", "decision_result_")
        for name in expected_score_files(year, sections)
    }
    mse_official = assert_official(result, year)
    summary = (result / "summary.md").read_text()
    assert "Scored on the development set by the mean squared reconstruction error" in summary
    if year == 2026:
        assert "features from channel 0" in run.stderr

    settings = yaml.safe_load(config.read_text())
    settings["anomaly_score"] = "mahalanobis"
    config.write_text(yaml.safe_dump(settings))
    run = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "model" / "model_fan.hdf5.mahalanobis.npz").is_file()
    mahalanobis_official = assert_official(result, year)
    assert math.isfinite(mahalanobis_official) and mahalanobis_official != mse_official
    summary = (result / "summary.md").read_text()
    assert "| fan | 00 target |" in summary
    assert "Scored on the development set by the selective Mahalanobis distance" in summary


def test_converted_models_score_the_same_way(trained_2026, tmp_path):
    """02 and 03 on the 2026 layout (two channels) in the Mahalanobis mode: the TFLite
    models' official files and figures, from their own precisions."""
    root, trained_models = trained_2026
    work = tmp_path
    shutil.copytree(trained_models, work / "model")
    config = write_config(work, root, anomaly_score="mahalanobis")
    for script, *options in (("02_convert.py",), ("03_tflite_test.py", "--no-tflm")):
        run = run_script(script, "-d", "--config", str(config), *options, cwd=work)
        assert run.returncode == 0, run.stderr[-3000:]
    result = work / "result"
    for prefix in ("tflite_", "tflite_quant_fullint_micro_"):
        assert {
            p.name.removeprefix(prefix) for p in result.glob(f"{prefix}anomaly_score_*")
        } == expected_score_files(2026, (0,))
        assert_official(result, 2026, prefix)
    assert (work / "model" / "model_fan_quant_fullint_micro.tflite.mahalanobis.npz").is_file()


def test_evaluation_set_scored_with_the_evaluators_ground_truth(tmp_path):
    root = tmp_path / "data"
    write_sectioned_dataset(root, tiny_spec(2022), dev=False, eval_=True)
    config = write_config(tmp_path, root)
    for script in ("00_train.py", "01_test.py"):
        run = run_script(script, "-e", "--config", str(config), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
    result = tmp_path / "result"
    assert {p.name for p in result.glob("anomaly_score_*")} == expected_score_files(2022, (3, 4, 5))
    assert_official(result, 2022, truth=truth_from_folders(root))

    truth_file = root / "ground_truth_data" / "ground_truth_fan_section_04_test.csv"
    rows = truth_file.read_text().splitlines()
    truth_file.write_text("\n".join(rows[1:]) + "\n")  # one test clip without its label
    run = run_script("01_test.py", "-e", "--config", str(config), cwd=tmp_path)
    assert run.returncode != 0
    assert f"{rows[0].split(',')[0]}: test clip not in {truth_file}" in run.stderr
    assert "Traceback" not in run.stderr

    train = root / "eval_data" / "fan" / "train"  # a model kept from other training clips
    first = sorted(train.iterdir())[0]
    shutil.copy(first, train / first.name.replace("_0000_", "_0999_"))
    run = run_script("00_train.py", "-e", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"trained on other clips than {train}" in run.stderr


def test_sweep_compares_the_two_anomaly_scores_by_official_score(tmp_path):
    root = tmp_path / "data"
    write_sectioned_dataset(root, tiny_spec(2024))
    config = write_config(tmp_path, root, **{"fit.epochs": 1})
    output = tmp_path / "sweep"
    command = ["sweep.py", "--config", str(config), "--output", str(output)]
    command += ["--set", "anomaly_score=mse,mahalanobis", "--seeds", "0", "1"]
    run = run_script(*command, "--stages", "00", "01", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(output / "sweep_summary.csv", newline="") as handle:
        rows = {
            (row["setting"], row["machine_type"]): row
            for row in csv.DictReader(handle)
            if row["model"] == "keras"
        }
    for score in ("mse", "mahalanobis"):
        setting = f"anomaly_score={score}"
        runs = [output / "runs" / setting / f"seed_{seed}" / "result" for seed in (0, 1)]
        officials = [read_result(path / "result.csv", 2024)[1] for path in runs]
        row = rows[setting, "official score"]
        assert int(row["runs"]) == 2
        assert float(row["auc_mean"]) == pytest.approx(np.mean(officials), abs=1e-6)
        assert float(row["auc_min"]) == pytest.approx(min(officials), abs=1e-6)
        assert row["pauc_mean"] == ""


def test_hostile_ground_truth_and_training_names_are_one_line_errors(tmp_path):
    from anomaly_detection.data.dataset import TestSet
    from anomaly_detection.data.dcase_years import check_training_names
    from anomaly_detection.data.section_ground_truth import SectionGroundTruth

    clips = tuple(
        tmp_path / "eval_data" / "fan" / "test" / f"section_00_000{i}.wav" for i in (0, 1)
    )
    (tmp_path / "ground_truth_data").mkdir()
    (tmp_path / "ground_truth_domain").mkdir()
    labels = tmp_path / "ground_truth_data" / "ground_truth_fan_section_00_test.csv"
    domains = tmp_path / "ground_truth_domain" / "ground_truth_fan_section_00_test.csv"
    labels.write_text("\ufeffsection_00_0000.wav,0\nsection_00_0001.wav,1\n")  # a BOM is fine
    domains.write_text("section_00_0000.wav,1\nsection_00_0001.wav,0\n")
    truth = SectionGroundTruth(tmp_path)
    (labelled,) = truth.label_test_sets("fan", [TestSet("section_00_test", clips, None)])
    assert labelled.labels == (0, 1) and labelled.domains == ("target", "source")

    domains.write_text("section_00_0000.wav,1\nsection_00_0001.wav,0\nsection_00_0009.wav,0\n")
    with pytest.raises(DatasetError, match="section_00_0009.wav is listed but not among"):
        truth.label_test_sets("fan", [TestSet("section_00_test", clips, None)])
    labels.write_bytes(b"section_00_0000.wav,0\n\xff\xfe,1\n")
    with pytest.raises(DatasetError, match="ground_truth_fan_section_00_test.csv: unreadable"):
        truth.label_test_sets("fan", [TestSet("section_00_test", clips, None)])
    labels.write_text("section_00_0000.wav,0\nsection_00_0001.wav,2\n")
    with pytest.raises(DatasetError, match=r"ground_truth_fan_section_00_test.csv:2: not"):
        truth.label_test_sets("fan", [TestSet("section_00_test", clips, None)])

    good = tmp_path / "section_00_source_train_normal_0000_a.wav"
    check_training_names([good], 2022)
    bad = tmp_path / "section_00_source_test_anomaly_0000_a.wav"
    with pytest.raises(DatasetError, match="section_00_source_test_anomaly_0000_a.wav: not a 2022"):
        check_training_names([good, bad], 2022)


def test_mahalanobis_precisions_are_refitted_when_damaged_or_stale(tmp_path):
    from anomaly_detection.evaluation.mahalanobis import (
        DomainPrecisions,
        clip_distance,
        load_precisions,
        precision_file,
        save_precisions,
    )
    from anomaly_detection.model.provenance import file_digest

    model = tmp_path / "model_fan.hdf5"
    model.write_bytes(b"model")
    matrices = {"source": np.eye(4), "target": 0.5 * np.eye(4)}
    stored = DomainPrecisions(matrices, {"source": 9, "target": 5}, file_digest(model), "clips")
    save_precisions(model, stored)
    loaded = load_precisions(model, training_clips="clips")
    assert loaded is not None and np.array_equal(loaded.matrices["target"], 0.5 * np.eye(4))
    errors = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0]])  # source: mean(1, 4); target: half
    assert clip_distance(errors, loaded) == pytest.approx(1.25)
    assert load_precisions(model, training_clips="other clips") is None
    data = precision_file(model).read_bytes()
    for damaged in (data[: len(data) // 2], b"", data[:-40] + bytes(40)):
        precision_file(model).write_bytes(damaged)
        assert load_precisions(model, training_clips="clips") is None
    save_precisions(model, stored)
    model.write_bytes(b"another model")
    assert load_precisions(model, training_clips="clips") is None


def test_partial_sets_mixed_names_and_other_scores_are_caught(tmp_path):
    """A labelled section without test clips, a domain without normal clips, labelled names
    among published ones, a test/ folder in a 2021 layout, a threshold of the other score."""
    from anomaly_detection.data.dataset import TestSet
    from anomaly_detection.data.section_ground_truth import SectionGroundTruth
    from anomaly_detection.evaluation.scoring import SetScores, _domains_without_normals
    from anomaly_detection.evaluation.thresholds import Threshold, load_threshold, save_threshold

    clips = (tmp_path / "section_00_0000.wav", tmp_path / "section_00_0001.wav")
    (tmp_path / "ground_truth_data").mkdir()
    labels = "section_00_0000.wav,0\nsection_00_0001.wav,1\n"
    for section in ("00", "01"):
        name = f"ground_truth_fan_section_{section}_test.csv"
        (tmp_path / "ground_truth_data" / name).write_text(labels.replace("_00_", f"_{section}_"))
    test_set = TestSet("section_00_test", clips, None, domains=("source", "target"))
    with pytest.raises(DatasetError, match="labels section_01_test, which has no fan test"):
        SectionGroundTruth(tmp_path).label_test_sets("fan", [test_set])

    scores = SetScores("section_00_test", list(clips), np.zeros(2), np.array([0, 1]))
    scores.domains = ("source", "source")
    only_source = TestSet("section_00_test", clips, (0, 1), domains=("source", "source"))
    assert _domains_without_normals(only_source, scores) == "target"  # AUC (target): none
    source_2021 = TestSet("section_00_source_test", clips, (0, 1), domains=("source", "source"))
    assert _domains_without_normals(source_2021, scores) is None

    test_dir = tmp_path / "eval_data" / "fan" / "test"
    test_dir.mkdir(parents=True)
    for name in ("section_03_0000.wav", "section_03_test_0001.wav"):
        (test_dir / name).write_bytes(b"")
    (published,) = list_section_test_sets(test_dir.parent, 2022, dev_mode=False)
    assert [path.name for path in published.files] == [
        "section_03_0000.wav",
        "section_03_test_0001.wav",
    ]
    (test_dir / "section_03_source_test_normal_0009_a.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="a labelled name among published evaluation names"):
        list_section_test_sets(test_dir.parent, 2022, dev_mode=False)
    for folder in ("source_test", "target_test"):
        (test_dir.parent / folder).mkdir()
    with pytest.raises(DatasetError, match="a test/ folder beside the 2021 layout"):
        list_section_test_sets(test_dir.parent, 2021, dev_mode=False)

    model = tmp_path / "model_fan.hdf5"
    model.write_bytes(b"model")
    path = tmp_path / "model_fan.hdf5.mahalanobis.threshold.json"
    save_threshold(path, Threshold(1.0, 0.9, 1.0, 0.0, 1.0, 10, score="mse"), model_file=model)
    assert load_threshold(path, model_file=model, percentile=0.9, score="mse") is not None
    assert load_threshold(path, model_file=model, percentile=0.9, score="mahalanobis") is None
