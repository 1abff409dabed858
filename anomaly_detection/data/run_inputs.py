"""What a script run reads from the data: each machine type's clips and the evaluation
labels, listed by the functions the scripts list them with, and one digest of it all.

:func:`scoring_sets` lists a machine type's test clips by scoring set, in the year's
layout; :func:`missing_scoring_sets` names those the training clips promise (2021 on: a
section and domain trained on) but the test folder lacks, :func:`warn_of_unheard_sets`
those the test folder has but no training clip belongs to; :func:`inputs_digest` is what a
sweep keys a run's results on besides its YAML: the clips and labels the run reads, read
by the same code, so that the two cannot disagree.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

from ..core.config import Config
from ..core.errors import DatasetError
from ..registry.years import year_entry
from .dataset import TestSet, list_test_sets, list_train_files, select_machine_type_dirs, wav_files
from .dcase_years import detect_year, list_section_test_sets, training_set_name
from .evaluation_labels import find_evaluation_labels

__all__ = [
    "scoring_sets",
    "missing_scoring_sets",
    "warn_of_unheard_sets",
    "clip_files_digest",
    "inputs_digest",
]

logger = logging.getLogger(__name__)


def scoring_sets(type_dir: Path, year: int, *, dev_mode: bool) -> list[TestSet]:
    """The test clips of one machine type by scoring set: its machine IDs (2020), or its
    sections and domains in the year's layout (see :mod:`.dcase_years`).

    Raises
    ------
    DatasetError
        A missing test folder, no test clips, or a clip whose name does not fit the year.
    """
    if year_entry(year).sectioned:
        return list_section_test_sets(type_dir, year, dev_mode=dev_mode)
    return list_test_sets(type_dir, dev_mode)


def missing_scoring_sets(type_dir: Path, year: int, test_sets: Sequence[TestSet]) -> list[str]:
    """The scoring sets that ``type_dir``'s training clips name but ``test_sets`` lack (a
    partly unpacked test folder), sorted; 2021 on only: a 2020 development folder also
    trains on the evaluation set's machine IDs (MLPerf Tiny's recipe)."""
    train_dir = type_dir / "train"
    if not year_entry(year).sectioned or not train_dir.is_dir():
        return []
    promised = {training_set_name(path, year) for path in wav_files(train_dir)}
    return sorted(name for name in promised - {s.name for s in test_sets} if name is not None)


def warn_of_unheard_sets(type_dir: Path, year: int, test_sets: Sequence[TestSet]) -> list[str]:
    """Warn of (and return, sorted) the scoring sets of ``test_sets`` that no training clip
    of ``type_dir`` belongs to: a machine ID, or a section and domain, the model never
    heard (a partly copied training folder); none without a training folder (a model
    trained elsewhere: nothing to compare with)."""
    train_dir = type_dir / "train"
    if not train_dir.is_dir():
        return []
    trained = {training_set_name(path, year) for path in wav_files(train_dir)}
    unheard = sorted({test_set.name for test_set in test_sets} - trained)
    if unheard:
        logger.warning(
            "%s: %s %s have no training clips in %s (the model never heard them)",
            type_dir.name,
            "scoring set(s)" if year_entry(year).sectioned else "test ID(s)",
            ", ".join(unheard),
            train_dir,
        )
    return unheard


def clip_files_digest(files: Sequence[Path]) -> str:
    """SHA-256 of the clips' absolute paths, sizes, inodes and modification and status-change
    times (ns), in order: a clip rewritten with another of the same name and size (as
    every DCASE clip is) changes it, even with its modification time set back (a copy
    that keeps it: the status-change time cannot be set back), as do another data folder
    and a touched clip. Results, thresholds and sweeps record it.

    Parameters
    ----------
    files : sequence of Path

    Returns
    -------
    str
        64 hexadecimal digits; a missing file counts as ``missing``.
    """
    digest = hashlib.sha256()
    for path in files:
        try:
            status = path.stat()
            state = f"{status.st_size}\0{status.st_ino}\0{status.st_mtime_ns}\0{status.st_ctime_ns}"
        except OSError:
            state = "missing"
        name = str(path.absolute())  # not resolve(): a symlink loop is a bad clip, not a crash
        digest.update(f"{name}\0{state}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def inputs_digest(config: Config, *, dev_mode: bool, machine_types: Sequence[str] | None) -> str:
    """SHA-256 of what a run of the scripts on ``config``'s data reads besides its YAML:
    per machine type (all, or ``machine_types``) the clip files digest of its training and
    test clips as the scripts list them (through linked folders too) and, in evaluation
    mode, its labels' digest. Data the scripts would refuse gives the digest of the
    refusal's message.
    """
    digest = hashlib.sha256()
    try:
        type_dirs = select_machine_type_dirs(config.data_directory(dev_mode), machine_types)
        year = detect_year(type_dirs, config.dataset_year)
        labels = None
        if not dev_mode:
            labels = find_evaluation_labels(
                None, config.eval_ground_truth, config.eval_directory, year=year_entry(year)
            )
        for type_dir in type_dirs:
            clips = list_train_files(type_dir) if (type_dir / "train").is_dir() else []
            test_sets = scoring_sets(type_dir, year, dev_mode=dev_mode)
            clips += [path for test_set in test_sets for path in test_set.files]
            labelled = "" if labels is None else labels.labels_digest(type_dir.name)
            entry = f"{type_dir.name}\0{clip_files_digest(clips)}\0{labelled}\0"
            digest.update(entry.encode("utf-8", "surrogateescape"))
    except DatasetError as error:
        digest.update(f"refused\0{error}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
