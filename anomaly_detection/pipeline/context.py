"""The run context: what one script run works on, composed of one collaborator per concern.

A :class:`RunContext` is built once from the validated configuration and the command
line (:func:`context_from_arguments`). The scripts call its collaborators by concern::

    run.data.training_frames(type_dir)        the clips (:mod:`.run_data`)
    run.models.check(model_file, clips, ...)  a model against the run (:mod:`.model_checks`)
    run.scoring.score(variant, type, ...)     scorers, thresholds, scores (:mod:`.run_scoring`)
    run.outputs.write_summary()               result files, summary, exit (:mod:`.run_outputs`)

and read the run's settings as ``run.settings`` (:mod:`.settings`), its configuration and
output layout as ``run.config`` and ``run.layout``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.config import Config
from ..core.errors import DatasetError, PipelineError
from ..core.layout import OutputLayout
from ..data.dataset import select_machine_type_dirs
from ..data.dcase_years import DetectedData, detect_data
from ..data.evaluation_labels import EvaluationLabels, check_labelled_types, find_evaluation_labels
from ..evaluation.results import TestFeatures
from ..features.cache import FeatureCache
from ..registry.years import REFERENCE_YEAR, DcaseYear, year_entry
from .clip_facts import ClipFacts
from .model_checks import ModelChecks
from .run_data import RunData
from .run_outputs import RunOutputs
from .run_scoring import RunScoring
from .settings import RunSettings

__all__ = ["RunContext", "TestFeatures", "context_from_arguments", "run_context"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """One run of a script: its settings and the collaborators that do its steps."""

    settings: RunSettings
    data: RunData
    models: ModelChecks
    scoring: RunScoring
    outputs: RunOutputs

    @property
    def config(self) -> Config:
        """The run's validated configuration."""
        return self.settings.config

    @property
    def layout(self) -> OutputLayout:
        """Where the run's models and results go."""
        return self.settings.layout


def run_context(settings: RunSettings, *, cache: FeatureCache | None = None) -> RunContext:
    """The context of a run of ``settings``, its collaborators sharing one
    :class:`.clip_facts.ClipFacts` (``cache``: the feature cache, ``None`` disabled)."""
    facts = ClipFacts()
    data = RunData(settings, facts, cache)
    return RunContext(
        settings,
        data,
        ModelChecks(settings, facts),
        RunScoring(settings, data),
        RunOutputs(settings, data),
    )


def context_from_arguments(args: argparse.Namespace, config: Config) -> RunContext:
    """The context of a script run from its parsed options (see :mod:`.cli`)."""
    if getattr(args, "anomaly_score", None) is not None:  # --anomaly-score
        config = dataclasses.replace(config, anomaly_score=args.anomaly_score)
    detected = _detected_data(config, dev_mode=args.dev, machine_types=args.machine_types)
    year = year_entry(detected.year)
    if config.organisers_files and year.organisers_model != "machine type":
        raise PipelineError(
            f"organisers_files: the organisers' {year.year} baseline trains one model per "
            f"{year.organisers_model}, not per machine type: their file names would not "
            "describe these models (2023 on only)"
        )
    config = _with_year_channel(config, year, detected)
    cache = None
    if not args.no_cache and config.cache_directory is not None:
        cache = FeatureCache(config.cache_directory, config.feature, workers=config.workers)
    if getattr(args, "model_directory", None) is not None:
        if not args.model_directory.is_dir():
            raise PipelineError(f"{args.model_directory}: --model-directory is not a folder")
        config = dataclasses.replace(config, model_directory=args.model_directory)
    settings = RunSettings(
        config,
        dev_mode=args.dev,
        machine_types=tuple(args.machine_types) if args.machine_types else None,
        progress=args.progress,
        skip_bad_clips=getattr(args, "skip_bad_clips", False),
        ignore_provenance=getattr(args, "ignore_provenance", False),
        dataset_year=year.year,
        ground_truth=_ground_truth(args, config, year),
        reads_labels=hasattr(args, "ground_truth"),
    )
    return run_context(settings, cache=cache)


def _with_year_channel(config: Config, year: DcaseYear, detected: DetectedData) -> Config:
    """``config`` with the year's feature channel (2026: 0, as the organisers' baseline)
    unless ``feature.channel`` names one, logged once; before the cache's key is made.

    Raises
    ------
    DatasetError
        ``feature.channel`` is not a channel of the clips (naming one).
    """
    if config.feature.channel is None and year.feature_channel is not None:
        feature = dataclasses.replace(config.feature, channel=year.feature_channel)
        config = dataclasses.replace(config, feature=feature)
    channel, channels = config.feature.channel, detected.channels
    if channel is not None and channels is not None and channel >= channels:
        raise DatasetError(
            f"{detected.example}: a {channels}-channel clip; feature.channel is {channel} "
            f"(channels count from 0: 0 to {channels - 1})"
        )
    odd = channels is not None and channels != year.channels  # e.g. dataset_year on others
    level = logging.WARNING if odd else logging.INFO if year.sectioned else logging.DEBUG
    rule = year.feature_rule(channel, channels)
    hint = " (feature.channel chooses one)" if odd and channel is None else ""
    logger.log(level, "dataset: %s, %s%s", year.describe(channels), rule, hint)
    return config


def _ground_truth(
    args: argparse.Namespace, config: Config, year: DcaseYear
) -> EvaluationLabels | None:
    """The labels of the evaluation clips of a script that scores test clips (``-e``):
    ``--ground-truth``, the YAML's ``eval_ground_truth``, or those beside the data; each
    type they label must be in the data folder (or left out by ``--machine-type``)."""
    if not hasattr(args, "ground_truth"):
        return None
    if args.dev and args.ground_truth is not None:
        raise PipelineError("--ground-truth labels the evaluation set: use it with -e")
    if args.dev:
        return None
    labels = find_evaluation_labels(
        args.ground_truth, config.eval_ground_truth, config.eval_directory, year=year
    )
    if labels is not None:
        try:
            type_dirs = select_machine_type_dirs(config.eval_directory, None)
        except DatasetError:  # no data folder: reported when its clips are listed
            return labels
        check_labelled_types(labels, type_dirs, args.machine_types)
    return labels


def _detected_data(
    config: Config, *, dev_mode: bool, machine_types: Sequence[str] | None
) -> DetectedData:
    """The DCASE year of the run's data folder (``dataset_year`` if the YAML sets it, checked
    against the names) and its clips' channel count; the reference's year when the folder
    is absent (reported later)."""
    try:
        type_dirs = select_machine_type_dirs(config.data_directory(dev_mode), machine_types)
    except DatasetError:
        return DetectedData(config.dataset_year or REFERENCE_YEAR, None, None)
    return detect_data(type_dirs, config.dataset_year)
