"""The scores a device gave the benchmark's sample files: a runner session's files, or a list.

A session folder of MLCommons' open runner (``sessions/<date>_<time>/``) holds
``results.json``, one entry per window (``{"file": ..., "class": ..., "infer":
{"results": [r]}, ...}``), and ``log.txt``, where each window appears as ``...
Loading file <name> segment <k>`` followed by the device's ``m-results-[r]`` (and the
runner's ``m-results    : [r]``); result lines before the first ``Loading`` line are not
windows and are ignored. A sample file's score is the mean of its window results, as
the runner takes it. A list of per-file scores (``file,score``) measured otherwise is
read by :func:`read_device_scores`. The runner's own figures, the lines of its
``results.txt``, are read by :func:`read_results_text`.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import PipelineError
from .benchmark_samples import Sample

__all__ = ["read_runner_session", "read_device_scores", "RunnerResults", "read_results_text"]

_LOADING = re.compile(r"Loading file (\S+) segment (\d+)")
_RESULT = re.compile(r"m-results(?:-|\s*:\s*)\[([^\]]*)\]")


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


def read_device_scores(path: Path, samples: Sequence[Sample]) -> np.ndarray:
    """Per-file scores measured on a device (``file,score`` rows, header optional), in
    the order of ``samples``.

    Raises
    ------
    PipelineError
        Naming the file and the problem: a bad row, a non-finite score, a file listed
        twice, missing from ``samples`` or not scored.
    """
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = [
                (number, row)
                for number, row in enumerate(csv.reader(handle), start=1)
                if row and "".join(row).strip()
            ]
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: cannot read device scores ({error})") from None
    if rows and [cell.strip().lower() for cell in rows[0][1]] == ["file", "score"]:
        rows = rows[1:]
    scores: dict[str, float] = {}
    known = {sample.name for sample in samples}
    for number, row in rows:
        try:
            name, text = (cell.strip() for cell in row)
            score = float(text)
        except ValueError:
            raise PipelineError(
                f"{path}, line {number}: expected 'file,score', got {','.join(row)!r}"
            ) from None
        if not math.isfinite(score):
            raise PipelineError(f"{path}: score of {name} is not finite ({text})")
        if name not in known:
            raise PipelineError(f"{path}: {name} is not listed in y_labels.csv")
        if name in scores:
            raise PipelineError(f"{path}: {name} is scored twice")
        scores[name] = score
    missing = [sample.name for sample in samples if sample.name not in scores]
    if missing:
        raise PipelineError(f"{path}: no score for {len(missing)} sample(s), first {missing[0]}")
    return np.asarray([scores[sample.name] for sample in samples], dtype=np.float64)


@dataclass(frozen=True)
class RunnerResults:
    """What the runner wrote to ``results.txt``: its accuracy figures (accuracy mode),
    each window's throughput and their median (performance mode), its error lines."""

    auc: float | None
    top1: float | None
    throughputs: tuple[float, ...]
    median_throughput: float | None
    errors: tuple[str, ...]

    def summary(self, mode: str) -> str:
        """One line: the accuracy figures, or the throughput named as the host DUT's."""
        if mode == "a":
            return f"official runner on the host DUT: AUC = {self.auc}, Top 1% = {self.top1}"
        median = self.median_throughput
        if median is None and self.throughputs:
            median = float(np.median(self.throughputs))
        runner = "; the runner: " + "; ".join(self.errors) if self.errors else ""
        return (
            f"host DUT throughput (this computer's TFLM, not a board's): {median:.1f} inf./s, "
            f"median of {len(self.throughputs)} windows{runner}"
        )


_FIGURE = re.compile(r"ulp-mlperf: (Top 1%|AUC) = (\S+)")
_THROUGHPUT = re.compile(r"^\s*Throughput: (\S+) inf\./sec\.")
_MEDIAN = re.compile(r"Median throughput is\s+(\S+) inf\./sec\.")
_ERROR = re.compile(r"ulp-mlperf: (ERROR .*)$")


def read_results_text(path: Path) -> RunnerResults:
    """The runner's ``results.txt`` (``<time> ulp-mlperf: AUC = 0.912`` and ``Top 1% =
    83.3``; ``Throughput: N inf./sec.`` per window, ``Median throughput is N``).

    Raises
    ------
    PipelineError
        If the file cannot be read or holds none of these lines.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: cannot read the runner's results ({error})") from None
    figures, throughputs, median, errors = {}, [], None, []
    for line in lines:
        if match := _FIGURE.search(line):
            figures[match.group(1)] = float(match.group(2))
        elif match := _THROUGHPUT.search(line):
            throughputs.append(float(match.group(1)))
        elif match := _MEDIAN.search(line):
            median = float(match.group(1))
        elif match := _ERROR.search(line):
            errors.append(match.group(1))
    if not figures and not throughputs:
        raise PipelineError(f"{path}: no AUC, Top 1% or throughput line (an unfinished run?)")
    return RunnerResults(
        auc=figures.get("AUC"),
        top1=figures.get("Top 1%"),
        throughputs=tuple(throughputs),
        median_throughput=median,
        errors=tuple(errors),
    )
