"""Results never mix models: every figure in a report comes from the model file present
now; one writer per output folder; a model of another shape than the YAML's is an error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import yaml

from conftest import REPO, base_config, run_script


def own_run(dev_run, tmp_path, *, with_results=False, **overrides):
    """The dev run's models (and results, moved with them) in a fresh work folder."""
    shutil.copytree(dev_run["work"] / "model", tmp_path / "model")
    if with_results:
        shutil.copytree(dev_run["work"] / "result", tmp_path / "result")
        info_path = tmp_path / "result" / "run_info.json"
        info = json.loads(info_path.read_text())
        for by_type in info.values():
            for entry in by_type.values():
                entry["model_directory"] = str(tmp_path / "model")
                if "result_csv" in entry:
                    entry["result_csv"]["model_directory"] = str(tmp_path / "model")
        info_path.write_text(json.dumps(info))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, dev_run["data"], **overrides)))
    return config


def with_seed(config, seed):
    """A copy of ``config`` (same folders) with another seed."""
    settings = yaml.safe_load(config.read_text())
    other = config.with_name(f"seed_{seed}.yaml")
    other.write_text(yaml.safe_dump({**settings, "seed": seed}))
    return other


def script(name, config, *options, cwd):
    run = run_script(name, "-d", "--config", str(config), *options, cwd=cwd)
    return run


def tables_and_stale(summary: str) -> tuple[str, str]:
    """The AUC part of summary.md and its stale-results section ('' if none)."""
    head, _, _ = summary.partition("## Models")
    tables, _, stale = head.partition("## Stale results")
    return tables, stale


