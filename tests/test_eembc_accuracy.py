"""The EnergyRunner accuracy run emulated by eembc_accuracy.py, on samples from export_eembc.py."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from anomaly_detection.device.benchmark_samples import sample_file_name
from anomaly_detection.device.runner_figures import (
    accuracy_figures,
    precision_recall_accuracy,
    results_text,
    simplified_auc,
    top1_accuracy,
)
from conftest import run_script

# Its module-scoped fixture trains or converts models: its tests stay on one pytest-xdist
# worker (./run_tests.sh runs -n auto --dist loadgroup), so that the fixture runs once.
pytestmark = pytest.mark.xdist_group("test_eembc_accuracy")

INTIO = "model_ToyCar_quant_fullint_micro_intio.tflite"


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def exported(dev_run, tmp_path_factory):
    """Samples of every dev test clip, and the emulation run on them."""
    work = tmp_path_factory.mktemp("eembc")
    export = run_script(
        "export_eembc.py",
        "-d",
        "--config",
        str(dev_run["config"]),
        "--output",
        str(work / "samples"),
        cwd=dev_run["work"],
    )
    assert export.returncode == 0, export.stderr[-2000:]
    run = emulate(dev_run, work / "samples" / "ToyCar", work / "out")
    assert run.returncode == 0, run.stderr[-2000:]
    return {"work": work, "samples": work / "samples" / "ToyCar", "out": work / "out", "run": run}


def emulate(dev_run, samples, output, *extra):
    return run_script(
        "eembc_accuracy.py",
        "--samples",
        str(samples),
        "--model",
        str(dev_run["work"] / "model" / INTIO),
        "--output",
        str(output),
        *extra,
    )


def reference_simplified_auc(y_pred, y_true):
    """The runner's formula written out as its loop (scores of the normal samples first)."""
    thresholds = np.amin(y_pred) + np.arange(0.0, 1.01, 0.01) * (np.amax(y_pred) - np.amin(y_pred))
    n_normal = np.sum(y_true == 0)
    tpr, fpr = np.zeros(len(thresholds)), np.zeros(len(thresholds))
    for item in range(1, len(thresholds)):
        decided = (y_pred > thresholds[item]).astype(int)
        tpr[item] = np.sum(decided[n_normal:] == 1) / float(len(y_true) - n_normal)
        fpr[item] = np.sum(decided[:n_normal] == 1) / float(n_normal)
    fpr[0] = tpr[0] = 1
    return sum(0.5 * (tpr[i] + tpr[i + 1]) * (fpr[i] - fpr[i + 1]) for i in range(len(tpr) - 1))


def test_simplified_metrics_follow_the_runners_formulas():
    rng = np.random.default_rng(4)
    labels = np.array([0] * 30 + [1] * 20)
    scores = np.concatenate([rng.normal(10, 1, 30), rng.normal(11, 1, 20)])
    assert simplified_auc(labels, scores) == pytest.approx(reference_simplified_auc(scores, labels))
    shuffled = rng.permutation(50)  # our functions do not need the normals first
    assert simplified_auc(labels[shuffled], scores[shuffled]) == pytest.approx(
        simplified_auc(labels, scores)
    )
    best = 0.0
    for threshold in scores.min() + np.arange(0.0, 1.0, 0.01) * np.ptp(scores):
        decided = scores > threshold
        precision = np.sum(decided & (labels == 1)) / np.sum(decided)
        recall = np.sum(decided & (labels == 1)) / 20
        best = max(best, 100 * (precision + recall) / 2)
    assert precision_recall_accuracy(labels, scores) == pytest.approx(best)


def test_emulated_scores_equal_the_tflm_stage_within_the_printed_rounding(dev_run, exported):
    tflm = {}
    for machine_id in ("01", "02"):
        result = dev_run["work"] / "result"
        for name, score in rows(
            result / f"tflm_quant_fullint_micro_intio_anomaly_score_ToyCar_id_{machine_id}.csv"
        ):
            tflm[sample_file_name(result / name)] = float(score)
    emulated = rows(exported["out"] / "eembc_scores.csv")
    assert emulated[0] == ["file", "score"]
    assert sorted(name for name, _ in emulated[1:]) == sorted(tflm)
    worst = max(abs(float(score) - tflm[name]) for name, score in emulated[1:])
    # each window's result is printed with three decimals: the file's mean moves by <= 0.0005
    assert worst <= 0.0005 + 1e-5


