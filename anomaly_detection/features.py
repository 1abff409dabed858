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

__all__ = ["AudioError", "FeatureError", "load_audio", "audio_info", "audio_sample_rate",
           "mel_filter_bank", "log_mel_spectrogram", "frame_stack", "file_to_log_mel",
           "file_to_vector_array"]

EPSILON = sys.float_info.epsilon  # float64 machine epsilon, as the reference


def _wav_data_shortfall(path: Path, file_size: int) -> tuple[int, int] | None:
    """``(present, declared)`` data bytes of a RIFF/WAVE file whose data chunk is cut short.

    libsndfile quietly reads what is there, so a truncated file would pass as a
    shorter clip. ``None`` for complete files, non-RIFF files and streaming headers
    that leave the size open (0 or 0xFFFFFFFF).
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                present = file_size - handle.tell()
                if size in (0, 0xFFFFFFFF) or present >= size:
                    return None
                return present, size
            handle.seek(size + (size & 1), 1)


def _read(path: Path, start: int = 0, stop: int | None = None,
          expected_sample_rate: int | None = None) -> tuple[np.ndarray, int, int]:
    """Samples ``[start, stop)`` (clipped to the file) as float32 mono, the sample rate
    and the file's total sample count, from one opening of the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    if size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    shortfall = _wav_data_shortfall(path, size)
    if shortfall is not None:
        raise AudioError(f"{path}: truncated WAV file ({shortfall[0]} of {shortfall[1]} data "
                         "bytes present)")
    try:
        with soundfile.SoundFile(path) as audio:
            total, sample_rate = audio.frames, audio.samplerate
            if expected_sample_rate is not None and sample_rate != expected_sample_rate:
                raise FeatureError(f"sample rate {sample_rate} Hz differs from the "
                                   f"{expected_sample_rate} Hz of the other clips")
            stop = total if stop is None else min(stop, total)
            expected = max(stop - start, 0)
            if start:
                audio.seek(start)
            signal = audio.read(expected, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None
    if signal.shape[0] < expected:
        raise AudioError(f"{path}: truncated audio data ({signal.shape[0]} of {expected} "
                         "samples readable)")
    if total == 0:
        raise AudioError(f"{path}: no audio samples")
    signal = signal.mean(axis=1, dtype=np.float32) if signal.shape[1] > 1 else signal[:, 0]
    return np.ascontiguousarray(signal), int(sample_rate), int(total)


def load_audio(path: Path, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, int]:
    """Read a WAV file (or samples ``[start, stop)`` of it) as float32 mono in [-1, 1].

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
    signal, sample_rate, _ = _read(path, start, stop)
    return signal, sample_rate


def audio_info(path: Path) -> tuple[int, int]:
    """Number of samples (per channel) and sample rate in Hz, from the file header."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None
    return int(info.frames), int(info.samplerate)


def audio_sample_rate(path: Path) -> int:
    """Sample rate of an audio file in Hz, from its header."""
    return audio_info(path)[1]


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


def _log_mel_of_frames(padded: np.ndarray, n_frames: int, sample_rate: int, n_mels: int,
                       n_fft: int, hop_length: int, power: float) -> np.ndarray:
    """Log-mel of frames ``padded[t * hop:t * hop + n_fft]``, t < n_frames; (n_frames, n_mels)."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    spectrum = scipy.fft.rfft(windows * _hann_window(n_fft), axis=1)
    if power == 2.0:
        magnitude = spectrum.real ** 2 + spectrum.imag ** 2
    else:
        magnitude = np.abs(spectrum) ** power
    mel = magnitude.astype(np.float32, copy=False) @ mel_filter_bank(sample_rate, n_fft, n_mels)
    return (20.0 / power * np.log10(mel + EPSILON)).astype(np.float32, copy=False)


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
    padded = np.pad(signal, (pad, n_fft - pad), mode="constant")
    n_frames = 1 + signal.size // hop_length
    return _log_mel_of_frames(padded, n_frames, sample_rate, n_mels, n_fft, hop_length, power)


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


def file_to_log_mel(path: Path, feature: FeatureConfig,
                    expected_sample_rate: int | None = None) -> np.ndarray:
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
    start, stop = feature.frame_crop or (0, None)
    pad = feature.n_fft // 2
    first = start * feature.hop_length - pad  # first sample of frame `start` (may be < 0)
    last = None if stop is None else (stop - 1) * feature.hop_length + feature.n_fft - pad
    signal, sample_rate, n_samples = _read(path, max(first, 0), last, expected_sample_rate)
    available = 1 + n_samples // feature.hop_length
    if stop is None:
        stop = available
    elif available < stop:
        raise FeatureError(f"clip has {available} log-mel frames ({n_samples} samples), "
                           f"the crop [{start}, {stop}) needs {stop}")
    end = (stop - 1) * feature.hop_length + feature.n_fft - pad
    segment = np.pad(signal, (max(-first, 0), max(end - n_samples, 0)), mode="constant")
    return _log_mel_of_frames(segment, stop - start, sample_rate, feature.n_mels, feature.n_fft,
                              feature.hop_length, feature.power)


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
        return frame_stack(file_to_log_mel(path, feature), frames)
    except FeatureError as error:
        raise FeatureError(f"{path}: {error}") from None
