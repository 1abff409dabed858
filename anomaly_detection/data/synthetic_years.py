"""Synthetic stand-ins for the DCASE 2021+ datasets, in each year's layout and names.

Each section is a machine of its own (:mod:`.machine_sounds`); its **target domain**
runs 20 % faster in 2.5 times the background noise, a real domain shift. The source
domain has many training clips, the target few (as the published sets). Clips are 16 kHz
16-bit WAV with the year's channel count (mono; two channels for 2026: each channel after
the first is channel 0 further away, with noise of its own). The year's entry
(:mod:`anomaly_detection.registry.years`) gives its sections, folders, names, attributes
and channels. Layouts (see :mod:`.dcase_years`)::

    <root>/dev_data/<type>/train/section_00_target_train_normal_0000_spd_34V_noise_1.wav
    <root>/dev_data/<type>/test/section_00_source_test_anomaly_0003_spd_28V_noise_0.wav
    <root>/dev_data/<type>/source_test/section_00_source_test_normal_0000.wav     (2021)
    <root>/dev_data/<type>/attributes_00.csv                                     (2023 on)
    <root>/eval_data/<type>/test/section_00_0007.wav       (2021: <domain>_test/..._test_0007.wav)
    <root>/ground_truth_data/ground_truth_<type>_section_00_test.csv   labels of the eval clips
    <root>/ground_truth_domain/ground_truth_<type>_section_00_test.csv (2022 on: 0 source, 1 target)
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from ..registry.years import DcaseYear, year_entry
from .dcase_years import SOURCE, TARGET
from .machine_sounds import ANOMALY_KINDS, machine_profile, synthesize_clip, type_code

__all__ = ["SectionedSpec", "write_sectioned_dataset"]

_SHIFT = {SOURCE: (1.0, 1.0, "spd_28V_noise_0"), TARGET: (1.2, 2.5, "spd_34V_noise_1")}


@dataclass(frozen=True)
class SectionedSpec:
    """Sizes of a synthetic 2021+ set; sections ``None``: the year's (00-02 development and
    03-05 evaluation in 2021 and 2022, 00 for both from 2023; see its registry entry)."""

    year: int = 2024
    machine_types: tuple[str, ...] = ("ToyCar", "fan")
    train_source_clips: int = 40  # per section
    train_target_clips: int = 4  # per section
    test_clips: int = 10  # per section, domain and class (normal, anomalous)
    duration: float = 10.0
    sample_rate: int = 16000
    seed: int = 0
    dev_sections: tuple[int, ...] | None = None
    eval_sections: tuple[int, ...] | None = None

    def sections(self, dev: bool) -> tuple[int, ...]:
        chosen = self.dev_sections if dev else self.eval_sections
        return year_entry(self.year).sections(dev=dev) if chosen is None else chosen


@dataclass(frozen=True)
class _Clip:
    path: Path
    machine_type: str
    section: int
    domain: str
    anomalous: bool
    index: int
    split: int  # 0 train, 1 test (development), 2 test (evaluation)
    eval_name: str = ""  # the evaluation clip's published (unlabelled) name


def _attributes(entry: DcaseYear, domain: str) -> str:
    return f"_{_SHIFT[domain][2]}" if entry.attributes_in_names else ""


def _clips(root: Path, spec: SectionedSpec, machine_type: str, dev: bool) -> list[_Clip]:
    base = root / ("dev_data" if dev else "eval_data") / machine_type
    entry = year_entry(spec.year)
    clips = []
    for section in spec.sections(dev):
        for domain, count in ((SOURCE, spec.train_source_clips), (TARGET, spec.train_target_clips)):
            tail = _attributes(entry, domain)
            for i in range(count):
                name = entry.names.training.format(
                    section=section, domain=domain, index=i, attributes=tail
                )
                clips.append(
                    _Clip(base / "train" / name, machine_type, section, domain, False, i, 0)
                )
        tests = [
            (domain, anomalous)
            for domain in (SOURCE, TARGET)
            for anomalous in (False, True)
            for _ in range(spec.test_clips)
        ]
        order = np.random.default_rng([spec.seed, section, int(dev), 7]).permutation(len(tests))
        counters: dict[tuple[str, bool], int] = {}
        for position, (domain, anomalous) in enumerate(tests):
            index = counters[domain, anomalous] = counters.get((domain, anomalous), -1) + 1
            labelled = entry.names.labelled_test.format(
                section=section,
                domain=domain,
                label="anomaly" if anomalous else "normal",
                index=index,
                attributes=_attributes(entry, domain),
            )
            number = int(np.flatnonzero(order == position)[0])
            published = entry.names.evaluation_test[0].format(
                section=section, domain=domain, index=number
            )
            path = base / entry.test_folder(domain) / (labelled if dev else published)
            clips.append(
                _Clip(
                    path,
                    machine_type,
                    section,
                    domain,
                    anomalous,
                    position,
                    1 + (not dev),
                    published,
                )
            )
    return clips


def _write_clip(clip: _Clip, spec: SectionedSpec) -> None:
    rng = np.random.default_rng(
        [
            spec.seed,
            spec.year,
            type_code(clip.machine_type),
            clip.section,
            clip.split,
            clip.index,
            clip.domain == TARGET,
        ]
    )
    speed, noise, _ = _SHIFT[clip.domain]
    profile = machine_profile(clip.machine_type, 100 * spec.year + clip.section, spec.seed)
    profile = dataclasses.replace(
        profile, fundamental=profile.fundamental * speed, noise_level=profile.noise_level * noise
    )
    anomaly = ANOMALY_KINDS[int(rng.integers(len(ANOMALY_KINDS)))] if clip.anomalous else None
    severity = float(rng.uniform(0.3, 1.0)) if clip.anomalous else 0.0
    signal = synthesize_clip(profile, rng, spec.duration, spec.sample_rate, anomaly, severity)
    channels = year_entry(spec.year).channels
    if channels > 1:  # more microphones, each further away, with noise of its own
        far = [
            0.6**k * signal + 0.02 * rng.standard_normal(signal.size).astype(np.float32)
            for k in range(1, channels)
        ]
        signal = np.stack([signal, *far], axis=1)
    clip.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = clip.path.with_name(f".{clip.path.name}.part")
    soundfile.write(temporary, signal, spec.sample_rate, subtype="PCM_16", format="WAV")
    temporary.replace(clip.path)


def _write_csv(path: Path, rows: Sequence[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _write_tables(root: Path, spec: SectionedSpec, clips: Sequence[_Clip]) -> None:
    """``attributes_XX.csv`` (2023 on) and the evaluation set's ground truth files."""
    entry = year_entry(spec.year)
    by_file: dict[Path, list[list[object]]] = {}
    for clip in clips:
        if entry.attribute_tables:
            name = f"{clip.path.parent.name}/{clip.path.name}"
            attributes = _SHIFT[clip.domain][2].split("_")
            table = clip.path.parent.parent / f"attributes_{clip.section:02d}.csv"
            by_file.setdefault(table, [["file_name", "d1p", "d1v", "d2p", "d2v"]]).append(
                [name, *attributes]
            )
        if clip.split != 2:
            continue
        scoring_set = entry.scoring_set.format(section=clip.section, domain=clip.domain)
        stem = f"ground_truth_{clip.machine_type}_{scoring_set}.csv"
        by_file.setdefault(root / "ground_truth_data" / stem, []).append(
            [clip.eval_name, int(clip.anomalous)]
        )
        if not entry.domain_folders:  # the evaluator reads the domains from these
            by_file.setdefault(root / "ground_truth_domain" / stem, []).append(
                [clip.eval_name, int(clip.domain == TARGET)]
            )
    for path, rows in by_file.items():
        header, body = (rows[:1], rows[1:]) if rows[0][0] == "file_name" else ([], rows)
        _write_csv(path, [*header, *sorted(body, key=lambda row: str(row[0]))])


def write_sectioned_dataset(
    root: Path, spec: SectionedSpec, *, dev: bool = True, eval_: bool = False
) -> int:
    """Write the synthetic set of ``spec.year`` under ``root``; existing clips are kept.

    Returns
    -------
    int
        Number of clips written.
    """
    if not year_entry(spec.year).sectioned:
        raise ValueError(f"year {spec.year}: the machine-ID layout is written by data.synthetic")
    clips = [
        clip
        for machine_type in spec.machine_types
        for is_dev in (True, False)
        if (dev if is_dev else eval_)
        for clip in _clips(Path(root), spec, machine_type, is_dev)
    ]
    missing = [clip for clip in clips if not clip.path.exists()]
    for clip in missing:
        _write_clip(clip, spec)
    _write_tables(Path(root), spec, clips)
    return len(missing)
