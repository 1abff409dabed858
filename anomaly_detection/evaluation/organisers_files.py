"""The organisers' file names and summary (``organisers_files: true``), beside this
project's own result files.

The DCASE 2023+ organisers' baseline (``nttcslab/dcase2023_task2_baseline_ae``:
``networks/dcase2023t2_ae/dcase2023t2_ae.py``'s ``test``, ``tools/export_results.py``,
``tools/extract_results.py``) writes, per anomaly score (their ``--score``), into
``results/<dev_data|eval_data>/baseline_<MSE|MAHALA>/``::

    anomaly_score_<challenge><type>_section_00_test_seed<seed>_id(0_)[_Eval].csv
    decision_result_<challenge><type>_section_00_test_seed<seed>_id(0_)[_Eval].csv
    result_<challenge><type>_test_seed<seed>_id(0_)[_Eval]_roc.csv     (labelled clips)

(``id(0_)``: the tag of their ``train_ae.sh`` for section 0, ``_Eval`` on the evaluation
set), and their summary ``<challenge>_auc_pauc_extract.csv`` of AUC (source), AUC
(target), pAUC (source, target) and TOTAL score, each with its ``h-mean`` and
``a-mean`` and the per-type means. Here the same files go to
``<result_directory>/<dev_data|eval_data>/baseline_<their score name>/``, the summary
beside them. The figures are those of :mod:`.official`'s definitions: AUC (source) on the
source normal and all anomalous clips, pAUC on all the section's clips, pAUC (source) and
(target) on each domain's clips, precision, recall and F1 against the decision files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.io_utils import write_text_atomic
from ..data.dcase_years import SOURCE, TARGET
from .decision import write_decision_csv
from .official import EPSILON, harmonic_mean
from .scoring import SetScores, TypeResult, write_anomaly_score_csv
from .thresholds import Threshold

__all__ = ["OrganisersNames", "ROC_COLUMNS", "roc_rows", "write_type_files", "write_extract"]

#: The tag of their ``train_ae.sh`` for section 0 (one model per machine type, 2023 on).
TAG = "_id(0_)"

#: The columns of their ``_roc.csv`` (their ``result_column_dict["source_target"]``).
ROC_COLUMNS = [
    "section",
    "AUC (source)",
    "AUC (target)",
    "pAUC",
    "pAUC (source)",
    "pAUC (target)",
    "precision (source)",
    "precision (target)",
    "recall (source)",
    "recall (target)",
    "F1 score (source)",
    "F1 score (target)",
]
_EXTRACT_METRICS = (
    ("AUC (source)", "AUC (source)"),
    ("AUC (target)", "AUC (target)"),
    ("pAUC (source, target)", "pAUC"),
)
_TOTAL = ("AUC (source)", "AUC (target)", "pAUC")


@dataclass(frozen=True)
class OrganisersNames:
    """The organisers' names of one run's files.

    Attributes
    ----------
    folder : Path
        ``<result_directory>/<dev_data|eval_data>/baseline_<score>``.
    challenge : str
        ``DCASE2024T2`` (the year's registry entry).
    seed : int
    evaluation : bool
        The evaluation set (their ``-e``: ``_Eval`` in the names).
    """

    folder: Path
    challenge: str
    seed: int
    evaluation: bool

    @property
    def system(self) -> str:
        """Their summary's ``System``: the folder's name (``baseline_MSE``)."""
        return self.folder.name

    def _tail(self) -> str:
        return f"_seed{self.seed}{TAG}{'_Eval' if self.evaluation else ''}"

    def anomaly_scores(self, machine_type: str, section: str) -> Path:
        """``anomaly_score_<challenge><type>_<section>_test_seed<seed>_id(0_)[_Eval].csv``."""
        return (
            self.folder
            / f"anomaly_score_{self.challenge}{machine_type}_{section}_test{self._tail()}.csv"
        )

    def decisions(self, machine_type: str, section: str) -> Path:
        """``decision_result_...``, named as :meth:`anomaly_scores`."""
        return (
            self.folder
            / f"decision_result_{self.challenge}{machine_type}_{section}_test{self._tail()}.csv"
        )

    def roc(self, machine_type: str) -> Path:
        """``result_<challenge><type>_test_seed<seed>_id(0_)[_Eval]_roc.csv``."""
        return self.folder / f"result_{self.challenge}{machine_type}_test{self._tail()}_roc.csv"

    def extract(self) -> Path:
        """``<challenge>_auc_pauc_extract.csv``, their summary."""
        return self.folder / f"{self.challenge}_auc_pauc_extract.csv"


def _section(set_scores: SetScores) -> str:
    """``section_00`` of a 2022+ scoring set ``section_00_test``."""
    return set_scores.name.removesuffix("_test")


def _auc(labels: np.ndarray, scores: np.ndarray, max_fpr: float | None = None) -> float:
    from .metrics import MetricError, partial_roc_auc, roc_auc

    try:
        return (
            roc_auc(labels, scores) if max_fpr is None else partial_roc_auc(labels, scores, max_fpr)
        )
    except MetricError:
        return math.nan


def _precision_recall_f1(labels: np.ndarray, decisions: np.ndarray) -> tuple[float, float, float]:
    true_positives = float(np.sum((decisions == 1) & (labels == 1)))
    precision = true_positives / max(float(np.sum(decisions == 1)), EPSILON)
    recall = true_positives / max(float(np.sum(labels == 1)), EPSILON)
    return precision, recall, 2.0 * precision * recall / max(precision + recall, EPSILON)


def roc_rows(result: TypeResult, threshold: Threshold, *, max_fpr: float) -> list[list]:
    """One row of :data:`ROC_COLUMNS` per labelled section of ``result`` (section ``00``)."""
    rows = []
    for set_scores in result.sets:
        if set_scores.labels is None or set_scores.domains is None:
            continue
        labels, scores = set_scores.labels, set_scores.scores
        decisions = (scores > threshold.for_set(set_scores.name)).astype(np.int64)
        domains = np.asarray(set_scores.domains)
        figures: dict[str, float] = {"pAUC": _auc(labels, scores, max_fpr)}
        for domain in (SOURCE, TARGET):
            own = domains == domain
            for_auc = own | (labels == 1)
            figures[f"AUC ({domain})"] = _auc(labels[for_auc], scores[for_auc])
            figures[f"pAUC ({domain})"] = _auc(labels[own], scores[own], max_fpr)
            precision, recall, f1 = _precision_recall_f1(labels[own], decisions[own])
            figures[f"precision ({domain})"] = precision
            figures[f"recall ({domain})"] = recall
            figures[f"F1 score ({domain})"] = f1
        section = _section(set_scores).split("_", 1)[1]
        rows.append([section, *(figures[column] for column in ROC_COLUMNS[1:])])
    return rows


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return buffer.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    return value


def write_type_files(
    names: OrganisersNames,
    result: TypeResult,
    threshold: Threshold,
    *,
    labelled: bool,
    max_fpr: float,
) -> None:
    """One machine type's score and decision files under their names and, with labelled
    clips, its ``_roc.csv`` (the sections' rows, their arithmetic and harmonic means)."""
    names.folder.mkdir(parents=True, exist_ok=True)
    for set_scores in result.sets:
        section = _section(set_scores)
        write_anomaly_score_csv(names.anomaly_scores(result.machine_type, section), set_scores)
        write_decision_csv(
            names.decisions(result.machine_type, section),
            set_scores,
            threshold.for_set(set_scores.name),
        )
    rows = roc_rows(result, threshold, max_fpr=max_fpr) if labelled else []
    if rows:
        values = np.asarray([row[1:] for row in rows], dtype=np.float64)
        means = [
            ["arithmetic mean", *np.mean(values, axis=0)],
            ["harmonic mean", *(harmonic_mean(column) for column in values.T)],
        ]
        text = _csv_text([ROC_COLUMNS, *rows, *means, []])
        write_text_atomic(names.roc(result.machine_type), text)


def write_extract(names: OrganisersNames, by_type: Mapping[str, Sequence[list]]) -> None:
    """Their summary: per metric the ``h-mean`` over every type's sections, the ``a-mean``
    over the types' section means, each type's section mean; ``TOTAL score``: the harmonic
    and arithmetic means of every section's AUC (source), AUC (target) and pAUC.

    ``by_type``: each machine type's :func:`roc_rows`.
    """
    by_type = {machine_type: rows for machine_type, rows in by_type.items() if rows}
    if not by_type:
        return
    types = list(by_type)
    column = {name: index for index, name in enumerate(ROC_COLUMNS)}
    every = np.asarray([row for rows in by_type.values() for row in rows], dtype=object)
    lines: list[list[object]] = [["System", "metric", "h-mean", "a-mean", *types]]
    for metric, name in _EXTRACT_METRICS:
        per_type = [float(np.mean([float(row[column[name]]) for row in by_type[t]])) for t in types]
        values = [float(value) for value in every[:, column[name]]]
        lines.append(
            [names.system, metric, harmonic_mean(values), float(np.mean(per_type)), *per_type]
        )
    total = [float(value) for name in _TOTAL for value in every[:, column[name]]]
    blank = [""] * len(types)
    lines.append([names.system, "TOTAL score", harmonic_mean(total), float(np.mean(total)), *blank])
    write_text_atomic(names.extract(), _csv_text(lines))
