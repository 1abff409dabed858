"""Reading audio files: 16-bit PCM WAV directly, everything else through libsndfile.

The DCASE clips are mono 16-bit PCM WAV; they are read straight from the data
chunk (one open, one read of the requested samples) and returned as int16, whose
``sample / 32768`` is libsndfile's float value. Other formats and widths go
through libsndfile as float32. Every failure is an :class:`AudioError` naming the
file and the cause.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from ..core.errors import AudioError, FeatureError
from ..core.io_utils import as_path

__all__ = [
    "PCM16_SCALE",
    "read_samples",
    "to_float",
    "load_audio",
    "audio_info",
    "audio_channels",
    "audio_sample_rate",
]

PCM16_SCALE = 1.0 / 32768.0  # int16 sample -> float in [-1, 1), as libsndfile


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
        return (
            self.format_tag == 1
            and self.bits_per_sample == 16
            and self.channels > 0
            and self.sample_rate > 0
            and self.data_bytes not in (0, 0xFFFFFFFF)
        )

    @property
    def n_samples(self) -> int:
        return self.data_bytes // (2 * self.channels)


_HEADER_BYTES = 512  # read at once: covers the chunks before ``data`` in common WAV files


def _wav_layout(handle: io.FileIO, file_size: int) -> _WavLayout | None:
    """The header of a RIFF/WAVE file open at its start; ``None`` for other files or headers
    without ``fmt `` before ``data`` (those are left to libsndfile)."""
    head = handle.read(_HEADER_BYTES)

    def read_at(offset: int, count: int) -> bytes:
        if offset + count <= len(head):
            return head[offset : offset + count]
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
            return _WavLayout(fmt[0], fmt[1], fmt[2], fmt[5], position, size, file_size - position)
        if chunk[:4] == b"fmt " and size >= 16:
            fields = read_at(position, 16)
            if len(fields) < 16:
                return None
            fmt = struct.unpack("<HHIIHH", fields)
        position += size + (size & 1)


@contextlib.contextmanager
def _open_audio(path: Path) -> Iterator[tuple[io.FileIO, int]]:
    """The file opened for reading (unbuffered) and its size in bytes; a missing or
    unreadable file, or one whose reading fails, raises :class:`AudioError`."""
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below, after the checks)
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except OSError as error:
        raise AudioError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        try:
            yield handle, os.fstat(handle.fileno()).st_size
        except OSError as error:  # a failing disk or network share
            raise AudioError(f"{path}: cannot be read ({error.strerror or error})") from None


def _read_pcm16(handle: io.FileIO, layout: _WavLayout, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of a 16-bit PCM WAV as int16, shape (n, channels); fewer
    rows if the file ends early."""
    samples = np.empty((max(stop - start, 0), layout.channels), dtype="<i2")
    if not samples.size:  # nothing to read (a memoryview cannot cast an empty shape)
        return samples
    buffer = samples.data.cast("B")
    handle.seek(layout.data_offset + start * 2 * layout.channels)
    filled = 0
    while filled < len(buffer):
        count = handle.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return samples[: filled // (2 * layout.channels)]


def read_samples(
    path: Path,
    start: int = 0,
    stop: int | None = None,
    expected_sample_rate: int | None = None,
    *,
    channel: int | None = None,
) -> tuple[np.ndarray, int, int]:
    """Samples ``[start, stop)`` (clipped to the file) as mono, the sample rate and the
    file's total sample count. ``channel``: that channel only (0 first); ``None``: the
    mean of the channels.

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
            raise AudioError(
                f"{path}: truncated WAV file ({layout.present_bytes} of "
                f"{layout.data_bytes} data bytes present)"
            )

        def check_rate(sample_rate: int) -> None:
            if expected_sample_rate is not None and sample_rate != expected_sample_rate:
                raise FeatureError(
                    f"sample rate {sample_rate} Hz differs from the "
                    f"{expected_sample_rate} Hz of the other clips"
                )

        if layout is not None and layout.plain_pcm16:
            check_rate(layout.sample_rate)
            total, sample_rate = layout.n_samples, layout.sample_rate
            stop = total if stop is None else min(stop, total)
            expected = max(stop - start, 0)
            signal = _read_pcm16(handle, layout, start, stop)
            if signal.shape[1] > 1 and channel is None:  # mixed to mono below, in float
                signal = to_float(signal)
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
        raise AudioError(
            f"{path}: truncated audio data ({signal.shape[0]} of {expected} samples readable)"
        )
    if total == 0:
        raise AudioError(f"{path}: no audio samples")
    return _one_channel(path, signal, channel), int(sample_rate), int(total)


def _one_channel(path: Path, signal: np.ndarray, channel: int | None) -> np.ndarray:
    """``channel`` of ``signal`` (n, channels), or (``None``) the mean of its channels."""
    if channel is not None:
        if channel >= signal.shape[1]:
            raise AudioError(
                f"{path}: has {signal.shape[1]} channel(s); feature.channel is {channel}"
            )
        return np.ascontiguousarray(signal[:, channel])
    signal = signal.mean(axis=1, dtype=np.float32) if signal.shape[1] > 1 else signal[:, 0]
    return np.ascontiguousarray(signal)


def to_float(samples: np.ndarray) -> np.ndarray:
    """:func:`read_samples`' samples as float32 in [-1, 1]."""
    if samples.dtype.kind == "i":  # int16 PCM
        return samples.astype(np.float32) * np.float32(PCM16_SCALE)
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
    samples, sample_rate, _ = read_samples(path, start, stop)
    return to_float(samples), sample_rate


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


def audio_channels(path: Path) -> int:
    """Number of channels of an audio file, from its header (one read of its first bytes
    for a WAV file).

    Raises
    ------
    AudioError
        The file is missing or not a readable audio file.
    """
    path = as_path(path)
    with _open_audio(path) as (handle, size):
        layout = _wav_layout(handle, size)
        if layout is not None and layout.channels > 0:
            return layout.channels
    try:
        return int(soundfile.info(str(path)).channels)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from None


def audio_sample_rate(path: Path) -> int:
    """Sample rate of an audio file in Hz, from its header."""
    return audio_info(path)[1]
