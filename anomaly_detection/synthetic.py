"""A synthetic stand-in for the DCASE 2020 Task 2 dataset, generated offline.

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

Output: 16 kHz, 16-bit mono WAV in the DCASE layout and names, deterministic
for a seed (each clip has its own seed, so the set does not depend on worker
count or order)::

    <root>/dev_data/<type>/train/normal_id_01_00000000.wav
    <root>/dev_data/<type>/test/{normal,anomaly}_id_01_00000000.wav
    <root>/eval_data/<type>/train/normal_id_05_00000000.wav
    <root>/eval_data/<type>/test/id_05_00000000.wav
"""
from __future__ import annotations

import argparse
import logging
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile
from scipy.signal import lfilter
from tqdm import tqdm

__all__ = ["ANOMALY_KINDS", "MachineProfile", "machine_profile", "synthesize_clip",
           "SyntheticSpec", "clip_jobs", "write_dataset", "main"]

logger = logging.getLogger(__name__)

ANOMALY_KINDS = ("bearing", "whine", "shift", "wobble", "friction")
_SPLIT_CODES = {"train": 0, "test_normal": 1, "test_anomaly": 2, "eval_test": 3}


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


def _type_code(machine_type: str) -> int:
    return zlib.crc32(machine_type.encode()) & 0x7FFFFFFF


def machine_profile(machine_type: str, machine_id: int, seed: int = 0) -> MachineProfile:
    """The deterministic sound profile of ``machine_type`` / ``machine_id``."""
    rng = np.random.default_rng([seed, _type_code(machine_type), machine_id, 99])
    fundamental = rng.uniform(90.0, 220.0)
    n_harmonics = 20
    slope = rng.uniform(0.6, 1.2)
    resonance = rng.uniform(4, 14)
    k = np.arange(1, n_harmonics + 1)
    envelope = k ** -slope * (1 + 1.5 * np.exp(-0.5 * ((k - resonance) / 2.5) ** 2))
    gains = envelope * rng.uniform(0.5, 1.5, n_harmonics)
    return MachineProfile(
        fundamental=fundamental, harmonic_gains=gains / gains.max(),
        gear_teeth=int(rng.integers(9, 17)), gear_gain=rng.uniform(0.1, 0.3),
        noise_pole=rng.uniform(0.3, 0.9), noise_level=rng.uniform(0.15, 0.3),
        drift_depth=rng.uniform(0.002, 0.01), drift_period=rng.uniform(3.0, 8.0))


def _rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal)) + 1e-20))


def _decaying_burst(rng: np.random.Generator, sample_rate: int, frequency: float,
                    decay: float) -> np.ndarray:
    t = np.arange(int(sample_rate * decay * 5)) / sample_rate
    return np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / decay)


