"""Audio loading, log-mel spectrograms and frame stacking.

The log-mel spectrogram is librosa's ``melspectrogram`` (centred STFT with
zero padding, periodic Hann window, Slaney mel filters) followed by
``20 / power * log10(mel + eps)``, computed here in float32: one batched real
FFT for the frames of one or more clips, and the Slaney mel filter bank (built
here with librosa's arithmetic) applied as a sparse matrix. It matches
``librosa.feature.melspectrogram`` to well within 1e-3 dB, is several times
faster, and does not import librosa. 16-bit PCM WAV files are read directly
(one open, one read of the samples under the kept frames) and windowed from
their int16 samples; other formats are read through libsndfile.

Shapes: a log-mel spectrogram is ``(n_frames, n_mels)``, frame-major (one row
per STFT frame); a frame stack is ``(n_vectors, n_mels * frames)`` with
``vector[t * n_mels:(t + 1) * n_mels]`` the ``t``-th frame of the window.
"""
from __future__ import annotations

import contextlib
import functools
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np
import scipy.fft
import scipy.sparse
import soundfile

from .config import FeatureConfig
from .errors import AudioError, FeatureError
from .io_utils import as_path

__all__ = ["AudioError", "FeatureError", "load_audio", "audio_info", "audio_sample_rate",
           "hz_to_mel", "mel_to_hz", "mel_filter_bank", "log_mel_spectrogram", "frame_stack",
           "file_to_log_mel", "files_to_log_mels", "file_to_vector_array"]

EPSILON = sys.float_info.epsilon  # float64 machine epsilon, as the reference
_PCM16_SCALE = 1.0 / 32768.0  # int16 sample -> float in [-1, 1), as libsndfile


@dataclass(frozen=True)
class _WavLayout:
    """What the RIFF/WAVE header says: ``fmt `` fields and where the data chunk is."""

    format_tag: int  # 1: integer PCM
    channels: int
    sample_rate: int  # Hz
    bits_per_sample: int
    data_offset: int  # bytes from the start of the file
    data_bytes: int  # as declared; 0 or 0xFFFFFFFF when a streaming writer left it open
    present_bytes: int  # from the data offset to the end of the file

    @property
    def truncated(self) -> bool:
        """The data chunk is cut short (libsndfile would quietly read a shorter clip)."""
        return self.data_bytes not in (0, 0xFFFFFFFF) and self.present_bytes < self.data_bytes

    @property
    def plain_pcm16(self) -> bool:
        """16-bit integer PCM with a known data size: read directly, without libsndfile."""
        return (self.format_tag == 1 and self.bits_per_sample == 16 and self.channels > 0
                and self.sample_rate > 0 and self.data_bytes not in (0, 0xFFFFFFFF))

    @property
    def n_samples(self) -> int:
        return self.data_bytes // (2 * self.channels)


_HEADER_BYTES = 512  # read at once: covers the chunks before ``data`` in common WAV files


def _wav_layout(handle: BinaryIO, file_size: int) -> _WavLayout | None:
    """The header of a RIFF/WAVE file open at its start; ``None`` for other files or headers
    without ``fmt `` before ``data`` (those are left to libsndfile)."""
    head = handle.read(_HEADER_BYTES)

    def read_at(offset: int, count: int) -> bytes:
        if offset + count <= len(head):
            return head[offset:offset + count]
        handle.seek(offset)
        return handle.read(count)

    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt = None
    position = 12
    while True:
        chunk = read_at(position, 8)
        if len(chunk) < 8:
            return None
        size = int.from_bytes(chunk[4:], "little")
        position += 8
        if chunk[:4] == b"data":
            if fmt is None:
                return None
            return _WavLayout(fmt[0], fmt[1], fmt[2], fmt[5], position, size,
                              file_size - position)
        if chunk[:4] == b"fmt " and size >= 16:
            fields = read_at(position, 16)
            if len(fields) < 16:
                return None
            fmt = struct.unpack("<HHIIHH", fields)
        position += size + (size & 1)


