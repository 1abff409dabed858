"""The official accuracy run before any board is flashed: MLCommons' runner, unmodified,
against the host DUT, as one step of ``eembc_accuracy.py --official-runner``.

The host DUT (:mod:`.host_dut`) and the runner (:mod:`.run_official_runner`) run as two
child processes, each in its own session: a Ctrl-C reaches only this process, which
stops both and lets the caller print the one line. The runner's per-window lines are
condensed into one progress line; its session folder and ``results.txt`` are read back
(:mod:`.runner_sessions`) and its printed figures compared with the host's.
"""

from __future__ import annotations

import collections
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import PipelineError
from .dut_process import HostDutProcess, package_environment
from .run_official_runner import SESSION_LINE
from .runner_sessions import RunnerResults, read_results_text

__all__ = ["OfficialRun", "runner_dataset", "official_runner_session", "figure_differences"]

logger = logging.getLogger(__name__)
_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class OfficialRun:
    """A finished runner session: its folder, its ``results.txt``, its wall time."""

    session: Path
    results: RunnerResults
    seconds: float
    windows: int


def runner_dataset(samples_dir: Path, work: Path) -> Path:
    """The folder to give the runner as ``-s``: it reads ``<folder>/ad01/``. The samples'
    parent when they are in a folder named ``ad01``, else ``work/datasets`` holding a
    link ``ad01`` to them (nothing is copied)."""
    samples_dir = samples_dir.resolve()
    if samples_dir.name == "ad01":
        return samples_dir.parent
    link = work / "datasets" / "ad01"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(samples_dir, target_is_directory=True)
    return link.parent


class _Progress:
    """The runner's ``Loading file <name> segment <k>`` lines as one progress line:
    rewritten in place on a terminal, else logged at every tenth of the windows."""

    def __init__(self, files: int, windows: int):
        self.files, self.windows = files, windows
        self.file, self.window = 0, 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._terminal = sys.stderr.isatty()

    def line(self, text: str) -> None:
        if "ulp-mlperf: Loading file " not in text:
            return
        now = time.monotonic()
        if not self.window:  # the rate counts from the first window, past the start-up
            self.started = now
        self.window += 1
        self.file += text.rstrip().endswith(" segment 0")
        tenth = self.window * 10 // self.windows > (self.window - 1) * 10 // self.windows
        if (now - self._shown >= 0.5) if self._terminal else tenth:
            self._shown = now
            self._show(now - self.started)

    def _show(self, seconds: float) -> None:
        rate = self.window / max(seconds, 1e-9)
        left = (self.windows - self.window) / max(rate, 1e-9)
        text = (
            f"official runner: file {self.file}/{self.files}, window {self.window:,}/"
            f"{self.windows:,} ({rate:.0f} windows/s, {left / 60:.1f} min left)"
        )
        if self._terminal:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)
        else:
            logger.info("%s", text)

    def close(self) -> None:
        """End the rewritten line (once)."""
        if self._terminal and self._shown:
            print(file=sys.stderr, flush=True)
            self._shown = 0.0


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _follow(launcher: subprocess.Popen, progress: _Progress, dut: HostDutProcess) -> Path:
    """Relay the runner's progress until it ends; its session folder.

    Raises
    ------
    PipelineError
        With the runner's last line (and the DUT's, if it stopped), if it failed.
    """
    assert launcher.stdout is not None
    tail: collections.deque[str] = collections.deque(maxlen=20)
    session = None
    for line in launcher.stdout:
        tail.append(line.rstrip())
        progress.line(line)
        if line.startswith(SESSION_LINE):
            session = Path(line[len(SESSION_LINE) :].strip())
    progress.close()
    if launcher.wait() != 0 or session is None:
        cause = next((line for line in reversed(tail) if line.startswith("error:")), None)
        cause = (cause or (tail[-1] if tail else f"exit status {launcher.returncode}")).strip()
        stopped = "" if dut.running() else f"; the host DUT stopped: {dut.lines[-1]}"
        raise PipelineError(f"the official runner failed: {cause.removeprefix('error: ')}{stopped}")
    return session


def official_runner_session(
    samples_dir: Path,
    model: Path,
    work: Path,
    *,
    files: int,
    windows: int,
    mode: str = "a",
    runner_dir: Path | None = None,
    window_bytes: int = 2560,
) -> OfficialRun:
    """Run MLCommons' runner (``mode`` ``a`` or ``p``) on the samples against a host DUT
    answering with ``model``; its session goes to ``work/sessions/<time>/``.

    ``files`` and ``windows``: how many the samples hold, for the progress line.

    Raises
    ------
    PipelineError
        One line: the DUT refused the model, the runner is missing or failed.
    """
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "anomaly_detection.device.run_official_runner"]
    command += ["--dataset-path", str(runner_dataset(samples_dir, work)), "--mode", mode]
    command += ["--session-root", str(work.resolve())]
    command += ["--runner-dir", str(runner_dir)] if runner_dir is not None else []
    started = time.monotonic()
    progress = _Progress(files, windows if mode == "a" else 5)
    launcher: subprocess.Popen | None = None
    with HostDutProcess(model, window_bytes=window_bytes) as dut:
        try:
            launcher = subprocess.Popen(
                [*command, "--port", dut.port],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=package_environment(),
                start_new_session=True,
            )
            session = _follow(launcher, progress, dut)
        finally:  # Ctrl-C included: neither child is left running
            progress.close()
            if launcher is not None:
                _stop(launcher)
    seconds = time.monotonic() - started
    return OfficialRun(session, read_results_text(session / "results.txt"), seconds, windows)


def figure_differences(results: RunnerResults, host: dict[str, float]) -> Iterable[str]:
    """Where the runner's printed ``AUC`` and ``Top 1%`` differ from the host's figures
    (``runner_auc``, ``top1`` of :func:`.runner_figures.accuracy_figures`)."""
    for name, printed, own in (
        ("AUC", results.auc, host["runner_auc"]),
        ("Top 1%", results.top1, host["top1"]),
    ):
        if printed is None or abs(printed - own) > 1e-9:
            yield f"{name}: the runner printed {printed}, the host's figure is {own}"
