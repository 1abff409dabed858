"""The data one script run works on: its machine types, training frames and test features,
and the checks of a model against those clips (features, sample rate, provenance).

:class:`RunData` is the data half of :class:`~anomaly_detection.pipeline.context.RunContext`:
it reads the configuration, mode and options that the context holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import ModelError
from ..data.dataset import (
    TestSet,
    list_test_sets,
    list_train_files,
    select_machine_type_dirs,
    warn_of_unheard_ids,
)
from ..data.dcase_years import check_training_names, list_section_test_sets
from ..evaluation.currency import ResultFacts
from ..evaluation.results import TestFeatures
from ..features.extraction import (
    check_settings_at_rate,
    extract_log_mels,
    load_frame_store,
    majority_sample_rate,
)
from ..features.frame_store import FrameStore
from ..model.provenance import (
    Provenance,
    check_provenance,
    clip_files_digest,
    clip_list_digest,
    make_provenance,
)
from ..registry.years import year_entry
from .run_facts import RunFacts

if TYPE_CHECKING:
    from ..data.ground_truth import GroundTruth
    from ..data.section_ground_truth import SectionGroundTruth
    from ..features.cache import FeatureCache

__all__ = ["RunData"]


class RunData(RunFacts):
    """Data steps of a run; its fields are :class:`.context.RunContext`'s."""

    cache: FeatureCache | None
    progress: bool
    skip_bad_clips: bool
    ground_truth: GroundTruth | SectionGroundTruth | None
    ignore_provenance: bool

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
        if year_entry(self.dataset_year).sectioned:
            check_training_names(files, self.dataset_year)
        self._check_sample_rate(files)
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

    def test_sets(self, type_dir: Path) -> list[TestSet]:
        """The scoring sets of one machine type: its machine IDs (2020), or its sections
        and domains in the year's layout (see :mod:`~anomaly_detection.data.dcase_years`)."""
        if year_entry(self.dataset_year).sectioned:
            return list_section_test_sets(type_dir, self.dataset_year, dev_mode=self.dev_mode)
        return list_test_sets(type_dir, self.dev_mode)

    def test_files(self, type_dir: Path) -> list[Path]:
        """Every test clip of one machine type, in the order of :meth:`test_features`."""
        return [path for test_set in self.test_sets(type_dir) for path in test_set.files]

    def test_features(self, type_dir: Path) -> list[TestFeatures]:
        """Features of every test clip of one machine type, grouped by scoring set."""
        test_sets = self.test_sets(type_dir)
        if not self.dev_mode and not year_entry(self.dataset_year).sectioned:
            warn_of_unheard_ids(type_dir, test_sets)
        if not self.dev_mode and self.ground_truth is not None:
            test_sets = self.ground_truth.label_test_sets(type_dir.name, test_sets)
        files = [path for test_set in test_sets for path in test_set.files]
        self._check_sample_rate(files)
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

    # ---- models ----------------------------------------------------------------------------
    def check_model(
        self, model_file: Path, clips: Sequence[Path], *, input_dim: int
    ) -> Provenance | None:
        """Check, before feeding them, that the model at ``model_file`` takes vectors of
        this configuration's size and was made for its features and for ``clips``' sample
        rate; returns its provenance (``None`` for a model made elsewhere).

        Raises
        ------
        ModelError
            Naming the file, the differing key and both values.
        """
        if input_dim != self.config.feature.vector_dim:
            feature = self.config.feature
            raise ModelError(
                f"{model_file}: the model takes vectors of {input_dim} values, the features "
                f"are {feature.vector_dim} (n_mels {feature.n_mels} x frames {feature.frames})"
            )
        return check_provenance(
            model_file,
            feature=self.config.feature,
            sample_rate=self._once("sample rate", clips, majority_sample_rate),
            strict=not self.ignore_provenance,
        )

    def provenance(
        self, model_file: Path, type_dir: Path, *, source_model: Path | None = None
    ) -> Provenance:
        """The provenance of the model file at ``model_file``, made from ``type_dir``'s
        training clips (and converted from ``source_model``)."""
        files = list_train_files(type_dir)
        return make_provenance(
            model_file,
            feature=self.config.feature,
            sample_rate=self._once("sample rate", files, majority_sample_rate),
            training_clips=self._once("digest", files, clip_list_digest),
            source_model=source_model,
        )

    def result_facts(self) -> ResultFacts:
        """The set, ``max_fpr`` and test clip lists this run's results are computed on."""
        clips = {
            d.name: self._once("files digest", self.test_files(d), clip_files_digest)
            for d in self.type_dirs()
        }
        return ResultFacts(self.mode, self.config.max_fpr, clips, self.config.anomaly_score)

    def _check_sample_rate(self, clips: Sequence[Path]) -> None:
        """The feature settings at ``clips``' sample rate (checked and logged once per rate)."""
        rate = self._once("sample rate", clips, majority_sample_rate)
        if rate is not None:
            check = lambda _: check_settings_at_rate(self.config.feature, rate)  # noqa: E731
            self._once(f"settings checked at {rate} Hz", (), check)
