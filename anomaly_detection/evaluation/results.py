"""A model variant's result files: scores, decisions, plots, ``result.csv``, and the
facts ``run_info.json`` records about them.

The run context (:mod:`anomaly_detection.pipeline.context`) calls these steps; each
takes the output layout and only the settings it uses. Every path comes from
:class:`~anomaly_detection.core.layout.OutputLayout`. Decision thresholds are
fitted and stored by :mod:`.thresholds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..data.dataset import TestSet
from ..data.dcase_years import is_sectioned
from ..features.clip_features import ClipFeatures
from ..model.provenance import file_digest
from ..registry.variants import ModelVariant
from .decision import decision_metrics_csv_text, write_decision_csv
from .official import official_result_csv_text
from .plots import plot_roc_curves, plot_score_histograms
from .report import forget_in_run_info, read_run_info, update_run_info
from .scoring import (
    ClipScorer,
    Predictor,
    SetScores,
    TypeResult,
    result_csv_text,
    score_test_set,
    write_anomaly_score_csv,
)
from .staleness import ResultFacts, result_record, stale_reason
from .thresholds import Threshold

__all__ = [
    "TestFeatures",
    "score_machine_type",
    "write_type_outputs",
    "write_variant_results",
    "record_model",
    "forget_results",
]

logger = logging.getLogger(__name__)


@dataclass
class TestFeatures:
    """Test clips of one scoring set with their features (or errors)."""

    test_set: TestSet
    clips: list[ClipFeatures]


def score_machine_type(
    layout: OutputLayout,
    variant: ModelVariant,
    machine_type: str,
    model: Predictor | ClipScorer,
    test_features: Sequence[TestFeatures],
    *,
    frames: int,
    max_fpr: float,
    progress: bool,
    partial_average: bool = False,
) -> TypeResult:
    """Score every ID of a machine type and write its ``anomaly_score`` CSV files;
    ``partial_average``: see :class:`~anomaly_detection.evaluation.scoring.TypeResult`."""
    id_results: list[SetScores] = []
    for item in test_features:
        scores = score_test_set(
            model,
            item.test_set,
            item.clips,
            frames=frames,
            max_fpr=max_fpr,
            description=f"{variant.label} {item.test_set.name}",
            progress=progress,
        )
        write_anomaly_score_csv(layout.anomaly_scores(variant, machine_type, scores.name), scores)
        if scores.metric_problem:
            logger.warning("%s %s: no AUC: %s", machine_type, scores.name, scores.metric_problem)
        id_results.append(scores)
    return TypeResult(machine_type, id_results, partial_average=partial_average)


def write_type_outputs(
    layout: OutputLayout,
    variant: ModelVariant,
    result: TypeResult,
    threshold: Threshold,
    *,
    labelled: bool,
    max_fpr: float,
    mode: str = "dev",
) -> None:
    """Decision files, score histograms and (labelled clips) ROC curves of one type
    (the plots named for the set, ``mode``)."""
    for set_scores in result.sets:
        write_decision_csv(
            layout.decisions(variant, result.machine_type, set_scores.name),
            set_scores,
            threshold.for_set(set_scores.name),
        )
    plot_score_histograms(
        result,
        threshold.for_set,
        layout.score_histogram(variant, result.machine_type, mode=mode),
        variant.label,
    )
    if labelled:
        plot_roc_curves(
            result, max_fpr, layout.roc_plot(variant, result.machine_type, mode=mode), variant.label
        )


def write_variant_results(
    layout: OutputLayout,
    variant: ModelVariant,
    results: Sequence[TypeResult],
    thresholds: dict[str, Threshold],
    facts: ResultFacts,
    *,
    keep: Sequence[str] = (),
    year: int = 2020,
    max_fpr: float = 0.1,
) -> None:
    """The variant's ``result.csv`` and decision metrics (labelled clips only), and, in
    ``run_info.json``, what each machine type's rows were computed from: the model file's
    SHA-256 and folder, and ``facts`` (reports show only rows that match the present).

    ``keep``: machine types not scored in this run (``--machine-type``) whose rows in the
    existing ``result.csv`` stay, after this run's (their run_info records stay too).
    From 2021 on (``year``) ``result.csv`` holds the year's official figures
    (:mod:`.official`) of this run's types only: its official score covers them all.
    """
    path = layout.result_csv(variant)
    info = read_run_info(layout.run_info).get(variant.label, {})
    same_run = _same_run_types(layout, variant, keep, info, facts, year=year)
    scored = {result.machine_type for result in results}
    kept = _type_blocks(path, same_run, exclude=scored)
    if is_sectioned(year):
        text = official_result_csv_text(year, results, thresholds, max_fpr=max_fpr)
    else:
        text = result_csv_text(results)
    write_text_atomic(path, text + kept)
    metrics = layout.decision_metrics(variant)
    kept = _type_rows(metrics, same_run, exclude=scored)
    write_text_atomic(metrics, decision_metrics_csv_text(results, thresholds) + kept)
    for result in results:
        model_file = layout.model_file(variant, result.machine_type)
        record = {
            "digest": file_digest(model_file),
            "model_directory": str(layout.model_directory.resolve()),
            **facts.record(result.machine_type),
        }
        update_run_info(layout.run_info, variant, result.machine_type, result_csv=record)


def _same_run_types(
    layout: OutputLayout,
    variant: ModelVariant,
    types: Sequence[str],
    info: dict,
    facts: ResultFacts,
    *,
    year: int,
) -> list[str]:
    """The machine types of ``types`` whose earlier rows stay: those whose results are
    current by ``info`` (the variant's ``run_info.json`` entries), as a report judges them
    (:func:`.staleness.stale_reason`): the model file there now, computed on the set,
    ``max_fpr``, clips and decision settings ``facts`` say (never dev rows beside eval
    ones); none from 2021 on (``year``), as the official score covers this run's types
    only. Each type whose rows go is logged with the reason."""
    if is_sectioned(year):
        return []
    same_run = []
    for machine_type in types:
        entry = info.get(machine_type, {})
        reason = stale_reason(layout, variant, machine_type, entry, facts)
        if reason is None:
            same_run.append(machine_type)
        elif result_record(entry):
            name = layout.result_csv(variant).name
            logger.info("%s: the rows of %s are not kept: %s", name, machine_type, reason)
    return same_run


def _type_blocks(path: Path, types: Sequence[str], *, exclude: set[str]) -> str:
    """The blocks (name row to blank line) of ``types`` in the ``result.csv`` at ``path``."""
    wanted = set(types) - exclude
    blocks = _kept_file_text(path, wanted).split("\n\n")
    kept = [block.strip("\n") for block in blocks if block.split("\n", 1)[0] in wanted]
    return "".join(f"{block}\n\n" for block in kept if block)


def _type_rows(path: Path, types: Sequence[str], *, exclude: set[str]) -> str:
    """The rows of ``types`` (first column) in the ``decision_metrics.csv`` at ``path``."""
    wanted = set(types) - exclude
    lines = _kept_file_text(path, wanted).splitlines()[1:]  # after the header
    return "".join(f"{line}\n" for line in lines if line.split(",", 1)[0] in wanted)


def _kept_file_text(path: Path, wanted: set[str]) -> str:
    """The text of an earlier result file whose rows of ``wanted`` types stay ('' when
    none are wanted, or the file is absent or unreadable)."""
    if not wanted:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # absent, a folder, or unreadable
        return ""


def record_model(
    layout: OutputLayout, variant: ModelVariant, machine_type: str, **fields: object
) -> None:
    """Note the model file, its size and other facts (parameters, timing) for the summary."""
    model_file = layout.model_file(variant, machine_type)
    update_run_info(
        layout.run_info,
        variant,
        machine_type,
        file=model_file.name,
        bytes=model_file.stat().st_size,
        digest=file_digest(model_file),
        model_directory=str(layout.model_directory.resolve()),
        **fields,
    )


def forget_results(layout: OutputLayout, variants: Sequence[ModelVariant]) -> None:
    """Remove the results of ``variants`` left by an earlier run (they would sit in the
    summary beside results of other models)."""
    stale = [path for variant in variants for path in layout.result_files(variant)]
    for path in stale:
        path.unlink(missing_ok=True)
    forget_in_run_info(layout.run_info, variants)
    if stale:
        logger.info(
            "removed %d result file(s) of an earlier run's %s",
            len(stale),
            ", ".join(v.label for v in variants),
        )
