"""The clips one script run works on: its machine types, training frames and test features.

:class:`RunData` lists and reads the clips of the run's set (:class:`.settings.
RunSettings`), through the feature cache, and says what the run's results are computed
on (:meth:`RunData.result_facts`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from ..data.dataset import TestSet, list_train_files, select_machine_type_dirs
from ..data.dcase_years import check_training_names
from ..data.run_inputs import missing_scoring_sets, scoring_sets, warn_of_unheard_sets
from ..evaluation.results import TestFeatures
from ..evaluation.staleness import ResultFacts
from ..features.cache import FeatureCache
from ..features.extraction import check_settings_at_rate, extract_log_mels, load_frame_store
from ..features.frame_store import FrameStore
from .clip_facts import ClipFacts
from .result_facts import result_facts
from .settings import RunSettings

__all__ = ["RunData"]

logger = logging.getLogger(__name__)


class RunData:
    """The machine types and clips of one run.

    Parameters
    ----------
    settings : RunSettings
    facts : ClipFacts
        Shared with the other collaborators of the run.
    cache : FeatureCache or None
        The feature cache (``None``: disabled).
    """

    def __init__(self, settings: RunSettings, facts: ClipFacts, cache: FeatureCache | None):
        self.settings = settings
        self.facts = facts
        self.cache = cache

    def type_dirs(self) -> list[Path]:
        """Machine-type folders of the dev or eval data, sorted (or as selected)."""
        return select_machine_type_dirs(self.settings.data_directory, self.settings.machine_types)

    def unselected_types(self) -> list[str]:
        """Machine types of the data folder that ``--machine-type`` left out of this run."""
        chosen = self.settings.machine_types
        if chosen is None:
            return []
        every = select_machine_type_dirs(self.settings.data_directory, None, skip_broken_links=True)
        return [folder.name for folder in every if folder.name not in chosen]

    def training_frames(self, type_dir: Path, *, max_clips: int | None = None) -> FrameStore:
        """Cropped log-mel frames of the type's training clips.

        Parameters
        ----------
        max_clips : int, optional
            Use this many clips spread evenly over the sorted list (calibration).
        """
        settings = self.settings
        files = list_train_files(type_dir)
        if settings.year.sectioned:
            check_training_names(files, settings.dataset_year)
        self.check_sample_rate(files)
        if max_clips is not None and len(files) > max_clips:
            files = [files[i] for i in np.linspace(0, len(files) - 1, max_clips).astype(int)]
        return load_frame_store(
            files,
            settings.config.feature,
            cache=self.cache,
            workers=settings.config.workers,
            skip_bad_clips=settings.skip_bad_clips,
            description=f"{type_dir.name} train features",
            progress=settings.progress,
        )

    def training_frames_loader(self, type_dir: Path) -> Callable[[], FrameStore]:
        """:meth:`training_frames` of ``type_dir``, loaded on the first call only (several
        models of one type share them for their thresholds)."""
        return functools.cache(functools.partial(self.training_frames, type_dir))

    def training_clips_digest(self, machine_type: str) -> str | None:
        """The files digest of the type's training clips (dev or eval set): a decision
        threshold or a score's state fitted on other clips is not reused. ``None`` without
        a ``train`` folder (an evaluation set without training clips: what is stored
        beside the model is all there is)."""
        type_dir = self.settings.data_directory / machine_type
        if not (type_dir / "train").is_dir():
            return None
        return self.facts.files_digest(list_train_files(type_dir))

    def test_sets(self, type_dir: Path) -> list[TestSet]:
        """The scoring sets of one machine type: its machine IDs (2020), or its sections
        and domains in the year's layout (see :mod:`~anomaly_detection.data.dcase_years`).

        Raises
        ------
        DatasetError
            Also for a scoring set the training clips promise but the test folder lacks,
            unless ``skip_bad_clips`` (then a warning, once per run).
        """
        settings = self.settings
        test_sets = scoring_sets(type_dir, settings.dataset_year, dev_mode=settings.dev_mode)
        missing = missing_scoring_sets(type_dir, settings.dataset_year, test_sets)
        if missing:
            self.facts.once("missing sets", (type_dir,), lambda _: self._missing(type_dir, missing))
        return test_sets

    def _missing(self, type_dir: Path, missing: list[str]) -> None:
        """Report scoring sets of ``type_dir`` with training clips but no test clips."""
        folders = ", ".join(f"{folder}/" for folder in self.settings.year.test_folders)
        message = (
            f"{type_dir}: no test clips of {', '.join(missing)} in {folders}, though its "
            "training clips have them (a partly unpacked archive?)"
        )
        if not self.settings.skip_bad_clips:
            raise DatasetError(f"{message}; --skip-bad-clips scores the other sets")
        logger.warning("%s; left out (--skip-bad-clips): the figures cover the other sets", message)

    def test_files(self, type_dir: Path) -> list[Path]:
        """Every test clip of one machine type, in the order of :meth:`test_features`."""
        return [path for test_set in self.test_sets(type_dir) for path in test_set.files]

    def test_features(self, type_dir: Path) -> list[TestFeatures]:
        """Features of every test clip of one machine type, grouped by scoring set."""
        settings = self.settings
        test_sets = self.test_sets(type_dir)
        if not settings.dev_mode or settings.year.sectioned:  # 2020 dev: every ID is trained on
            warn_of_unheard_sets(type_dir, settings.dataset_year, test_sets)
        if not settings.dev_mode and settings.ground_truth is not None:
            test_sets = settings.ground_truth.label_test_sets(type_dir.name, test_sets)
        files = [path for test_set in test_sets for path in test_set.files]
        self.check_sample_rate(files)
        clips = extract_log_mels(
            files,
            settings.config.feature,
            cache=self.cache,
            workers=settings.config.workers,
            description=f"{type_dir.name} test features",
            progress=settings.progress,
        )
        grouped, start = [], 0
        for test_set in test_sets:
            grouped.append(TestFeatures(test_set, clips[start : start + len(test_set.files)]))
            start += len(test_set.files)
        return grouped

    def result_facts(self) -> ResultFacts:
        """What this run's results are computed on (:func:`.result_facts.result_facts`)."""
        return result_facts(self.settings, self.facts)

    def check_sample_rate(self, clips: Sequence[Path]) -> None:
        """The feature settings at ``clips``' sample rate (checked and logged once per rate)."""
        rate = self.facts.sample_rate(clips)
        if rate is not None:
            feature = self.settings.config.feature
            self.facts.once(
                f"settings checked at {rate} Hz",
                (),
                lambda _: check_settings_at_rate(feature, rate),
            )
