"""Results a person reads at a glance: ROC and score plots, and ``summary.md``.

Each model is named by a *label*: ``keras`` for the Keras model and
``tflite<postfix>`` for the TFLite variants (``tflite``, ``tflite_quant``, ...).
``result/run_info.json`` collects, per label and machine type, the model file,
its size, its parameter count and the measured inference time per clip; the
summary joins it with the AUC/pAUC of every ``*result.csv``.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .io_utils import atomic_path, write_text_atomic
from .metrics import roc_curve
from .scoring import TypeResult

__all__ = ["label_of", "prefix_of", "plot_roc_curves", "plot_score_histograms",
           "update_run_info", "read_result_csv", "summary_markdown", "auc_table", "LABELS",
           "SHORT_NAMES"]

LABELS = ("keras", "tflite", "tflite_quant", "tflite_quant_fullint", "tflite_quant_fullint_micro",
          "tflite_quant_fullint_micro_intio")
#: Column names of the summary table.
SHORT_NAMES = {"keras": "Keras", "tflite": "float", "tflite_quant": "quant",
               "tflite_quant_fullint": "fullint", "tflite_quant_fullint_micro": "micro",
               "tflite_quant_fullint_micro_intio": "intio"}


def label_of(prefix: str) -> str:
    """Result-file prefix -> model label: ``''`` -> ``keras``, ``'tflite_quant_'`` -> ``tflite_quant``."""
    return prefix.rstrip("_") or "keras"


def prefix_of(label: str) -> str:
    """Model label -> result-file prefix (inverse of :func:`label_of`)."""
    return "" if label == "keras" else f"{label}_"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)


def plot_roc_curves(result: TypeResult, max_fpr: float, path: Path, label: str) -> None:
    """ROC curve of every ID with AUC/pAUC in the legend and the pAUC region shaded."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 6.5))
    axes.axvspan(0, max_fpr, color="tab:orange", alpha=0.12,
                 label=f"pAUC region (FPR <= {max_fpr:g})")
    for ids in result.ids:
        if ids.labels is None or ids.metric_problem:
            continue
        fpr, tpr, _ = roc_curve(ids.labels, ids.scores)
        axes.plot(fpr, tpr, linewidth=2,
                  label=f"{ids.machine_id}: AUC {ids.auc:.3f}, pAUC {ids.pauc:.3f}")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate",
             ylabel="true positive rate", title=f"{result.machine_type}: ROC ({label})")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=10)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def plot_score_histograms(result: TypeResult, threshold: float | None, path: Path,
                          label: str) -> None:
    """Per ID, histograms of the anomaly scores of normal and anomalous clips."""
    plt = _pyplot()
    n_ids = len(result.ids)
    columns = min(n_ids, 2)
    rows = math.ceil(n_ids / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4 * rows), squeeze=False)
    for axis, ids in zip(axes.flat, result.ids):
        bins = np.histogram_bin_edges(ids.scores, bins=30) if ids.scores.size else 10
        if ids.labels is None:
            axis.hist(ids.scores, bins=bins, color="tab:grey", alpha=0.8, label="unlabelled")
        else:
            axis.hist(ids.scores[ids.labels == 0], bins=bins, alpha=0.6, color="tab:blue",
                      label="normal")
            axis.hist(ids.scores[ids.labels == 1], bins=bins, alpha=0.6, color="tab:red",
                      label="anomaly")
        if threshold is not None and math.isfinite(threshold):
            axis.axvline(threshold, color="black", linestyle="--",
                         label=f"threshold {threshold:.3g}")
        axis.set(title=f"{result.machine_type} {ids.machine_id} ({label})",
                 xlabel="anomaly score (mean squared error)", ylabel="clips")
        axis.legend(fontsize=9)
    for axis in list(axes.flat)[n_ids:]:
        axis.set_visible(False)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def update_run_info(path: Path, label: str, machine_type: str, **fields: object) -> None:
    """Merge ``fields`` into ``run_info.json[label][machine_type]`` (atomic rewrite)."""
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.setdefault(label, {}).setdefault(machine_type, {}).update(fields)
    write_text_atomic(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_result_csv(path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """``{type: {id or 'Average': (AUC, pAUC)}}`` from a ``result.csv`` of this format."""
    results: dict[str, dict[str, tuple[float, float]]] = {}
    current: dict[str, tuple[float, float]] | None = None
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row:
                current = None
            elif current is None and len(row) == 1:
                current = results.setdefault(row[0], {})
            elif current is not None and row != ["id", "AUC", "pAUC"]:
                current[row[0]] = (float(row[1]), float(row[2]))
    return results


def _number(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _result_tables(result_dir: Path, result_file: str
                   ) -> dict[str, dict[str, dict[str, tuple[float, float]]]]:
    return {label: read_result_csv(result_dir / f"{prefix_of(label)}{result_file}")
            for label in LABELS if (result_dir / f"{prefix_of(label)}{result_file}").is_file()}


def auc_table(result_dir: Path, result_file: str) -> str:
    """Markdown table of AUC/pAUC per type and ID, one column pair per model found."""
    tables = _result_tables(result_dir, result_file)
    if not tables:
        return ""
    labels = [label for label in LABELS if label in tables]
    header = ["type", "id"] + [f"{SHORT_NAMES[label]} {metric}" for label in labels
                               for metric in ("AUC", "pAUC")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    machine_types = sorted({t for table in tables.values() for t in table})
    for machine_type in machine_types:
        ids = list(next(table[machine_type] for table in tables.values() if machine_type in table))
        for machine_id in ids:
            cells = [machine_type, machine_id]
            for label in labels:
                auc, pauc = tables[label].get(machine_type, {}).get(machine_id, (None, None))
                cells += [_number(auc), _number(pauc)]
            if machine_id == "Average":
                cells = [f"**{cell}**" for cell in cells]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(result_dir: Path, result_file: str, max_fpr: float) -> str:
    """The side-by-side report of every model found in ``result_dir``."""
    info_path = result_dir / "run_info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    tables = _result_tables(result_dir, result_file)
    labels = [label for label in LABELS if label in tables or label in info]
    machine_types = sorted({t for table in tables.values() for t in table}
                           | {t for by_type in info.values() for t in by_type})
    lines = ["# Anomaly detection results", ""]
    if tables:
        lines += [f"AUC and pAUC (FPR <= {max_fpr:g}) per machine ID: the Keras model and the "
                  "TFLite models float (`.tflite`), quant (`_quant`), fullint "
                  "(`_quant_fullint`), micro (`_quant_fullint_micro`) and intio "
                  "(`_quant_fullint_micro_intio`).", "", auc_table(result_dir, result_file), ""]
    lines += ["## Models", "", "| type | model | file | size (bytes) | parameters | "
              "inference per clip (ms) |", "|---|---|---|---|---|---|"]
    for machine_type in machine_types:
        for label in labels:
            entry = info.get(label, {}).get(machine_type, {})
            if not entry:
                continue
            seconds = entry.get("seconds_per_clip")
            lines.append(f"| {machine_type} | {label} | {entry.get('file', 'n/a')} | "
                         f"{entry.get('bytes', 'n/a')} | {entry.get('parameters', 'n/a')} | "
                         f"{'n/a' if seconds is None else f'{seconds * 1e3:.2f}'} |")
    lines += ["", "## Plots", ""]
    for machine_type in machine_types:
        for label in labels:
            for kind, title in (("roc", "ROC curves"), ("score_histogram", "score histograms")):
                name = f"{kind}_{machine_type}_{label}.png"
                if (result_dir / name).is_file():
                    lines.append(f"- [{machine_type} {label}: {title}]({name})")
    lines += ["", "Decisions: `*decision_result_<type>_id_XX.csv` (file, 1 = anomaly); precision, "
              "recall and F1 per ID: `*decision_metrics.csv`.", ""]
    return "\n".join(lines)
