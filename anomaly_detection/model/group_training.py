"""Training a group of models of one shape at once: the scan loop under ``jax.vmap``.

Each model of a group trains as :func:`.scan_training.fit_scanned` trains it alone:
its own initial weights (built after seeding with its seed), its own permutation of
its training vectors each epoch (its :class:`.training.StackedVectors`' generator),
the same chunks of batches, gathers, optimizer, BatchNorm and per-sample loss, its
own validation loss, history and stop on a non-finite loss. The compiled step is the
scan loop's, mapped over a leading axis of models; their frame stores are uploaded
once, one after another, and each model's batch rows are offset to its store.

On a GPU the step of one model is bound by latency, so a group of 8 trains in about
the time of 2 (see :mod:`anomaly_detection.registry.training_loops`); on a CPU the
models' arithmetic adds up and :mod:`.model_groups` trains them one at a time.
Numerically, a model of a group equals its single run up to the order of the
reductions over a batch (BatchNorm's moments, the mean loss): on a CPU, groups of up
to 3 models reduce in the single run's order, bit for bit; larger ones differ by
float32 rounding, which Adam's first steps scale up to its step size where a
gradient is itself rounding noise (as between Keras' ``fit`` and the scan loop).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from ..core.config import FitConfig
from ..core.errors import TrainingError
from ..core.interruption import ensure_handler, raise_if_requested, requested
from ..core.native_logs import quiet_native_stderr
from ..registry.implementation import load
from ..registry.training_loops import MODEL_GROUPS
from .device_frames import frames_on_device
from .model_groups import split_into_groups
from .precision import training_precision, twin_in_bfloat16
from .scan_training import (
    DEFAULT_STEPS_PER_DISPATCH,
    _chunks,
    _CompiledSteps,
    _read_state,
    _RunningLoss,
    _store_state,
)
from .training import StackedVectors, check_finite, train_autoencoder

with quiet_native_stderr():
    import keras

__all__ = ["fit_group", "train_autoencoders"]

logger = logging.getLogger(__name__)

Datasets = tuple[StackedVectors, StackedVectors | None]


def train_autoencoders(
    models: Sequence[keras.Model], datasets: Sequence[Datasets], fit: FitConfig, *, grouped: bool
) -> list[keras.callbacks.History | TrainingError]:
    """Fit each model on its ``(train, validation)``; with ``grouped``, those that agree
    in shape (variables, vector counts, batch size) in one group each.

    Returns
    -------
    list of keras.callbacks.History or TrainingError
        By model: its history, or the error of a model whose loss became non-finite
        (the others of its group train on).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, before anything returns: no model of the group is kept.
    """
    outcomes: list[keras.callbacks.History | TrainingError | None] = [None] * len(models)
    indices = list(range(len(models)))
    if grouped:
        groups = split_into_groups(indices, key=lambda i: _shape(models[i], *datasets[i]))
    else:
        groups = [[index] for index in indices]
    for group in groups:
        if len(group) == 1:
            try:
                outcomes[group[0]] = train_autoencoder(models[group[0]], *datasets[group[0]], fit)
            except TrainingError as error:
                outcomes[group[0]] = error
            continue
        logger.info("training %d models as one group", len(group))
        histories = load(MODEL_GROUPS.implementation)(  # this module's fit_group
            [models[i] for i in group],
            [datasets[i][0] for i in group],
            [datasets[i][1] for i in group],
            fit,
            precision=training_precision(fit.precision),
        )
        raise_if_requested()
        for index, history in zip(group, histories, strict=True):
            try:
                outcomes[index] = check_finite(history)
            except TrainingError as error:
                outcomes[index] = error
    return [outcome for outcome in outcomes if outcome is not None]


def _shape(model: keras.Model, train: StackedVectors, validation: StackedVectors | None):
    """What the models of one group share: variable shapes, vectors and batches."""
    return (
        tuple(tuple(variable.shape) for variable in model.variables),
        train.n_vectors,
        train.batch_size,
        train.frames,
        None if validation is None else validation.n_vectors,
    )


def fit_group(
    models: Sequence[keras.Model],
    trains: Sequence[StackedVectors],
    validations: Sequence[StackedVectors | None],
    fit: FitConfig,
    *,
    precision: str = "float32",
    steps_per_dispatch: int = DEFAULT_STEPS_PER_DISPATCH,
) -> list[keras.callbacks.History]:
    """Fit every model of ``models`` on its own datasets, side by side.

    Parameters
    ----------
    models : sequence of keras.Model
        Built, of one architecture, on Keras' JAX backend; their variables hold the
        trained values on return.
    trains, validations : sequences of StackedVectors (validations: or ``None``)
        By model, of one shape: as many vectors, batch size and frames per vector.
    fit : FitConfig
        ``optimizer``, ``loss``, ``epochs``, ``verbose`` (a line per epoch).
    precision : {"float32", "bfloat16"}
    steps_per_dispatch : int

    Returns
    -------
    list of keras.callbacks.History
        By model, as :func:`.scan_training.fit_scanned` returns it; a model stops
        recording at its first non-finite epoch loss. On Ctrl-C every history stops
        at the last finished epoch.
    """
    import jax

    _check_group(models, trains, validations)
    optimizers, stepper = _compiled_steps(models, trains[0].frames, fit, precision)
    frames, offsets = _frames_of_group(trains)
    states = [
        _read_state(model, optimizer) for model, optimizer in zip(models, optimizers, strict=True)
    ]
    state = jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *states)
    histories = [keras.callbacks.History() for _ in models]
    for history, model in zip(histories, models, strict=True):
        history.set_model(model)
        history.on_train_begin()
    running = np.ones(len(models), dtype=bool)  # not stopped by a non-finite loss
    for train in trains:
        train.on_epoch_end()  # as fit_scanned: the same batches
    for epoch in range(fit.epochs):
        ensure_handler()
        state, losses = _train_epoch(stepper, state, frames, trains, offsets, steps_per_dispatch)
        if losses is None:  # Ctrl-C
            break
        logs = [{"loss": loss} for loss in losses]
        if validations[0] is not None:
            validation_losses = _validation_losses(stepper, state, frames, validations, offsets)
            for entry, loss in zip(logs, validation_losses, strict=True):
                entry["val_loss"] = loss
        for index in np.flatnonzero(running):
            histories[index].on_epoch_end(epoch, logs[index])
            running[index] = math.isfinite(logs[index]["loss"])
        for train in trains:
            train.on_epoch_end()
        if fit.verbose:
            _log_epoch(epoch, fit.epochs, losses, running)
        if not running.any():
            break
    for member, (model, optimizer) in enumerate(zip(models, optimizers, strict=True)):
        _store_state(model, optimizer, jax.tree.map(lambda leaf, i=member: leaf[i], state))
    return histories


def _compiled_steps(models, frames_per_vector: int, fit: FitConfig, precision: str):
    """Each model compiled with its own optimizer, and the group's compiled steps."""
    optimizers = []
    for model in models:
        optimizer = keras.optimizers.get(fit.keras_optimizer)
        model.compile(optimizer=optimizer, loss=fit.loss)
        optimizer.build(model.trainable_variables)
        optimizers.append(optimizer)
    stepper = _CompiledSteps(
        twin_in_bfloat16(models[0]) if precision == "bfloat16" else models[0],
        optimizers[0],
        keras.losses.get(fit.loss),
        frames_per_vector,
        group=True,
    )
    return optimizers, stepper


