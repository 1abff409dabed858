"""Audio loading, log-mel spectrograms and frame stacking.

The log-mel spectrogram is librosa's ``melspectrogram`` (centred STFT with
zero padding, periodic Hann window, Slaney mel filters) followed by
``20 / power * log10(mel + eps)``, computed here in float32 with a cached mel
filter bank and one batched real FFT per clip. It matches
``librosa.feature.melspectrogram`` to well within 1e-3 dB and is several times
faster.

Shapes: a log-mel spectrogram is ``(n_frames, n_mels)``, frame-major (one row
per STFT frame); a frame stack is ``(n_vectors, n_mels * frames)`` with
``vector[t * n_mels:(t + 1) * n_mels]`` the ``t``-th frame of the window.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile

from .config import FeatureConfig
from .errors import AudioError, FeatureError

__all__ = ["AudioError", "FeatureError", "load_audio", "mel_filter_bank", "log_mel_spectrogram",
           "crop_frames", "frame_stack", "file_to_log_mel", "file_to_vector_array",
           "min_clip_samples", "audio_sample_rate"]

EPSILON = sys.float_info.epsilon  # float64 machine epsilon, as the reference


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as float32 mono in [-1, 1].

    Multi-channel files are mixed down to mono by averaging the channels (as
    ``librosa.load`` does by default). Any PCM width (8, 16, 24, 32 bit) and
    float encodings are accepted.

    Returns
    -------
    signal : np.ndarray, shape (n_samples,), float32
    sample_rate : int, Hz

    Raises
    ------
    AudioError
        Naming the file and the cause (missing, empty, truncated, not audio).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with soundfile.SoundFile(path) as audio:
            expected = audio.frames
            signal = audio.read(dtype="float32", always_2d=True)
            sample_rate = audio.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None
    if signal.shape[0] < expected or signal.shape[0] == 0:
        raise AudioError(f"{path}: truncated audio data ({signal.shape[0]} of {expected} "
                         "samples readable)")
    if signal.shape[1] > 1:
        signal = signal.mean(axis=1, dtype=np.float32)
    else:
        signal = signal[:, 0]
    return np.ascontiguousarray(signal), int(sample_rate)


def audio_sample_rate(path: Path) -> int:
    """Sample rate of an audio file in Hz, from its header."""
    try:
        return int(soundfile.info(str(path)).samplerate)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None


@functools.lru_cache(maxsize=16)
def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised mel filter bank, transposed for right-multiplication.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, n_mels), float32, read-only
    """
    import librosa  # imported lazily: librosa's import costs about a second

    bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    bank = np.ascontiguousarray(bank.T)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=8)
def _hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window('hann', n_fft)``), float32."""
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    window.setflags(write=False)
    return window


def log_mel_spectrogram(signal: np.ndarray, sample_rate: int, n_mels: int = 128,
                        n_fft: int = 1024, hop_length: int = 512, power: float = 2.0
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
    padded = np.pad(signal, (pad, pad), mode="constant")
    n_frames = 1 + (padded.size - n_fft) // hop_length
    if n_frames < 1:
        return np.empty((0, n_mels), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    spectrum = scipy.fft.rfft(windows * _hann_window(n_fft), axis=1)
    if power == 2.0:
        magnitude = spectrum.real ** 2 + spectrum.imag ** 2
    else:
        magnitude = np.abs(spectrum) ** power
    mel = magnitude.astype(np.float32, copy=False) @ mel_filter_bank(sample_rate, n_fft, n_mels)
    return (20.0 / power * np.log10(mel + EPSILON)).astype(np.float32, copy=False)


def min_clip_samples(feature: FeatureConfig) -> int:
    """Fewest samples a clip needs to give at least one stacked vector."""
    needed_frames = feature.frame_crop[1] if feature.frame_crop else feature.frames
    return (needed_frames - 1) * feature.hop_length


def crop_frames(log_mel: np.ndarray, frame_crop: tuple[int, int] | None) -> np.ndarray:
    """Keep frames ``[start, stop)`` of a ``(n_frames, n_mels)`` spectrogram.

    Raises
    ------
    FeatureError
        If the spectrogram has fewer than ``stop`` frames.
    """
    if frame_crop is None:
        return log_mel
    start, stop = frame_crop
    if log_mel.shape[0] < stop:
        raise FeatureError(f"clip has {log_mel.shape[0]} log-mel frames, the crop "
                           f"[{start}, {stop}) needs {stop}")
    return log_mel[start:stop]


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
    n_vectors = n_frames - frames + 1
    if n_vectors < 1:
        raise FeatureError(f"clip has {n_frames} log-mel frames, stacking needs {frames}")
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, frames, axis=0)
    # windows: (n_vectors, n_mels, frames) -> (n_vectors, frames, n_mels), flattened
    return np.ascontiguousarray(windows.transpose(0, 2, 1)).reshape(n_vectors, frames * n_mels)


def file_to_log_mel(path: Path, feature: FeatureConfig) -> np.ndarray:
    """Uncropped log-mel spectrogram of a WAV file, shape ``(n_frames, n_mels)``, float32."""
    signal, sample_rate = load_audio(path)
    return log_mel_spectrogram(signal, sample_rate, n_mels=feature.n_mels, n_fft=feature.n_fft,
                               hop_length=feature.hop_length, power=feature.power)


def file_to_vector_array(file_name: str | Path, n_mels: int = 128, frames: int = 5,
                         n_fft: int = 1024, hop_length: int = 512, power: float = 2.0,
                         frame_crop: tuple[int, int] | None = (50, 250)) -> np.ndarray:
    """Stacked log-mel feature vectors of one WAV file (the reference's public API).

    Parameters
    ----------
    file_name : str or Path
    n_mels, frames, n_fft, hop_length, power
        As in ``baseline.yaml``'s ``feature`` section.
    frame_crop : (int, int) or None
        Frames kept before stacking; ``(50, 250)`` as MLPerf Tiny, ``None`` for all.

    Returns
    -------
    np.ndarray, shape (n_vectors, n_mels * frames), float32
    """
    feature = FeatureConfig(n_mels=n_mels, frames=frames, n_fft=n_fft, hop_length=hop_length,
                            power=power, frame_crop=frame_crop)
    path = Path(file_name)
    try:
        log_mel = crop_frames(file_to_log_mel(path, feature), frame_crop)
        return frame_stack(log_mel, frames)
    except FeatureError as error:
        raise FeatureError(f"{path}: {error}") from None