def test_accuracy_csv_holds_the_figures_of_the_scores(exported):
    labels = {row[0]: int(row[2]) for row in rows(exported["samples"] / "y_labels.csv")}
    emulated = rows(exported["out"] / "eembc_scores.csv")[1:]
    y_true = np.array([labels[name] for name, _ in emulated])
    y_score = np.array([float(score) for _, score in emulated])
    accuracy = rows(exported["out"] / "eembc_accuracy.csv")
    assert accuracy[0] == [
        "source", "files", "auc", "pauc", "runner_auc", "top1", "target_met", "simplified_auc",
        "pr_accuracy", "listed_simplified_auc", "listed_pr_accuracy", "model", "model_sha256",
        "samples",
    ]  # fmt: skip
    host = dict(zip(accuracy[0], accuracy[1], strict=True))
    assert host["source"] == "host (TFLM)" and int(host["files"]) == len(emulated) == 20
    assert float(host["auc"]) == pytest.approx(roc_auc_score(y_true, y_score), abs=1e-6)
    order = np.argsort(y_true, kind="stable")  # the runner's formula wants normals first
    assert float(host["simplified_auc"]) == pytest.approx(
        reference_simplified_auc(y_score[order], y_true[order]), abs=1e-6
    )
    assert "runner AUC" in exported["run"].stdout


def test_device_scores_are_reported_beside_the_host(dev_run, exported, tmp_path):
    emulated = rows(exported["out"] / "eembc_scores.csv")[1:]
    device = tmp_path / "device.csv"
    flipped = [[name, f"{-float(score):.3f}"] for name, score in emulated]  # a broken board
    device.write_text("\n".join(",".join(row) for row in flipped) + "\n")
    run = emulate(dev_run, exported["samples"], tmp_path / "out", "--device-scores", str(device))
    assert run.returncode == 0, run.stderr[-2000:]
    accuracy = rows(tmp_path / "out" / "eembc_accuracy.csv")
    host, board = accuracy[1], accuracy[2]
    assert board[0] == "device"
    assert float(board[2]) == pytest.approx(1 - float(host[2]), abs=1e-6)
    assert "20 of 20 files differ" in run.stderr


def bad_copy(exported, tmp_path):
    samples = tmp_path / "samples"
    shutil.copytree(exported["samples"], samples)
    return samples, rows(samples / "y_labels.csv")


def assert_one_line_error(run, *fragments):
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, run.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_truncated_sample_is_named(dev_run, exported, tmp_path):
    samples, labels = bad_copy(exported, tmp_path)
    victim = samples / labels[3][0]
    victim.write_bytes(victim.read_bytes()[:1000])
    run = emulate(dev_run, samples, tmp_path / "out")
    assert_one_line_error(run, str(victim), "1000 bytes")
    assert not (tmp_path / "out" / "eembc_scores.csv").exists()


def test_missing_sample_is_named(dev_run, exported, tmp_path):
    samples, labels = bad_copy(exported, tmp_path)
    (samples / labels[0][0]).unlink()
    run = emulate(dev_run, samples, tmp_path / "out")
    assert_one_line_error(run, labels[0][0], "cannot read sample")


@pytest.mark.parametrize(
    "row", ["x.bin,2,7,2560,512", "x.bin,2,0,2560", "x.bin,2,0,2561,512", "x.bin,3,0,2560,512"]
)
def test_bad_label_rows_are_named_with_their_line(dev_run, exported, tmp_path, row):
    samples, labels = bad_copy(exported, tmp_path)
    lines = (samples / "y_labels.csv").read_text().splitlines()
    lines.insert(2, row)
    (samples / "y_labels.csv").write_text("\n".join(lines) + "\n")
    run = emulate(dev_run, samples, tmp_path / "out")
    assert_one_line_error(run, "y_labels.csv, line 3")


def test_duplicate_label_rows_are_refused(dev_run, exported, tmp_path):
    samples, labels = bad_copy(exported, tmp_path)
    lines = (samples / "y_labels.csv").read_text().splitlines()
    (samples / "y_labels.csv").write_text("\n".join([*lines, lines[0]]) + "\n")
    run = emulate(dev_run, samples, tmp_path / "out")
    assert_one_line_error(run, f"line {len(lines) + 1}", "listed twice")


def test_a_header_row_is_accepted(dev_run, exported, tmp_path):
    samples, labels = bad_copy(exported, tmp_path)
    text = (samples / "y_labels.csv").read_text()
    (samples / "y_labels.csv").write_text("file,classes,label,window,stride\n" + text)
    run = emulate(dev_run, samples, tmp_path / "out")
    assert run.returncode == 0, run.stderr[-2000:]
    assert rows(tmp_path / "out" / "eembc_scores.csv") == rows(exported["out"] / "eembc_scores.csv")


def test_a_float_io_model_is_not_the_firmwares(dev_run, exported, tmp_path):
    run = run_script(
        "eembc_accuracy.py",
        "--samples",
        str(exported["samples"]),
        "--model",
        str(dev_run["work"] / "model" / "model_ToyCar_quant_fullint_micro.tflite"),
        "--output",
        str(tmp_path / "out"),
    )
    assert_one_line_error(run, "int8 input and output")


