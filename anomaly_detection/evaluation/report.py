"""Reports a person reads: the console table, ``run_info.json`` and ``summary.md``.

``result/run_info.json`` collects, per model variant label and machine type,
the model file, its size, its parameter count and the measured inference time
per clip; the summary joins it with the AUC/pAUC of every variant's result CSV
and links the plots that exist.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..registry.runtimes import runtime_by_name
from ..registry.variants import TFLITE_VARIANTS, VARIANTS, ModelVariant
from .official import read_official_result_rows
from .report_sections import (
    comparison_sections,
    models_section,
    official_score_lines,
    scored_by_line,
    stale_section,
)
from .scoring import TypeResult
from .staleness import ResultFacts, StaleResult, model_origin, stale_reason

logger = logging.getLogger(__name__)

__all__ = [
    "read_run_info",
    "update_run_info",
    "forget_in_run_info",
    "read_result_csv",
    "auc_table",
    "summary_markdown",
    "format_result_table",
    "console_auc_table",
    "current_results",
]

ResultTable = dict[str, dict[str, tuple[float, float]]]  # {type: {id or 'Average': (AUC, pAUC)}}


def read_run_info(path: Path) -> dict[str, dict[str, dict[str, object]]]:
    """``run_info.json`` as ``{label: {type: {field: value}}}``.

    Empty if absent; a damaged file (it only records model sizes and timings for the
    summary) is reported in one warning and started afresh.
    """
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        valid = isinstance(info, dict) and all(
            isinstance(by_type, dict)
            and all(isinstance(fields, dict) for fields in by_type.values())
            for by_type in info.values()
        )
        if not valid:
            raise ValueError("not a {model: {machine type: {field: value}}} object")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        logger.warning("%s: unreadable run information (%s); starting a new one", path, error)
        return {}
    return info


def update_run_info(path: Path, variant: ModelVariant, machine_type: str, **fields: object) -> None:
    """Merge ``fields`` into ``run_info.json[label][machine_type]`` (atomic rewrite)."""
    info = read_run_info(path)
    info.setdefault(variant.label, {}).setdefault(machine_type, {}).update(fields)
    write_text_atomic(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def forget_in_run_info(path: Path, variants: Sequence[ModelVariant]) -> None:
    """Remove ``variants`` from ``run_info.json`` (their results were removed)."""
    info = read_run_info(path)
    if any(variant.label in info for variant in variants):
        for variant in variants:
            info.pop(variant.label, None)
        write_text_atomic(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_result_csv(path: Path) -> ResultTable:
    """``{type: {id or 'Average': (AUC, pAUC)}}`` from a ``result.csv`` of this format (or of
    a 2021+ year's, :func:`.official.read_official_result_rows`)."""
    results: ResultTable = {}
    current: dict[str, tuple[float, float]] | None = None
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if any(row[:1] == ["section"] for row in rows):  # a 2021+ year's official figures
        return read_official_result_rows(rows)
    for row in rows:
        if not row:
            current = None
        elif current is None and len(row) == 1:
            current = results.setdefault(row[0], {})
        elif current is not None and row != ["id", "AUC", "pAUC"]:
            current[row[0]] = (float(row[1]), float(row[2]))
    return results


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


#: Current results, grouped by the folder of the model files they describe.
ResultGroups = dict[str, dict[ModelVariant, ResultTable]]


def current_results(
    layout: OutputLayout, expected: ResultFacts | None = None
) -> tuple[ResultGroups, list[StaleResult]]:
    """The results of every variant and machine type whose model file is the one present
    now and whose set, ``max_fpr`` and clips are ``expected``'s (grouped by model folder,
    this configuration's first), and the stale ones."""
    info = read_run_info(layout.run_info)
    groups: ResultGroups = {str(layout.model_directory.resolve()): {}}
    stale = []
    for variant in VARIANTS:
        path = layout.result_csv(variant)
        if not path.is_file():
            continue
        try:
            tables = read_result_csv(path)
        except (OSError, ValueError, IndexError) as error:
            stale.append(StaleResult(variant, "all", f"{path.name} is unreadable ({error})"))
            continue
        for machine_type, rows in tables.items():
            entry = info.get(variant.label, {}).get(machine_type, {})
            reason = stale_reason(layout, variant, machine_type, entry, expected)
            if reason is not None:
                stale.append(StaleResult(variant, machine_type, reason))
                continue
            folder = str(Path(model_origin(layout, variant, machine_type, entry).folder).resolve())
            groups.setdefault(folder, {}).setdefault(variant, {})[machine_type] = rows
    return {folder: tables for folder, tables in groups.items() if tables}, stale


def _auc_markdown(tables: dict[ModelVariant, ResultTable]) -> list[str]:
    header = ["type", "id"] + [
        f"{variant.short_name} {metric}" for variant in tables for metric in ("AUC", "pAUC")
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    machine_types = sorted({t for table in tables.values() for t in table})
    for machine_type in machine_types:
        labels = list(
            next(table[machine_type] for table in tables.values() if machine_type in table)
        )
        for set_label in labels:
            cells = [machine_type, set_label]
            for table in tables.values():
                auc, pauc = table.get(machine_type, {}).get(set_label, (None, None))
                cells += [_number(auc), _number(pauc)]
            if set_label == "Average":
                cells = [f"**{cell}**" for cell in cells]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def auc_table(layout: OutputLayout, expected: ResultFacts | None = None) -> str:
    """Markdown tables of AUC/pAUC per type and ID, one column pair per variant whose
    results are current; one table per model folder (``--model-directory`` runs apart)."""
    groups, _ = current_results(layout, expected)
    lines: list[str] = []
    for folder, tables in groups.items():
        if len(groups) > 1:
            lines += [f"Models in `{folder}`:", ""]
        lines += [*_auc_markdown(tables), ""]
    return "\n".join(lines).rstrip("\n")


def console_auc_table(layout: OutputLayout, expected: ResultFacts | None = None) -> str:
    """A plain-text table for the terminal (under 100 columns): one row per model variant
    and machine type whose results are current, with its average AUC and pAUC over the
    scoring sets and its model file's SHA-256 prefix; stale results are counted, not shown.
    The per-set detail is in ``summary.md``."""
    groups, stale = current_results(layout, expected)
    info = read_run_info(layout.run_info)
    lines = [f"{'model':<36}{'runs in':<8}{'type':<14}{'SHA-256':<14}{'AUC':>8}{'pAUC':>8}"]
    for folder, tables in groups.items():
        if len(groups) > 1:
            lines.append(f"models in {folder}:")
        for variant, table in tables.items():
            runtime = variant.runtime.title
            name = f"{variant.file.name} ({variant.postfix or variant.suffix})"
            for machine_type, rows in sorted(table.items()):
                auc, pauc = rows.get("Average", (None, None))
                entry = info.get(variant.label, {}).get(machine_type, {})
                digest = model_origin(layout, variant, machine_type, entry).short_digest
                lines.append(
                    f"{name:<36.36}{runtime:<8}{machine_type:<14.14}{digest:<14}"
                    f"{_number(auc):>8}{_number(pauc):>8}"
                )
    if stale:
        lines.append(f"({len(stale)} stale result set(s) of other model files: see summary.md)")
    return "\n".join(lines)


def summary_markdown(
    layout: OutputLayout,
    max_fpr: float,
    *,
    more_sections: Callable[[Sequence[str]], list[str]] | None = None,
    expected: ResultFacts | None = None,
) -> str:
    """The side-by-side report of every model variant found in the result folder.

    ``more_sections(machine_types)`` gives Markdown lines put after the models' sections
    (the device's deployment report: written by a higher layer than this one).
    """
    info = read_run_info(layout.run_info)
    groups, stale = current_results(layout, expected)
    stale_keys = {(item.variant.label, item.machine_type) for item in stale}
    info = {
        label: {t: e for t, e in by_type.items() if (label, t) not in stale_keys}
        for label, by_type in info.items()
    }
    scored = {variant for tables in groups.values() for variant in tables}
    variants = [variant for variant in VARIANTS if variant in scored or info.get(variant.label)]
    machine_types = sorted(
        {t for tables in groups.values() for table in tables.values() for t in table}
        | {t for by_type in info.values() for t in by_type}
    )
    lines = ["# Anomaly detection results", ""]
    if groups:
        names = [
            f"{variant.short_name} (`{variant.postfix or variant.suffix}`)"
            for variant in TFLITE_VARIANTS
        ]
        litert, tflm = runtime_by_name("litert"), runtime_by_name("tflm")
        in_tflm = any(variant.runtime == tflm for variant in scored)
        lines += [
            f"AUC and pAUC (FPR <= {max_fpr:g}) per machine ID (from DCASE 2021 on: per "
            "section and domain): the Keras model, the "
            f"TFLite models {', '.join(names[:-1])} and {names[-1]} (in {litert.title})"
            + (
                f", and the int8 micro models in {tflm.description} ({tflm.title}), as on the "
                "device."
                if in_tflm
                else "."
            )
            + " Each column's model file and SHA-256: see Models.",
            "",
            auc_table(layout, expected),
            "",
            *scored_by_line(info, [(v.label, t) for v in scored for t in machine_types]),
            *official_score_lines(layout, scored, stale_keys),
        ]
    lines += stale_section(stale)
    lines += models_section(layout, info, variants, machine_types)
    lines += comparison_sections(info, machine_types)
    if more_sections is not None:
        lines += more_sections(machine_types)
    lines += ["", "## Plots", ""]
    mode = "dev" if expected is None else expected.mode
    for machine_type in machine_types:
        for variant in variants:
            if (variant.label, machine_type) in stale_keys:
                continue  # plots of results not shown as current
            for path, title in (
                (layout.roc_plot(variant, machine_type, mode=mode), "ROC curves"),
                (layout.score_histogram(variant, machine_type, mode=mode), "score histograms"),
            ):
                if path.is_file():
                    lines.append(f"- [{machine_type} {variant.label}: {title}]({path.name})")
    lines += [
        "",
        "Decisions: `*decision_result_<type>_id_XX.csv` (2021 on: `..._section_XX_[<domain>_]"
        "test.csv`; file, 1 = anomaly); precision, recall and F1 per ID or section: "
        "`*decision_metrics.csv`.",
        "",
    ]
    return "\n".join(lines)


def format_result_table(results: Sequence[TypeResult], title: str) -> str:
    """A plain-text AUC/pAUC table for the console."""
    lines = [title, f"{'type':<14}{'id':<8}{'AUC':>8}{'pAUC':>8}"]
    for result in results:
        for set_scores in result.sets:
            lines.append(
                f"{result.machine_type:<14}{set_scores.name:<8}{set_scores.auc:>8.4f}{set_scores.pauc:>8.4f}"
            )
        auc, pauc = result.average()
        lines.append(f"{result.machine_type:<14}{'Average':<8}{auc:>8.4f}{pauc:>8.4f}")
    return "\n".join(lines)