def _frames_of_group(trains) -> tuple[object, list[int]]:
    """The frames of every model's store, each once, on the device, and per model the
    row where its store's frames begin."""
    stores = list({id(train.store): train.store for train in trains}.values())
    frames, store_offsets = frames_on_device(stores)
    row_of = {id(store): offset for store, offset in zip(stores, store_offsets, strict=True)}
    return frames, [row_of[id(train.store)] for train in trains]


def _check_group(models, trains, validations) -> None:
    if keras.backend.backend() != "jax":
        raise TrainingError(f"groups of models train on JAX, not {keras.backend.backend()}")
    if not len(models) == len(trains) == len(validations) or not models:
        raise TrainingError("a group needs one training set (and validation set) per model")
    shapes = {_shape(*member) for member in zip(models, trains, validations, strict=True)}
    if len(shapes) > 1:
        raise TrainingError("the models of a group differ in shape, vectors or batch size")
    for train, validation in zip(trains, validations, strict=True):
        if validation is not None and validation.store is not train.store:
            raise TrainingError("training and validation vectors must come from one frame store")


def _batch_starts(trains, offsets, rows: slice, n_batches: int):
    """The first rows of each model's batches ``rows``, shape (models, n_batches, batch)."""
    import jax.numpy as jnp

    starts = [
        train.starts[train.order[rows]].astype(np.int64) + offset
        for train, offset in zip(trains, offsets, strict=True)
    ]
    return jnp.asarray(np.stack(starts).astype(np.int32)).reshape(len(trains), n_batches, -1)