def test_window_that_is_not_the_models_input_is_named(dev_run, exported, tmp_path):
    samples, labels = bad_copy(exported, tmp_path)
    text = (samples / "y_labels.csv").read_text().replace(",2560,", ",1280,")
    (samples / "y_labels.csv").write_text(text)
    run = emulate(dev_run, samples, tmp_path / "out")
    assert_one_line_error(run, "1280 bytes", "640 float32")


def test_device_scores_missing_a_file_are_refused(dev_run, exported, tmp_path):
    emulated = rows(exported["out"] / "eembc_scores.csv")
    device = tmp_path / "device.csv"
    device.write_text("\n".join(",".join(row) for row in emulated[:-1]) + "\n")
    run = emulate(dev_run, exported["samples"], tmp_path / "out", "--device-scores", str(device))
    assert_one_line_error(run, str(device), "no score for 1 sample", emulated[-1][0])


def test_the_runners_auc_and_top1_by_hand():
    """Scores 1, 2, 4 (normal) and 3, 5 (anomalous). AUC: 5 of the 6 (anomaly, normal)
    pairs are ordered, 0.833. Top 1%: thresholds 1 + k * 0.04 (k = 0..99), decided when
    above; the best is at t in [2, 3): TP 2, FP 1, FN 0, precision 2/(3 + 1e-8), recall
    2/(2 + 1e-8), 100 * (p + r) / 2 = 83.33333 -> 83.3."""
    labels, scores = np.array([0, 0, 0, 1, 1]), np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    by_hand = 100 * (2 / (3 + 1e-8) + 2 / (2 + 1e-8)) / 2
    assert top1_accuracy(labels, scores) == pytest.approx(by_hand, rel=1e-12)
    figures = accuracy_figures(labels, scores, 0.1)
    assert results_text(figures) == "AUC = 0.833\nTop 1% = 83.3\n"
    assert figures["runner_auc"] == 0.833 and figures["target_met"] == 0.0  # < 0.85
    # nothing decided (threshold above every score) counts as precision 0, not NaN
    assert top1_accuracy(np.array([0, 1]), np.array([1.0, 1.0])) == 0.0


def test_a_runner_session_of_known_scores_gives_the_hand_computed_figures(tmp_path):
    """The same five files as a runner session (two windows each, averaging to the scores
    above): the file scores, then ``AUC = 0.833`` and ``Top 1% = 83.3``."""
    from anomaly_detection.device.benchmark_samples import Sample
    from anomaly_detection.device.runner_sessions import read_runner_session

    labels, scores = [0, 0, 0, 1, 1], [1.0, 2.0, 4.0, 3.0, 5.0]
    samples = [Sample(f"f{i}.bin", label, 2560, 512) for i, label in enumerate(labels)]
    windows = [
        {"file": sample.name, "class": str(sample.label), "infer": {"results": [value]}}
        for sample, score in zip(samples, scores, strict=True)
        for value in (score - 0.25, score + 0.25)
    ]
    (tmp_path / "results.json").write_text(json.dumps(windows))
    read = read_runner_session(tmp_path, samples, {sample.name: 2 for sample in samples})
    assert read.tolist() == scores
    figures = accuracy_figures(np.array(labels), read, 0.1)
    assert results_text(figures) == "AUC = 0.833\nTop 1% = 83.3\n"


def test_a_list_that_is_not_normals_first_is_warned_about(dev_run, exported, tmp_path):
    """By ID (normal 01, anomaly 01, normal 02, ...): the older EEMBC functions read the
    first n_normal results as the normal ones; their figures are reported as they are."""
    samples, listed = bad_copy(exported, tmp_path)
    by_id = sorted(listed, key=lambda row: (row[0].split("_id_")[1][:2], row[2]))
    assert [int(row[2]) for row in by_id] != sorted(int(row[2]) for row in by_id)
    (samples / "y_labels.csv").write_text("".join(",".join(row) + "\n" for row in by_id))
    run = emulate(dev_run, samples, tmp_path / "out")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "not all listed first" in run.stderr
    scores = rows(tmp_path / "out" / "eembc_scores.csv")[1:]
    assert [name for name, _ in scores] == [row[0] for row in by_id]
    y_true = np.array([int(row[2]) for row in by_id])
    y_score = np.array([float(score) for _, score in scores])
    figures = dict(zip(*rows(tmp_path / "out" / "eembc_accuracy.csv")[:2], strict=True))
    listed_auc = reference_simplified_auc(y_score, y_true)  # first n_normal taken as normal
    order = np.argsort(y_true, kind="stable")
    true_auc = reference_simplified_auc(y_score[order], y_true[order])
    assert abs(listed_auc - true_auc) > 0.05  # the order changes the older figures
    assert float(figures["listed_simplified_auc"]) == pytest.approx(listed_auc, abs=1e-6)
    assert float(figures["simplified_auc"]) == pytest.approx(true_auc, abs=1e-6)
    # the runner's AUC does not depend on the order
    assert float(figures["runner_auc"]) == pytest.approx(roc_auc_score(y_true, y_score), abs=5e-4)


