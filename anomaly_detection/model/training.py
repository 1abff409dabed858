"""Training the autoencoder on vectors gathered batch by batch from a frame store.

The ``frames``-stacked vectors are gathered from a
:class:`~anomaly_detection.features.frame_store.FrameStore` batch by batch. Ordering,
shuffling and the validation split follow ``model.fit(x, validation_split=...)``
on the stacked matrix: vectors ordered by clip (sorted file names) then by
position, the last ``validation_split`` fraction held out before shuffling, the
training part reshuffled every epoch.
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
from ..features.frame_store import FrameStore
from ..features.vector_batches import VectorBatches
from ..registry.implementation import load
from ..registry.training_loops import training_loop
from .backend import tensorflow_left_out
from .precision import training_precision
from .scan_training import DEFAULT_STEPS_PER_DISPATCH

with quiet_native_stderr():  # TensorFlow (Keras' default backend) prints absl lines
    import keras

__all__ = [
    "StackedVectors",
    "split_training_vectors",
    "seed_everything",
    "train_autoencoder",
    "check_finite",
    "fit_with_keras",
    "describe_loop",
]

logger = logging.getLogger(__name__)


class StackedVectors(keras.utils.PyDataset):
    """Batches ``(x, x)`` of frame-stacked vectors gathered from a :class:`FrameStore`.

    Parameters
    ----------
    store : FrameStore
    starts : np.ndarray, shape (n_vectors,)
        Store rows where the vectors of this dataset begin.
    frames : int
        Frames per vector; vectors are ``frames * n_mels`` long, frame-major.
    batch_size : int
    shuffle : bool
        Reshuffle the vector order at every epoch.
    seed : int or None
    """

    def __init__(
        self,
        store: FrameStore,
        starts: np.ndarray,
        *,
        frames: int,
        batch_size: int,
        shuffle: bool,
        seed: int | None = None,
    ):
        super().__init__()
        self.store = store
        self.starts = starts
        self.frames = frames
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(starts)) if shuffle else np.arange(len(starts))

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.batch_size)

    @property
    def num_batches(self) -> int:
        return len(self)

    @property
    def n_vectors(self) -> int:
        return len(self.starts)

    @property
    def order(self) -> np.ndarray:
        """This epoch's order of the vectors, shape (n_vectors,): batch ``i`` is
        ``order[i * batch_size : (i + 1) * batch_size]``."""
        return self._order

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.store.stack(self.starts[rows], self.frames)
        return batch, batch

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.starts))

    def as_array(self) -> np.ndarray:
        """All vectors in order, shape (n_vectors, frames * n_mels) (for small sets and tests)."""
        return self.store.stack(self.starts, self.frames)


def split_training_vectors(
    store: FrameStore, *, frames: int, fit: FitConfig, seed: int | None = None
) -> tuple[StackedVectors, StackedVectors | None]:
    """Training and validation datasets, split as Keras' ``validation_split``.

    The validation set is the last ``fit.validation_split`` fraction of the
    vectors, or a random one (``fit.validation_vectors``,
    :class:`~anomaly_detection.features.vector_batches.VectorBatches`), ``None`` when
    the fraction is 0, and is not shuffled.
    """
    starts = store.vector_starts(frames)
    training_rows, validation_rows = VectorBatches.of(fit, seed).split(len(starts))
    if len(training_rows) < 1:
        raise TrainingError(f"only {len(starts)} training vectors: too few to train")
    train = StackedVectors(
        store,
        starts[training_rows],
        frames=frames,
        batch_size=fit.batch_size,
        shuffle=fit.shuffle,
        seed=seed,
    )
    if not len(validation_rows):
        return train, None
    validation = StackedVectors(
        store, starts[validation_rows], frames=frames, batch_size=fit.batch_size, shuffle=False
    )
    return train, validation


class _StopOnInterrupt(keras.callbacks.Callback):
    """Stop training at the next batch after Ctrl-C, even where the data pipeline swallowed
    it (see :mod:`.interruption`); :func:`train_autoencoder` then raises it."""

    async_safe = True  # only reads a flag: Keras may run it beside the next steps

    def on_epoch_begin(self, epoch, logs=None) -> None:
        ensure_handler()  # in case a library replaced it while building the graph

    def on_train_batch_end(self, batch, logs=None) -> None:
        if requested():
            self.model.stop_training = True

    def on_test_batch_end(self, batch, logs=None) -> None:
        if requested():
            self.model.stop_training = True


class _StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """Keras' ``TerminateOnNaN``, run beside the next steps: waiting for each batch's loss
    before dispatching the next step would cost a third of the JAX backend's speed."""

    async_safe = True


