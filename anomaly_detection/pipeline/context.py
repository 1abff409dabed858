"""The run context: what one script run works on, and the steps the scripts are made of.

A :class:`RunContext` is built once from the validated configuration and the
command line (mode, machine types, cache, progress, skip-bad-clips). It is a
coordinator: it holds the output layout and the run's settings, and each step
it offers delegates to the concern that owns it (thresholds:
:mod:`anomaly_detection.evaluation.thresholds`; scores, decisions and plots:
:mod:`anomaly_detection.evaluation.results`; the exit status: :mod:`.exit_status`;
provenance: :mod:`anomaly_detection.model.provenance`; the summary:
:mod:`anomaly_detection.evaluation.report` with the device's deployment section).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import Config
from ..core.errors import DatasetError, PipelineError
from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..data.dataset import select_machine_type_dirs
from ..data.dcase_years import detect_year
from ..data.ground_truth import GroundTruth, find_ground_truth, read_ground_truth
from ..data.section_ground_truth import SectionGroundTruth, find_section_ground_truth
from ..device.deployment import deployment_markdown, deployment_reports
from ..evaluation import results as variant_results
from ..evaluation import thresholds as decision_thresholds
from ..evaluation.currency import ResultFacts
from ..evaluation.report import summary_markdown
from ..evaluation.results import TestFeatures
from ..evaluation.scoring import ClipScorer, Predictor, TypeResult
from ..evaluation.thresholds import Threshold
from ..features.cache import FeatureCache
from ..features.frame_store import FrameStore
from ..registry.variants import ModelVariant
from ..registry.years import year_entry
from .exit_status import exit_status
from .run_data import RunData

__all__ = ["RunContext", "TestFeatures", "context_from_arguments"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext(RunData):
    """One run of a script: its configuration, mode and options, and its output layout.

    ``dev_mode``: labelled development clips (``-d``), else evaluation (``-e``);
    ``machine_types``: only these (``--machine-type``), all when ``None``; ``cache``:
    ``None`` when disabled; ``skip_bad_clips``: leave unusable clips out instead of
    failing; ``ground_truth``: labels of the evaluation clips (``-e`` only);
    ``ignore_provenance``: a model made for other features or clips is a warning.
    """

    config: Config
    dev_mode: bool
    machine_types: tuple[str, ...] | None = None
    cache: FeatureCache | None = None
    progress: bool = False
    skip_bad_clips: bool = False
    ground_truth: GroundTruth | SectionGroundTruth | None = None
    ignore_provenance: bool = False
    dataset_year: int = 2020
    layout: OutputLayout = field(init=False)
    # Facts of clip lists read once per run (several models of a type check the same clips).
    _clip_facts: dict[tuple[str, tuple[Path, ...]], object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        layout = OutputLayout(
            self.config.model_directory, self.config.result_directory, self.config.result_file
        )
        object.__setattr__(self, "layout", layout)

    @property
    def labelled(self) -> bool:
        """The test clips have labels: development mode, or a ground truth in evaluation
        mode. Then AUC/pAUC, decision metrics and ROC curves are reported."""
        return self.dev_mode or self.ground_truth is not None

    # ---- steps, each delegated to its owner -----------------------------------------------
    def fit_threshold(
        self,
        variant: ModelVariant,
        machine_type: str,
        predict: Predictor | ClipScorer,
        frames: FrameStore,
        *,
        model_digest: str | None = None,
    ) -> Threshold:
        """Fit and save the model's decision threshold on its training clips' scores."""
        return decision_thresholds.fit_and_save_threshold(
            self.layout,
            variant,
            machine_type,
            predict,
            frames,
            model_digest=model_digest,
            **self._threshold_settings(machine_type),
        )

    def stored_or_fitted_threshold(
        self,
        variant: ModelVariant,
        machine_type: str,
        predict: Predictor | ClipScorer,
        training_frames: Callable[[], FrameStore],
    ) -> Threshold:
        """The threshold saved beside the model, or (absent or stale) a new fit."""
        return decision_thresholds.stored_or_fitted_threshold(
            self.layout,
            variant,
            machine_type,
            predict,
            training_frames,
            **self._threshold_settings(machine_type),
        )

    def score(
        self,
        variant: ModelVariant,
        machine_type: str,
        model: Predictor | ClipScorer,
        test_features: Sequence[TestFeatures],
    ) -> TypeResult:
        """Score every ID of a machine type and write its ``anomaly_score`` CSV files."""
        return variant_results.score_machine_type(
            self.layout,
            variant,
            machine_type,
            model,
            test_features,
            frames=self.config.feature.frames,
            max_fpr=self.config.max_fpr,
            progress=self.progress,
            partial_average=self.skip_bad_clips,
        )

    def report_type(self, variant: ModelVariant, result: TypeResult, threshold: Threshold) -> None:
        """Decision files, score histograms and (labelled clips) ROC curves of one type."""
        variant_results.write_type_outputs(
            self.layout,
            variant,
            result,
            threshold,
            labelled=self.labelled,
            max_fpr=self.config.max_fpr,
            mode=self.mode,
        )

    def record_model(self, variant: ModelVariant, machine_type: str, **fields: object) -> None:
        """Note the model file, its size and other facts for the summary."""
        variant_results.record_model(self.layout, variant, machine_type, **fields)

    def forget_results(self, variants: Sequence[ModelVariant]) -> None:
        """Remove the results of ``variants`` left by an earlier run."""
        variant_results.forget_results(self.layout, variants)

    def write_results(
        self, variant: ModelVariant, results: Sequence[TypeResult], thresholds: dict[str, Threshold]
    ) -> None:
        """After all types, with labelled clips: ``result.csv`` and decision metrics."""
        if self.labelled:
            variant_results.write_variant_results(
                self.layout,
                variant,
                results,
                thresholds,
                self.result_facts(),
                keep=self.unselected_types(),
                year=self.dataset_year,
                max_fpr=self.config.max_fpr,
            )

    def write_summary(self) -> Path:
        """``summary.md`` of every model found in the result folder; returns its path."""
        return _write_summary(self, self.result_facts())

    def refresh_summary(self) -> None:
        """Rewrite an existing ``summary.md`` after models changed (00, 02): the results
        of replaced models move to its stale section instead of reading as current."""
        if not self.layout.summary.is_file():
            return
        try:
            expected: ResultFacts | None = self.result_facts()
        except PipelineError:  # no test clips to judge by: judge by the model files only
            expected = None
        _write_summary(self, expected)

    def exit_status(self, results: Sequence[TypeResult]) -> int:
        """Report clips excluded from scoring; 1 if any, unless ``skip_bad_clips``."""
        return exit_status(results, skip_bad_clips=self.skip_bad_clips)


def _write_summary(run: RunContext, expected: ResultFacts | None) -> Path:
    """``summary.md``, judging results by ``expected`` (the model files only if ``None``)."""

    def deployment(machine_types: Sequence[str]) -> list[str]:
        reports = deployment_reports(run.layout, machine_types)
        return deployment_markdown(reports, run.layout.model_directory)

    markdown = summary_markdown(
        run.layout, run.config.max_fpr, more_sections=deployment, expected=expected
    )
    write_text_atomic(run.layout.summary, markdown)
    return run.layout.summary


def context_from_arguments(args: argparse.Namespace, config: Config) -> RunContext:
    """The context of a script run from its parsed options (see :mod:`.cli`)."""
    year = _dataset_year(config, dev_mode=args.dev, machine_types=args.machine_types)
    entry = year_entry(year)
    if config.feature.channel is None and entry.feature_channel is not None:
        # The year's channel (2026: 0, as the organisers' baseline), before the cache key.
        feature = dataclasses.replace(config.feature, channel=entry.feature_channel)
        config = dataclasses.replace(config, feature=feature)
    level = logging.INFO if entry.sectioned else logging.DEBUG  # the reference's layout: quiet
    logger.log(
        level, "dataset: %s, %s", entry.describe(), entry.feature_rule(config.feature.channel)
    )
    cache = None
    if not args.no_cache and config.cache_directory is not None:
        cache = FeatureCache(config.cache_directory, config.feature, workers=config.workers)
    if getattr(args, "model_directory", None) is not None:
        if not args.model_directory.is_dir():
            raise PipelineError(f"{args.model_directory}: --model-directory is not a folder")
        config = dataclasses.replace(config, model_directory=args.model_directory)
    ground_truth: GroundTruth | SectionGroundTruth | None = None
    if hasattr(args, "ground_truth"):  # the scripts that score test clips
        if args.dev and args.ground_truth is not None:
            raise PipelineError("--ground-truth labels the evaluation set: use it with -e")
        if not args.dev and entry.sectioned:
            ground_truth = find_section_ground_truth(
                args.ground_truth, config.eval_ground_truth, config.eval_directory
            )
        elif not args.dev:
            path = find_ground_truth(
                args.ground_truth, config.eval_ground_truth, config.eval_directory
            )
            ground_truth = None if path is None else read_ground_truth(path)
    return RunContext(
        config,
        dev_mode=args.dev,
        machine_types=tuple(args.machine_types) if args.machine_types else None,
        cache=cache,
        progress=args.progress,
        skip_bad_clips=getattr(args, "skip_bad_clips", False),
        ground_truth=ground_truth,
        ignore_provenance=getattr(args, "ignore_provenance", False),
        dataset_year=year,
    )


def _dataset_year(config: Config, *, dev_mode: bool, machine_types: Sequence[str] | None) -> int:
    """The DCASE year of the run's data folder (``dataset_year`` if the YAML sets it, checked
    against the names); 2020 when the folder is absent (the scripts report that later)."""
    try:
        type_dirs = select_machine_type_dirs(config.data_directory(dev_mode), machine_types)
    except DatasetError:
        return config.dataset_year or 2020
    return detect_year(type_dirs, config.dataset_year)
