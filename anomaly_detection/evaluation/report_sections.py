"""Sections of ``summary.md`` besides the AUC table: stale results, models, a runtime against
the one it is checked against (TFLM against LiteRT), the DCASE 2021+ official scores."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from ..core.layout import OutputLayout
from ..registry.anomaly_scores import DEFAULT_ANOMALY_SCORE, anomaly_score_entry
from ..registry.runtimes import RUNTIMES, Runtime, runtime_by_name
from ..registry.variants import VARIANTS, ModelVariant, variants_in
from .official import official_score_types, read_official_ci95, read_official_score
from .staleness import SET_NAMES, StaleResult, model_origin, result_record

__all__ = [
    "stale_section",
    "models_section",
    "comparison_facts",
    "comparison_sections",
    "official_score_lines",
    "scored_by_line",
]


def stale_section(stale: Sequence[StaleResult]) -> list[str]:
    """Markdown lines listing results not shown as current, with the reason (none if none)."""
    if not stale:
        return []
    return [
        "",
        "## Stale results (not shown above)",
        "",
        "Results in this folder that no longer describe this run: another model file, set, "
        "anomaly score, pAUC range, test clips or labels than those that produced them (see why).",
        "",
        "| type | model | why |",
        "|---|---|---|",
        *(f"| {item.machine_type} | {item.variant.label} | {item.reason} |" for item in stale),
    ]


def models_section(
    layout: OutputLayout, info: dict, variants: Sequence[ModelVariant], machine_types: Sequence[str]
) -> list[str]:
    """Markdown lines of the Models table: per machine type and variant in ``info``
    (``run_info.json``), the scored file, its SHA-256 prefix and folder, and its size,
    parameters and inference time as recorded for that file (n/a otherwise)."""
    lines = [
        "## Models",
        "",
        "| type | model | file | SHA-256 | folder | size (bytes) | parameters "
        "| inference per clip (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for machine_type in machine_types:
        for variant in variants:
            entry = info.get(variant.label, {}).get(machine_type, {})
            if not entry:
                continue
            origin = model_origin(layout, variant, machine_type, entry)
            # size, parameters and timing as recorded for this very file (a later run
            # of another file, e.g. from --model-directory, records its own)
            same = (entry.get("digest"), entry.get("model_directory")) == (
                origin.digest,
                origin.folder,
            )
            facts = entry if same else {}
            lines.append(
                f"| {machine_type} | {variant.label} | {origin.file} | "
                f"`{origin.short_digest or 'n/a'}` | `{origin.folder}` | "
                f"{_count(facts.get('bytes'))} | {_count(facts.get('parameters'))} | "
                f"{_milliseconds(facts.get('seconds_per_clip'))} |"
            )
    return lines


def _count(value: object) -> str:
    """An integer field of run_info.json, or n/a (absent or damaged)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _milliseconds(seconds: object) -> str:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return f"{seconds * 1e3:.2f}"
    return "n/a"


def comparison_facts(differences: np.ndarray, other: Runtime) -> dict[str, float | int]:
    """The ``run_info.json`` fields :func:`comparison_sections` reads: the clip count and the
    largest and mean relative score ``differences`` (shape ``(n_clips,)``) from ``other``'s
    scores (``litert_max_relative_difference``, ...)."""
    return {
        "clips": len(differences),
        f"{other.name}_max_relative_difference": float(np.max(differences, initial=0.0)),
        f"{other.name}_mean_relative_difference": (
            float(np.mean(differences)) if len(differences) else 0.0
        ),
    }


def comparison_sections(info: dict, machine_types: Sequence[str]) -> list[str]:
    """One section per runtime checked against another (TFLM against LiteRT): how far each
    clip's score is from the other runtime's for the same file (none if not recorded)."""
    lines = []
    for runtime in RUNTIMES:
        if runtime.checked_against is not None:
            other = runtime_by_name(runtime.checked_against)
            lines += _comparison_section(info, machine_types, runtime, other)
    return lines


def _comparison_section(
    info: dict, machine_types: Sequence[str], runtime: Runtime, other: Runtime
) -> list[str]:
    maximum, mean = (f"{other.name}_{kind}_relative_difference" for kind in ("max", "mean"))
    rows = []
    for machine_type in machine_types:
        for variant in variants_in(runtime):
            entry = info.get(variant.label, {}).get(machine_type, {})
            if maximum in entry:
                rows.append(
                    f"| {machine_type} | {variant.label} | {entry['clips']} | "
                    f"{entry[maximum]:.2e} | {entry[mean]:.2e} |"
                )
    if not rows:
        return []
    note = f" ({runtime.comparison_note})" if runtime.comparison_note else ""
    return [
        "",
        f"## {runtime.description} against {other.description}",
        "",
        f"Relative difference of each clip's anomaly score, {runtime.title} against "
        f"{other.title} running the same file{note}.",
        "",
        "| type | model | clips | max | mean |",
        "|---|---|---|---|---|",
        *rows,
    ]


def official_score_lines(
    layout: OutputLayout, scored: Collection[ModelVariant], stale: Collection[tuple[str, str]]
) -> list[str]:
    """The DCASE 2021+ official score of each variant whose ``result.csv`` has one and whose
    results are all current (the score covers every machine type in the file)."""
    stale_labels = {label for label, _ in stale}
    cells = []
    for variant in VARIANTS:
        path = layout.result_csv(variant)
        if variant not in scored or variant.label in stale_labels or not path.is_file():
            continue
        score = read_official_score(path)
        if score is not None:
            types = ", ".join(official_score_types(path))
            ci95 = read_official_ci95(path)
            interval = "" if ci95 is None or math.isnan(ci95) else f" ± {ci95:.4f}"
            cells.append(f"{variant.short_name} **{score:.4f}**{interval} ({types})")
    if not cells:
        return []
    return [
        "Official score (harmonic mean of the AUCs and pAUCs over the machine types named, "
        "their sections and domains, by the year's evaluator; ± its `official score ci95`, "
        "the evaluators' jackknife 95 % half-width over the pooled files; see `result.csv`): "
        + ", ".join(cells),
        "",
    ]


def scored_by_line(info: dict, shown: Collection[tuple[str, str]]) -> list[str]:
    """The set and the anomaly score the results ``shown`` ((variant label, machine type)
    pairs of ``run_info.json``'s ``info``) were computed with, as one line."""
    records = [result_record(info.get(label, {}).get(t, {})) for label, t in shown]
    sets = sorted({SET_NAMES.get(str(r.get("mode")), "?") for r in records if r})
    scores = sorted({_score_description(r) for r in records if r})
    if not sets:
        return []
    return [f"Scored on the {' and '.join(sets)} set by the {'; '.join(scores)}.", ""]


def _score_description(record: Mapping[str, object]) -> str:
    """The registered description of the anomaly score a result record names ('?' for
    a name not registered)."""
    try:
        return anomaly_score_entry(str(record.get("score", DEFAULT_ANOMALY_SCORE))).description
    except KeyError:
        return "?"