def _train_epoch(stepper, state, frames, trains, offsets, steps_per_dispatch: int):
    """One epoch of every model; the new state and each model's mean loss per sample, or
    ``None`` for the losses when Ctrl-C stopped it."""
    first_train = trains[0]
    batch_size, n_vectors = first_train.batch_size, first_train.n_vectors
    running = [_RunningLoss(batch_size, _NoCallbacks()) for _ in trains]
    pending = None
    chunks = _chunks(first_train.num_batches, steps_per_dispatch, batch_size, n_vectors)
    for first, n_batches in chunks:
        rows = slice(first * batch_size, min((first + n_batches) * batch_size, n_vectors))
        steps = (
            stepper.steps
            if rows.stop - rows.start == n_batches * batch_size
            else stepper.steps_one_by_one
        )
        state, losses = steps(state, frames, _batch_starts(trains, offsets, rows, n_batches))
        if pending is not None:  # read the last dispatch's losses while this one runs
            _add_losses(running, *pending)
            if requested():
                break
        pending = (first, losses, rows.stop - rows.start)
    else:
        if pending is not None:
            _add_losses(running, *pending)
    if requested():
        return state, None
    return state, [loss.mean for loss in running]


class _NoCallbacks:
    """A group's models have no callbacks: their running losses report to nothing."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        return None


def _add_losses(running, first: int, losses, n_vectors: int) -> None:
    values = np.asarray(losses)  # (models, batches)
    for model_loss, model_values in zip(running, values, strict=True):
        model_loss.add(first, model_values, n_vectors)


def _validation_losses(stepper, state, frames, validations, offsets) -> list[float]:
    """Each model's mean per-sample validation loss, BatchNorm in inference mode."""
    import jax.numpy as jnp

    first = validations[0]
    totals = [0.0] * len(validations)
    for index in range(first.num_batches):
        rows = slice(index * first.batch_size, (index + 1) * first.batch_size)
        starts = [
            validation.starts[validation.order[rows]].astype(np.int64) + offset
            for validation, offset in zip(validations, offsets, strict=True)
        ]
        loss_sum = (
            stepper.loss_sum if len(starts[0]) == first.batch_size else stepper.loss_sum_one_by_one
        )
        sums = np.asarray(loss_sum(state, frames, jnp.asarray(np.stack(starts), "int32")))
        totals = [total + float(value) for total, value in zip(totals, sums, strict=True)]
    return [total / first.n_vectors for total in totals]


def _log_epoch(epoch: int, epochs: int, losses: Sequence[float], running: np.ndarray) -> None:
    finite = [loss for loss in losses if math.isfinite(loss)]
    stopped = len(losses) - int(running.sum())
    logger.info(
        "epoch %d/%d: loss %s over %d models%s",
        epoch + 1,
        epochs,
        f"{min(finite):.4f} to {max(finite):.4f}" if finite else "non-finite",
        len(losses),
        f" ({stopped} stopped: non-finite loss)" if stopped else "",
    )
