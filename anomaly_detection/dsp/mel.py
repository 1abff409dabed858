"""The Slaney mel scale and its triangular filter bank, with numpy alone.

The one mel filter bank of the package: the features apply it (see
:mod:`anomaly_detection.features.spectrogram`) and the configuration's checks count
its empty bands. Its arithmetic is librosa's (``librosa.filters.mel`` with the
defaults ``htk=False, norm='slaney'``, in float32), bit for bit, without importing
librosa.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["hz_to_mel", "mel_to_hz", "mel_filter_bank", "empty_mel_bands"]

_MEL_HZ_PER_MEL = 200.0 / 3  # Slaney mel scale: linear below 1 kHz ...
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0  # ... logarithmic above


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Frequencies on the Slaney mel scale (``librosa.hz_to_mel(..., htk=False)``).

    Parameters
    ----------
    frequencies : array_like, any shape
        Hz.

    Returns
    -------
    np.ndarray, the shape of ``frequencies``, float64
        Mels: linear below 1 kHz (15 mels), logarithmic above.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / _MEL_HZ_PER_MEL
    high = frequencies >= _MEL_LOG_START_HZ
    mels[high] = _MEL_LOG_START + np.log(frequencies[high] / _MEL_LOG_START_HZ) / _MEL_LOG_STEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Slaney mels back to frequencies, the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : array_like, any shape

    Returns
    -------
    np.ndarray, the shape of ``mels``, float64
        Hz.
    """
    mels = np.asarray(mels, dtype=np.float64)
    frequencies = _MEL_HZ_PER_MEL * mels
    high = mels >= _MEL_LOG_START
    frequencies[high] = _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (mels[high] - _MEL_LOG_START))
    return frequencies


def mel_filter_bank(*, sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters from 0 Hz to ``sample_rate / 2``, transposed
    for right-multiplication of a magnitude spectrum.

    The same arithmetic as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft,
    n_mels=n_mels, dtype=np.float32)`` (the tests check that they are equal).

    Parameters
    ----------
    sample_rate : int
        Hz, of the signal the spectrum comes from.
    n_fft : int
        FFT length, in samples: ``n_fft // 2 + 1`` frequency bins.
    n_mels : int
        Mel bands, equally spaced in mels between 0 Hz and the Nyquist frequency.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, n_mels), float32, read-only
        ``bank[bin, band]``: the weight of FFT bin ``bin`` in mel band ``band``; each
        band has unit area in Hz (Slaney normalisation). A band narrower than the
        bin spacing may hold no bin at all: its column is zero (see
        :func:`empty_mel_bands`).
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


@functools.lru_cache(maxsize=32)
def empty_mel_bands(*, sample_rate: int, n_fft: int, n_mels: int) -> int:
    """Mel bands of :func:`mel_filter_bank` that hold no FFT bin (all-zero filters).

    Such a band's energy is always zero, its log-mel value the constant floor: too
    small an ``n_fft`` for ``n_mels`` at ``sample_rate``. The count equals that of
    librosa's all-zero filters (for which librosa warns).

    Parameters
    ----------
    sample_rate : int
        Hz.
    n_fft : int
        FFT length, in samples.
    n_mels : int
        Mel bands.

    Returns
    -------
    int
        0 when every band holds at least one bin.
    """
    bank = mel_filter_bank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
    return int(np.sum(np.max(bank, axis=0) <= 0))
