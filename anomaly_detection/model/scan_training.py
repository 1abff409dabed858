"""Training many optimizer steps per dispatch: Keras 3's stateless API under ``jax.lax.scan``.

``model.fit`` dispatches one compiled step per batch and gathers each batch in
Python between steps. Here the steps of ``steps_per_dispatch`` batches run in
one compiled function (a ``jax.lax.scan`` over ``model.stateless_call`` and
the optimizer's ``stateless_apply``) that gathers each batch's vectors itself
from the frame store's frames, held once on the device (in place, on a CPU);
the host sends only the batches' first rows. The reference's training,
semantics unchanged (batch size, epochs, the same batches in the same order as
``fit`` on a :class:`.training.StackedVectors`, the validation split, the loss
averaged per sample as Keras reports it, the optimizer and BatchNorm as Keras
defines them, the seeds), in fewer and larger dispatches.

Precision ``"bfloat16"`` trains a twin of the model in bfloat16 (see :mod:`.precision`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..core.config import FitConfig
from ..core.errors import TrainingError
from ..core.interruption import ensure_handler, requested
from ..core.native_logs import quiet_native_stderr
from .device_frames import frames_on_device
from .precision import training_precision, twin_in_bfloat16

with quiet_native_stderr():
    import keras

__all__ = ["DEFAULT_STEPS_PER_DISPATCH", "fit_scanned", "fit_scan_loop"]

logger = logging.getLogger(__name__)

#: Optimizer steps per compiled call: 32 steps of 512 vectors hold 42 MB of batches.
DEFAULT_STEPS_PER_DISPATCH = 32


class _CompiledSteps:
    """The compiled functions of one training run, on JAX arrays: the model's state
    ``(trainable, non_trainable, optimizer)``, the store's frames (n_rows, n_mels) and
    the first rows of the vectors of each batch; each is compiled once per shape.

    With ``group``, the functions of a group of models of ``model``'s shape: every
    leaf of the state and the first rows gain a leading axis, one entry per model,
    the frames are shared, and each model's step is this one, mapped over the models
    side by side (``jax.vmap``), or one by one (``..._one_by_one``: the single model's
    compiled function, for a short batch, whose reductions XLA orders otherwise under
    ``vmap``).
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer,
        loss_fn: Callable,
        frames_per_vector: int,
        *,
        group: bool = False,
    ):
        import jax
        import jax.numpy as jnp

        offsets = jnp.arange(frames_per_vector)

        def gather(frames, starts):  # (batch,) first rows -> (batch, frames * n_mels)
            return frames[starts[:, None] + offsets].reshape(starts.shape[0], -1)

        def loss_and_updates(trainable, non_trainable, batch):
            outputs, non_trainable = model.stateless_call(
                trainable, non_trainable, batch, training=True
            )
            per_sample = loss_fn(batch, outputs.astype("float32"))
            return jnp.mean(per_sample), non_trainable

        gradient = jax.value_and_grad(loss_and_updates, has_aux=True)

        def steps(state, frames, starts):  # starts: (steps, batch_size) first rows
            def step(state, batch_starts):
                trainable, non_trainable, optimizer_state = state
                batch = gather(frames, batch_starts)
                (loss, non_trainable), grads = gradient(trainable, non_trainable, batch)
                trainable, optimizer_state = optimizer.stateless_apply(
                    optimizer_state, grads, trainable
                )
                return (trainable, non_trainable, optimizer_state), loss

            return jax.lax.scan(step, state, starts)

        def loss_sum(state, frames, starts):
            trainable, non_trainable, _ = state
            batch = gather(frames, starts)
            outputs, _ = model.stateless_call(trainable, non_trainable, batch, training=False)
            return jnp.sum(loss_fn(batch, outputs.astype("float32")))

        self.steps = jax.jit(steps)
        self.loss_sum = jax.jit(loss_sum)
        if group:  # state and starts by model, side by side (vmap) or one by one
            self.steps_one_by_one = _one_by_one(self.steps)
            self.loss_sum_one_by_one = _one_by_one(self.loss_sum)
            self.steps = jax.jit(jax.vmap(steps, in_axes=(0, None, 0)))
            self.loss_sum = jax.jit(jax.vmap(loss_sum, in_axes=(0, None, 0)))


