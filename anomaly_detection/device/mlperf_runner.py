"""The figures MLCommons' open runner reports for ad01, and the files a runner session writes.

Since MLPerf Tiny v1.3 the benchmark is run by MLCommons' own runner
(``benchmark/runner/`` of ``mlcommons/tiny``). For the anomaly detection model it
sends each sample file in windows (``y_labels.csv``: 2,560 bytes moved by 512),
takes the mean of the file's window results as the file's score, and writes to
``results.txt``:

- ``AUC = %.3f``: scikit-learn's ``roc_auc_score`` of the file scores (exact);
- ``Top 1% = %2.1f``: for anomaly detection, the best over 100 thresholds
  ``min + k/100 (max - min)``, k = 0..99, of ``100 (precision + recall) / 2``, a
  file being decided anomalous when its score is above the threshold, and
  ``precision = TP / (TP + FP + 1e-8)``, ``recall = TP / (TP + FN + 1e-8)``.

The closed division's quality target for ad01 is AUC 0.85.

A session folder (``sessions/<date>_<time>/``) holds ``results.json``, one entry
per window (``{"file": ..., "class": ..., "infer": {"results": [r]}, ...}``), and
``log.txt``, where each window appears as ``... Loading file <name> segment <k>``
followed by the device's ``m-results-[r]`` (and the runner's ``m-results    : [r]``);
result lines before the first ``Loading`` line are not windows and are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import PipelineError
from ..evaluation.metrics import MetricError, partial_roc_auc, roc_auc
from .energyrunner import Sample, precision_recall_accuracy, simplified_auc

__all__ = [
    "TARGET_AUC",
    "top1_accuracy",
    "normals_first",
    "accuracy_figures",
    "results_text",
    "read_runner_session",
]

#: The closed division's quality target for ad01 (AUC).
TARGET_AUC = 0.85
_EPSILON = 1e-8
_LOADING = re.compile(r"Loading file (\S+) segment (\d+)")
_RESULT = re.compile(r"m-results(?:-|\s*:\s*)\[([^\]]*)\]")


def top1_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """The runner's ``Top 1%`` for anomaly detection, in percent (see the module text).

    Parameters
    ----------
    labels : np.ndarray, shape (n_files,)
        0 normal, 1 anomaly.
    scores : np.ndarray, shape (n_files,)
        The files' anomaly scores.

    Returns
    -------
    float
        In percent, 0 to 100 (unrounded; the runner prints it with ``%2.1f``).
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    anomalous = labels == 1
    low, high = float(np.min(scores)), float(np.max(scores))
    best = 0.0
    for k in range(100):
        decided = scores > low + k / 100 * (high - low)
        true_positive = float(np.sum(decided & anomalous))
        false_positive = float(np.sum(decided & ~anomalous))
        false_negative = float(np.sum(~decided & anomalous))
        precision = true_positive / (true_positive + false_positive + _EPSILON)
        recall = true_positive / (true_positive + false_negative + _EPSILON)
        best = max(best, 100.0 * (precision + recall) / 2)
    return best


def normals_first(labels: Sequence[int] | np.ndarray) -> bool:
    """Whether every normal sample is listed before every anomalous one (what the older
    EEMBC functions assume)."""
    labels = np.asarray(labels)
    return bool(np.all(labels[: int(np.sum(labels == 0))] == 0))