def train_autoencoder(
    model: keras.Model,
    train: StackedVectors,
    validation: StackedVectors | None,
    fit: FitConfig,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Fit ``model`` with ``fit.optimizer`` / ``fit.loss`` (``callbacks`` are Keras
    callbacks added to the pipeline's own).

    The loop is ``fit.loop``'s entry of the training-loop registry
    (:mod:`anomaly_detection.registry.training_loops`) where it runs on Keras'
    backend: ``scan``, many steps per compiled call on JAX
    (:func:`.scan_training.fit_scanned`, in ``fit.precision``); otherwise ``keras``,
    :func:`fit_with_keras`: ``model.compile`` and ``model.fit``, the reference's calls.

    Raises
    ------
    KeyboardInterrupt
        If Ctrl-C was pressed during training, even where Keras caught it.
    TrainingError
        If the loss became non-finite (training stops at that batch).
    """
    backend = keras.backend.backend()
    loop = training_loop(fit.loop)
    if backend not in loop.backends:
        runs_on = ", ".join(loop.backends)
        logger.info("fit.loop %s runs on %s: Keras' fit on %s", loop.name, runs_on, backend)
        loop = training_loop("keras")
    history = load(loop.implementation)(model, train, validation, fit, callbacks=callbacks)
    raise_if_requested()
    return check_finite(history)


def check_finite(history: keras.callbacks.History) -> keras.callbacks.History:
    """``history``, if every loss it recorded is finite.

    Raises
    ------
    TrainingError
        Naming the loss, its value and the epoch where it became non-finite.
    """
    for name, values in history.history.items():
        if not np.all(np.isfinite(values)):
            raise TrainingError(
                f"training diverged: {name} became {values[-1]} in epoch {len(values)}; "
                "nothing saved (check the training clips, or lower the learning rate)"
            )
    return history


def fit_with_keras(
    model: keras.Model,
    train: StackedVectors,
    validation: StackedVectors | None,
    fit: FitConfig,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """The ``keras`` loop: ``model.compile`` and ``model.fit``, stopping at the next batch
    after Ctrl-C or a non-finite loss."""
    model.compile(optimizer=fit.keras_optimizer, loss=fit.loss)
    return model.fit(
        train,
        shuffle=False,  # ``train`` reshuffles its vectors each epoch, as the reference's fit
        validation_data=validation,
        epochs=fit.epochs,
        verbose=fit.verbose,
        callbacks=[_StopOnInterrupt(), _StopOnNonFiniteLoss(), *callbacks],
    )


def describe_loop(fit: FitConfig, backend: str) -> str:
    """How :func:`train_autoencoder` trains on ``backend``, for the log: ``"scan loop,
    32 steps per call, float32"`` or ``"Keras' fit"``."""
    if fit.loop == "scan" and backend == "jax":
        precision = training_precision(fit.precision)
        return f"scan loop, {DEFAULT_STEPS_PER_DISPATCH} steps per call, {precision}"
    if fit.precision != "float32":
        return f"Keras' fit, float32: fit.precision {fit.precision} is the scan loop's, on JAX"
    return "Keras' fit"


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and the Keras backend (nothing when ``seed`` is ``None``)."""
    if seed is not None:
        with tensorflow_left_out():  # Keras would import it to seed it, even on JAX
            keras.utils.set_random_seed(seed)