def synthesize_clip(profile: MachineProfile, rng: np.random.Generator, duration: float = 11.0,
                    sample_rate: int = 16000, anomaly: str | None = None,
                    severity: float = 0.0) -> np.ndarray:
    """One clip of the machine, normal or with an ``anomaly`` of ``severity`` in (0, 1].

    Returns
    -------
    np.ndarray, shape (round(duration * sample_rate),), float32, peak below 1
    """
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    speed = 1 + rng.normal(0, 0.004) + profile.drift_depth * np.sin(
        2 * np.pi * t / profile.drift_period + rng.uniform(0, 2 * np.pi))
    gains = profile.harmonic_gains * 10 ** (rng.normal(0, 1.0, profile.harmonic_gains.size) / 20)
    shifted = np.ones(gains.size)
    amplitude = np.ones(n)
    if anomaly == "wobble":
        rate = rng.uniform(1.5, 5.0)
        amplitude = 1 + 0.5 * severity * np.sin(2 * np.pi * rate * t)
        speed = speed * (1 + 0.02 * severity * np.sin(2 * np.pi * rate * t + 1.0))
    if anomaly == "shift":
        first = int(rng.integers(2, 8))
        shifted[first:first + 4] = 1 + (0.05 + 0.1 * severity) * rng.choice([-1, 1])
    phase = 2 * np.pi * profile.fundamental * np.cumsum(speed) / sample_rate
    machine = np.zeros(n)
    for index, gain in enumerate(gains):
        if profile.fundamental * (index + 1) * shifted[index] < 0.45 * sample_rate:
            machine += gain * np.sin((index + 1) * shifted[index] * phase
                                     + rng.uniform(0, 2 * np.pi))
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
                clicks[start:start + burst.size] += burst * rng.uniform(0.5, 1.0)
        signal += clicks * level * 2.5 * severity
    elif anomaly == "whine":
        frequency = profile.fundamental * (rng.integers(6, 25) + rng.uniform(0.3, 0.7))
        signal += 0.25 * severity * level * np.sin(2 * np.pi * frequency * np.cumsum(speed)
                                                   / sample_rate)
    elif anomaly == "friction":
        low, high = sorted(rng.uniform(800, 6000, 2))
        bandpassed = np.fft.irfft(np.fft.rfft(rng.standard_normal(n))
                                  * ((np.fft.rfftfreq(n, 1 / sample_rate) > low)
                                     & (np.fft.rfftfreq(n, 1 / sample_rate) < low + 800 + high / 4)),
                                  n)
        gate = (np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 6)) > 0).astype(float)
        gate = np.convolve(gate, np.ones(400) / 400, mode="same")
        signal += bandpassed * gate * level * 0.6 * severity / _rms(bandpassed)

    fade = np.minimum(1.0, np.minimum(t, duration - t) / rng.uniform(1.0, 1.6))
    signal *= fade ** 2
    gain = 0.3 * 10 ** (rng.normal(0, 1.5) / 20) / (np.abs(signal).max() + 1e-12)
    return (signal * gain).astype(np.float32)


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes of a synthetic dataset."""

    machine_types: tuple[str, ...] = ("ToyCar",)
    dev_ids: tuple[int, ...] = (1, 2, 3, 4)
    eval_ids: tuple[int, ...] = (5, 6, 7)
    train_clips: int = 100  # per ID
    test_normal_clips: int = 30  # per ID
    test_anomaly_clips: int = 30  # per ID
    duration: float = 11.0  # seconds
    sample_rate: int = 16000
    seed: int = 0


@dataclass(frozen=True)
class _ClipJob:
    path: Path
    machine_type: str
    machine_id: int
    split: str
    index: int
    anomalous: bool


def _labelled_jobs(folder: Path, prefix: str, machine_type: str, machine_id: int, split: str,
                   count: int, anomalous: bool) -> list[_ClipJob]:
    name = f"{prefix}_id_{machine_id:02d}"
    return [_ClipJob(folder / f"{name}_{i:08d}.wav", machine_type, machine_id, split, i, anomalous)
            for i in range(count)]


def clip_jobs(root: Path, spec: SyntheticSpec, dev: bool = True, eval_: bool = False
              ) -> list[_ClipJob]:
    """Every clip to write, with its path under ``root``."""
    jobs = []
    for machine_type in spec.machine_types:
        if dev:
            base = root / "dev_data" / machine_type
            for machine_id in spec.dev_ids:
                jobs += _labelled_jobs(base / "train", "normal", machine_type, machine_id,
                                       "train", spec.train_clips, False)
                jobs += _labelled_jobs(base / "test", "normal", machine_type, machine_id,
                                       "test_normal", spec.test_normal_clips, False)
                jobs += _labelled_jobs(base / "test", "anomaly", machine_type, machine_id,
                                       "test_anomaly", spec.test_anomaly_clips, True)
        if eval_:
            base = root / "eval_data" / machine_type
            for machine_id in spec.eval_ids:
                jobs += _labelled_jobs(base / "train", "normal", machine_type, machine_id,
                                       "train", spec.train_clips, False)
                # Unlabelled test clips, normals and anomalies shuffled under id_XX_ names.
                n_test = spec.test_normal_clips + spec.test_anomaly_clips
                order = np.random.default_rng([spec.seed, machine_id, 7]).permutation(n_test)
                jobs += [_ClipJob(base / "test" / f"id_{machine_id:02d}_{i:08d}.wav",
                                  machine_type, machine_id, "eval_test", i,
                                  bool(order[i] >= spec.test_normal_clips))
                         for i in range(n_test)]
    return jobs


def _write_clip(job: _ClipJob, spec: SyntheticSpec) -> None:
    rng = np.random.default_rng([spec.seed, _type_code(job.machine_type), job.machine_id,
                                 _SPLIT_CODES[job.split], job.index])
    profile = machine_profile(job.machine_type, job.machine_id, spec.seed)
    anomaly = ANOMALY_KINDS[int(rng.integers(len(ANOMALY_KINDS)))] if job.anomalous else None
    severity = float(rng.uniform(0.15, 1.0)) if job.anomalous else 0.0
    signal = synthesize_clip(profile, rng, spec.duration, spec.sample_rate, anomaly, severity)
    job.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = job.path.with_name(f".{job.path.name}.part")
    soundfile.write(temporary, signal, spec.sample_rate, subtype="PCM_16", format="WAV")
    temporary.replace(job.path)


def _write_clips(jobs: Sequence[_ClipJob], spec: SyntheticSpec) -> int:
    for job in jobs:
        _write_clip(job, spec)
    return len(jobs)


def write_dataset(root: Path, spec: SyntheticSpec, dev: bool = True, eval_: bool = False,
                  workers: int = 1, progress: bool = True) -> int:
    """Write the synthetic dataset under ``root``; existing clips are kept.

    Returns
    -------
    int
        Number of clips written (0 when everything already existed).
    """
    jobs = [job for job in clip_jobs(Path(root), spec, dev, eval_) if not job.path.exists()]
    chunks = [jobs[start:start + 64] for start in range(0, len(jobs), 64)]
    with tqdm(total=len(jobs), desc="synthetic clips", unit="clip", disable=not progress) as bar:
        if workers <= 1:
            for chunk in chunks:
                bar.update(_write_clips(chunk, spec))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for count in pool.map(_write_clips, chunks, [spec] * len(chunks)):
                    bar.update(count)
    return len(jobs)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m anomaly_detection.synthetic OUTPUT [options]``."""
    import os

    defaults = SyntheticSpec()
    parser = argparse.ArgumentParser(
        prog="python -m anomaly_detection.synthetic",
        description="Write a synthetic DCASE 2020 Task 2 style dataset (dev_data/, eval_data/).")
    parser.add_argument("output", type=Path, help="folder that receives dev_data/ and eval_data/")
    parser.add_argument("--machine-types", nargs="+", default=list(defaults.machine_types))
    parser.add_argument("--dev-ids", nargs="+", type=int, default=list(defaults.dev_ids))
    parser.add_argument("--eval-ids", nargs="+", type=int, default=list(defaults.eval_ids))
    parser.add_argument("--train-clips", type=int, default=defaults.train_clips,
                        help="training clips per ID (default %(default)s)")
    parser.add_argument("--test-normal-clips", type=int, default=defaults.test_normal_clips)
    parser.add_argument("--test-anomaly-clips", type=int, default=defaults.test_anomaly_clips)
    parser.add_argument("--duration", type=float, default=defaults.duration,
                        help="seconds per clip (default %(default)s; >= 8 for the frame crop)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--eval", action="store_true", help="also write eval_data/")
    parser.add_argument("--no-dev", action="store_true", help="do not write dev_data/")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    counts = [args.train_clips, args.test_normal_clips, args.test_anomaly_clips]
    if min(counts) < 0 or args.duration <= 0:
        parser.error("clip counts must be >= 0 and --duration > 0")
    spec = SyntheticSpec(tuple(args.machine_types), tuple(args.dev_ids), tuple(args.eval_ids),
                         args.train_clips, args.test_normal_clips, args.test_anomaly_clips,
                         args.duration, seed=args.seed)
    written = write_dataset(args.output, spec, dev=not args.no_dev, eval_=args.eval,
                            workers=args.workers)
    print(f"Synthetic dataset in {args.output}: {written} clip(s) written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
