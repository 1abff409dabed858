"""The data one script run works on: its machine types, training frames and test features.

:class:`RunData` is the data half of :class:`~anomaly_detection.run.RunContext`:
it reads the configuration, mode and options that the context holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .dataset import TestSet, list_test_sets, list_train_files, select_machine_type_dirs
from .extraction import extract_log_mels, load_frame_store
from .features import ClipFeatures
from .frame_store import FrameStore

if TYPE_CHECKING:
    from .config import Config
    from .feature_cache import FeatureCache
    from .ground_truth import GroundTruth

__all__ = ["RunData", "TestFeatures"]


@dataclass
class TestFeatures:
    """Test clips of one machine ID with their features (or errors)."""

    test_set: TestSet
    clips: list[ClipFeatures]


class RunData:
    """Data steps of a run; the fields are those of :class:`~anomaly_detection.run.RunContext`."""

    config: Config
    dev_mode: bool
    machine_types: tuple[str, ...] | None
    cache: FeatureCache | None
    progress: bool
    skip_bad_clips: bool
    ground_truth: GroundTruth | None

    # ---- data ----------------------------------------------------------------------------
    def type_dirs(self) -> list[Path]:
        """Machine-type folders of the dev or eval data, sorted (or as selected)."""
        return select_machine_type_dirs(
            self.config.data_directory(self.dev_mode), self.machine_types
        )

    def training_frames(self, type_dir: Path, *, max_clips: int | None = None) -> FrameStore:
        """Cropped log-mel frames of the type's training clips.

        Parameters
        ----------
        max_clips : int, optional
            Use this many clips spread evenly over the sorted list (calibration).
        """
        files = list_train_files(type_dir)
        if max_clips is not None and len(files) > max_clips:
            files = [files[i] for i in np.linspace(0, len(files) - 1, max_clips).astype(int)]
        return load_frame_store(
            files,
            self.config.feature,
            cache=self.cache,
            workers=self.config.workers,
            skip_bad_clips=self.skip_bad_clips,
            description=f"{type_dir.name} train features",
            progress=self.progress,
        )

    def training_frames_loader(self, type_dir: Path) -> Callable[[], FrameStore]:
        """:meth:`training_frames` of ``type_dir``, loaded on the first call only (several
        models of one type share them for their thresholds)."""
        return functools.cache(functools.partial(self.training_frames, type_dir))

    def test_files(self, type_dir: Path) -> list[Path]:
        """Every test clip of one machine type, in the order of :meth:`test_features`."""
        return [
            path for test_set in list_test_sets(type_dir, self.dev_mode) for path in test_set.files
        ]

    def test_features(self, type_dir: Path) -> list[TestFeatures]:
        """Features of every test clip of one machine type, grouped by machine ID."""
        test_sets = list_test_sets(type_dir, self.dev_mode)
        if self.ground_truth is not None and not self.dev_mode:
            test_sets = self.ground_truth.label_test_sets(type_dir.name, test_sets)
        files = [path for test_set in test_sets for path in test_set.files]
        clips = extract_log_mels(
            files,
            self.config.feature,
            cache=self.cache,
            workers=self.config.workers,
            description=f"{type_dir.name} test features",
            progress=self.progress,
        )
        grouped, start = [], 0
        for test_set in test_sets:
            grouped.append(TestFeatures(test_set, clips[start : start + len(test_set.files)]))
            start += len(test_set.files)
        return grouped
