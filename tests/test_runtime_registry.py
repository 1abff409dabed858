"""The registries: every entry resolves, and a new runtime is one entry of the runtime table.

Run as a script, this module is ``03_tflite_test.py`` with :data:`LITERT1` added to the
runtime table before anything reads it, as an entry written into
``anomaly_detection/registry/runtimes.py`` would be.
"""

from __future__ import annotations

import csv
import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from anomaly_detection.registry import runtimes
from anomaly_detection.registry.implementation import load
from anomaly_detection.registry.model_files import MODEL_FILES, model_file_by_name
from anomaly_detection.registry.runtimes import RUNTIMES, Runtime

REPO = Path(__file__).resolve().parents[1]

#: A fictitious second LiteRT runtime: the float file on one interpreter thread.
LITERT1 = Runtime(
    "litert1",
    "LiteRT1",
    "LiteRT, one thread",
    label_prefix="litert1",
    model_files=("float",),
    implementation="test_runtime_registry:open_single_threaded",
)


def open_single_threaded(path: Path, *, workers: int):
    """:data:`LITERT1`'s implementation: LiteRT with one thread, whatever ``workers``."""
    from anomaly_detection.device.tflite_infer import open_in_litert

    return open_in_litert(path, workers=1)


@pytest.mark.parametrize("runtime", [*RUNTIMES, LITERT1], ids=lambda runtime: runtime.name)
def test_every_runtime_names_code_that_resolves(runtime):
    assert callable(load(runtime.implementation))
    assert [model_file_by_name(name).name for name in runtime.model_files]


def test_the_tables_name_each_entry_once_and_in_order():
    from anomaly_detection.registry.variants import VARIANTS, variant_by_label

    labels = [variant.label for variant in VARIANTS]
    assert len(set(labels)) == len(labels)
    assert [variant_by_label(label) for label in labels] == list(VARIANTS)
    assert len({runtime.name for runtime in RUNTIMES}) == len(RUNTIMES)
    assert len({model_file.name for model_file in MODEL_FILES}) == len(MODEL_FILES)
    for index, runtime in enumerate(RUNTIMES):
        if runtime.checked_against is not None:  # an earlier runtime that runs its files
            (other,) = [r for r in RUNTIMES[:index] if r.name == runtime.checked_against]
            assert set(runtime.model_files) <= set(other.model_files)


def test_a_variant_in_a_later_runtime_is_named_after_it(monkeypatch):
    from anomaly_detection.registry.variants import ModelVariant

    monkeypatch.setattr(runtimes, "RUNTIMES", (*RUNTIMES, LITERT1))
    variant = ModelVariant(model_file_by_name("float"), LITERT1)
    assert variant.label == "litert1"
    assert variant.short_name == "LiteRT1 float"
    assert variant.description == "float32, in LiteRT, one thread"
    assert variant.result_prefix == "litert1_"
    assert variant.model_file_name("fan") == "model_fan.tflite"


def read_scores(path: Path) -> dict[str, float]:
    with path.open(newline="") as handle:
        return {name: float(score) for name, score in csv.reader(handle)}


def test_a_runtime_registered_as_one_entry_is_scored_and_reported(dev_run, tmp_path):
    from conftest import run_script, write_config

    models = tmp_path / "model"
    shutil.copytree(dev_run["work"] / "model", models)
    for other in models.glob("model_ToyCar_quant*"):  # the float and the Keras file stay
        other.unlink()
    config = write_config(tmp_path, dev_run["data"])
    run = run_script(
        "tests/test_runtime_registry.py", "-d", "--config", str(config),
        "--model-directory", str(models), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = tmp_path / "result"
    for machine_id in ("01", "02"):
        ours = read_scores(result / f"litert1_anomaly_score_ToyCar_id_{machine_id}.csv")
        litert = read_scores(result / f"tflite_anomaly_score_ToyCar_id_{machine_id}.csv")
        assert list(ours) == list(litert) and len(ours) == 10
        for clip, score in ours.items():
            assert score == pytest.approx(litert[clip], rel=1e-5), clip
    assert (result / "litert1_result.csv").is_file()
    assert not list(result.glob("tflm*"))  # TFLM runs none of the files there
    table = run.stdout[run.stdout.index("Average AUC / pAUC") :].splitlines()
    rows = [line.split() for line in table[2:]]
    assert [row[:4] for row in rows] == [
        ["float", "(.tflite)", "LiteRT", "ToyCar"],
        ["float", "(.tflite)", "LiteRT1", "ToyCar"],
    ]
    assert rows[0][4] == rows[1][4]  # the same file's SHA-256 prefix
    summary = (result / "summary.md").read_text()
    assert "| LiteRT1 float AUC | LiteRT1 float pAUC |" in summary
    info = json.loads((result / "run_info.json").read_text())
    assert info["litert1"]["ToyCar"]["file"] == "model_ToyCar.tflite"


if __name__ == "__main__":  # 03_tflite_test.py with LITERT1 registered
    assert "anomaly_detection.registry.variants" not in sys.modules, "registered too late"
    runtimes.RUNTIMES = (*runtimes.RUNTIMES, LITERT1)
    sys.argv[0] = str(REPO / "03_tflite_test.py")
    runpy.run_path(sys.argv[0], run_name="__main__")
