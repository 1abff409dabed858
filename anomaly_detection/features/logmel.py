"""Log-mel spectrograms and frame stacking.

The log-mel spectrogram is librosa's ``melspectrogram`` (centred STFT with
zero padding, periodic Hann window, Slaney mel filters) followed by
``20 / power * log10(mel + eps)``, computed here in float32: one batched real
FFT for the frames of one or more clips, and the Slaney mel filter bank (built
here with librosa's arithmetic) applied as a sparse matrix. It matches
``librosa.feature.melspectrogram`` to well within 1e-3 dB, is several times
faster, and does not import librosa. 16-bit PCM samples are windowed straight
from int16 (see :mod:`.audio`).

Shapes: a log-mel spectrogram is ``(n_frames, n_mels)``, frame-major (one row
per STFT frame); a frame stack is ``(n_vectors, n_mels * frames)`` with
``vector[t * n_mels:(t + 1) * n_mels]`` the ``t``-th frame of the window.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.sparse

from ..core.config import FeatureConfig
from ..core.errors import AudioError, FeatureError
from ..data.audio import PCM16_SCALE, read_samples

__all__ = [
    "ClipFeatures",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filter_bank",
    "log_mel_spectrogram",
    "check_frame_count",
    "frame_stack",
    "file_to_log_mel",
    "files_to_log_mels",
]

EPSILON = sys.float_info.epsilon  # float64 machine epsilon, as the reference


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


_MEL_HZ_PER_MEL = 200.0 / 3  # Slaney mel scale: linear below 1 kHz ...
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0  # ... logarithmic above


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney mel scale (``librosa.hz_to_mel(..., htk=False)``), float64."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / _MEL_HZ_PER_MEL
    high = frequencies >= _MEL_LOG_START_HZ
    mels[high] = _MEL_LOG_START + np.log(frequencies[high] / _MEL_LOG_START_HZ) / _MEL_LOG_STEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`, float64."""
    mels = np.asarray(mels, dtype=np.float64)
    frequencies = _MEL_HZ_PER_MEL * mels
    high = mels >= _MEL_LOG_START
    frequencies[high] = _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (mels[high] - _MEL_LOG_START))
    return frequencies


