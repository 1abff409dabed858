"""Each DCASE year's official figures (2021 on), as its official evaluator computes them.

2021 (``y-kawagu/dcase2021_task2_evaluator``): one score file per section and domain;
AUC, pAUC (FPR <= ``max_fpr``), precision, recall and F1 on that domain's clips only.

2022 to 2026 (``nttcslab/dcase2023_task2_evaluator``, ``..2024..``; 2022's rules are
the same): one score file per section; AUC (source) on the source normal clips and the
anomalous clips of both domains, AUC (target) likewise; pAUC on all the section's clips;
precision, recall and F1 on each domain's clips.

Means: arithmetic, and harmonic of the values floored at machine epsilon, per machine
type and over all types, sections and domains. The official score is the harmonic
mean over every type, section and domain of the AUCs and pAUCs (2021: each domain's AUC
and pAUC; 2022 on: AUC (source), AUC (target) and the section's pAUC). Beside it the
2023 to 2025 evaluators' ``official score ci95``, the jackknife half-width over the
pooled files (:mod:`.jackknife`), written for every year from 2021.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data.dcase_years import SOURCE, TARGET
from ..registry.years import year_entry
from .jackknife import official_score_ci95
from .metrics import MetricError, partial_roc_auc, roc_auc
from .scoring import SetScores, TypeResult
from .thresholds import Threshold

__all__ = [
    "official_result_csv_text",
    "read_official_result_rows",
    "read_official_score",
    "read_official_ci95",
    "official_score_types",
    "harmonic_mean",
]

EPSILON = sys.float_info.epsilon
#: The evaluators' row of the jackknife half-width.
CI95 = "official score ci95"
_MEANS_HEADER = ["", "", "AUC", "pAUC", "precision", "recall", "F1 score"]
_ALL = "over all machine types, sections, and domains"
_COLUMNS_2022 = [
    "AUC (all)",
    "AUC (source)",
    "AUC (target)",
    "pAUC",
    "precision (source)",
    "precision (target)",
    "recall (source)",
    "recall (target)",
    "F1 score (source)",
    "F1 score (target)",
]


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean of ``values`` floored at machine epsilon (the evaluators' rule); nan
    if one is nan."""
    array = np.maximum(np.asarray(values, dtype=np.float64), EPSILON)
    return float(array.size / np.sum(1.0 / array)) if array.size else math.nan


def _auc(labels: np.ndarray, scores: np.ndarray, max_fpr: float | None = None) -> float:
    try:
        if max_fpr is None:
            return roc_auc(labels, scores)
        return partial_roc_auc(labels, scores, max_fpr)
    except MetricError:
        return math.nan


def _precision_recall_f1(labels: np.ndarray, decisions: np.ndarray) -> list[float]:
    """From the confusion matrix, denominators floored at machine epsilon (the evaluators')."""
    true_positives = float(np.sum((decisions == 1) & (labels == 1)))
    precision = true_positives / max(float(np.sum(decisions == 1)), EPSILON)
    recall = true_positives / max(float(np.sum(labels == 1)), EPSILON)
    f1 = 2.0 * precision * recall / max(precision + recall, EPSILON)
    return [precision, recall, f1]


