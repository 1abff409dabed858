"""What a run writes besides scores: decisions, plots, ``result.csv``, ``summary.md``, and
its exit status.

:class:`RunOutputs` delegates each output to its owner (the result files:
:mod:`anomaly_detection.evaluation.results`; the summary:
:mod:`anomaly_detection.evaluation.report` with the device's deployment section; the exit
status: :mod:`.exit_status`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import PipelineError
from ..core.io_utils import write_text_atomic
from ..device.deployment import deployment_markdown, deployment_reports
from ..evaluation import organisers_files
from ..evaluation import results as result_files
from ..evaluation.report import summary_markdown
from ..evaluation.scoring import TypeResult
from ..evaluation.staleness import ResultFacts
from ..evaluation.thresholds import Threshold
from ..registry.anomaly_scores import anomaly_score_entry
from ..registry.variants import KERAS, ModelVariant
from .exit_status import exit_status
from .run_data import RunData
from .settings import RunSettings

__all__ = ["RunOutputs"]

logger = logging.getLogger(__name__)


class RunOutputs:
    """The result files, the summary and the exit status of one run.

    Parameters
    ----------
    settings : RunSettings
    data : RunData
        The run's clips (results record what they were computed on).
    """

    def __init__(self, settings: RunSettings, data: RunData):
        self.settings = settings
        self.data = data

    def report_type(self, variant: ModelVariant, result: TypeResult, threshold: Threshold) -> None:
        """Decision files, score histograms and (labelled clips) ROC curves of one type."""
        settings = self.settings
        result_files.write_type_outputs(
            settings.layout,
            variant,
            result,
            threshold,
            labelled=settings.labelled,
            max_fpr=settings.config.max_fpr,
            mode=settings.mode,
        )
        names = self._organisers_names(variant)
        if names is not None:
            organisers_files.write_type_files(
                names,
                result,
                threshold,
                labelled=settings.labelled,
                max_fpr=settings.config.max_fpr,
            )

    def record_model(self, variant: ModelVariant, machine_type: str, **fields: object) -> None:
        """Note the model file, its size and other facts for the summary."""
        result_files.record_model(self.settings.layout, variant, machine_type, **fields)

    def forget_results(self, variants: Sequence[ModelVariant]) -> None:
        """Remove the results of ``variants`` left by an earlier run."""
        result_files.forget_results(self.settings.layout, variants)

    def write_results(
        self, variant: ModelVariant, results: Sequence[TypeResult], thresholds: dict[str, Threshold]
    ) -> None:
        """After all types, with labelled clips: ``result.csv`` and decision metrics."""
        settings = self.settings
        if settings.labelled:
            result_files.write_variant_results(
                settings.layout,
                variant,
                results,
                thresholds,
                self.data.result_facts(),
                keep=self.data.unselected_types(),
                year=settings.dataset_year,
                max_fpr=settings.config.max_fpr,
            )
        names = self._organisers_names(variant)
        if names is not None and settings.labelled:
            max_fpr = settings.config.max_fpr
            rows = {
                result.machine_type: organisers_files.roc_rows(
                    result, thresholds[result.machine_type], max_fpr=max_fpr
                )
                for result in results
            }
            organisers_files.write_extract(names, rows)

    def _organisers_names(self, variant: ModelVariant) -> organisers_files.OrganisersNames | None:
        """The organisers' names of the Keras model's files (``organisers_files``), ``None``
        when not asked for, for another variant, or for a score they do not have."""
        config = self.settings.config
        if not config.organisers_files or variant != KERAS or config.seed is None:
            return None
        their_score = anomaly_score_entry(config.anomaly_score).organisers_name
        if their_score is None:
            logger.info(
                "%s: the organisers have no such score; their files are not written",
                config.anomaly_score,
            )
            return None
        layout, settings = self.settings.layout, self.settings
        return organisers_files.OrganisersNames(
            layout.organisers_folder(mode=settings.mode, score=their_score),
            settings.year.challenge,
            config.seed,
            evaluation=not settings.dev_mode,
        )

    def write_summary(self) -> Path:
        """``summary.md`` of every model found in the result folder; returns its path."""
        return self._write_summary(self.data.result_facts())

    def refresh_summary(self) -> None:
        """Rewrite an existing ``summary.md`` after models changed (00, 02): the results
        of replaced models move to its stale section instead of reading as current."""
        if not self.settings.layout.summary.is_file():
            return
        try:
            expected: ResultFacts | None = self.data.result_facts()
        except PipelineError:  # no test clips to judge by: judge by the model files only
            expected = None
        self._write_summary(expected)

    def exit_status(self, results: Sequence[TypeResult]) -> int:
        """Report clips excluded from scoring and sets without an AUC; 1 if any, unless
        ``skip_bad_clips``."""
        settings = self.settings
        return exit_status(
            results, skip_bad_clips=settings.skip_bad_clips, sectioned=settings.year.sectioned
        )

    def _write_summary(self, expected: ResultFacts | None) -> Path:
        """``summary.md``, judging results by ``expected`` (the model files only if
        ``None``)."""
        layout = self.settings.layout

        def deployment(machine_types: Sequence[str]) -> list[str]:
            reports = deployment_reports(layout, machine_types)
            return deployment_markdown(reports, layout.model_directory)

        markdown = summary_markdown(
            layout, self.settings.config.max_fpr, more_sections=deployment, expected=expected
        )
        write_text_atomic(layout.summary, markdown)
        return layout.summary
