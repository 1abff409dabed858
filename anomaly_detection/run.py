"""The run context: what one script run works on, and the steps the scripts are made of.

A :class:`RunContext` is built once from the validated configuration and the
command line (mode, machine types, cache, progress, skip-bad-clips). It owns
the output layout and offers the narrow steps the four scripts call; the
functions below it take only what they use.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .dataset import list_train_files
from .decision import (
    Threshold,
    decision_metrics_csv_text,
    fit_threshold,
    load_threshold,
    save_threshold,
    training_scores,
    write_decision_csv,
)
from .errors import ModelError, PipelineError
from .extraction import majority_sample_rate
from .feature_cache import FeatureCache
from .frame_store import FrameStore
from .ground_truth import GroundTruth, find_ground_truth, read_ground_truth
from .io_utils import write_text_atomic
from .layout import OutputLayout
from .plots import plot_roc_curves, plot_score_histograms
from .provenance import Provenance, check_provenance, clip_list_digest, make_provenance
from .report import forget_in_run_info, summary_markdown, update_run_info
from .run_data import RunData, TestFeatures
from .scoring import (
    ClipScorer,
    IdScores,
    Predictor,
    TypeResult,
    score_test_set,
    write_anomaly_score_csv,
    write_result_csv,
)
from .variants import ModelVariant

__all__ = ["RunContext", "TestFeatures"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext(RunData):
    """One run of a script: its configuration, mode and options, and its output layout.

    Attributes
    ----------
    config : Config
    dev_mode : bool
        Development data with labelled test clips (``-d``), else evaluation (``-e``).
    machine_types : tuple of str, or None
        Only these machine types (``--machine-type``); all when ``None``.
    cache : FeatureCache or None
        ``None`` when disabled in the YAML or by ``--no-cache``.
    progress : bool
        Show progress bars.
    skip_bad_clips : bool
        Leave out unusable clips instead of stopping (training data) or failing
        (test clips).
    ground_truth : GroundTruth or None
        Labels of the evaluation test clips (evaluation mode only).
    ignore_provenance : bool
        A model made for other features or clips is a warning, not an error.
    """

    config: Config
    dev_mode: bool
    machine_types: tuple[str, ...] | None = None
    cache: FeatureCache | None = None
    progress: bool = False
    skip_bad_clips: bool = False
    ground_truth: GroundTruth | None = None
    ignore_provenance: bool = False
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

    @classmethod
    def from_arguments(cls, args: argparse.Namespace, config: Config) -> RunContext:
        """The context of a script run from its parsed options (see :mod:`.cli`)."""
        cache = None
        if not args.no_cache and config.cache_directory is not None:
            cache = FeatureCache(config.cache_directory, config.feature, workers=config.workers)
        if getattr(args, "model_directory", None) is not None:
            config = dataclasses.replace(config, model_directory=args.model_directory)
        ground_truth = None
        if hasattr(args, "ground_truth"):  # the scripts that score test clips
            if args.dev and args.ground_truth is not None:
                raise PipelineError("--ground-truth labels the evaluation set: use it with -e")
            path = (
                None
                if args.dev
                else find_ground_truth(
                    args.ground_truth, config.eval_ground_truth, config.eval_directory
                )
            )
            ground_truth = None if path is None else read_ground_truth(path)
        return cls(
            config,
            dev_mode=args.dev,
            machine_types=tuple(args.machine_types) if args.machine_types else None,
            cache=cache,
            progress=args.progress,
            skip_bad_clips=getattr(args, "skip_bad_clips", False),
            ground_truth=ground_truth,
            ignore_provenance=getattr(args, "ignore_provenance", False),
        )

    @property
    def labelled(self) -> bool:
        """The test clips have labels: development mode, or a ground truth in evaluation
        mode. Then AUC/pAUC, decision metrics and ROC curves are reported."""
        return self.dev_mode or self.ground_truth is not None

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

    def _once(self, fact: str, clips: Sequence[Path], compute: Callable[[Any], Any]) -> Any:
        """``compute(clips)``, read from the clips once per run."""
        key = (fact, tuple(clips))
        if key not in self._clip_facts:
            self._clip_facts[key] = compute(clips)
        return self._clip_facts[key]

    # ---- decision thresholds ---------------------------------------------------------------
    def fit_threshold(
        self, variant: ModelVariant, machine_type: str, predict: Predictor, frames: FrameStore
    ) -> Threshold:
        """Fit the model's decision threshold on its training clips' scores (gamma
        distribution, ``decision_percentile``) and save it beside the model file."""
        scores = training_scores(predict, frames, self.config.feature.frames)
        threshold = fit_threshold(scores, self.config.decision_percentile)
        path = self.layout.threshold_file(variant, machine_type)
        save_threshold(path, threshold, model_file=self.layout.model_file(variant, machine_type))
        logger.info(
            "%s: decision threshold %.4g (%g percentile of a gamma fit to %d training "
            "scores) saved to %s",
            machine_type,
            threshold.threshold,
            threshold.percentile,
            threshold.n_clips,
            path,
        )
        return threshold

    def stored_or_fitted_threshold(
        self,
        variant: ModelVariant,
        machine_type: str,
        predict: Predictor,
        training_frames: Callable[[], FrameStore],
    ) -> Threshold:
        """The threshold saved beside the model, or (absent or stale) :meth:`fit_threshold`;
        ``training_frames`` is called only then."""
        stored = load_threshold(
            self.layout.threshold_file(variant, machine_type),
            model_file=self.layout.model_file(variant, machine_type),
            percentile=self.config.decision_percentile,
        )
        if stored is not None:
            return stored
        return self.fit_threshold(variant, machine_type, predict, training_frames())

    # ---- scoring and reports -------------------------------------------------------------
    def score(
        self,
        variant: ModelVariant,
        machine_type: str,
        model: Predictor | ClipScorer,
        test_features: Sequence[TestFeatures],
    ) -> TypeResult:
        """Score every ID of a machine type and write its ``anomaly_score`` CSV files."""
        id_results: list[IdScores] = []
        for item in test_features:
            scores = score_test_set(
                model,
                item.test_set,
                item.clips,
                frames=self.config.feature.frames,
                max_fpr=self.config.max_fpr,
                description=f"{variant.label} {item.test_set.machine_id}",
                progress=self.progress,
            )
            write_anomaly_score_csv(
                self.layout.anomaly_scores(variant, machine_type, scores.machine_id), scores
            )
            if scores.metric_problem:
                logger.warning(
                    "%s %s: no AUC: %s", machine_type, scores.machine_id, scores.metric_problem
                )
            id_results.append(scores)
        return TypeResult(machine_type, id_results)

    def report_type(self, variant: ModelVariant, result: TypeResult, threshold: Threshold) -> None:
        """Decision files, score histograms and (development mode) ROC curves of one type."""
        for ids in result.ids:
            write_decision_csv(
                self.layout.decisions(variant, result.machine_type, ids.machine_id),
                ids,
                threshold.threshold,
            )
        plot_score_histograms(
            result,
            threshold.threshold,
            self.layout.score_histogram(variant, result.machine_type),
            variant.label,
        )
        if self.labelled:
            plot_roc_curves(
                result,
                self.config.max_fpr,
                self.layout.roc_plot(variant, result.machine_type),
                variant.label,
            )

    def record_model(self, variant: ModelVariant, machine_type: str, **fields: object) -> None:
        """Note the model file, its size and other facts (parameters, timing) for the
        summary."""
        model_file = self.layout.model_file(variant, machine_type)
        update_run_info(
            self.layout.run_info,
            variant,
            machine_type,
            file=model_file.name,
            bytes=model_file.stat().st_size,
            **fields,
        )

    def forget_results(self, variants: Sequence[ModelVariant]) -> None:
        """Remove the results of ``variants`` left by an earlier run (they would sit in the
        summary beside results of other models)."""
        stale = [path for variant in variants for path in self.layout.result_files(variant)]
        for path in stale:
            path.unlink(missing_ok=True)
        forget_in_run_info(self.layout.run_info, variants)
        if stale:
            logger.info(
                "removed %d result file(s) of an earlier run's %s",
                len(stale),
                ", ".join(v.label for v in variants),
            )

    def write_results(
        self, variant: ModelVariant, results: Sequence[TypeResult], thresholds: dict[str, float]
    ) -> None:
        """After all types, in development mode: the variant's ``result.csv`` and decision
        metrics."""
        if self.labelled:
            write_result_csv(self.layout.result_csv(variant), results)
            write_text_atomic(
                self.layout.decision_metrics(variant),
                decision_metrics_csv_text(results, thresholds),
            )

    def write_summary(self) -> Path:
        """``summary.md`` of every model found in the result folder; returns its path."""
        write_text_atomic(self.layout.summary, summary_markdown(self.layout, self.config.max_fpr))
        return self.layout.summary

    def exit_status(self, results: Sequence[TypeResult]) -> int:
        """Report clips excluded from scoring; 1 if any, unless ``skip_bad_clips``."""
        excluded = [entry for result in results for ids in result.ids for entry in ids.excluded]
        if not excluded:
            return 0
        log = logger.warning if self.skip_bad_clips else logger.error
        log(
            "%d test clip(s) could not be scored and were excluded from the scores and AUC:",
            len(excluded),
        )
        for _, reason in excluded:
            log("  %s", reason)
        if self.skip_bad_clips:
            return 0
        logger.error("failing because of the excluded clips (pass --skip-bad-clips to accept them)")
        return 1
