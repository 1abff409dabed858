"""Frame stores: the log-mel frames of many clips, and the vectors stacked from them.

The reference stacks all training vectors into one float64 matrix (7,000 ToyCar
clips: 7 GB). Here each clip's log-mel frames are kept once, in float32, one
clip after the other, in memory (:class:`MemoryFrameStore`) or in a
feature-cache file (:class:`FileFrameStore`); ``frames``-stacked vectors are
gathered on demand. Plain numpy: no Keras.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..core.errors import TrainingError

__all__ = ["FrameStore", "MemoryFrameStore", "FileFrameStore", "aligned_empty", "sample_vectors"]


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
        #: The clip files, in store order, when the loader knows them (else empty).
        self.clip_paths: list[Path] = []

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
            Frame-major, as :func:`anomaly_detection.features.spectrogram.frame_stack`.
        """
        raise NotImplementedError

    def all_frames(self) -> np.ndarray:
        """Every row of the store in one array, shape (n_rows, n_mels), float32.

        The array starts on a 64-byte boundary, so that JAX's ``device_put`` on a
        CPU uses it in place instead of copying it (:func:`aligned_empty`).
        """
        raise NotImplementedError

    def vector_starts(self, frames: int) -> np.ndarray:
        """Row of the first frame of every ``frames``-long window that stays inside its clip.

        Returns
        -------
        np.ndarray, shape (n_vectors,), int64
            In clip order, then position order (the reference's vector order).
        """
        starts = [
            np.arange(begin, end - frames + 1, dtype=np.int64)
            for begin, end in zip(self.clip_offsets[:-1], self.clip_offsets[1:], strict=True)
        ]
        return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


class MemoryFrameStore(FrameStore):
    """Frames held in one float32 array ``frames``, shape (total_frames, n_mels)."""

    def __init__(self, frames: np.ndarray, clip_offsets: np.ndarray):
        super().__init__(clip_offsets, frames.shape[1])
        self.frames = frames

    @classmethod
    def from_clips(
        cls, log_mels: Iterable[np.ndarray], n_clips: int, n_mels: int
    ) -> MemoryFrameStore:
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
                buffer = aligned_empty(log_mel.shape[0] * n_clips, n_mels)
            elif end > buffer.shape[0]:
                grown = aligned_empty(max(end, int(buffer.shape[0] * 1.25)), n_mels)
                grown[: offsets[-1]] = buffer[: offsets[-1]]
                buffer = grown
            buffer[offsets[-1] : end] = log_mel
            offsets.append(end)
        return cls(buffer[: offsets[-1]], np.asarray(offsets, dtype=np.int64))

    def clip(self, index: int) -> np.ndarray:
        return self.frames[self.clip_offsets[index] : self.clip_offsets[index + 1]]

    def all_frames(self) -> np.ndarray:
        if self.frames.ctypes.data % _ALIGNMENT == 0 and self.frames.flags.c_contiguous:
            return self.frames
        aligned = aligned_empty(*self.frames.shape)
        aligned[:] = self.frames
        return aligned

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
        return TrainingError(
            f"{self.path}: feature-cache file changed, cut short or grown while in "
            "use (delete the cache folder and run again)"
        )

    def clip(self, index: int) -> np.ndarray:
        begin, end = int(self.clip_offsets[index]), int(self.clip_offsets[index + 1])
        log_mel = np.fromfile(
            self.path,
            dtype=np.float32,
            count=(end - begin) * self.n_mels,
            offset=begin * self._row_bytes,
        )
        if log_mel.size != (end - begin) * self.n_mels:
            raise self._short_read()
        return log_mel.reshape(end - begin, self.n_mels)

    def all_frames(self) -> np.ndarray:
        """The file mapped read-only (page-aligned): its pages are the operating system's
        file cache, read on first use and given back under memory pressure.

        Raises
        ------
        TrainingError
            If the file's size is not the store's ``rows * n_mels`` float32 values.
        """
        rows = int(self.clip_offsets[-1])
        try:
            size = self.path.stat().st_size
        except OSError:
            raise self._short_read() from None
        if size != rows * self._row_bytes:
            raise self._short_read()
        if rows == 0:
            return aligned_empty(0, self.n_mels)
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(rows, self.n_mels))

    def stack(self, starts: np.ndarray, frames: int) -> np.ndarray:
        vectors = np.empty((len(starts), frames * self.n_mels), dtype=np.float32)
        length = frames * self._row_bytes
        buffer = vectors.data.cast("B")
        with open(self.path, "rb", buffering=0) as handle:
            for row, offset in enumerate((np.asarray(starts) * self._row_bytes).tolist()):
                handle.seek(offset)
                if handle.readinto(buffer[row * length : (row + 1) * length]) != length:
                    raise self._short_read()
        return vectors


_ALIGNMENT = 64


def aligned_empty(rows: int, n_mels: int) -> np.ndarray:
    """An uninitialised float32 array of shape (rows, n_mels) starting on a 64-byte
    boundary (the alignment XLA's CPU client needs to use host memory in place)."""
    itemsize = np.dtype(np.float32).itemsize
    raw = np.empty(rows * n_mels + _ALIGNMENT // itemsize, dtype=np.float32)
    skip = (-raw.ctypes.data % _ALIGNMENT) // itemsize
    return raw[skip : skip + rows * n_mels].reshape(rows, n_mels)


def sample_vectors(
    store: FrameStore, *, frames: int, max_vectors: int, seed: int = 0
) -> np.ndarray:
    """Up to ``max_vectors`` stacked vectors drawn evenly at random from ``store`` (in store
    order), e.g. int8 calibration data.

    Returns
    -------
    np.ndarray, shape (n, frames * n_mels), float32
    """
    starts = store.vector_starts(frames)
    if len(starts) > max_vectors:
        starts = np.sort(np.random.default_rng(seed).choice(starts, max_vectors, replace=False))
    return store.stack(starts, frames)
