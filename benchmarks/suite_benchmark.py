#!/usr/bin/env python3
"""The test suite's wall time, its counts and its five slowest tests.

    python benchmarks/suite_benchmark.py                                   # the whole suite
    python benchmarks/suite_benchmark.py --pytest-args "tests/test_measurements.py"   # quick

Runs pytest as ``./run_tests.sh`` does (``-n auto --dist loadgroup``: every core, the
tests of a module with an expensive module-scoped fixture on one worker) with
``--durations=5``, with this interpreter, from the repository; its output is shown as it
comes. Not timed: ``run_tests.sh``'s environment check, ``ruff`` and ``mypy`` (seconds).
Writes the measurement record ``test-suite`` (``--record-dir``, :mod:`measurements`) and
exits with pytest's exit status.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import measurements

REPO = Path(__file__).resolve().parents[1]
#: ``run_tests.sh``'s pytest options, and the slowest five.
PYTEST_OPTIONS = ("-n", "auto", "--dist", "loadgroup", "--durations=5")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (call|setup|teardown)\s+(\S.*)$")
_SUMMARY = re.compile(r"^=* ?((?:\d+ [a-z]+(?:, )?)+) in (\d+(?:\.\d+)?)s\b")
_COUNT = re.compile(r"(\d+) ([a-z]+)")


@dataclass(frozen=True)
class Duration:
    """One line of pytest's ``slowest durations``: seconds, phase and test id."""

    seconds: float
    phase: str
    test: str


def slowest_tests(output: str) -> list[Duration]:
    """The lines of the ``slowest N durations`` section of pytest's ``output``, in order."""
    durations: list[Duration] = []
    inside = False
    for line in output.splitlines():
        if re.match(r"^=+ slowest (\d+ )?durations =+$", line):
            inside = True
        elif inside and line.startswith("="):
            break
        elif inside and (match := _DURATION.match(line.strip())):
            durations.append(Duration(float(match.group(1)), match.group(2), match.group(3)))
    return durations


def outcome_counts(output: str) -> tuple[dict[str, int], float]:
    """``({outcome: count}, pytest's seconds)`` from the last summary line of ``output``
    (``== 560 passed, 2 skipped, 3 warnings in 1561.20s (0:26:01) ==``); ``warning`` and
    ``error`` counted under their plural.

    Raises
    ------
    ValueError
        ``output`` has no summary line (pytest did not get as far).
    """
    for line in reversed(output.splitlines()):
        if match := _SUMMARY.match(line.strip()):
            counts = {}
            for number, outcome in _COUNT.findall(match.group(1)):
                plural = {"warning": "warnings", "error": "errors"}.get(outcome, outcome)
                counts[plural] = int(number)
            return counts, float(match.group(2))
    raise ValueError("pytest's output has no summary line")


def run_pytest(arguments: Sequence[str]) -> tuple[str, float, int]:
    """pytest with :data:`PYTEST_OPTIONS` and ``arguments``, its output shown as it comes;
    ``(output, wall seconds, exit status)``."""
    command = [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *arguments]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path}
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(" ".join(command), flush=True)
    lines = []
    start = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    return "".join(lines), time.perf_counter() - start, process.returncode


def minutes(seconds: float) -> str:
    """``26 min 3 s`` (``42 s`` under a minute)."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pytest-args",
        default="tests",
        help="what pytest runs, one shell-quoted string (default %(default)r)",
    )
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record test-suite.json (default %(default)s)",
    )
    args = parser.parse_args(argv)

    output, seconds, status = run_pytest(shlex.split(args.pytest_args))
    try:
        counts, pytest_seconds = outcome_counts(output)
    except ValueError as error:
        raise SystemExit(f"error: {error} (exit status {status}): nothing recorded") from None
    slowest = slowest_tests(output)
    tests = sum(counts.get(outcome, 0) for outcome in ("passed", "failed", "skipped", "errors"))
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    measurements.write_record(
        "test-suite",
        title="Test suite",
        figures=[
            ("wall time", minutes(seconds)),
            ("tests", f"{tests:,}"),
            ("outcomes", outcomes),
            ("workers", f"{os.cpu_count()} (-n auto)"),
            ("pytest exit status", str(status)),
        ],
        tables=[
            {
                "title": f"The {len(slowest)} slowest",
                "columns": ["test", "phase", "time"],
                "rows": [[item.test, item.phase, f"{item.seconds:.2f} s"] for item in slowest],
            }
        ],
        notes=[
            f"pytest {' '.join(PYTEST_OPTIONS)} {args.pytest_args}, as ./run_tests.sh runs it "
            "(its environment check, ruff and mypy not timed)."
        ],
        raw={
            "seconds": seconds,
            "pytest_seconds": pytest_seconds,
            "counts": counts,
            "exit_status": status,
            "slowest": [vars(item) for item in slowest],
        },
        record_dir=args.record_dir,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