def _one_by_one(single: Callable) -> Callable:
    """The compiled ``single(state, frames, starts)`` of one model, called for each model
    of a leading axis of ``state`` and ``starts`` in turn: each computes as alone."""
    import jax
    import jax.numpy as jnp

    take = jax.jit(lambda tree, index: jax.tree.map(lambda leaf: leaf[index], tree))
    stack = jax.jit(lambda trees: jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees))

    def one_by_one(state, frames, starts):
        results = [
            single(take(state, index), frames, starts[index]) for index in range(len(starts))
        ]
        return stack(results)

    return one_by_one


def _chunks(n_batches: int, per_dispatch: int, batch_size: int, n_vectors: int) -> Iterator:
    """``(first batch, batches)`` of each dispatch: full chunks of ``per_dispatch``
    batches, the remaining full batches one by one, then the short last batch alone
    (each shape compiles once)."""
    full_batches = n_vectors // batch_size
    first = 0
    while first + per_dispatch <= full_batches:
        yield first, per_dispatch
        first += per_dispatch
    while first < n_batches:
        yield first, 1
        first += 1


def fit_scan_loop(
    model: keras.Model,
    train,
    validation,
    fit: FitConfig,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """The ``scan`` loop of the training-loop registry: :func:`fit_scanned` in
    ``fit.precision`` where the device computes it natively (else float32)."""
    precision = training_precision(fit.precision)
    return fit_scanned(model, train, validation, fit, precision=precision, callbacks=callbacks)


def fit_scanned(
    model: keras.Model,
    train,
    validation,
    fit: FitConfig,
    *,
    precision: str = "float32",
    steps_per_dispatch: int = DEFAULT_STEPS_PER_DISPATCH,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Fit ``model`` as ``model.fit(train, validation_data=validation, ...)`` would.

    Parameters
    ----------
    model : keras.Model
        Built, on Keras' JAX backend; its variables hold the trained values on return.
    train, validation : StackedVectors
        Training batches (reshuffled each epoch by ``train.on_epoch_end``) and the
        unshuffled validation vectors, or ``None``.
    fit : FitConfig
        ``optimizer``, ``loss``, ``epochs``, ``batch_size``, ``verbose``.
    precision : {"float32", "bfloat16"}
        The arithmetic of the Dense products (see the module's notes).
    steps_per_dispatch : int
        Optimizer steps per compiled call.
    callbacks : sequence of keras.callbacks.Callback
        Called at the epochs' ends (and at each dispatch's last batch).

    Returns
    -------
    keras.callbacks.History
        ``history.history["loss"]`` (and ``"val_loss"``) per epoch, as ``fit``'s.
        Training stops early, with the epochs done so far, on Ctrl-C or a
        non-finite loss; :func:`.training.train_autoencoder` raises them.
    """
    import jax

    if keras.backend.backend() != "jax":
        raise TrainingError(f"the scanned training loop runs on JAX, not {keras.backend.backend()}")
    if steps_per_dispatch < 1:
        raise TrainingError(f"steps_per_dispatch must be 1 or more, not {steps_per_dispatch}")
    optimizer = keras.optimizers.get(fit.keras_optimizer)
    model.compile(optimizer=optimizer, loss=fit.loss)  # as fit's caller: model.optimizer is it
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.get(fit.loss)
    stepper = _CompiledSteps(
        twin_in_bfloat16(model) if precision == "bfloat16" else model,
        optimizer,
        loss_fn,
        train.frames,
    )
    if validation is not None and validation.store is not train.store:
        raise TrainingError("training and validation vectors must come from one frame store")
    frames, _ = frames_on_device([train.store])
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history],
        add_progbar=fit.verbose != 0,
        model=model,
        verbose=fit.verbose,
        epochs=fit.epochs,
        steps=train.num_batches,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    train.on_epoch_end()  # fit resets its dataset before the first epoch: the same batches
    for epoch in range(fit.epochs):
        ensure_handler()
        callback_list.on_epoch_begin(epoch)
        state = _read_state(model, optimizer)  # as callbacks may have left them
        state, logs = _train_epoch(stepper, state, frames, train, steps_per_dispatch, callback_list)
        if logs is not None and validation is not None:
            logs["val_loss"] = _validation_loss(stepper, state, frames, validation)
        _store_state(model, optimizer, state)
        if logs is None:  # stopped inside the epoch: Keras records no partial epoch
            break
        callback_list.on_epoch_end(epoch, logs)
        train.on_epoch_end()
        if model.stop_training or not math.isfinite(logs["loss"]):
            break
    callback_list.on_train_end()
    jax.block_until_ready(state)
    return history


def _train_epoch(stepper, state, frames, train, steps_per_dispatch: int, callback_list):
    """One epoch; returns the new state and ``{"loss": mean per sample}``, or ``None``
    for the logs when Ctrl-C stopped it (a non-finite loss ends it with that loss)."""
    import jax.numpy as jnp

    order, batch_size = train.order, train.batch_size
    running = _RunningLoss(batch_size, callback_list)
    pending = None
    for first, n_batches in _chunks(train.num_batches, steps_per_dispatch, batch_size, len(order)):
        rows = order[first * batch_size : (first + n_batches) * batch_size]
        starts = jnp.asarray(train.starts[rows].astype(np.int32)).reshape(n_batches, -1)
        state, losses = stepper.steps(state, frames, starts)
        if pending is not None:  # read the last dispatch's losses while this one runs
            running.add(*pending)
            if requested() or not math.isfinite(running.mean) or callback_list.model.stop_training:
                break
        pending = (first, losses, len(rows))
    else:
        if pending is not None:
            running.add(*pending)
    if requested():
        return state, None
    return state, {"loss": running.mean}


class _RunningLoss:
    """The epoch's mean loss per sample so far, as Keras' progress bar shows it."""

    def __init__(self, batch_size: int, callback_list):
        self.batch_size = batch_size
        self.callback_list = callback_list
        self.total = 0.0
        self.count = 0

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def add(self, first: int, losses, n_vectors: int) -> None:
        values = np.asarray(losses, dtype=np.float64)
        sizes = np.full(len(values), self.batch_size, dtype=np.float64)
        sizes[-1] = n_vectors - self.batch_size * (len(values) - 1)
        self.total += float(values @ sizes)
        self.count += n_vectors
        self.callback_list.on_train_batch_end(first + len(values) - 1, {"loss": self.mean})


def _validation_loss(stepper, state, frames, validation) -> float:
    """Mean per-sample loss on the validation vectors, BatchNorm in inference mode."""
    import jax.numpy as jnp

    total = 0.0
    for index in range(validation.num_batches):
        rows = validation.order[index * validation.batch_size : (index + 1) * validation.batch_size]
        starts = jnp.asarray(validation.starts[rows].astype(np.int32))
        total += float(stepper.loss_sum(state, frames, starts))
    return total / validation.n_vectors


def _read_state(model: keras.Model, optimizer) -> tuple[list, list, list]:
    """The Keras variables' values: ``(trainable, non_trainable, optimizer)``."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )


def _store_state(model: keras.Model, optimizer, state) -> None:
    """Write the compiled loop's state back into the Keras variables."""
    trainable, non_trainable, optimizer_state = state
    for variables, values in (
        (model.trainable_variables, trainable),
        (model.non_trainable_variables, non_trainable),
        (optimizer.variables, optimizer_state),
    ):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
