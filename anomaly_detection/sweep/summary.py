"""A sweep's summary: AUC and pAUC over seeds, per setting, model variant and machine type.

``sweep_summary.csv`` has one row per setting, model variant (``keras``,
``tflite_quant``...) and machine type, plus a row ``Average`` per setting and
variant (each run's mean over machine types, then aggregated over the seeds):
the number of runs, and for AUC and pAUC their mean, standard deviation over the
seeds (sample, ``ddof=1``; empty with one seed), minimum and maximum.
On a 2021+ set a row ``official score`` per setting and variant holds the year's
official score in the AUC columns (sweep ``anomaly_score=mse,mahalanobis`` to compare
the two scores), and a row ``official score ci95`` the evaluators' jackknife 95 %
half-width of each run's. On the ``Average`` and ``official score`` rows of every setting
but the baseline (the first, or ``sweep.py --baseline``), the last columns hold the gain
over the baseline told from seed noise (:mod:`.paired`): the baseline, the seeds
paired, the mean paired difference of the AUC column with its 95 % interval, and the
verdict. ``sweep_summary.md`` shows the same, and ``sweep_spread.png`` each run's
average AUC per setting beside the paired differences.
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
from ..evaluation.report import read_result_csv
from ..registry.variants import VARIANTS
from .paired import CONFIDENCE, PairedGain
from .plan import SUMMARY_CSV, SUMMARY_MARKDOWN, SweepRun
from .spread_plot import plot_spread_and_gains

__all__ = [
    "SpreadRow",
    "collect_results",
    "summarize",
    "values_by_seed",
    "write_summary",
    "plot_spread",
]

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
    # the gain over the baseline setting, on the Average and official score rows
    "baseline",
    "paired_seeds",
    "gain_mean",
    "gain_low",
    "gain_high",
    "verdict",
]


@dataclass
class SpreadRow:
    """AUC and pAUC of one setting, model variant and machine type over the seeds."""

    setting: str
    model: str
    machine_type: str
    aucs: list[float] = field(default_factory=list)
    paucs: list[float] = field(default_factory=list)

    def cells(self, gain: PairedGain | None = None) -> list[object]:
        spread = [_format(value) for values in (self.aucs, self.paucs) for value in _spread(values)]
        compared: list[object] = ["", "", "", "", "", ""]
        if gain is not None:
            numbers = [_format(value) for value in (gain.mean, gain.low, gain.high)]
            compared = [gain.baseline, len(gain.differences), *numbers, gain.verdict]
        return [self.setting, self.model, self.machine_type, len(self.aucs), *spread, *compared]


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


def values_by_seed(
    runs: Sequence[SweepRun], results: Sequence[dict]
) -> dict[tuple[str, str, str], dict[int, float]]:
    """``{(setting, model, measure): {seed: value}}``: each run's ``Average`` AUC (and
    ``official score``), as :mod:`.paired` compares them."""
    values: dict[tuple[str, str, str], dict[int, float]] = {}
    for run, by_model in zip(runs, results, strict=True):
        for model, by_type in by_model.items():
            for measure in (AVERAGE, OFFICIAL_SCORE):
                if measure in by_type:
                    values.setdefault((run.setting, model, measure), {})[run.seed] = by_type[
                        measure
                    ][0]
    return values


def write_summary(
    output: Path,
    rows: Sequence[SpreadRow],
    failed: Sequence[dict],
    seeds: Sequence[int],
    *,
    header: str = "",
    gains: Sequence[PairedGain] = (),
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
    gains : sequence of PairedGain
        Each setting against the baseline (:func:`.paired.compare_with_baseline`).
    """
    by_row = {(gain.setting, gain.model, gain.measure): gain for gain in gains}
    table = [row.cells(by_row.get((row.setting, row.model, row.machine_type))) for row in rows]
    write_csv_atomic(output / SUMMARY_CSV, [COLUMNS, *table])
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
    lines += _gain_lines(gains)
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


def _gain_lines(gains: Sequence[PairedGain]) -> list[str]:
    """The Markdown section of the gains over the baseline (none without gains)."""
    if not gains:
        return []
    lines = [
        "",
        "## Gains against seed noise",
        "",
        f"Each setting against `{gains[0].baseline}`, seed by seed: the difference of the "
        "runs with one seed (AUC: mean over machine types; from DCASE 2021 on also the "
        f"official score), its mean and {CONFIDENCE:.0%} interval (Student's t over the "
        "paired seeds). `better` / `worse`: the whole interval above / below 0; `within "
        "seed noise`: it holds 0; `too few seeds`: fewer than 2 paired, no interval.",
        "",
        "| setting | model | measure | paired seeds | difference | interval | verdict |",
        "|---|---|---|---:|---:|---|---|",
    ]
    notes = []
    for gain in gains:
        measure = "AUC" if gain.measure == AVERAGE else gain.measure
        interval = "" if math.isnan(gain.low) else f"[{gain.low:+.4f}, {gain.high:+.4f}]"
        difference = "" if math.isnan(gain.mean) else f"{gain.mean:+.4f}"
        lines.append(
            f"| {gain.setting} | {gain.model} | {measure} | {len(gain.differences)} | "
            f"{difference} | {interval} | {gain.verdict} |"
        )
        if gain.unpaired:
            seeds = ", ".join(map(str, gain.unpaired))
            notes.append(
                f"- {gain.setting}, {gain.model}, {measure}: seed(s) {seeds} left out, "
                f"complete in only one of {gain.setting} and {gain.baseline}"
            )
    return lines + ([""] + notes if notes else [])


def plot_spread(path: Path, rows: Sequence[SpreadRow], gains: Sequence[PairedGain] = ()) -> None:
    """``sweep_spread.png``: each run's average AUC per setting and model variant, and
    beside it the paired differences of each setting's AUC from the baseline's."""
    averages = [row for row in rows if row.machine_type == AVERAGE]
    if averages:
        plot_spread_and_gains(
            path,
            {f"{row.setting}\n{row.model}": row.aucs for row in averages},
            {
                f"{gain.setting}\n{gain.model}": gain
                for gain in gains
                if gain.measure == AVERAGE and gain.differences
            },
            ylabel="AUC (mean over machine types)",
        )