@functools.lru_cache(maxsize=16)
def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters from 0 Hz to ``sample_rate / 2``, transposed
    for right-multiplication.

    The same arithmetic as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft,
    n_mels=n_mels, dtype=np.float32)`` (the tests check that they are equal),
    without importing librosa.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, n_mels), float32, read-only
    """
    bin_frequencies = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    band_edges = mel_to_hz(
        np.linspace(0.0, hz_to_mel(np.array([sample_rate / 2.0]))[0], n_mels + 2)
    )
    widths = np.diff(band_edges)
    ramps = np.subtract.outer(band_edges, bin_frequencies)
    weights = np.zeros((n_mels, bin_frequencies.size), dtype=np.float32)
    for band in range(n_mels):
        rising = -ramps[band] / widths[band]
        falling = ramps[band + 2] / widths[band + 1]
        weights[band] = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (band_edges[2:] - band_edges[:-2]))[:, np.newaxis]  # equal area
    bank = np.ascontiguousarray(weights.T)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=16)
def _sparse_mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> scipy.sparse.csr_array:
    """:func:`mel_filter_bank` as a sparse (n_mels, n_fft // 2 + 1) matrix: each FFT bin
    feeds at most two bands, so the product costs a fraction of the dense one."""
    return scipy.sparse.csr_array(mel_filter_bank(sample_rate, n_fft, n_mels).T)


@functools.lru_cache(maxsize=8)
def _hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window('hann', n_fft)``), float32."""
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    window.setflags(write=False)
    return window


def _frame_windows(padded: np.ndarray, n_frames: int, n_fft: int, hop_length: int) -> np.ndarray:
    """Frames ``padded[t * hop:t * hop + n_fft]``, t < n_frames, as a read-only
    (n_frames, n_fft) view of the contiguous 1-D ``padded``."""
    step = padded.itemsize
    windows = np.ndarray(
        (n_frames, n_fft), dtype=padded.dtype, buffer=padded, strides=(hop_length * step, step)
    )
    windows.flags.writeable = False
    return windows


@functools.lru_cache(maxsize=8)
def _sample_window(n_fft: int, pcm16: bool) -> np.ndarray:
    """The Hann window times the scale of the samples (``2 ** -15`` for int16 PCM):
    multiplying int16 samples by it gives exactly the windowed float samples, as the
    scale is a power of two."""
    window = _hann_window(n_fft) * np.float32(PCM16_SCALE if pcm16 else 1.0)
    window.setflags(write=False)
    return window


def _log_mels_of_windows(
    clip_windows: Sequence[np.ndarray], sample_rate: int, n_mels: int, power: float
) -> list[np.ndarray]:
    """Log-mel spectrograms of several clips' frames at one sample rate, in one batch.

    Parameters
    ----------
    clip_windows : sequence of np.ndarray, each (n_frames_i, n_fft)
        Unwindowed frames of each clip: float32 in [-1, 1], or int16 PCM samples.

    Returns
    -------
    list of np.ndarray, each (n_frames_i, n_mels), float32
        Every row is computed on its own, so the values do not depend on which
        clips share the batch; batching only saves per-call overhead.
    """
    n_fft = clip_windows[0].shape[1]
    bounds = np.cumsum([0, *(len(windows) for windows in clip_windows)])
    windowed = np.empty((bounds[-1], n_fft), dtype=np.float32)
    for windows, begin, end in zip(clip_windows, bounds[:-1], bounds[1:], strict=True):
        pcm16 = windows.dtype.kind == "i"
        np.multiply(windows, _sample_window(n_fft, pcm16), out=windowed[begin:end])
    spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    if power == 2.0:
        magnitude = spectrum.real**2 + spectrum.imag**2
    else:
        magnitude = np.abs(spectrum) ** power
    bank = _sparse_mel_filter_bank(sample_rate, n_fft, n_mels)
    mel = (bank @ magnitude.astype(np.float32, copy=False).T).T  # (n_frames, n_mels)
    log_mel = np.ascontiguousarray(20.0 / power * np.log10(mel + EPSILON), dtype=np.float32)
    return [log_mel[begin:end] for begin, end in zip(bounds[:-1], bounds[1:], strict=True)]


def log_mel_spectrogram(
    signal: np.ndarray,
    sample_rate: int,
    n_mels: int = 128,
    n_fft: int = 1024,
    hop_length: int = 512,
    power: float = 2.0,
) -> np.ndarray:
    """Log-mel energies of a mono signal, in dB.

    Parameters
    ----------
    signal : np.ndarray, shape (n_samples,)
        Mono audio in [-1, 1].
    sample_rate : int
        Hz; sets the mel filter frequencies.
    n_mels, n_fft, hop_length : int
        Mel bands, FFT length and hop, in samples. Frames are centred: the
        signal is zero-padded by ``n_fft // 2`` on each side, giving
        ``1 + n_samples // hop_length`` frames.
    power : float
        Exponent of the magnitude spectrum (2.0: power).

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32
        ``20 / power * log10(mel + eps)``.
    """
    signal = np.asarray(signal, dtype=np.float32)
    pad = n_fft // 2
    padded = np.pad(signal, (pad, n_fft - pad), mode="constant")
    n_frames = 1 + signal.size // hop_length
    windows = _frame_windows(padded, n_frames, n_fft, hop_length)
    return _log_mels_of_windows([windows], sample_rate, n_mels, power)[0]


def check_frame_count(n_frames: int, frames: int) -> None:
    """Raise :class:`FeatureError` unless a clip of ``n_frames`` log-mel frames holds at
    least one ``frames``-long vector."""
    if n_frames < frames:
        raise FeatureError(f"clip has {n_frames} log-mel frames, stacking needs {frames}")


def frame_stack(log_mel: np.ndarray, frames: int) -> np.ndarray:
    """Concatenate ``frames`` consecutive frames into one vector per position.

    Parameters
    ----------
    log_mel : np.ndarray, shape (n_frames, n_mels)
    frames : int

    Returns
    -------
    np.ndarray, shape (n_frames - frames + 1, n_mels * frames)
        Frame-major: ``vectors[i, t * n_mels:(t + 1) * n_mels] == log_mel[i + t]``.
    """
    n_frames, n_mels = log_mel.shape
    check_frame_count(n_frames, frames)
    n_vectors = n_frames - frames + 1
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, frames, axis=0)
    # windows: (n_vectors, n_mels, frames) -> (n_vectors, frames, n_mels), flattened
    return np.ascontiguousarray(windows.transpose(0, 2, 1)).reshape(n_vectors, frames * n_mels)


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
    return _frame_windows(segment, stop - start, feature.n_fft, feature.hop_length), sample_rate


def _check_finite(log_mel: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(log_mel)):
        raise FeatureError("log-mel spectrogram is not finite (samples far out of range)")
    return log_mel


def file_to_log_mel(
    path: Path, feature: FeatureConfig, expected_sample_rate: int | None = None
) -> np.ndarray:
    """Log-mel spectrogram of a WAV file after the frame crop, ``(n_frames, n_mels)`` float32.

    With a crop, only the samples under the kept frames are transformed; the
    values equal those of the full spectrogram's frames.

    Raises
    ------
    AudioError
        The file cannot be read.
    FeatureError
        The clip is too short for the crop, or its sample rate is not
        ``expected_sample_rate`` (when given).
    """
    windows, sample_rate = _clip_frame_windows(path, feature, expected_sample_rate)
    log_mel = _log_mels_of_windows([windows], sample_rate, feature.n_mels, feature.power)[0]
    try:
        return _check_finite(log_mel)
    except FeatureError as error:
        raise FeatureError(f"{path}: {error}") from None


def files_to_log_mels(
    paths: Sequence[Path], feature: FeatureConfig, *, expected_sample_rate: int | None = None
) -> list[ClipFeatures]:
    """:func:`file_to_log_mel` of several files, computed in one batch (the same values).

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
        log_mels = _log_mels_of_windows(
            [windows for _, windows in batch], sample_rate, feature.n_mels, feature.power
        )
        for (index, _), log_mel in zip(batch, log_mels, strict=True):
            try:
                outcomes[index] = ClipFeatures(paths[index], _check_finite(log_mel))
            except FeatureError as error:
                outcomes[index] = ClipFeatures(
                    paths[index], None, FeatureError(f"{paths[index]}: {error}")
                )
    return [outcome for outcome in outcomes if outcome is not None]
