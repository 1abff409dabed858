"""The host DUT as a child process: started, its port read from its first line, stopped.

The child runs in its own session, so a Ctrl-C at the terminal reaches only the parent,
which stops the child and prints the one line; the child's output is kept (its last
lines name the cause when it stops early) and never reaches the terminal. Its standard
input is a pipe from the parent: if the parent dies without stopping it, the pipe closes
and the DUT stops.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..core.errors import PipelineError
from .host_dut import READY_LINE

__all__ = ["HostDutProcess", "package_environment"]

_START_SECONDS = 120.0
_STOP_SECONDS = 10.0


def package_environment() -> dict[str, str]:
    """This environment with the package's folder first on ``PYTHONPATH``."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "3"}


class HostDutProcess:
    """``python -m anomaly_detection.device.host_dut`` running in a child process.

    Parameters
    ----------
    model : Path
        The int8 ``.tflite`` model.
    window_bytes : int
        The window the runner sends.

    Raises
    ------
    PipelineError
        With the DUT's own line, if it refuses the model or stops before it is ready.
    """

    def __init__(self, model: Path, *, window_bytes: int = 2560):
        command = [sys.executable, "-m", "anomaly_detection.device.host_dut"]
        command += ["--model", str(model), "--window-bytes", str(window_bytes), "--parent-pipe"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,  # closed when this process ends, however: the DUT stops
            text=True,
            env=package_environment(),
            start_new_session=True,
        )
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        try:
            self.port = self._read_port(model)
        except BaseException:  # Ctrl-C included: no DUT left behind
            self.stop()
            raise
        threading.Thread(target=self._drain, daemon=True).start()

    def _read_port(self, model: Path) -> str:
        assert self.process.stdout is not None
        timer = threading.Timer(_START_SECONDS, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self.lines.append(line.rstrip())
                if line.startswith(READY_LINE):
                    return line[len(READY_LINE) :].split()[0]
        finally:
            timer.cancel()
        self.process.wait()
        last = self.lines[-1] if self.lines else f"exit status {self.process.returncode}"
        raise PipelineError(
            f"the host DUT did not start for {model}: {last.removeprefix('error: ')}"
        )

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the DUT (SIGTERM; killed if it does not stop within 10 s)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> HostDutProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