def _arrays(set_scores: SetScores, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    assert set_scores.labels is not None
    return set_scores.labels, set_scores.scores, (set_scores.scores > threshold).astype(np.int64)


def _rows_2021(result: TypeResult, threshold: Threshold, max_fpr: float) -> list[list]:
    """``[section, domain, AUC, pAUC, precision, recall, F1]`` per scoring set, domains
    outer and sections inner as the 2021 evaluator lists them."""
    rows = []
    for set_scores in result.sets:
        labels, scores, decisions = _arrays(set_scores, threshold.for_set(set_scores.name))
        section, domain = set_scores.name.split("_")[1:3]
        figures = [_auc(labels, scores), _auc(labels, scores, max_fpr)]
        rows.append([section, domain, *figures, *_precision_recall_f1(labels, decisions)])
    return sorted(rows, key=lambda row: (row[1], row[0]))


def _rows_2022(result: TypeResult, threshold: Threshold, max_fpr: float) -> list[list]:
    """``[section, *_COLUMNS_2022]`` per section (scoring set)."""
    rows = []
    for set_scores in result.sets:
        labels, scores, decisions = _arrays(set_scores, threshold.for_set(set_scores.name))
        domains = np.asarray(
            set_scores.domains if set_scores.domains is not None else [""] * labels.size
        )
        row = {"AUC (all)": _auc(labels, scores), "pAUC": _auc(labels, scores, max_fpr)}
        for domain in (SOURCE, TARGET):
            for_auc = (domains == domain) | (labels != 0)
            row[f"AUC ({domain})"] = _auc(labels[for_auc], scores[for_auc])
            own = domains == domain
            precision, recall, f1 = _precision_recall_f1(labels[own], decisions[own])
            row[f"precision ({domain})"] = precision
            row[f"recall ({domain})"] = recall
            row[f"F1 score ({domain})"] = f1
        rows.append([set_scores.name.split("_")[1], *(row[column] for column in _COLUMNS_2022)])
    return rows


def _performance(rows: Sequence[list], family: str) -> np.ndarray:
    """The evaluator's performance matrix: columns AUC, pAUC, precision, recall, F1, one
    row per domain result (2022 on: the source rows, then the target rows)."""
    if family == "2021":
        return np.asarray([row[2:7] for row in rows], dtype=np.float64)
    by_domain = []
    for offset in (0, 1):  # source, then target
        by_domain += [
            [row[2 + offset], row[4], row[5 + offset], row[7 + offset], row[9 + offset]]
            for row in rows
        ]
    return np.asarray(by_domain, dtype=np.float64)


def _mean_rows(performance: np.ndarray, family: str, suffix: str = "") -> list[list]:
    means = [
        ["arithmetic mean", np.mean(performance, axis=0)],
        ["harmonic mean", [harmonic_mean(column) for column in performance.T]],
    ]
    if family != "2021":
        half = performance.shape[0] // 2
        for name, part in (("source", performance[:half]), ("target", performance[half:])):
            means.append([f"{name} harmonic mean", [harmonic_mean(c) for c in part.T]])
    return [[f"{name}{suffix}", "", *(float(v) for v in values)] for name, values in means]


def _official_score(rows: Sequence[list], family: str) -> float:
    if family == "2021":
        return harmonic_mean([value for row in rows for value in row[2:4]])
    return harmonic_mean(
        [row[2] for row in rows] + [row[3] for row in rows] + [row[4] for row in rows]
    )


def official_result_csv_text(
    year: int, results: Sequence[TypeResult], thresholds: Mapping[str, Threshold], *, max_fpr: float
) -> str:
    """``result.csv`` of a 2021+ development (or labelled) set, in the year's evaluator's
    layout: per machine type a name row, a header, one row per section (2021: per section
    and domain) and its means; then the means over all types and the official score.

    ``thresholds``: each type's decision threshold (the decisions the decision files hold).
    """
    family = year_entry(year).evaluator
    make_rows = _rows_2021 if family == "2021" else _rows_2022
    header = (
        ["section", "domain", "AUC", "pAUC", "precision", "recall", "F1 score"]
        if family == "2021"
        else ["section", *_COLUMNS_2022]
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    every_row: list[list] = []
    for result in results:
        rows = make_rows(result, thresholds[result.machine_type], max_fpr)
        every_row += rows
        writer.writerows([[result.machine_type], header, *rows])
        if family != "2021":
            writer.writerow(_MEANS_HEADER)
        writer.writerows([*_mean_rows(_performance(rows, family), family), []])
    writer.writerow(_MEANS_HEADER)
    writer.writerows(_mean_rows(_performance(every_row, family), family, f" {_ALL}"))
    labels, scores = _pooled(results)
    writer.writerows(
        [
            [],
            ["official score", "", _official_score(every_row, family)],
            [CI95, "", official_score_ci95(labels, scores, max_fpr=max_fpr)],
            [],
        ]
    )
    return buffer.getvalue()


def _pooled(results: Sequence[TypeResult]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of every labelled file of every type and scoring set, pooled."""
    sets = [
        set_scores
        for result in results
        for set_scores in result.sets
        if set_scores.labels is not None
    ]
    if not sets:
        return np.empty(0, dtype=np.int64), np.empty(0)
    labels = np.concatenate([set_scores.labels for set_scores in sets])
    return labels, np.concatenate([set_scores.scores for set_scores in sets])


def read_official_result_rows(
    rows: Sequence[list[str]],
) -> dict[str, dict[str, tuple[float, float]]]:
    """``{type: {'00 source' ... or 'Average': (AUC, pAUC)}}`` from the rows of a
    :func:`official_result_csv_text` file (the summary's table)."""
    table: dict[str, dict[str, tuple[float, float]]] = {}
    current: dict[str, tuple[float, float]] | None = None
    header: list[str] = []
    for row in rows:
        if not row:
            current = None
        elif current is None and len(row) == 1:
            current = table.setdefault(row[0], {})
        elif current is None or row[0] == "" or "harmonic mean" in row[0]:
            continue
        elif row[0] == "section":
            header = row
        elif row[0] == "arithmetic mean":
            current["Average"] = (float(row[2]), float(row[3]))
        elif header[1] == "domain":
            current[f"{row[0]} {row[1]}"] = (float(row[2]), float(row[3]))
        elif header[1] == "AUC (all)":
            for domain, column in ((SOURCE, 2), (TARGET, 3)):
                current[f"{row[0]} {domain}"] = (float(row[column]), float(row[4]))
    return table


def read_official_score(path: Path, row_name: str = "official score") -> float | None:
    """The ``official score`` (or the row ``row_name``) of a 2021+ ``result.csv`` at
    ``path``; ``None`` when it has none (a 2020 file)."""
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if row[:1] == [row_name] and len(row) > 2:
                return float(row[2])
    return None


def read_official_ci95(path: Path) -> float | None:
    """The ``official score ci95`` of a 2021+ ``result.csv``; ``None`` when it has none
    (a 2020 file, or one written before it was)."""
    return read_official_score(path, CI95)


def official_score_types(path: Path) -> list[str]:
    """The machine types a 2021+ ``result.csv``'s official score covers (its type blocks)."""
    with open(path, newline="") as handle:
        return list(read_official_result_rows(list(csv.reader(handle))))
