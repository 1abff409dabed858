"""The scan training loop (many steps per compiled call) trains exactly as Keras' ``fit``.

The loop runs on Keras' JAX backend; this test process's Keras may run on another,
so each training check runs in a fresh process on JAX (:func:`on_jax`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from anomaly_detection.core.config import FitConfig
from anomaly_detection.features.frame_store import MemoryFrameStore
from anomaly_detection.model import precision, scan_training
from anomaly_detection.model.precision import native_bfloat16, training_precision
from anomaly_detection.model.scan_training import fit_scanned
from anomaly_detection.model.training import (
    seed_everything,
    split_training_vectors,
    train_autoencoder,
)
from conftest import REPO

TESTS = REPO / "tests"


def on_jax(check: str, module: str = "test_scan_training") -> None:
    """Run ``check`` (a function of ``module``, this one by default) in a fresh process
    on Keras' JAX backend."""
    environment = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(REPO)!r}]; "
    code += f"import {module}; {module}.{check}()"
    run = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-4000:]


def frame_store(n_clips: int, seed: int = 0) -> MemoryFrameStore:
    """Log-mel-like clips (dB around -30, a spectral tilt) of 60 frames: 56 vectors each."""
    rng = np.random.default_rng(seed)
    tilt = np.linspace(0.0, 12.0, 128, dtype=np.float32)
    clips = [
        (rng.standard_normal((60, 128)) * 3.0 - 30.0 + tilt).astype(np.float32)
        for _ in range(n_clips)
    ]
    return MemoryFrameStore.from_clips(clips, n_clips, 128)


def train(store, fit: FitConfig, *, seed: int = 0, **scan_options):
    """A model trained by ``train_autoencoder``, or by ``fit_scanned(**scan_options)``."""
    from keras_model import get_model

    train_set, validation = split_training_vectors(store, frames=5, fit=fit, seed=seed)
    seed_everything(seed)
    model = get_model(640)
    if scan_options:
        history = fit_scanned(model, train_set, validation, fit, **scan_options)
    else:
        history = train_autoencoder(model, train_set, validation, fit)
    return model, history.history


def test_the_scan_loop_trains_exactly_as_keras_fit():
    on_jax("check_the_scan_loop_trains_exactly_as_keras_fit")


def check_the_scan_loop_trains_exactly_as_keras_fit() -> None:
    # 40 clips: 2,016 training vectors (3 full batches of 512 and one of 480) and 224
    # validation vectors; 2 steps per dispatch: chunks of 2, a single full batch, the
    # short batch. Shuffled as fit shuffles: the same batches in the same order.
    store = frame_store(40)
    fit = FitConfig(epochs=3, verbose=0)
    keras_fit, keras_history = train(store, dataclasses.replace(fit, loop="keras"))
    scanned, scan_history = train(store, fit, steps_per_dispatch=2)
    assert set(scan_history) == set(keras_history) == {"loss", "val_loss"}
    for name in ("loss", "val_loss"):  # the same up to the rounding of other fusions
        np.testing.assert_allclose(scan_history[name], keras_history[name], rtol=1e-4)
    assert scan_history["loss"] == sorted(scan_history["loss"], reverse=True)  # it learns
    # One epoch: the same weights. (The biases of Dense layers before a BatchNorm have
    # a zero gradient but for rounding, which Adam scales up to steps of its learning
    # rate: they, and after some epochs everything, differ by rounding noise.) 330 clips:
    # 32 full batches in one dispatch of the default size, then the short one.
    for clips, steps in ((store, {"steps_per_dispatch": 2}), (frame_store(330), {})):
        one_epoch = dataclasses.replace(fit, epochs=1)
        keras_fit, _ = train(clips, dataclasses.replace(one_epoch, loop="keras"))
        scanned, _ = train(clips, one_epoch, precision="float32", **steps)
        for variable, keras_value, scan_value in zip(
            keras_fit.weights, keras_fit.get_weights(), scanned.get_weights(), strict=True
        ):
            np.testing.assert_allclose(scan_value, keras_value, atol=2e-5, err_msg=variable.path)
            if variable.path.endswith("kernel"):
                np.testing.assert_allclose(
                    scan_value, keras_value, atol=1e-7, err_msg=variable.path
                )


def test_a_callback_stopping_training_ends_it_as_in_fit():
    on_jax("check_a_callback_stopping_training_ends_it_as_in_fit")


def check_a_callback_stopping_training_ends_it_as_in_fit() -> None:
    import keras

    from keras_model import get_model

    class StopAtFirstBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    store = frame_store(40)
    fit = FitConfig(epochs=3, verbose=0)
    histories = []
    for loop in ("keras", "scan"):
        train_set, validation = split_training_vectors(store, frames=5, fit=fit, seed=0)
        seed_everything(0)
        history = train_autoencoder(
            get_model(640),
            train_set,
            validation,
            dataclasses.replace(fit, loop=loop),
            callbacks=[StopAtFirstBatch()],
        )
        histories.append(history.history)
    assert {name: len(values) for name, values in histories[1].items()} == {
        "loss": 1,
        "val_loss": 1,
    }
    assert histories[0].keys() == histories[1].keys()


def test_each_epoch_trains_on_a_new_permutation_of_the_training_vectors():
    on_jax("check_each_epoch_trains_on_a_new_permutation_of_the_training_vectors")


