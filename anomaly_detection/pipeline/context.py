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
from ..data.dcase_years import detect_year
from ..data.evaluation_lists import EvaluationList, read_evaluation_list
from ..data.ground_truth import GroundTruth, find_ground_truth, read_ground_truth
from ..data.section_ground_truth import SectionGroundTruth, find_section_ground_truth
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
    year = year_entry(_dataset_year(config, dev_mode=args.dev, machine_types=args.machine_types))
    if config.organisers_files and year.organisers_model != "machine type":
        raise PipelineError(
            f"organisers_files: the organisers' {year.year} baseline trains one model per "
            f"{year.organisers_model}, not per machine type: their file names would not "
            "describe these models (2023 on only)"
        )
    config = _with_year_channel(config, year)
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
    )
    return run_context(settings, cache=cache)


def _with_year_channel(config: Config, year: DcaseYear) -> Config:
    """``config`` with the year's feature channel (2026: 0, as the organisers' baseline)
    unless ``feature.channel`` names one, logged once; before the cache's key is made."""
    if config.feature.channel is None and year.feature_channel is not None:
        feature = dataclasses.replace(config.feature, channel=year.feature_channel)
        config = dataclasses.replace(config, feature=feature)
    level = logging.INFO if year.sectioned else logging.DEBUG  # the reference's layout: quiet
    logger.log(level, "dataset: %s, %s", year.describe(), year.feature_rule(config.feature.channel))
    return config


def _ground_truth(
    args: argparse.Namespace, config: Config, year: DcaseYear
) -> GroundTruth | SectionGroundTruth | EvaluationList | None:
    """The labels of the evaluation clips of a script that scores test clips (``-e``):
    ``--ground-truth``, the YAML's ``eval_ground_truth``, or those beside the data; from
    2021 a folder of the evaluators' or the organisers' ``eval_data_list_<year>.csv``."""
    if not hasattr(args, "ground_truth"):
        return None
    if args.dev and args.ground_truth is not None:
        raise PipelineError("--ground-truth labels the evaluation set: use it with -e")
    if args.dev:
        return None
    if year.sectioned:
        chosen = args.ground_truth if args.ground_truth is not None else config.eval_ground_truth
        if chosen is not None and chosen.is_file():  # the organisers' eval_data_list_<year>.csv
            return read_evaluation_list(chosen, year.year)
        if chosen is not None and not chosen.exists():
            raise DatasetError(
                f"{chosen}: ground truth not found (a folder holding ground_truth_data/, or "
                f"the organisers' eval_data_list_{year.year}.csv)"
            )
        return find_section_ground_truth(
            args.ground_truth, config.eval_ground_truth, config.eval_directory
        )
    path = find_ground_truth(args.ground_truth, config.eval_ground_truth, config.eval_directory)
    return None if path is None else read_ground_truth(path)


def _dataset_year(config: Config, *, dev_mode: bool, machine_types: Sequence[str] | None) -> int:
    """The DCASE year of the run's data folder (``dataset_year`` if the YAML sets it, checked
    against the names); the reference's when the folder is absent (reported later)."""
    try:
        type_dirs = select_machine_type_dirs(config.data_directory(dev_mode), machine_types)
    except DatasetError:
        return config.dataset_year or REFERENCE_YEAR
    return detect_year(type_dirs, config.dataset_year)
