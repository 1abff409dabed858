"""A sweep's summary: AUC and pAUC over seeds, per setting, model variant and machine type.

``sweep_summary.csv`` has one row per setting, model variant (``keras``,
``tflite_quant``...) and machine type, plus a row ``Average`` per setting and
variant (each run's mean over machine types, then aggregated over the seeds):
the number of runs, and for AUC and pAUC their mean, standard deviation over the
seeds (sample, ``ddof=1``; empty with one seed), minimum and maximum.
``sweep_summary.md`` shows the same, and ``sweep_spread.png`` each run's
average AUC per setting, so that a gain can be told from seed noise. On a 2021+ set a
row ``official score`` per setting and variant holds the year's official score in the
AUC columns, and a row ``official score ci95`` the evaluators' jackknife 95 % half-width
of each run's (sweep ``anomaly_score=mse,mahalanobis`` to compare the two scores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..core.config import parse_config
from ..core.io_utils import write_csv_atomic, write_text_atomic
from ..core.layout import OutputLayout
from ..evaluation.official import CI95 as OFFICIAL_CI95
from ..evaluation.official import read_official_ci95, read_official_score
from ..evaluation.plots import plot_sweep_spread
from ..evaluation.report import read_result_csv
from ..registry.variants import VARIANTS
from .plan import SUMMARY_CSV, SUMMARY_MARKDOWN, SweepRun

__all__ = ["SpreadRow", "collect_results", "summarize", "write_summary", "plot_spread"]

AVERAGE = "Average"
OFFICIAL_SCORE = "official score"
#: Rows after the machine types: the mean over them, and (2021 on) the official score and
#: the evaluators' jackknife half-width of it (``official score ci95``).
_SUMMARY_ROWS = (AVERAGE, OFFICIAL_SCORE, OFFICIAL_CI95)
COLUMNS = [
    "setting",
    "model",
    "machine_type",
    "runs",
    "auc_mean",
    "auc_std",
    "auc_min",
    "auc_max",
    "pauc_mean",
    "pauc_std",
    "pauc_min",
    "pauc_max",
]


@dataclass
class SpreadRow:
    """AUC and pAUC of one setting, model variant and machine type over the seeds."""

    setting: str
    model: str
    machine_type: str
    aucs: list[float] = field(default_factory=list)
    paucs: list[float] = field(default_factory=list)

    def cells(self) -> list[object]:
        return [self.setting, self.model, self.machine_type, len(self.aucs)] + [
            _format(value) for values in (self.aucs, self.paucs) for value in _spread(values)
        ]


def _spread(values: Sequence[float]) -> tuple[float, float, float, float]:
    array = np.asarray(values, dtype=float)
    std = float(np.std(array, ddof=1)) if len(array) > 1 else math.nan
    return float(array.mean()), std, float(array.min()), float(array.max())


def _format(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6f}"


def collect_results(run: SweepRun) -> dict[str, dict[str, tuple[float, float]]]:
    """``{model label: {machine type or 'Average': (AUC, pAUC)}}`` of one finished run,
    read from its own ``result.csv`` files (those of every variant it has)."""
    config = parse_config(yaml.safe_load(run.config_text), source=run.config_file)
    layout = OutputLayout(config.model_directory, config.result_directory, config.result_file)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for variant in VARIANTS:
        path = layout.result_csv(variant)
        if not path.is_file():
            continue
        by_type = {  # a machine type without an AUC (nan) is left out, as in result.csv
            machine_type: ids[AVERAGE]
            for machine_type, ids in read_result_csv(path).items()
            if AVERAGE in ids and all(math.isfinite(value) for value in ids[AVERAGE])
        }
        if by_type:
            pairs = np.asarray(list(by_type.values()), dtype=float)
            by_type[AVERAGE] = (float(pairs[:, 0].mean()), float(pairs[:, 1].mean()))
            official = read_official_score(path)
            if official is not None:  # 2021 on: under AUC, no pAUC
                by_type[OFFICIAL_SCORE] = (official, math.nan)
            ci95 = read_official_ci95(path)
            if ci95 is not None:
                by_type[OFFICIAL_CI95] = (ci95, math.nan)
            results[variant.label] = by_type
    return results


def summarize(runs: Sequence[SweepRun], results: Sequence[dict]) -> list[SpreadRow]:
    """One :class:`SpreadRow` per setting, model and machine type (``Average`` last)."""
    rows: dict[tuple[str, str, str], SpreadRow] = {}
    for run, by_model in zip(runs, results, strict=True):
        for model, by_type in by_model.items():
            for machine_type, (auc, pauc) in by_type.items():
                key = (run.setting, model, machine_type)
                row = rows.setdefault(key, SpreadRow(*key))
                row.aucs.append(auc)
                row.paucs.append(pauc)
    model_order = [variant.label for variant in VARIANTS]
    return sorted(
        rows.values(),
        key=lambda row: (
            row.setting,
            model_order.index(row.model) if row.model in model_order else len(model_order),
            _SUMMARY_ROWS.index(row.machine_type) + 1 if row.machine_type in _SUMMARY_ROWS else 0,
            row.machine_type,
        ),
    )


def write_summary(
    output: Path,
    rows: Sequence[SpreadRow],
    failed: Sequence[dict],
    seeds: Sequence[int],
    *,
    header: str = "",
) -> None:
    """Write ``sweep_summary.csv`` and ``sweep_summary.md`` into ``output``.

    Parameters
    ----------
    output : Path
    rows : sequence of SpreadRow
        From :func:`summarize`.
    failed : sequence of dict
        Statuses of the runs that failed (listed in the Markdown).
    seeds : sequence of int
    header : str
        A line describing the runs (mode, stages, machine types).
    """
    write_csv_atomic(output / SUMMARY_CSV, [COLUMNS, *(row.cells() for row in rows)])
    lines = [
        "# Sweep summary",
        "",
        header,
        "",
        f"Seeds: {', '.join(map(str, seeds))}. Mean ± standard deviation over the seeds "
        "(sample, n-1), [min, max]; `Average`: each run's mean over machine types.",
        "",
        "| setting | model | machine type | runs | AUC | pAUC |",
        "|---|---|---|---:|---|---|",
    ]
    for row in rows:
        cells = [_markdown_spread(row.aucs), _markdown_spread(row.paucs)]
        summary_row = row.machine_type in _SUMMARY_ROWS
        name = f"**{row.machine_type}**" if summary_row else row.machine_type
        lines.append(
            f"| {row.setting} | {row.model} | {name} | {len(row.aucs)} | {' | '.join(cells)} |"
        )
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [
            f"- {status['run']}: stage {status.get('failed_stage', '?')} after "
            f"{status.get('attempts', 1)} attempt(s): {status.get('error', 'unknown error')}"
            for status in failed
        ]
    write_text_atomic(output / SUMMARY_MARKDOWN, "\n".join(lines) + "\n")


def _markdown_spread(values: Sequence[float]) -> str:
    mean, std, low, high = _spread(values)
    deviation = "" if math.isnan(std) else f" ± {std:.4f}"
    return f"{mean:.4f}{deviation} [{low:.4f}, {high:.4f}]"


def plot_spread(path: Path, rows: Sequence[SpreadRow]) -> None:
    """``sweep_spread.png``: each run's average AUC per setting and model variant."""
    averages = [row for row in rows if row.machine_type == AVERAGE]
    if averages:
        plot_sweep_spread(
            {f"{row.setting}\n{row.model}": row.aucs for row in averages},
            path,
            ylabel="AUC (mean over machine types)",
        )