def accuracy_figures(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> dict[str, float]:
    """Every figure of one set of file scores, in the samples' listed order.

    Returns
    -------
    dict
        ``auc``, ``pauc`` (exact, FPR <= ``max_fpr``); ``runner_auc`` and ``top1`` (the
        runner's ``AUC`` and ``Top 1%`` as it prints them: 3 and 1 decimals);
        ``simplified_auc`` and ``pr_accuracy`` (the EEMBC functions, each score with its
        label); ``listed_simplified_auc`` and ``listed_pr_accuracy`` (the EEMBC functions
        as they read the list: the first ``n_normal`` results taken as normal);
        ``target_met`` (1.0 when the runner's printed AUC, three decimals, reaches
        :data:`TARGET_AUC`).

    Raises
    ------
    PipelineError
        If the samples are not of both labels.
    """
    try:
        auc, pauc = roc_auc(labels, scores), partial_roc_auc(labels, scores, max_fpr)
    except MetricError as error:
        raise PipelineError(f"no AUC: {error}") from None
    runner_auc = float(f"{auc:.3f}")
    return {
        "auc": auc,
        "pauc": pauc,
        "runner_auc": runner_auc,
        "top1": float(f"{top1_accuracy(labels, scores):2.1f}"),
        "simplified_auc": simplified_auc(labels, scores),
        "pr_accuracy": precision_recall_accuracy(labels, scores),
        "listed_simplified_auc": simplified_auc(labels, scores, listed_order=True),
        "listed_pr_accuracy": precision_recall_accuracy(labels, scores, listed_order=True),
        "target_met": float(runner_auc >= TARGET_AUC),
    }


def results_text(figures: dict[str, float]) -> str:
    """The runner's two accuracy lines of ``results.txt``."""
    return f"AUC = {figures['runner_auc']:.3f}\nTop 1% = {figures['top1']:2.1f}\n"


def _window_value(path: Path, name: str, results: object) -> float:
    """The one number of a window's results (``[r]``), or an error naming the file."""
    value = results[0] if isinstance(results, list) and len(results) == 1 else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PipelineError(
            f"{path}: {name} has the window result {results!r}; the anomaly detection model "
            "gives one number per window"
        )
    return float(value)


def _results_json(path: Path) -> list[tuple[str, float]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        windows = [(str(e["file"]), e["infer"]["results"]) for e in entries if "infer" in e]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        raise PipelineError(
            f"{path}: not a runner results.json (a list of windows with 'file' and "
            f"'infer': {{'results': [...]}}; {type(error).__name__}: {error})"
        ) from None
    return [(name, _window_value(path, name, results)) for name, results in windows]


def _log_txt(path: Path) -> list[tuple[str, float]]:
    """Each window's first result after its ``Loading file <name> segment <k>`` line;
    segments must come once each, in order, and a window's repeated result (the device's
    line, then the runner's) must agree."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise PipelineError(f"{path}: cannot read the runner log ({error.strerror})") from None
    values: list[tuple[str, float]] = []
    segments: dict[str, int] = {}
    window: tuple[str, float | None] | None = None  # the window loaded last, its result
    for number, line in enumerate(lines, start=1):
        if loading := _LOADING.search(line):
            name, segment = loading.group(1), int(loading.group(2))
            if segment != segments.get(name, 0):
                raise PipelineError(
                    f"{path}, line {number}: segment {segment} of {name}, expected segment "
                    f"{segments.get(name, 0)} (a repeated, skipped or interrupted window)"
                )
            segments[name] = segment + 1
            window = (name, None)
        elif (result := _RESULT.search(line)) and window is not None:
            cells = [cell for cell in result.group(1).split(",") if cell.strip()]
            try:
                (value,) = (float(cell) for cell in cells)
            except ValueError:
                raise PipelineError(
                    f"{path}, line {number}: expected one window result, got {line.strip()!r}"
                ) from None
            name, first = window
            if first is None:
                values.append((name, value))
                window = (name, value)
            elif abs(value - first) > 1e-9:
                raise PipelineError(
                    f"{path}, line {number}: a second, different result for {name} "
                    f"segment {segments[name] - 1} ({value} after {first})"
                )
    return values


def read_runner_session(
    path: Path, samples: Sequence[Sample], windows: dict[str, int] | None = None
) -> np.ndarray:
    """Each sample's score as the runner computes it: the mean of its window results.

    Parameters
    ----------
    path : Path
        A session's ``results.json`` or ``log.txt``, or the session folder (its
        ``results.json``, else its ``log.txt``).
    samples : sequence of Sample
        ``y_labels.csv``'s samples; the scores come back in their order.
    windows : dict, optional
        Windows per sample file; a file with another count of results is an error.

    Returns
    -------
    np.ndarray, shape (n_samples,), float64

    Raises
    ------
    PipelineError
        Naming the session file and the cause: unreadable, a file not in ``y_labels.csv``,
        a sample without results, a window count that is not the sample's, or a
        non-finite result.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json" if (path / "results.json").is_file() else path / "log.txt"
    if not path.is_file():
        raise PipelineError(f"{path}: no runner session file (results.json or log.txt)")
    values = _results_json(path) if path.suffix == ".json" else _log_txt(path)
    by_file: dict[str, list[float]] = {}
    known = {sample.name for sample in samples}
    for name, value in values:
        if name not in known:
            raise PipelineError(f"{path}: {name} is not listed in y_labels.csv")
        if not np.isfinite(value):
            raise PipelineError(f"{path}: a window result of {name} is not finite ({value})")
        by_file.setdefault(name, []).append(value)
    missing = [sample.name for sample in samples if sample.name not in by_file]
    if missing:
        raise PipelineError(
            f"{path}: no window results for {len(missing)} of {len(samples)} samples, first "
            f"{missing[0]} (an interrupted or partial session?)"
        )
    for name, expected in (windows or {}).items():
        if len(by_file[name]) != expected:
            raise PipelineError(
                f"{path}: {len(by_file[name])} window results for {name}, its sample holds "
                f"{expected} windows (an interrupted session, or other samples?)"
            )
    return np.asarray([np.mean(by_file[sample.name]) for sample in samples], dtype=np.float64)