def test_runner_sessions_are_read_as_the_runner_averages_and_refused_when_cut(tmp_path):
    from anomaly_detection.core.errors import PipelineError
    from anomaly_detection.device.benchmark_samples import Sample
    from anomaly_detection.device.runner_sessions import read_runner_session

    samples = [Sample("a.bin", 0, 2560, 512), Sample("b.bin", 1, 2560, 512)]
    windows = [("a.bin", 1.0), ("b.bin", 4.0), ("a.bin", 2.0), ("b.bin", 6.0)]
    session = tmp_path / "results.json"
    session.write_text(json.dumps([{"file": f, "infer": {"results": [v]}} for f, v in windows]))
    assert read_runner_session(session, samples, {"a.bin": 2, "b.bin": 2}).tolist() == [1.5, 5.0]
    with pytest.raises(PipelineError, match=r"2 window results for a.bin, its sample holds 3"):
        read_runner_session(session, samples, {"a.bin": 3, "b.bin": 2})
    log = tmp_path / "log.txt"
    log.write_text("x ulp-mlperf: Loading file a.bin segment 0\nm-results-[1.000]\n")
    with pytest.raises(PipelineError, match="no window results for 1 of 2 samples, first b.bin"):
        read_runner_session(log, samples)
    session.write_text(json.dumps([{"file": "c.bin", "infer": {"results": [1.0]}}]))
    with pytest.raises(PipelineError, match="c.bin is not listed in y_labels.csv"):
        read_runner_session(session, samples)
    session.write_text("[{")
    with pytest.raises(PipelineError, match="not a runner results.json"):
        read_runner_session(session, samples)


def test_session_windows_are_checked_one_by_one(tmp_path):
    from anomaly_detection.core.errors import PipelineError
    from anomaly_detection.device.benchmark_samples import Sample
    from anomaly_detection.device.runner_sessions import read_runner_session

    samples = [Sample("a.bin", 0, 2560, 512), Sample("b.bin", 1, 2560, 512)]
    log = tmp_path / "log.txt"

    def session(*windows):
        lines = ["m-results-[5.000]"]  # before any window: not a window's result
        for name, segment, *results in windows:
            lines.append(f"0101.000000 ulp-mlperf: Loading file {name} segment {segment}")
            lines += [f"m-results-[{value}]" for value in results]
        log.write_text("\n".join(lines) + "\n")
        return log

    good = session(("a.bin", 0, 1.0, 1.0), ("a.bin", 1, 2.0), ("b.bin", 0, 3.0), ("b.bin", 1, 4.0))
    assert read_runner_session(good, samples, {"a.bin": 2, "b.bin": 2}).tolist() == [1.5, 3.5]
    for windows, message in (
        ((("a.bin", 0, 1.0), ("a.bin", 0, 9.0), ("b.bin", 0, 3.0)), "segment 0 of a.bin, expected"),
        ((("a.bin", 0, 1.0, 2.0), ("b.bin", 0, 3.0)), "a second, different result for a.bin"),
    ):
        with pytest.raises(PipelineError, match=message):
            read_runner_session(session(*windows), samples)
    for bad in (["abc"], [[1.0]], [None], [True]):
        entries = [{"file": "a.bin", "infer": {"results": bad}}]
        (tmp_path / "results.json").write_text(json.dumps(entries))
        with pytest.raises(PipelineError, match="gives one number per window"):
            read_runner_session(tmp_path / "results.json", samples)


def test_a_failed_run_leaves_no_earlier_figures_and_a_bad_output_is_one_line(
    dev_run, exported, tmp_path
):
    out = tmp_path / "out"
    assert emulate(dev_run, exported["samples"], out).returncode == 0
    assert (out / "results.txt").is_file()
    samples, labels = bad_copy(exported, tmp_path)
    victim = samples / labels[3][0]
    victim.write_bytes(victim.read_bytes()[:1000])
    run = emulate(dev_run, samples, out)  # other samples, one of them cut
    assert_one_line_error(run, str(victim))
    assert not any((out / name).exists() for name in ("results.txt", "eembc_accuracy.csv"))
    afile = tmp_path / "afile"
    afile.write_text("")
    run = emulate(dev_run, exported["samples"], afile / "sub")
    assert_one_line_error(run, "--output cannot be a folder")
