"""The cropped log-mel spectrogram of a WAV file: only the samples under the kept
frames are read and transformed, and the values equal those of the full
spectrogram's frames (see :mod:`.spectrogram`).

A clip that cannot be used comes back as a :class:`ClipFeatures` holding its
error, whose message names the file and the cause, so that one bad clip never
stops a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import FeatureConfig
from ..core.errors import AudioError, FeatureError
from ..data.audio import read_samples
from .spectrogram import check_frame_count, frame_windows, log_mels_of_windows

__all__ = ["ClipFeatures", "file_to_log_mel", "files_to_log_mels"]


@dataclass(frozen=True)
class ClipFeatures:
    """The cropped log-mel spectrogram of one clip, or the error that prevented it.

    Attributes
    ----------
    path : Path
    log_mel : np.ndarray or None
        Shape (n_frames, n_mels), float32; ``None`` when the clip is unusable.
    error : AudioError or FeatureError or None
        Why the clip is unusable; its message names the file and the cause.
    """

    path: Path
    log_mel: np.ndarray | None
    error: AudioError | FeatureError | None = None

    def usable_log_mel(self) -> np.ndarray:
        """The log-mel spectrogram; raises the clip's error if it has none."""
        if self.log_mel is None:
            raise self.error or FeatureError(f"{self.path}: no log-mel spectrogram")
        return self.log_mel


def _clip_frame_windows(
    path: Path, feature: FeatureConfig, expected_sample_rate: int | None
) -> tuple[np.ndarray, int]:
    """The frames of a WAV file kept by the crop, unwindowed: ``(n_frames, n_fft)`` (int16
    or float32, see :func:`.audio.read_samples`) and the sample rate. Only the samples under
    those frames are read."""
    start, stop = feature.frame_crop or (0, None)
    pad = feature.n_fft // 2
    first = start * feature.hop_length - pad  # first sample of frame `start` (may be < 0)
    last = None if stop is None else (stop - 1) * feature.hop_length + feature.n_fft - pad
    signal, sample_rate, n_samples = read_samples(
        path, max(first, 0), last, expected_sample_rate, channel=feature.channel
    )
    available = 1 + n_samples // feature.hop_length
    if stop is None:
        stop = available
    elif available < stop:
        raise FeatureError(
            f"clip has {available} log-mel frames ({n_samples} samples), "
            f"the crop [{start}, {stop}) needs {stop}"
        )
    end = (stop - 1) * feature.hop_length + feature.n_fft - pad
    padding = (max(-first, 0), max(end - n_samples, 0))  # zeros beyond the clip's ends
    segment = np.pad(signal, padding, mode="constant") if any(padding) else signal
    if segment.dtype.kind == "f" and not np.all(np.isfinite(segment)):
        raise FeatureError("samples are not finite (NaN or infinity)")
    windows = frame_windows(
        segment, n_frames=stop - start, n_fft=feature.n_fft, hop_length=feature.hop_length
    )
    return windows, sample_rate


def _log_mels(
    clip_windows: Sequence[np.ndarray], sample_rate: int, feature: FeatureConfig
) -> list[np.ndarray]:
    return log_mels_of_windows(
        clip_windows, sample_rate=sample_rate, n_mels=feature.n_mels, power=feature.power
    )


def _check_finite(log_mel: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(log_mel)):
        raise FeatureError("log-mel spectrogram is not finite (samples far out of range)")
    return log_mel


def file_to_log_mel(
    path: Path, feature: FeatureConfig, expected_sample_rate: int | None = None
) -> np.ndarray:
    """Log-mel spectrogram of a WAV file after the frame crop.

    With a crop, only the samples under the kept frames are transformed; the
    values equal those of the full spectrogram's frames.

    Parameters
    ----------
    path : Path
        A WAV file (see :func:`.audio.read_samples` for the formats).
    feature : FeatureConfig
        The log-mel settings and the frame crop.
    expected_sample_rate : int, optional
        Hz; the clip's rate must be this one when given.

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32
        dB; ``n_frames`` is the crop's length (every frame without a crop).

    Raises
    ------
    AudioError
        The file cannot be read.
    FeatureError
        The clip is too short for the crop, its sample rate is not
        ``expected_sample_rate`` (when given), or its values are not finite.
    """
    windows, sample_rate = _clip_frame_windows(path, feature, expected_sample_rate)
    log_mel = _log_mels([windows], sample_rate, feature)[0]
    try:
        return _check_finite(log_mel)
    except FeatureError as error:
        raise FeatureError(f"{path}: {error}") from None


def files_to_log_mels(
    paths: Sequence[Path], feature: FeatureConfig, *, expected_sample_rate: int | None = None
) -> list[ClipFeatures]:
    """:func:`file_to_log_mel` of several files, computed in one batch (the same values).

    Parameters
    ----------
    paths : sequence of Path, length n_clips
    feature : FeatureConfig
    expected_sample_rate : int, optional
        Hz, as in :func:`file_to_log_mel`.

    Returns
    -------
    list of ClipFeatures, length n_clips, in the order of ``paths``
        A file that cannot be used, or whose spectrogram is too short for one
        ``feature.frames``-long vector, comes back with its error instead of a
        spectrogram.
    """
    outcomes: list[ClipFeatures | None] = [None] * len(paths)
    batches: dict[int, list[tuple[int, np.ndarray]]] = {}  # sample rate -> (index, windows)
    for index, path in enumerate(paths):
        try:
            windows, sample_rate = _clip_frame_windows(path, feature, expected_sample_rate)
            check_frame_count(len(windows), feature.frames)
        except AudioError as error:  # its message starts with the file
            outcomes[index] = ClipFeatures(path, None, error)
        except FeatureError as error:
            outcomes[index] = ClipFeatures(path, None, FeatureError(f"{path}: {error}"))
        else:
            batches.setdefault(sample_rate, []).append((index, windows))
    for sample_rate, batch in batches.items():
        log_mels = _log_mels([windows for _, windows in batch], sample_rate, feature)
        for (index, _), log_mel in zip(batch, log_mels, strict=True):
            try:
                outcomes[index] = ClipFeatures(paths[index], _check_finite(log_mel))
            except FeatureError as error:
                outcomes[index] = ClipFeatures(
                    paths[index], None, FeatureError(f"{paths[index]}: {error}")
                )
    return [outcome for outcome in outcomes if outcome is not None]
