"""Groups of models (``fit.group``): each model of a group trains as its single run, Ctrl-C
keeps none of them, and the measured rule trains one model at a time on a CPU."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import sys
import threading

import numpy as np
import yaml
from test_scan_training import frame_store, on_jax

from anomaly_detection.core.config import FitConfig
from anomaly_detection.core.errors import TrainingError
from anomaly_detection.model.model_groups import (
    group_config_problem,
    group_is_faster,
    groups_wanted,
    split_into_groups,
)
from anomaly_detection.registry.implementation import load
from anomaly_detection.registry.training_loops import MODEL_GROUPS, TRAINING_LOOPS
from conftest import REPO, run_script, write_config


def on_jax_here(check: str) -> None:
    on_jax(check, module="test_group_training")


def test_a_group_of_three_seeds_trains_each_model_as_its_single_run():
    on_jax_here("check_a_group_of_three_seeds_trains_each_model_as_its_single_run")


def check_a_group_of_three_seeds_trains_each_model_as_its_single_run() -> None:
    from anomaly_detection.model.group_training import fit_group
    from anomaly_detection.model.scan_training import fit_scanned
    from anomaly_detection.model.training import seed_everything, split_training_vectors
    from keras_model import get_model

    # 40 clips: 2,016 training vectors (3 full batches of 512, one of 480) and 224
    # validation vectors; 2 steps per dispatch: a chunk of 2, a single full batch, the
    # short batch; 2 epochs: 8 optimizer steps, each epoch on a new permutation.
    store = frame_store(40)
    fit = FitConfig(epochs=2, verbose=0)

    def model_and_data(seed):
        train, validation = split_training_vectors(store, frames=5, fit=fit, seed=seed)
        seed_everything(seed)
        return get_model(640), train, validation

    members = [model_and_data(seed) for seed in (0, 1, 2)]
    histories = fit_group(*map(list, zip(*members, strict=True)), fit, steps_per_dispatch=2)
    for seed, (grouped, _, _), history in zip((0, 1, 2), members, histories, strict=True):
        single, train, validation = model_and_data(seed)
        alone = fit_scanned(single, train, validation, fit, steps_per_dispatch=2).history
        assert history.history.keys() == alone.keys() == {"loss", "val_loss"}
        for name, values in alone.items():
            np.testing.assert_allclose(history.history[name], values, rtol=1e-5, atol=1e-5)
        for variable, mine, its in zip(
            single.weights, grouped.get_weights(), single.get_weights(), strict=True
        ):
            np.testing.assert_allclose(mine, its, rtol=0, atol=1e-5, err_msg=variable.path)
    first, second = (model.get_weights()[0] for model, _, _ in members[:2])
    assert not np.allclose(first, second)  # the seeds did differ


def test_models_group_by_shape_and_a_diverging_one_fails_alone():
    on_jax_here("check_models_group_by_shape_and_a_diverging_one_fails_alone")


def check_models_group_by_shape_and_a_diverging_one_fails_alone() -> None:
    from anomaly_detection.model import group_training
    from anomaly_detection.model.training import seed_everything, split_training_vectors
    from keras_model import get_model

    fit = FitConfig(epochs=2, verbose=0, optimizer="sgd")
    big, small, broken = frame_store(12), frame_store(8, seed=1), frame_store(8, seed=2)
    broken.frames[:] = 1e30  # squares overflow float32: a non-finite loss at once
    models, datasets = [], []
    for seed, store in enumerate((big, small, broken, big)):
        datasets.append(split_training_vectors(store, frames=5, fit=fit, seed=seed))
        seed_everything(seed)
        models.append(get_model(640))
    sizes = []
    fit_group = group_training.fit_group
    group_training.fit_group = lambda models, *a, **k: (
        sizes.append(len(models)) or fit_group(models, *a, **k)
    )
    outcomes = group_training.train_autoencoders(models, datasets, fit, grouped=True)
    assert sorted(sizes) == [2, 2]  # (big, big) and (small, broken): same vector counts
    assert [isinstance(outcome, TrainingError) for outcome in outcomes] == [
        False,
        False,
        True,
        False,
    ]
    assert "training diverged: loss became" in str(outcomes[2])
    assert all(
        len(outcome.history["loss"]) == 2 for outcome in outcomes if hasattr(outcome, "history")
    )


def test_the_group_rule_reads_the_measurements():
    assert load(MODEL_GROUPS.rule) is group_is_faster
    for loop in TRAINING_LOOPS:
        assert callable(load(loop.implementation))
    assert callable(load(MODEL_GROUPS.implementation))
    measured = {m.platform: m.speedup for m in MODEL_GROUPS.measurements}
    assert measured["cpu"] < 1 < measured["gpu"]
    assert group_is_faster("gpu") and not group_is_faster("cpu")
    assert not group_is_faster("an unmeasured platform")
    auto = FitConfig()

    def never_asked() -> str:
        raise AssertionError("the platform was probed")

    assert groups_wanted(auto, "jax", platform=lambda: "gpu")
    assert not groups_wanted(auto, "jax", platform=lambda: "cpu")
    assert groups_wanted(dataclasses.replace(auto, group="always"), "jax", platform=never_asked)
    for fit, backend in [
        (dataclasses.replace(auto, group="never"), "jax"),
        (dataclasses.replace(auto, group="always", loop="keras"), "jax"),
        (dataclasses.replace(auto, group="always"), "tensorflow"),
    ]:
        assert not groups_wanted(fit, backend, platform=never_asked)
    assert split_into_groups([3, 1, 4, 1, 5, 9, 2, 6], key=lambda n: n % 3) == [
        [3, 9, 6],
        [1, 4, 1],
        [5, 2],
    ]


def group_configs(work, data, *, seeds, **overrides):
    """One YAML per seed, in ``work/run<seed>``, sharing the feature cache."""
    cache = str(work / "cache")
    return [
        write_config(work / f"run{seed}", data, seed=seed, cache_directory=cache, **overrides)
        for seed in seeds
    ]


def weights(model_file):
    import h5py

    with h5py.File(model_file) as handle:
        arrays = []
        handle.visititems(
            lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


def test_00_train_groups_seeds_where_asked_and_on_a_cpu_trains_them_alone(
    tmp_path, tiny_data, monkeypatch
):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the platform of the rule's choice, anywhere
    always = group_configs(tmp_path / "group", tiny_data, seeds=(0, 1), **{"fit.group": "always"})
    auto = group_configs(tmp_path / "alone", tiny_data, seeds=(0, 1))
    logs = {}
    for name, configs in (("group", always), ("alone", auto)):
        command = ["00_train.py", "-d", "--config", str(configs[0]), "--group-config"]
        result = run_script(*command, str(configs[1]), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        logs[name] = result.stderr
    assert "2 models: those of one shape train as one group" in logs["group"]
    assert "as one group" not in logs["alone"]  # the rule, on this CPU: one at a time
    assert "== ToyCar (seed 1): training on" in logs["alone"]
    for seed in (0, 1):
        grouped = weights(tmp_path / "group" / f"run{seed}" / "model" / "model_ToyCar.hdf5")
        alone = weights(tmp_path / "alone" / f"run{seed}" / "model" / "model_ToyCar.hdf5")
        assert len(grouped) == len(alone) > 40
        for mine, its in zip(grouped, alone, strict=True):
            np.testing.assert_allclose(mine, its, rtol=0, atol=1e-5)
        for name in ("model_ToyCar.hdf5.threshold.json", "model_ToyCar.hdf5.provenance.json"):
            assert (tmp_path / "group" / f"run{seed}" / "model" / name).is_file()


def test_ctrl_c_in_a_group_saves_none_of_its_models(tmp_path, tiny_data):
    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data", data / "dev_data")
    overrides = {"fit.group": "always", "fit.epochs": 400, "fit.verbose": 1}
    configs = group_configs(tmp_path, data, seeds=(0, 1, 2), **overrides)
    environment = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, str(REPO / "00_train.py"), "-d", "--config", str(configs[0])]
    process = subprocess.Popen(
        [*command, "--group-config", *map(str, configs[1:])],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("INFO: epoch 3/400"):
            break
    threading.Thread(target=lambda: seen.extend(process.stderr), daemon=True).start()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130, "".join(seen)[-2000:]
    for config in configs:
        model_dir = config.parent / "model"
        assert not model_dir.exists() or not any(model_dir.iterdir())


def test_group_configs_must_differ_only_in_seed_and_output_paths(tmp_path, tiny_data):
    base, *_ = group_configs(tmp_path, tiny_data, seeds=(0,))
    other = write_config(tmp_path / "other", tiny_data, seed=1, cache_directory=str(tmp_path))
    raw = yaml.safe_load(other.read_text())
    raw["fit"]["epochs"] = 3
    other.write_text(yaml.safe_dump(raw))
    result = run_script(
        "00_train.py", "-d", "--config", str(base), "--group-config", str(other), cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"--group-config {other}: differs from the group's first configuration in " in (
        result.stderr
    )
    assert "fit.epochs, cache_directory" in result.stderr
    from anomaly_detection.core.config import load_config

    assert group_config_problem(load_config(base), load_config(base)) is None