def test_retrained_keras_model_never_shares_a_report_with_older_tflite_results(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True)
    assert script("03_tflite_test.py", config, "--no-tflm", cwd=tmp_path).returncode == 0
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" in tables and "float AUC" in tables and not stale

    # train.sh's steps with another seed: the TFLite results describe the older model.
    for name, options in (("00_train.py", ("--retrain",)), ("01_test.py", ())):
        run = script(name, with_seed(config, 7), *options, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" in tables and "float AUC" not in tables
    assert (
        "| ToyCar | tflite_quant_fullint_micro | model_ToyCar_quant_fullint_micro.tflite " in stale
    )
    assert "was converted from an earlier model_ToyCar.hdf5" in stale

    # The reverse: retrain, convert, test the TFLite models only: the Keras AUC is stale.
    for name, options in (
        ("00_train.py", ("--retrain",)),
        ("02_convert.py", ()),
        ("03_tflite_test.py", ("--no-tflm",)),
    ):
        run = script(name, with_seed(config, 8), *options, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" not in tables and "float AUC" in tables
    assert "| ToyCar | keras | model_ToyCar.hdf5 changed since it was scored" in stale
    table = run.stdout[run.stdout.index("SHA-256") :]
    assert "Keras " not in table and "(.tflite)" in table and "1 stale result set" in table


def test_models_from_another_folder_are_reported_under_their_own_heading(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path)
    assert script("01_test.py", config, cwd=tmp_path).returncode == 0
    other = tmp_path / "pretrained"
    other.mkdir()
    shutil.copy(tmp_path / "model" / "model_ToyCar.tflite", other)
    run = script(
        "03_tflite_test.py", config, "--model-directory", str(other), "--no-tflm", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    tables, _ = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    sections = dict(
        part.split("`:", 1) for part in tables.split("Models in `")[1:]
    )  # {folder: its tables}
    own, theirs = sections[str((tmp_path / "model").resolve())], sections[str(other.resolve())]
    assert "Keras AUC" in own and "float AUC" not in own
    assert "float AUC" in theirs and "Keras AUC" not in theirs
    assert f"models in {other.resolve()}:" in run.stdout


def test_a_second_writer_on_the_same_folder_stops_with_one_line(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path)
    holder_script = tmp_path / "elsewhere" / "00_train.py"  # named as the other script
    holder_script.parent.mkdir()
    holder_script.write_text(
        textwrap.dedent(
            f"""
            import time
            from anomaly_detection.core.folder_lock import folder_locks
            with folder_locks([{str(tmp_path / "model")!r}]):
                print("held", flush=True)
                time.sleep(60)
            """
        )
    )
    holder = subprocess.Popen(
        [sys.executable, str(holder_script)],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        run = script("01_test.py", config, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert f"{(tmp_path / 'model').resolve()}: in use by 00_train.py (pid {holder.pid}" in lines[0]
    assert not (tmp_path / "result" / "result.csv").exists()
    # Once the other process is gone, the folder is free again.
    assert script("01_test.py", config, cwd=tmp_path).returncode == 0


def test_a_model_of_another_shape_than_the_yaml_is_an_error(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, **{"model.hidden_units": 64})
    for name in ("00_train.py", "01_test.py", "02_convert.py"):
        run = script(name, config, cwd=tmp_path)
        assert run.returncode == 1, name
        assert (
            "model.hidden_units is 128 in the model, 64 in the configuration; train it again "
            "(00_train.py --retrain)" in run.stderr
        ), run.stderr[-1000:]
        assert "Traceback" not in run.stderr


def test_a_threshold_belongs_to_the_model_it_was_fitted_with(tmp_path):
    from anomaly_detection.evaluation.thresholds import Threshold, load_threshold, save_threshold
    from anomaly_detection.model.provenance import file_digest

    model = tmp_path / "model_ToyCar.hdf5"
    model.write_bytes(b"the model another run wrote meanwhile")
    threshold = Threshold(7.5, 0.9, 2.0, 0.0, 1.0, 10)
    path = tmp_path / "model_ToyCar.hdf5.threshold.json"
    save_threshold(path, threshold, model_file=model, model_digest="0" * 64)  # fitted elsewhere
    assert load_threshold(path, model_file=model, percentile=0.9) is None
    save_threshold(path, threshold, model_file=model, model_digest=file_digest(model))
    assert load_threshold(path, model_file=model, percentile=0.9) == Threshold(
        7.5, 0.9, 2.0, 0.0, 1.0, 10, model.stat().st_size, model.stat().st_mtime_ns,
        file_digest(model),
    )  # fmt: skip


def test_results_of_another_max_fpr_or_other_clips_are_stale(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True, max_fpr=0.5)
    run = script("03_tflite_test.py", config, "--no-tflm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "FPR <= 0.5" in tables and "Keras AUC" not in tables and "float AUC" in tables
    assert "| ToyCar | keras | pAUC at FPR <= 0.1; the configuration now says 0.5 |" in stale

    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "dev_data", data / "dev_data")
    next((data / "dev_data" / "ToyCar" / "test").glob("anomaly_id_01_*.wav")).unlink()
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(yaml.safe_dump(base_config(tmp_path, data, max_fpr=0.5)))
    run = script("01_test.py", fewer, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" in tables and "float AUC" not in tables
    assert "| ToyCar | tflite | scored on other test clips than the data folder holds now" in stale


def test_scores_without_labels_never_make_an_older_result_current(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, with_results=True)
    data = tmp_path / "data"
    shutil.copytree(dev_run["data"] / "eval_data", data / "eval_data")  # no label list beside it
    settings = yaml.safe_load(with_seed(config, 7).read_text())
    settings["eval_directory"] = str(data / "eval_data")
    unlabelled = tmp_path / "unlabelled.yaml"
    unlabelled.write_text(yaml.safe_dump(settings))
    for name, options in (("00_train.py", ("-d", "--retrain")), ("01_test.py", ("-e",))):
        run = run_script(name, *options, "--config", str(unlabelled), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
    tables, stale = tables_and_stale((tmp_path / "result" / "summary.md").read_text())
    assert "Keras AUC" not in tables
    assert "| ToyCar | keras | model_ToyCar.hdf5 changed since it was scored" in stale


def test_a_result_file_name_the_pipeline_uses_and_a_model_folder_that_is_a_file(dev_run, tmp_path):
    config = own_run(dev_run, tmp_path, result_file="summary.md")
    run = script("01_test.py", config, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "'result_file' must name a .csv file, got 'summary.md'" in run.stderr
    config = own_run(dev_run, tmp_path / "other", result_file="run_info.csv")
    model = tmp_path / "other" / "model" / "model_ToyCar.tflite"
    run = script("03_tflite_test.py", config, "--model-directory", str(model), cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{model}: --model-directory is not a folder" in run.stderr
