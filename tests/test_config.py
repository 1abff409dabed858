"""Configuration loading and validation."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anomaly_detection.core.config import FeatureConfig, load_config, parse_config
from anomaly_detection.core.config_values import result_file_name
from anomaly_detection.core.errors import ConfigError
from anomaly_detection.core.layout import OutputLayout
from anomaly_detection.registry.variants import VARIANTS
from conftest import REPO


def reference_dict() -> dict:
    return yaml.safe_load((REPO / "baseline.yaml").read_text())


def test_default_yaml_has_the_reference_values():
    config = load_config(REPO / "baseline.yaml")
    assert config.dev_directory == Path("./dev_data")
    assert config.eval_directory == Path("./eval_data")
    assert config.model_directory == Path("./model")
    assert config.result_directory == Path("./result")
    assert config.result_file == "result.csv"
    assert config.max_fpr == 0.1
    assert config.feature == FeatureConfig(
        n_mels=128, frames=5, n_fft=1024, hop_length=512, power=2.0, frame_crop=(50, 250)
    )
    assert (config.fit.optimizer, config.fit.loss) == ("adam", "mean_squared_error")
    assert (config.fit.epochs, config.fit.batch_size) == (100, 512)
    assert (config.fit.shuffle, config.fit.validation_split, config.fit.verbose) == (True, 0.1, 1)
    assert config.feature.vector_dim == 640


def test_reference_yaml_without_the_new_keys_still_loads():
    raw = reference_dict()
    for key in ("cache_directory", "n_workers", "decision_percentile", "seed", "log_file"):
        raw.pop(key)
    del raw["feature"]["frame_crop"]
    config = parse_config(raw)
    assert config.feature.frame_crop == (50, 250)
    assert config.n_workers == 0 and config.workers >= 1


def test_frame_crop_null_keeps_all_frames():
    raw = reference_dict()
    raw["feature"]["frame_crop"] = None
    assert parse_config(raw).feature.frame_crop is None


def test_every_problem_is_listed_at_once():
    raw = reference_dict()
    del raw["max_fpr"]
    raw["feature"]["n_mel"] = raw["feature"].pop("n_mels")
    raw["fit"]["epochs"] = -3
    raw["fit"]["batch_size"] = "512"
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "my.yaml")
    message = str(error.value)
    assert message.startswith("my.yaml: 5 problem(s)")
    assert "missing key 'max_fpr'" in message
    assert "unknown key 'feature.n_mel' (did you mean 'feature.n_mels'?)" in message
    assert "missing key 'feature.n_mels'" in message
    assert "'fit.epochs' must be greater than 0" in message
    assert "'fit.batch_size' must be an integer, got '512'" in message


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("max_fpr", 0.0, "'max_fpr' must be in (0, 1]"),
        ("max_fpr", 1.5, "'max_fpr' must be in (0, 1]"),
        ("fit.validation_split", 1.0, "'fit.validation_split' must be in [0, 1)"),
        ("fit.shuffle", "yes", "'fit.shuffle' must be true or false"),
        (
            "fit.loop",
            "scna",
            "'fit.loop' is 'scna', not one of: scan, keras (did you mean 'scan'?)",
        ),
        ("fit.precision", "fp16", "'fit.precision' is 'fp16', not one of: float32, bfloat16"),
        ("fit.group", "sometimes", "'fit.group' is 'sometimes', not one of: auto, always, never"),
        ("anomaly_score", "maha", "'anomaly_score' is 'maha', not one of: mse, mahalanobis"),
        ("feature.frames", 300, "'feature.frames' (300) is larger than the cropped clip (200"),
        ("feature.frame_crop", [250, 50], "'feature.frame_crop' must be null or [start, stop]"),
        ("feature.power", True, "'feature.power' must be a number"),
        ("n_workers", -1, "'n_workers' must be 0 or greater"),
        ("result_file", "sub/result.csv", "'result_file' must be a file name in result_directory"),
        ("result_file", "../outside.csv", "'result_file' must be a file name in result_directory"),
        ("result_file", "quant_decision_metrics.csv", "could name another model's file"),
        ("result_file", "intio_result.csv", "could name another model's file"),
        ("result_file", "decision_metrics.csv", "names a file the pipeline writes for another"),
        ("result_file", "tflite_result.csv", "names a file the pipeline writes for another"),
        (
            "feature.n_fft",
            256,
            "'feature.n_fft' (256) is too small for 'feature.n_mels' (128): 13 mel band(s) would "
            "hold no FFT bin at 16000 Hz",
        ),
    ],
)
def test_values_out_of_range_are_rejected(key, value, expected):
    raw = reference_dict()
    section, _, name = key.rpartition(".")
    (raw[section] if section else raw)[name] = value
    with pytest.raises(ConfigError, match=None) as error:
        parse_config(raw)
    assert expected in str(error.value)


def test_unreadable_files_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("feature: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(not_mapping)


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("dev_directory: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(hostile)


def test_no_result_file_name_is_a_file_the_pipeline_writes():
    layout = OutputLayout(Path("model"), Path("result"))
    for variant in VARIANTS:
        written = (
            layout.anomaly_scores(variant, "ToyCar", "id_01"),
            layout.decisions(variant, "ToyCar", "id_01"),
            layout.decision_metrics(variant),
        )
        for path in written:
            assert result_file_name(path.name) is not None, path.name
    for name in ("result.csv", "my_result.csv", "tflite.csv", "tflm_result.csv"):
        assert result_file_name(name) is None, name


def test_loading_a_configuration_imports_no_librosa(tmp_path):
    bad = reference_dict()
    bad["feature"]["n_fft"] = 256
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    code = (
        "import sys\n"
        "from anomaly_detection.core.config import load_config\n"
        "from anomaly_detection.core.errors import ConfigError\n"
        "load_config('baseline.yaml')\n"
        "try:\n"
        f"    load_config({str(tmp_path / 'bad.yaml')!r})\n"
        "except ConfigError as error:\n"
        "    print(str(error).splitlines()[-1].strip())\n"
        "print('librosa' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert run.stdout.splitlines() == [
        "'feature.n_fft' (256) is too small for 'feature.n_mels' (128): 13 mel band(s) would "
        "hold no FFT bin at 16000 Hz",
        "False",
    ]