@contextlib.contextmanager
def _open_audio(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """The file opened for reading (unbuffered) and its size in bytes; a missing or
    unreadable file, or one whose reading fails, raises :class:`AudioError`."""
    try:
        handle = open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except OSError as error:
        raise AudioError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        try:
            yield handle, os.fstat(handle.fileno()).st_size
        except OSError as error:  # a failing disk or network share
            raise AudioError(f"{path}: cannot be read ({error.strerror or error})") from None


def _read_pcm16(handle: BinaryIO, layout: _WavLayout, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of a 16-bit PCM WAV as int16, shape (n, channels); fewer
    rows if the file ends early."""
    samples = np.empty((max(stop - start, 0), layout.channels), dtype="<i2")
    buffer = memoryview(samples).cast("B")
    handle.seek(layout.data_offset + start * 2 * layout.channels)
    filled = 0
    while filled < len(buffer):
        count = handle.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return samples[:filled // (2 * layout.channels)]


def _read_samples(path: Path, start: int = 0, stop: int | None = None,
                  expected_sample_rate: int | None = None) -> tuple[np.ndarray, int, int]:
    """Samples ``[start, stop)`` (clipped to the file) as mono, the sample rate and the
    file's total sample count.

    Mono 16-bit PCM WAV files (the DCASE data) are read directly from the data
    chunk and returned as int16 (``sample / 32768`` is libsndfile's float
    value); every other file as float32 in [-1, 1], through libsndfile.
    """
    path = as_path(path)
    with _open_audio(path) as (handle, size):
        if size == 0:
            raise AudioError(f"{path}: empty file (0 bytes)")
        layout = _wav_layout(handle, size)
        if layout is not None and layout.truncated:
            raise AudioError(f"{path}: truncated WAV file ({layout.present_bytes} of "
                             f"{layout.data_bytes} data bytes present)")

        def check_rate(sample_rate: int) -> None:
            if expected_sample_rate is not None and sample_rate != expected_sample_rate:
                raise FeatureError(f"sample rate {sample_rate} Hz differs from the "
                                   f"{expected_sample_rate} Hz of the other clips")

        if layout is not None and layout.plain_pcm16:
            check_rate(layout.sample_rate)
            total, sample_rate = layout.n_samples, layout.sample_rate
            stop = total if stop is None else min(stop, total)
            expected = max(stop - start, 0)
            signal = _read_pcm16(handle, layout, start, stop)
            if signal.shape[1] > 1:  # mixed to mono below, in float
                signal = _to_float(signal)
        else:
            try:
                with soundfile.SoundFile(path) as audio:
                    total, sample_rate = audio.frames, audio.samplerate
                    check_rate(sample_rate)
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


def _to_float(samples: np.ndarray) -> np.ndarray:
    """:func:`_read_samples`' samples as float32 in [-1, 1]."""
    if samples.dtype.kind == "i":  # int16 PCM
        return samples.astype(np.float32) * np.float32(_PCM16_SCALE)
    return samples


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
    samples, sample_rate, _ = _read_samples(path, start, stop)
    return _to_float(samples), sample_rate


def audio_info(path: Path) -> tuple[int, int]:
    """Number of samples (per channel) and sample rate in Hz, from the file header."""
    path = as_path(path)
    with _open_audio(path) as (handle, size):
        layout = _wav_layout(handle, size)
        if layout is not None and layout.plain_pcm16:
            return layout.n_samples, layout.sample_rate
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None
    return int(info.frames), int(info.samplerate)


def audio_sample_rate(path: Path) -> int:
    """Sample rate of an audio file in Hz, from its header."""
    return audio_info(path)[1]


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
    band_edges = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array([sample_rate / 2.0]))[0],
                                       n_mels + 2))
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


def _frame_windows(padded: np.ndarray, n_frames: int, n_fft: int, hop_length: int
                   ) -> np.ndarray:
    """Frames ``padded[t * hop:t * hop + n_fft]``, t < n_frames, as a read-only
    (n_frames, n_fft) view of the contiguous 1-D ``padded``."""
    step = padded.itemsize
    windows = np.ndarray((n_frames, n_fft), dtype=padded.dtype, buffer=padded,
                         strides=(hop_length * step, step))
    windows.flags.writeable = False
    return windows


