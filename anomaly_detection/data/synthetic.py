"""A synthetic stand-in for the DCASE 2020 Task 2 dataset, generated offline.

Each machine ID sounds like a rotating machine of its own, and anomalous clips
add one of five faults of graded severity (see :mod:`.machine_sounds`).

Output: 16 kHz, 16-bit mono WAV in the DCASE layout and names, deterministic
for a seed (each clip has its own seed, so the set does not depend on worker
count or order)::

    <root>/dev_data/<type>/train/normal_id_01_00000000.wav
    <root>/dev_data/<type>/test/{normal,anomaly}_id_01_00000000.wav
    <root>/eval_data/<type>/train/normal_id_05_00000000.wav
    <root>/eval_data/<type>/test/id_05_00000000.wav
    <root>/eval_data_list.csv            labels of the evaluation test clips (with --eval)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from ..core.interruption import ignore_in_worker, install_handler, workers_spawned_deaf
from ..registry.years import REFERENCE_YEAR, registered_years, year_entry
from .ground_truth import GROUND_TRUTH_FILE, write_ground_truth
from .machine_sounds import ANOMALY_KINDS, machine_profile, synthesize_clip, type_code

__all__ = ["SyntheticSpec", "clip_jobs", "write_dataset", "main"]

logger = logging.getLogger(__name__)

_SPLIT_CODES = {"train": 0, "test_normal": 1, "test_anomaly": 2, "eval_test": 3}


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


def _labelled_jobs(
    folder: Path,
    prefix: str,
    machine_type: str,
    machine_id: int,
    split: str,
    count: int,
    *,
    anomalous: bool,
) -> list[_ClipJob]:
    name = f"{prefix}_id_{machine_id:02d}"
    return [
        _ClipJob(folder / f"{name}_{i:08d}.wav", machine_type, machine_id, split, i, anomalous)
        for i in range(count)
    ]


def _unlabelled_test_jobs(
    folder: Path, spec: SyntheticSpec, machine_type: str, machine_id: int
) -> list[_ClipJob]:
    """Evaluation test clips: normals and anomalies shuffled under ``id_XX_`` names."""
    n_test = spec.test_normal_clips + spec.test_anomaly_clips
    order = np.random.default_rng([spec.seed, machine_id, 7]).permutation(n_test)
    return [
        _ClipJob(
            folder / f"id_{machine_id:02d}_{i:08d}.wav",
            machine_type,
            machine_id,
            "eval_test",
            i,
            bool(order[i] >= spec.test_normal_clips),
        )
        for i in range(n_test)
    ]


def clip_jobs(
    root: Path, spec: SyntheticSpec, *, dev: bool = True, eval_: bool = False
) -> list[_ClipJob]:
    """Every clip to write, with its path under ``root``."""
    # folder, name prefix, split, clips per ID, anomalous
    labelled: tuple[tuple[str, str, str, int, bool], ...] = (
        ("train", "normal", "train", spec.train_clips, False),
        ("test", "normal", "test_normal", spec.test_normal_clips, False),
        ("test", "anomaly", "test_anomaly", spec.test_anomaly_clips, True),
    )
    parts = []  # data folder, machine IDs, labelled splits
    if dev:
        parts.append(("dev_data", spec.dev_ids, labelled))
    if eval_:
        parts.append(("eval_data", spec.eval_ids, labelled[:1]))
    jobs = []
    for machine_type in spec.machine_types:
        for data, machine_ids, splits in parts:
            base = root / data / machine_type
            for machine_id in machine_ids:
                for folder, prefix, split, count, anomalous in splits:
                    jobs += _labelled_jobs(
                        base / folder,
                        prefix,
                        machine_type,
                        machine_id,
                        split,
                        count,
                        anomalous=anomalous,
                    )
                if data == "eval_data":
                    jobs += _unlabelled_test_jobs(base / "test", spec, machine_type, machine_id)
    return jobs


def _write_clip(job: _ClipJob, spec: SyntheticSpec) -> None:
    rng = np.random.default_rng(
        [spec.seed, type_code(job.machine_type), job.machine_id, _SPLIT_CODES[job.split], job.index]
    )
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


def write_dataset(
    root: Path,
    spec: SyntheticSpec,
    *,
    dev: bool = True,
    eval_: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> int:
    """Write the synthetic dataset under ``root``; existing clips are kept. With ``eval_``,
    also the evaluation set's labels, ``<root>/eval_data_list.csv`` (the published layout).

    Returns
    -------
    int
        Number of clips written (0 when everything already existed).
    """
    every_job = clip_jobs(Path(root), spec, dev=dev, eval_=eval_)
    jobs = [job for job in every_job if not job.path.exists()]
    chunks = [jobs[start : start + 64] for start in range(0, len(jobs), 64)]
    with tqdm(total=len(jobs), desc="synthetic clips", unit="clip", disable=not progress) as bar:
        if workers <= 1:
            for chunk in chunks:
                bar.update(_write_clips(chunk, spec))
        else:
            pool = ProcessPoolExecutor(max_workers=workers, initializer=ignore_in_worker)
            try:
                # The workers start deaf to Ctrl-C (before their initializer runs too): the
                # parent alone stops the pool, and a worker never dies while it starts.
                with workers_spawned_deaf():
                    counts = pool.map(_write_clips, chunks, [spec] * len(chunks))
                for count in counts:
                    bar.update(count)
            finally:  # on Ctrl-C: no new chunk starts; the clips written are whole
                pool.shutdown(cancel_futures=True)
    if eval_:
        write_ground_truth(Path(root) / GROUND_TRUTH_FILE, _ground_truth_rows(every_job))
    return len(jobs)


def _ground_truth_rows(jobs: Sequence[_ClipJob]) -> list[tuple[str, str, str, int]]:
    """``(type, test file, original file, label)`` of every evaluation test clip; the
    original names number each ID's normals and anomalies, as in the published list."""
    counts: dict[tuple[str, int, str], int] = {}
    rows = []
    for job in jobs:
        if job.split != "eval_test":
            continue
        kind = "anomaly" if job.anomalous else "normal"
        number = counts[job.machine_type, job.machine_id, kind] = (
            counts.get((job.machine_type, job.machine_id, kind), -1) + 1
        )
        original = f"{kind}_id_{job.machine_id:02d}_{number:08d}.wav"
        rows.append((job.machine_type, job.path.name, original, int(job.anomalous)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m anomaly_detection.data.synthetic OUTPUT [options]``."""
    import os

    defaults = SyntheticSpec()
    parser = argparse.ArgumentParser(
        prog="python -m anomaly_detection.data.synthetic",
        description="Write a synthetic DCASE 2020 Task 2 style dataset (dev_data/, eval_data/).",
    )
    parser.add_argument("output", type=Path, help="folder that receives dev_data/ and eval_data/")
    parser.add_argument("--machine-types", nargs="+", default=list(defaults.machine_types))
    parser.add_argument("--dev-ids", nargs="+", type=int, default=list(defaults.dev_ids))
    parser.add_argument("--eval-ids", nargs="+", type=int, default=list(defaults.eval_ids))
    parser.add_argument(
        "--train-clips",
        type=int,
        default=defaults.train_clips,
        metavar="N",
        help="training clips per ID (default %(default)s)",
    )
    parser.add_argument("--test-normal-clips", type=int, default=defaults.test_normal_clips)
    parser.add_argument("--test-anomaly-clips", type=int, default=defaults.test_anomaly_clips)
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration,
        help="seconds per clip (default %(default)s; >= 8 for the frame crop)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    years = registered_years()
    parser.add_argument(
        "--year",
        type=int,
        choices=years,
        default=REFERENCE_YEAR,
        metavar="YEAR",
        help=f"the DCASE year's layout, {years[0]} to {years[-1]} (default %(default)s); from "
        "2021 --train-clips counts each section's source clips, --test-normal-clips each "
        "section's clips per domain and class",
    )
    parser.add_argument("--eval", action="store_true", help="also write eval_data/")
    parser.add_argument("--no-dev", action="store_true", help="do not write dev_data/")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    install_handler()  # Ctrl-C stops it even if started with SIGINT ignored (a background job)
    counts = [args.train_clips, args.test_normal_clips, args.test_anomaly_clips]
    if min(counts) < 0 or args.duration <= 0:
        parser.error("clip counts must be >= 0 and --duration > 0")
    if year_entry(args.year).sectioned:
        return _write_year(args)
    spec = SyntheticSpec(
        tuple(args.machine_types),
        tuple(args.dev_ids),
        tuple(args.eval_ids),
        args.train_clips,
        args.test_normal_clips,
        args.test_anomaly_clips,
        args.duration,
        seed=args.seed,
    )
    try:
        written = write_dataset(
            args.output, spec, dev=not args.no_dev, eval_=args.eval, workers=args.workers
        )
    except KeyboardInterrupt:
        print(
            "interrupted by the user; the clips written are complete, run the same command "
            "again to write the rest",
            file=sys.stderr,
        )
        return 130
    print(f"Synthetic dataset in {args.output}: {written} clip(s) written")
    return 0


def _write_year(args: argparse.Namespace) -> int:
    """The command line of a year of sections (2021 on): :mod:`.synthetic_years`."""
    from .synthetic_years import SectionedSpec, write_sectioned_dataset

    spec = SectionedSpec(
        year=args.year,
        machine_types=tuple(args.machine_types),
        train_source_clips=args.train_clips,
        train_target_clips=max(1, args.train_clips // 10),
        test_clips=args.test_normal_clips,
        duration=args.duration,
        seed=args.seed,
    )
    written = write_sectioned_dataset(args.output, spec, dev=not args.no_dev, eval_=args.eval)
    print(f"Synthetic DCASE {args.year} dataset in {args.output}: {written} clip(s) written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
