"""Scoring the evaluation set against its published labels (eval_data_list.csv)."""

import csv
import shutil

import pytest
from sklearn.metrics import roc_auc_score

from anomaly_detection.core.errors import DatasetError
from anomaly_detection.data.dataset import list_test_sets
from anomaly_detection.data.ground_truth import read_ground_truth
from anomaly_detection.registry.variants import TFLITE_VARIANTS
from conftest import run_script, write_config

# Its module-scoped fixture trains or converts models: its tests stay on one pytest-xdist
# worker (./run_tests.sh runs -n auto --dist loadgroup), so that the fixture runs once.
pytestmark = pytest.mark.xdist_group("test_ground_truth")


def listed_labels(path):
    """{type: {file: label}} read as the official evaluator reads the list: a row of one
    column is a machine type, other rows are file, original file, label."""
    labels, current = {}, None
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 2:
                current = labels.setdefault(row[0], {})
            else:
                current[row[0]] = int(float(row[2]))
    return labels


def test_the_synthetic_list_labels_every_evaluation_clip(tiny_data):
    path = tiny_data / "eval_data_list.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "ToyCar" and len(lines) == 11
    truth = read_ground_truth(path)
    names = sorted(p.name for p in (tiny_data / "eval_data" / "ToyCar" / "test").glob("*.wav"))
    assert sorted(truth.labels["ToyCar"]) == names
    assert sum(entry.label for entry in truth.labels["ToyCar"].values()) == 5
    # The original names number each kind: normal_id_05_0000000k / anomaly_id_05_0000000k.
    originals = sorted(line.split(",")[1] for line in lines[1:])
    assert originals == sorted(
        [f"normal_id_05_{i:08d}.wav" for i in range(5)]
        + [f"anomaly_id_05_{i:08d}.wav" for i in range(5)]
    )
    for line in lines[1:]:
        name, original, label = line.split(",")
        assert original.startswith("anomaly_" if label == "1" else "normal_")


@pytest.fixture()
def bad_list(tmp_path, tiny_data):
    """Write a variant of the tiny evaluation list and try to label the tiny test sets."""
    lines = (tiny_data / "eval_data_list.csv").read_text().splitlines()
    test_sets = list_test_sets(tiny_data / "eval_data" / "ToyCar", dev_mode=False)

    def check(changed_lines, machine_type="ToyCar"):
        path = tmp_path / "eval_data_list.csv"
        path.write_text("\n".join(changed_lines) + "\n")
        truth = read_ground_truth(path)
        return truth.label_test_sets(machine_type, test_sets)

    return lines, check, tmp_path / "eval_data_list.csv"


def test_labels_are_paired_by_file_name(bad_list):
    lines, check, _ = bad_list
    shuffled = [lines[0], *reversed(lines[1:])]
    (labelled,) = check(shuffled)
    by_name = {row.split(",")[0]: int(row.split(",")[2]) for row in lines[1:]}
    assert labelled.labels == tuple(by_name[path.name] for path in labelled.files)


@pytest.mark.parametrize(
    "case, change, message",
    [
        (
            "test file missing from the list",
            lambda rows: rows[:3] + rows[4:],
            r"id_05_00000002.wav: test file not in .*eval_data_list.csv \(machine type ToyCar\)",
        ),
        (
            "listed file with no test file",
            lambda rows: [*rows, "id_05_00000099.wav,normal_x.wav,0"],
            r"eval_data_list.csv:12: ToyCar id_05_00000099.wav is listed but not among the test "
            r"files of .*eval_data/ToyCar/test \(1 such file\(s\)\)",
        ),
        (
            "machine type absent",
            lambda rows: ["fan", *rows[1:]],
            r"eval_data_list.csv: machine type 'ToyCar' is not listed \(listed: fan\)",
        ),
        (
            "ID absent",
            lambda rows: [rows[0], *(row.replace("id_05", "id_06") for row in rows[1:])],
            r"eval_data_list.csv: no entry for ToyCar id_05",
        ),
        (
            "label other than 0/1",
            lambda rows: [rows[0], rows[1].rsplit(",", 1)[0] + ",2", *rows[2:]],
            r"eval_data_list.csv:2: label '2' of id_05_00000000.wav is not 0 or 1",
        ),
        (
            "malformed row",
            lambda rows: [rows[0], "id_05_00000000.wav,0", *rows[2:]],
            r"eval_data_list.csv:2: expected 'file,original file,label', got 2 column\(s\)",
        ),
        (
            "row before the machine type",
            lambda rows: [rows[1], *rows],
            r"eval_data_list.csv:1: a row before the first machine-type line",
        ),
        (
            "file listed twice",
            lambda rows: [*rows, rows[1]],
            r"eval_data_list.csv:12: id_05_00000000.wav listed twice \(first on line 2\)",
        ),
        (
            "not a test file name",
            lambda rows: [rows[0], "normal_id_05_0.wav,x.wav,0", *rows[2:]],
            r"eval_data_list.csv:2: 'normal_id_05_0.wav' is not a test file name",
        ),
    ],
)
def test_every_mismatch_is_an_error_naming_file_and_line(bad_list, case, change, message):
    lines, check, _ = bad_list
    with pytest.raises(DatasetError, match=message):
        check(change(lines))