@functools.lru_cache(maxsize=8)
def _sample_window(n_fft: int, pcm16: bool) -> np.ndarray:
    """The Hann window times the scale of the samples (``2 ** -15`` for int16 PCM):
    multiplying int16 samples by it gives exactly the windowed float samples, as the
    scale is a power of two."""
    window = _hann_window(n_fft) * np.float32(_PCM16_SCALE if pcm16 else 1.0)
    window.setflags(write=False)
    return window


def _log_mels_of_windows(clip_windows: Sequence[np.ndarray], sample_rate: int, n_mels: int,
                         power: float) -> list[np.ndarray]:
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
    for windows, begin, end in zip(clip_windows, bounds[:-1], bounds[1:]):
        pcm16 = windows.dtype.kind == "i"
        np.multiply(windows, _sample_window(n_fft, pcm16), out=windowed[begin:end])
    spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    if power == 2.0:
        magnitude = spectrum.real ** 2 + spectrum.imag ** 2
    else:
        magnitude = np.abs(spectrum) ** power
    bank = _sparse_mel_filter_bank(sample_rate, n_fft, n_mels)
    mel = (bank @ magnitude.astype(np.float32, copy=False).T).T  # (n_frames, n_mels)
    log_mel = np.ascontiguousarray(20.0 / power * np.log10(mel + EPSILON), dtype=np.float32)
    return [log_mel[begin:end] for begin, end in zip(bounds[:-1], bounds[1:])]


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
    windows = _frame_windows(padded, n_frames, n_fft, hop_length)
    return _log_mels_of_windows([windows], sample_rate, n_mels, power)[0]


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


def _clip_frame_windows(path: Path, feature: FeatureConfig,
                        expected_sample_rate: int | None) -> tuple[np.ndarray, int]:
    """The frames of a WAV file kept by the crop, unwindowed: ``(n_frames, n_fft)`` (int16
    or float32, see :func:`_read_samples`) and the sample rate. Only the samples under
    those frames are read."""
    start, stop = feature.frame_crop or (0, None)
    pad = feature.n_fft // 2
    first = start * feature.hop_length - pad  # first sample of frame `start` (may be < 0)
    last = None if stop is None else (stop - 1) * feature.hop_length + feature.n_fft - pad
    signal, sample_rate, n_samples = _read_samples(path, max(first, 0), last,
                                                   expected_sample_rate)
    available = 1 + n_samples // feature.hop_length
    if stop is None:
        stop = available
    elif available < stop:
        raise FeatureError(f"clip has {available} log-mel frames ({n_samples} samples), "
                           f"the crop [{start}, {stop}) needs {stop}")
    end = (stop - 1) * feature.hop_length + feature.n_fft - pad
    padding = (max(-first, 0), max(end - n_samples, 0))  # zeros beyond the clip's ends
    segment = np.pad(signal, padding, mode="constant") if any(padding) else signal
    return _frame_windows(segment, stop - start, feature.n_fft, feature.hop_length), sample_rate


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
    windows, sample_rate = _clip_frame_windows(path, feature, expected_sample_rate)
    return _log_mels_of_windows([windows], sample_rate, feature.n_mels, feature.power)[0]


def files_to_log_mels(paths: Sequence[Path], feature: FeatureConfig,
                      expected_sample_rate: int | None = None
                      ) -> list[np.ndarray | AudioError | FeatureError]:
    """:func:`file_to_log_mel` of several files, computed in one batch (the same values).

    A file that cannot be used gets its :class:`AudioError` or
    :class:`FeatureError` in its place instead of a spectrogram.
    """
    outcomes: list[np.ndarray | AudioError | FeatureError | None] = [None] * len(paths)
    batches: dict[int, list[tuple[int, np.ndarray]]] = {}  # sample rate -> (index, windows)
    for index, path in enumerate(paths):
        try:
            windows, sample_rate = _clip_frame_windows(path, feature, expected_sample_rate)
        except (AudioError, FeatureError) as error:
            outcomes[index] = error
        else:
            batches.setdefault(sample_rate, []).append((index, windows))
    for sample_rate, batch in batches.items():
        log_mels = _log_mels_of_windows([windows for _, windows in batch], sample_rate,
                                        feature.n_mels, feature.power)
        for (index, _), log_mel in zip(batch, log_mels):
            outcomes[index] = log_mel
    return outcomes


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