def check_each_epoch_trains_on_a_new_permutation_of_the_training_vectors() -> None:
    from keras_model import get_model

    store = frame_store(20)
    fit = FitConfig(epochs=3, verbose=0)
    seen: list[tuple[str, np.ndarray]] = []
    compiled_steps = scan_training._CompiledSteps

    class RecordingSteps(compiled_steps):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            steps, loss_sum = self.steps, self.loss_sum
            self.steps = lambda state, frames, starts: (
                seen.append(("train", np.asarray(starts).ravel())) or steps(state, frames, starts)
            )
            self.loss_sum = lambda state, frames, starts: (
                seen.append(("validation", np.asarray(starts))) or loss_sum(state, frames, starts)
            )

    scan_training._CompiledSteps = RecordingSteps
    train_set, validation = split_training_vectors(store, frames=5, fit=fit, seed=3)
    seed_everything(3)
    fit_scanned(get_model(640), train_set, validation, fit, steps_per_dispatch=2)
    orders: list[list[int]] = [[]]
    for kind, starts in seen:
        if kind == "validation":
            assert sorted(starts.tolist()) == sorted(validation.starts.tolist())
            orders.append([])  # the validation pass ends an epoch
        else:
            orders[-1].extend(starts.tolist())
    assert len(orders) == 4 and orders[-1] == []
    for order in orders[:3]:
        assert sorted(order) == sorted(train_set.starts.tolist())
    assert orders[0] != orders[1] and orders[1] != orders[2]


def test_the_same_seed_trains_the_same_model_and_another_seed_another():
    on_jax("check_the_same_seed_trains_the_same_model_and_another_seed_another")


def check_the_same_seed_trains_the_same_model_and_another_seed_another() -> None:
    store = frame_store(12)
    fit = FitConfig(epochs=2, verbose=0)
    first, first_history = train(store, fit, seed=5)
    again, again_history = train(store, fit, seed=5)
    other, _ = train(store, fit, seed=6)
    assert first_history == again_history
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_a_non_finite_loss_stops_training_with_the_epoch_recorded():
    on_jax("check_a_non_finite_loss_stops_training_with_the_epoch_recorded")


def check_a_non_finite_loss_stops_training_with_the_epoch_recorded() -> None:
    store = frame_store(8)
    fit = FitConfig(epochs=3, verbose=0, optimizer="sgd")
    store.frames[:] = 1e30  # squares overflow float32: the loss is inf from the first step
    _, history = train(store, fit, steps_per_dispatch=2)
    assert len(history["loss"]) == 1 and not np.isfinite(history["loss"][0])


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags\t\t: fpu sse2 avx2 fma", False),
        ("flags\t\t: fpu avx2 avx512f avx512_bf16", True),
        ("flags\t\t: fpu avx2 amx_tile amx_bf16", True),
        ("Features\t: fp asimd bf16 i8mm", True),
        ("processor\t: 0", False),
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\n{flags}\n")
    assert native_bfloat16(cpuinfo) is native
    assert native_bfloat16(tmp_path / "missing") is False


def test_bfloat16_without_native_support_trains_in_float32_with_one_line(monkeypatch, caplog):
    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    precision._log_float32_fallback.cache_clear()
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        assert training_precision("bfloat16") == "float32"
        assert training_precision("bfloat16") == "float32"  # logged once per process
        assert training_precision("float32") == "float32"
    assert [record.getMessage() for record in caplog.records] == [
        "fit.precision bfloat16: this CPU has no native bfloat16 arithmetic "
        "(AVX-512 BF16, AMX or Arm BF16); training in float32"
    ]
    monkeypatch.setattr(precision, "native_bfloat16", lambda: True)
    assert training_precision("bfloat16") == "bfloat16"


def test_bfloat16_training_leaves_a_float32_model_close_to_the_float32_one():
    on_jax("check_bfloat16_training_leaves_a_float32_model_close_to_the_float32_one")


def check_bfloat16_training_leaves_a_float32_model_close_to_the_float32_one() -> None:
    store = frame_store(20)
    fit = FitConfig(epochs=3, verbose=0)
    single, single_history = train(store, fit, precision="float32")
    half, half_history = train(store, fit, precision="bfloat16")
    assert all(weight.dtype == np.float32 for weight in half.get_weights())
    assert all(v.dtype == "float32" for v in half.variables)
    assert half.dtype_policy.name == "float32"  # the saved model is the float32 one
    assert half_history["loss"] != single_history["loss"]  # bfloat16 products did run
    np.testing.assert_allclose(half_history["loss"], single_history["loss"], rtol=0.03)
    np.testing.assert_allclose(half_history["val_loss"], single_history["val_loss"], rtol=0.03)


def test_the_log_says_which_loop_and_precision_train(monkeypatch):
    from anomaly_detection.model.training import describe_loop

    monkeypatch.setattr(precision, "native_bfloat16", lambda: False)
    fit = FitConfig()
    assert describe_loop(fit, "jax") == "scan loop, 32 steps per call, float32"
    assert describe_loop(dataclasses.replace(fit, precision="bfloat16"), "jax") == (
        "scan loop, 32 steps per call, float32"
    )
    assert describe_loop(dataclasses.replace(fit, loop="keras"), "jax") == "Keras' fit"
    assert describe_loop(dataclasses.replace(fit, precision="bfloat16"), "tensorflow") == (
        "Keras' fit, float32: fit.precision bfloat16 is the scan loop's, on JAX"
    )
    monkeypatch.setattr(precision, "native_bfloat16", lambda: True)
    assert describe_loop(dataclasses.replace(fit, precision="bfloat16"), "jax") == (
        "scan loop, 32 steps per call, bfloat16"
    )
