"""Training data and training of the autoencoder.

The reference stacks all training vectors into one float64 matrix (7,000 ToyCar
clips: 7 GB). Here each clip's log-mel frames are kept once, in float32, one
clip after the other (in the feature-cache file, or in memory without the
cache); the ``frames``-stacked vectors are gathered batch by batch. Ordering,
shuffling and the validation split follow ``model.fit(x, validation_split=...)``
on the stacked matrix: vectors ordered by clip (sorted file names) then by
position, the last ``validation_split`` fraction held out before shuffling, the
training part reshuffled every epoch.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterable

import keras
import numpy as np

from .config import FitConfig
from .interruption import ensure_handler, raise_if_requested
from .io_utils import atomic_path
from .errors import TrainingError

__all__ = ["FrameStore", "MemoryFrameStore", "FileFrameStore", "StackedVectors",
           "split_training_vectors", "train_autoencoder", "plot_training_history",
           "TrainingError"]

logger = logging.getLogger(__name__)


class FrameStore:
    """Log-mel frames of many clips, stored one clip after the other.

    Clip ``c`` owns store rows ``clip_offsets[c]:clip_offsets[c + 1]``; a
    frame-stacked vector is ``frames`` consecutive rows of one clip. The rows
    live in memory (:class:`MemoryFrameStore`) or in a feature-cache file
    (:class:`FileFrameStore`).

    Attributes
    ----------
    clip_offsets : np.ndarray, shape (n_clips + 1,), int64
    n_mels : int
    """

    def __init__(self, clip_offsets: np.ndarray, n_mels: int):
        self.clip_offsets = np.asarray(clip_offsets, dtype=np.int64)
        self.n_mels = n_mels

    @property
    def n_clips(self) -> int:
        return len(self.clip_offsets) - 1

    def clip(self, index: int) -> np.ndarray:
        """Frames of clip ``index``, shape (n_frames, n_mels), float32."""
        raise NotImplementedError

    def stack(self, starts: np.ndarray, frames: int) -> np.ndarray:
        """Frame-stacked vectors beginning at store rows ``starts``.

        Returns
        -------
        np.ndarray, shape (len(starts), frames * n_mels), float32
            Frame-major, as :func:`anomaly_detection.features.frame_stack`.
        """
        raise NotImplementedError

    def vector_starts(self, frames: int) -> np.ndarray:
        """Row of the first frame of every ``frames``-long window that stays inside its clip.

        Returns
        -------
        np.ndarray, shape (n_vectors,), int64
            In clip order, then position order (the reference's vector order).
        """
        starts = [np.arange(begin, end - frames + 1, dtype=np.int64)
                  for begin, end in zip(self.clip_offsets[:-1], self.clip_offsets[1:])]
        return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


class MemoryFrameStore(FrameStore):
    """Frames held in one float32 array ``frames``, shape (total_frames, n_mels)."""

    def __init__(self, frames: np.ndarray, clip_offsets: np.ndarray):
        super().__init__(clip_offsets, frames.shape[1])
        self.frames = frames

    @classmethod
    def from_clips(cls, log_mels: Iterable[np.ndarray], n_clips: int,
                   n_mels: int) -> "MemoryFrameStore":
        """Fill a store from an iterable of ``(n_frames, n_mels)`` arrays.

        The buffer is sized from the first clip (exact when every clip has the
        same number of frames, as with a frame crop) and grown only if needed,
        so peak memory stays close to the store's own size.
        """
        buffer = np.empty((0, n_mels), dtype=np.float32)
        offsets = [0]
        for index, log_mel in enumerate(log_mels):
            end = offsets[-1] + log_mel.shape[0]
            if index == 0:
                buffer = np.empty((log_mel.shape[0] * n_clips, n_mels), dtype=np.float32)
            elif end > buffer.shape[0]:
                grown = np.empty((max(end, int(buffer.shape[0] * 1.25)), n_mels), dtype=np.float32)
                grown[:offsets[-1]] = buffer[:offsets[-1]]
                buffer = grown
            buffer[offsets[-1]:end] = log_mel
            offsets.append(end)
        return cls(buffer[:offsets[-1]], np.asarray(offsets, dtype=np.int64))

    def clip(self, index: int) -> np.ndarray:
        return self.frames[self.clip_offsets[index]:self.clip_offsets[index + 1]]

    def stack(self, starts: np.ndarray, frames: int) -> np.ndarray:
        windows = starts[:, None] + np.arange(frames, dtype=np.int64)
        return self.frames[windows].reshape(len(starts), -1)


class FileFrameStore(FrameStore):
    """Frames in a raw float32 file (a feature-cache entry), read batch by batch.

    Only the vectors being used are in the process's memory: each vector is
    one contiguous read of ``frames * n_mels`` values. The operating system's
    page cache keeps the file in RAM while there is room and gives the memory
    back under pressure (the file is then read from disk again).
    """

    def __init__(self, path: Path, clip_offsets: np.ndarray, n_mels: int):
        super().__init__(clip_offsets, n_mels)
        self.path = Path(path)
        self._row_bytes = n_mels * np.dtype(np.float32).itemsize

    def _short_read(self) -> TrainingError:
        return TrainingError(f"{self.path}: feature-cache file changed or cut short while in "
                             "use (delete the cache folder and run again)")

    def clip(self, index: int) -> np.ndarray:
        begin, end = int(self.clip_offsets[index]), int(self.clip_offsets[index + 1])
        log_mel = np.fromfile(self.path, dtype=np.float32, count=(end - begin) * self.n_mels,
                              offset=begin * self._row_bytes)
        if log_mel.size != (end - begin) * self.n_mels:
            raise self._short_read()
        return log_mel.reshape(end - begin, self.n_mels)

    def stack(self, starts: np.ndarray, frames: int) -> np.ndarray:
        vectors = np.empty((len(starts), frames * self.n_mels), dtype=np.float32)
        length = frames * self._row_bytes
        buffer = memoryview(vectors).cast("B")
        with open(self.path, "rb", buffering=0) as handle:
            for row, offset in enumerate((np.asarray(starts) * self._row_bytes).tolist()):
                handle.seek(offset)
                if handle.readinto(buffer[row * length:(row + 1) * length]) != length:
                    raise self._short_read()
        return vectors


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

    def __init__(self, store: FrameStore, starts: np.ndarray, frames: int, batch_size: int,
                 shuffle: bool, seed: int | None = None):
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

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = self.store.stack(self.starts[rows], self.frames)
        return batch, batch

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.starts))

    def as_array(self) -> np.ndarray:
        """All vectors in order, shape (n_vectors, frames * n_mels) (for small sets and tests)."""
        return self.store.stack(self.starts, self.frames)


def split_training_vectors(store: FrameStore, frames: int, fit: FitConfig,
                           seed: int | None = None
                           ) -> tuple[StackedVectors, StackedVectors | None]:
    """Training and validation datasets, split as Keras' ``validation_split``.

    The validation set is the last ``fit.validation_split`` fraction of the
    vectors (``None`` when the fraction is 0) and is not shuffled.
    """
    starts = store.vector_starts(frames)
    split_at = int(len(starts) * (1.0 - fit.validation_split))
    if split_at < 1:
        raise TrainingError(f"only {len(starts)} training vectors: too few to train")
    train = StackedVectors(store, starts[:split_at], frames, fit.batch_size, fit.shuffle, seed)
    if split_at == len(starts):
        return train, None
    validation = StackedVectors(store, starts[split_at:], frames, fit.batch_size, False)
    return train, validation


class _StopOnInterrupt(keras.callbacks.Callback):
    """Re-raise a Ctrl-C that the data pipeline swallowed (see :mod:`.interruption`)."""

    def on_epoch_begin(self, epoch, logs=None) -> None:
        ensure_handler()  # in case a library replaced it while building the graph

    def on_train_batch_end(self, batch, logs=None) -> None:
        raise_if_requested()

    def on_test_batch_end(self, batch, logs=None) -> None:
        raise_if_requested()


def train_autoencoder(model: keras.Model, train: StackedVectors,
                      validation: StackedVectors | None, fit: FitConfig) -> keras.callbacks.History:
    """Compile ``model`` with ``fit.optimizer`` / ``fit.loss`` and fit it.

    Raises
    ------
    KeyboardInterrupt
        If Ctrl-C was pressed during training, even where Keras caught it.
    """
    model.compile(optimizer=fit.optimizer, loss=fit.loss)
    history = model.fit(train, validation_data=validation, epochs=fit.epochs,
                        verbose=fit.verbose, callbacks=[_StopOnInterrupt()])
    raise_if_requested()
    return history


def plot_training_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Plot training (and validation) loss per epoch to a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(8, 5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        axes.plot(epochs, history["val_loss"], label="validation loss")
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_ylabel("loss (mean squared error)")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
