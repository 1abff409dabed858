"""What a person sees in the terminal: the project's lines only, tables that fit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from anomaly_detection.model.provenance import file_digest
from conftest import REPO

NOISE_WORDS = ("absl", "onednn", "cuda drivers", "fully_quantize", "xnnpack delegate")


def _native_writes(env: dict[str, str]) -> str:
    """Standard error of a child that writes library noise and a real line to fd 2."""
    code = textwrap.dedent(
        """
        import os, sys
        from anomaly_detection.core.native_logs import quiet_native_stderr
        with quiet_native_stderr():
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\\n")
            os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\\n")
            os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\\n")
            os.write(2, b"a real native error\\n")
            print("a Python line", file=sys.stderr)
        print("after", file=sys.stderr)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        check=True,
    )
    return result.stderr


def test_native_noise_is_dropped_and_everything_else_kept_in_order():
    assert _native_writes({}).splitlines() == ["a real native error", "a Python line", "after"]


def test_library_lines_come_back_when_asked_for():
    shown = _native_writes({"AD_LIBRARY_LOGS": "1"})
    assert "cuda drivers" in shown and "fully_quantize" in shown and "a real native error" in shown


def test_scripts_print_only_their_own_lines(dev_run):
    for script, run in dev_run["runs"].items():
        printed = (run.stdout + run.stderr).lower()
        assert not [word for word in NOISE_WORDS if word in printed], script


def test_tflite_tests_table_fits_100_columns(dev_run):
    stdout = dev_run["runs"]["03_tflite_test.py"].stdout
    table = stdout[stdout.index("Average AUC / pAUC") :].splitlines()
    assert len(table) == 1 + 1 + 8  # title, header, Keras + 5 LiteRT + 2 TFLM rows (one type)
    assert max(len(line) for line in table) <= 100
    rows = {tuple(line.split()[-6:-2]) for line in table[2:]}
    model = dev_run["work"] / "model"
    intio = file_digest(model / "model_ToyCar_quant_fullint_micro_intio.tflite")[:12]
    assert ("(_quant_fullint_micro_intio)", "TFLM", "ToyCar", intio) in rows
    assert ("(.hdf5)", "Keras", "ToyCar", file_digest(model / "model_ToyCar.hdf5")[:12]) in rows


def test_loss_plot_has_a_log_axis_and_marks_the_best_validation_epoch(tmp_path, monkeypatch):
    from anomaly_detection.evaluation import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure))
    history = {"loss": [203.0, 45.2, 11.3, 8.4, 7.7], "val_loss": [150.0, 15.2, 12.7, 10.1, 14.1]}
    plots.plot_training_history(history, tmp_path / "history.png", "ToyCar")
    (axes,) = figures[0].axes
    assert axes.get_yscale() == "log"
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert "best validation: epoch 4 (10.1)" in labels


def test_no_printed_line_is_wider_than_100_columns_but_for_its_paths(dev_run):
    for script, run in dev_run["runs"].items():
        printed = (run.stdout + run.stderr).replace("\r", "\n").splitlines()
        wide = [line for line in printed if len(line) > 100 and "/" not in line]
        assert wide == [], script
