"""The sound of a synthetic rotating machine, normal or with one of five faults.

Every machine ID is a rotating machine with its own sound: a motor whose
harmonics follow an ID-specific spectral envelope, a gear-mesh tone with
sidebands, coloured background noise, a slow speed drift, and fade-in/out
at the clip ends (real ToyCar clips start and end quieter, which is why the
MLPerf Tiny features keep only the central frames). Clips of one ID differ in
speed, gain, harmonic balance and noise level.

Anomalous clips add one fault of graded severity (0.15 to 1):

- ``bearing``: a train of short resonant clicks (a damaged bearing race);
- ``whine``: an extra tone off the harmonic series (a worn gear, a loose part);
- ``shift``: a group of harmonics moved in frequency (a changed load or mesh);
- ``wobble``: slow amplitude and speed modulation (an unbalanced rotor);
- ``friction``: bursts of band-limited noise (rubbing, missing lubrication).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = ["ANOMALY_KINDS", "MachineProfile", "machine_profile", "synthesize_clip", "type_code"]

ANOMALY_KINDS = ("bearing", "whine", "shift", "wobble", "friction")


@dataclass(frozen=True)
class MachineProfile:
    """The sound of one machine ID (all frequencies in Hz)."""

    fundamental: float
    harmonic_gains: np.ndarray  # (n_harmonics,) linear amplitude of harmonic k+1
    gear_teeth: int
    gear_gain: float
    noise_pole: float  # one-pole low-pass coefficient of the background noise
    noise_level: float  # noise RMS relative to the machine RMS
    drift_depth: float  # relative speed drift
    drift_period: float  # seconds


def type_code(machine_type: str) -> int:
    return zlib.crc32(machine_type.encode()) & 0x7FFFFFFF


def machine_profile(machine_type: str, machine_id: int, seed: int = 0) -> MachineProfile:
    """The deterministic sound profile of ``machine_type`` / ``machine_id``."""
    rng = np.random.default_rng([seed, type_code(machine_type), machine_id, 99])
    fundamental = rng.uniform(90.0, 220.0)
    n_harmonics = 20
    slope = rng.uniform(0.6, 1.2)
    resonance = rng.uniform(4, 14)
    k = np.arange(1, n_harmonics + 1)
    envelope = k**-slope * (1 + 1.5 * np.exp(-0.5 * ((k - resonance) / 2.5) ** 2))
    gains = envelope * rng.uniform(0.5, 1.5, n_harmonics)
    return MachineProfile(
        fundamental=fundamental,
        harmonic_gains=gains / gains.max(),
        gear_teeth=int(rng.integers(9, 17)),
        gear_gain=rng.uniform(0.1, 0.3),
        noise_pole=rng.uniform(0.3, 0.9),
        noise_level=rng.uniform(0.15, 0.3),
        drift_depth=rng.uniform(0.002, 0.01),
        drift_period=rng.uniform(3.0, 8.0),
    )


def _rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal)) + 1e-20))


def _decaying_burst(
    rng: np.random.Generator, sample_rate: int, frequency: float, decay: float
) -> np.ndarray:
    t = np.arange(int(sample_rate * decay * 5)) / sample_rate
    return np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay)


def synthesize_clip(
    profile: MachineProfile,
    rng: np.random.Generator,
    duration: float = 11.0,
    sample_rate: int = 16000,
    anomaly: str | None = None,
    severity: float = 0.0,
) -> np.ndarray:
    """One clip of the machine, normal or with an ``anomaly`` of ``severity`` in (0, 1].

    Returns
    -------
    np.ndarray, shape (round(duration * sample_rate),), float32, peak below 1
    """
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    speed = (
        1
        + rng.normal(0, 0.004)
        + profile.drift_depth
        * np.sin(2 * np.pi * t / profile.drift_period + rng.uniform(0, 2 * np.pi))
    )
    gains = profile.harmonic_gains * 10 ** (rng.normal(0, 1.0, profile.harmonic_gains.size) / 20)
    shifted = np.ones(gains.size)
    amplitude = np.ones(n)
    if anomaly == "wobble":
        rate = rng.uniform(1.5, 5.0)
        amplitude = 1 + 0.5 * severity * np.sin(2 * np.pi * rate * t)
        speed = speed * (1 + 0.02 * severity * np.sin(2 * np.pi * rate * t + 1.0))
    if anomaly == "shift":
        first = int(rng.integers(2, 8))
        shifted[first : first + 4] = 1 + (0.05 + 0.1 * severity) * rng.choice([-1, 1])
    phase = 2 * np.pi * profile.fundamental * np.cumsum(speed) / sample_rate
    machine = np.zeros(n)
    for index, gain in enumerate(gains):
        if profile.fundamental * (index + 1) * shifted[index] < 0.45 * sample_rate:
            machine += gain * np.sin(
                (index + 1) * shifted[index] * phase + rng.uniform(0, 2 * np.pi)
            )
    mesh = profile.gear_teeth * phase
    machine += profile.gear_gain * np.sin(mesh) * (1 + 0.5 * np.sin(phase))
    machine *= amplitude
    level = _rms(machine)

    noise = lfilter([1 - profile.noise_pole], [1, -profile.noise_pole], rng.standard_normal(n))
    noise *= profile.noise_level * level * 10 ** (rng.normal(0, 2.0) / 20) / _rms(noise)
    signal = machine + noise

    if anomaly == "bearing":
        clicks = np.zeros(n)
        rate = rng.uniform(4, 15)
        times = np.arange(rng.uniform(0, 1 / rate), duration, 1 / rate)
        times += rng.normal(0, 0.1 / rate, times.size)
        burst = _decaying_burst(rng, sample_rate, rng.uniform(2500, 5500), 0.004)
        for start in (times * sample_rate).astype(int):
            if 0 <= start < n - burst.size:
                clicks[start : start + burst.size] += burst * rng.uniform(0.5, 1.0)
        signal += clicks * level * 2.5 * severity
    elif anomaly == "whine":
        frequency = profile.fundamental * (rng.integers(6, 25) + rng.uniform(0.3, 0.7))
        signal += (
            0.25 * severity * level * np.sin(2 * np.pi * frequency * np.cumsum(speed) / sample_rate)
        )
    elif anomaly == "friction":
        low, high = sorted(rng.uniform(800, 6000, 2))
        bandpassed = np.fft.irfft(
            np.fft.rfft(rng.standard_normal(n))
            * (
                (np.fft.rfftfreq(n, 1 / sample_rate) > low)
                & (np.fft.rfftfreq(n, 1 / sample_rate) < low + 800 + high / 4)
            ),
            n,
        )
        gate = (np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 6)) > 0).astype(float)
        gate = np.convolve(gate, np.ones(400) / 400, mode="same")
        signal += bandpassed * gate * level * 0.6 * severity / _rms(bandpassed)

    fade = np.minimum(1.0, np.minimum(t, duration - t) / rng.uniform(1.0, 1.6))
    signal *= fade**2
    gain = 0.3 * 10 ** (rng.normal(0, 1.5) / 20) / (np.abs(signal).max() + 1e-12)
    return (signal * gain).astype(np.float32)