def test_a_bad_list_stops_the_script_with_one_line(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data)
    bad = tmp_path / "list.csv"
    bad.write_text("ToyCar\nid_05_00000000.wav,normal_id_05_00000000.wav,yes\n")
    run = run_script(
        "01_test.py", "-e", "--ground-truth", str(bad), "--config", str(config), cwd=tmp_path
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"ERROR: {bad}:2: label 'yes' of id_05_00000000.wav is not 0 or 1"
    )
    assert "Traceback" not in run.stderr
    dev = run_script(
        "03_tflite_test.py", "-d", "--ground-truth", str(bad), "--config", str(config), cwd=tmp_path
    )
    assert dev.returncode == 1 and "--ground-truth labels the evaluation set" in dev.stderr


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, tiny_data):
    """00 -e, 01 -e --ground-truth, 02 -e, 03 -e --ground-truth on the tiny evaluation set,
    the list passed explicitly, from a copy (so that nothing is found beside the data)."""
    work = tmp_path_factory.mktemp("eval_run")
    truth = shutil.copy(tiny_data / "eval_data_list.csv", work / "labels.csv")
    (work / "data").mkdir()
    (work / "data" / "eval_data").symlink_to(tiny_data / "eval_data")
    config = write_config(work, tiny_data, eval_directory=str(work / "data" / "eval_data"))
    runs = {}
    for script, extra in (
        ("00_train.py", ()),
        ("01_test.py", ("--ground-truth", truth)),
        ("02_convert.py", ()),
        ("03_tflite_test.py", ("--ground-truth", truth)),
    ):
        runs[script] = run_script(script, "-e", *map(str, extra), "--config", str(config), cwd=work)
        assert runs[script].returncode == 0, runs[script].stderr[-3000:]
    return work, truth, runs


def test_result_csv_is_what_the_official_evaluator_computes(eval_run):
    work, truth, runs = eval_run
    labels = listed_labels(truth)["ToyCar"]
    for prefix in ["", *(f"tflite{variant.postfix}_" for variant in TFLITE_VARIANTS)]:
        with open(work / "result" / f"{prefix}anomaly_score_ToyCar_id_05.csv", newline="") as f:
            scores = {name: float(score) for name, score in csv.reader(f)}
        assert len(scores) == 10
        y_true = [labels[name] for name in scores]
        y_pred = list(scores.values())
        auc = roc_auc_score(y_true, y_pred)
        pauc = roc_auc_score(y_true, y_pred, max_fpr=0.1)
        lines = (work / "result" / f"{prefix}result.csv").read_text().split("\n")
        assert lines[:2] == ["ToyCar", "id,AUC,pAUC"] and lines[4:] == ["", ""]
        _, got_auc, got_pauc = lines[2].split(",")
        assert lines[2].startswith("05,") and lines[3].startswith("Average,")
        assert float(got_auc) == pytest.approx(auc, abs=1e-12)
        assert float(got_pauc) == pytest.approx(pauc, abs=1e-12)
        assert lines[3] == f"Average,{got_auc},{got_pauc}"
    assert "Keras model" in runs["01_test.py"].stdout  # the console table, as in -d


def test_evaluation_with_labels_reports_as_development_mode(eval_run):
    work, _, runs = eval_run
    result = work / "result"
    for label in ("keras", *(variant.label for variant in TFLITE_VARIANTS)):
        assert (result / f"roc_ToyCar_{label}_eval.png").read_bytes()[:4] == b"\x89PNG"
        prefix = "" if label == "keras" else f"{label}_"
        decisions = (result / f"{prefix}decision_result_ToyCar_id_05.csv").read_text()
        assert decisions.count("\n") == 10
        metrics = (result / f"{prefix}decision_metrics.csv").read_text().splitlines()
        assert [row.split(",")[1] for row in metrics[1:]] == ["05", "Average"]
    summary = (result / "summary.md").read_text()
    assert "| ToyCar | 05 |" in summary and "intio AUC" in summary
    assert (
        "Average AUC / pAUC over the machine IDs (per ID: summary.md)"
        in runs["03_tflite_test.py"].stdout
    )


def test_a_list_beside_the_evaluation_data_is_found(tmp_path, eval_run, tiny_data):
    work, _, _ = eval_run
    # tiny_data holds eval_data/ and eval_data_list.csv side by side, as get_dataset.sh leaves them.
    config = write_config(tmp_path, tiny_data, model_directory=str(work / "model"))
    run = run_script("01_test.py", "-e", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"using the ground truth {tiny_data / 'eval_data_list.csv'}" in run.stderr
    expected = (work / "result" / "result.csv").read_text()
    assert (tmp_path / "result" / "result.csv").read_text() == expected
    scores = "anomaly_score_ToyCar_id_05.csv"
    assert (tmp_path / "result" / scores).read_bytes() == (work / "result" / scores).read_bytes()
