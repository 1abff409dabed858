"""A host DUT: the benchmark firmware's serial protocol on a pseudo-terminal, answered by
the int8 model in TensorFlow Lite Micro with the firmware's arithmetic.

    python -m anomaly_detection.device.host_dut \
        --model model/model_ToyCar_quant_fullint_micro_intio.tflite

It prints ``host DUT ready on /dev/pts/N ...`` and serves until Ctrl-C; MLCommons'
runner talks to it as to a board (``run_official_runner.py`` shows it the port as the
L4R5ZI of ``devices_ad.yaml``). The commands and lines are the firmware's
(:mod:`.firmware_monitor`); each window goes through TFLM as :mod:`.window_replay`
computes it, and ``infer N W`` really runs ``W + N`` inferences, timed between the two
``m-lap-us`` lines: the throughput the runner reports is this computer's.

The firmware's start-up lines (``m-init-done``, ``m-ready``) are not sent: a board's
go to a port nobody has opened yet. Before the first window is loaded the input is a
window of zeros (a board's holds what its arena held). Output nobody reads for 2 s is dropped, as a
board's serial output is, so that a runner killed mid-run never blocks the DUT.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import ModelError, PipelineError
from .firmware_monitor import BUFFER_BYTES, FirmwareMonitor
from .tflm import TFLMModel
from .window_replay import window_results

__all__ = ["FirmwareModel", "load_dut_model", "PseudoTerminal", "serve", "READY_LINE", "main"]

#: The first line the host DUT prints; the port follows ``ready on``.
READY_LINE = "host DUT ready on"
#: The ad01 window MLCommons' runner sends (``y_labels.csv``: 640 float32 values).
DEFAULT_WINDOW_BYTES = 2560
_STALLED_SECONDS = 2.0


class FirmwareModel:
    """The int8 model as the firmware drives it: the loaded window, invokes on it, and
    the result :mod:`.window_replay` computes (the float32 mean squared error)."""

    def __init__(self, model: TFLMModel):
        self.model = model
        self.input_dim = model.input_dim
        self.window = np.zeros(model.input_dim, dtype=np.float32)  # input_float at boot
        self.model.load_input(self.window)
        self.inferences = 0

    def load(self, window: np.ndarray) -> None:
        self.window = np.array(window, dtype=np.float32)
        self.model.load_input(self.window)

    def invoke(self) -> None:
        self.model.invoke()
        self.inferences += 1

    def result(self) -> float:
        with np.errstate(invalid="ignore", over="ignore"):  # a non-finite window prints nan
            return float(window_results(self.model, self.window[np.newaxis])[0])


def load_dut_model(path: Path, *, window_bytes: int = DEFAULT_WINDOW_BYTES) -> TFLMModel:
    """The model in TFLM, checked to be one the ad01 firmware runs on ``window_bytes``
    windows.

    Raises
    ------
    ModelError
        One line: not a TFLite model TFLM runs, float input or output, or an input that
        is not one window of float32 values, or a window larger than the byte buffer.
    """
    model = TFLMModel(path)
    if not model.int8_io:
        raise ModelError(
            f"{path}: the firmware runs a model with int8 input and output (the "
            "_quant_fullint_micro_intio model); this one has float input or output"
        )
    if window_bytes > BUFFER_BYTES or 4 * model.input_dim != window_bytes:
        raise ModelError(
            f"{path}: takes {model.input_dim} values ({4 * model.input_dim} bytes of float32), "
            f"the runner sends windows of {window_bytes} bytes (y_labels.csv's window; "
            f"--window-bytes) into a byte buffer of {BUFFER_BYTES}"
        )
    return model


class PseudoTerminal:
    """A pseudo-terminal in raw mode: the DUT holds both ends, so that runners may come
    and go on the port (``path``) while it serves."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo or line editing before a runner configures it
        self.path = os.ttyname(self.slave)
        fcntl.fcntl(self.master, fcntl.F_SETFL, os.O_NONBLOCK)
        self.dropped = 0

    def read(self) -> bytes:
        """What a runner wrote (nothing if nothing is waiting)."""
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        """Send ``data``; what nobody reads for 2 s is dropped with the backlog."""
        while data:
            try:
                data = data[os.write(self.master, data) :]
            except BlockingIOError:
                if not select.select([], [self.master], [], _STALLED_SECONDS)[1]:
                    termios.tcflush(self.slave, termios.TCIFLUSH)
                    self.dropped += len(data)
                    return

    def close(self) -> None:
        for descriptor in (self.master, self.slave):
            try:
                os.close(descriptor)
            except OSError as error:
                if error.errno != errno.EBADF:
                    raise


def serve(monitor: FirmwareMonitor, terminal: PseudoTerminal, *, parent: int | None = None) -> None:
    """Answer commands on ``terminal`` until interrupted, or until the pipe ``parent`` (a
    descriptor) closes."""
    watched = [terminal.master] + ([parent] if parent is not None else [])
    while True:
        ready = select.select(watched, [], [])[0]
        if parent in ready and not os.read(parent, 4096):
            return
        if terminal.master in ready:
            terminal.write(monitor.feed(terminal.read()))


class _Terminated(Exception):
    """SIGTERM: stop serving."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m anomaly_detection.device.host_dut", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", type=Path, required=True, help="the int8 .tflite model")
    parser.add_argument(
        "--window-bytes",
        type=int,
        default=DEFAULT_WINDOW_BYTES,
        help="the window the runner sends, y_labels.csv's 4th column (default %(default)s)",
    )
    parser.add_argument(
        "--parent-pipe",
        action="store_true",
        help="stop when standard input closes (for a parent process that starts the DUT)",
    )
    parser.add_argument(
        "--vendor-name",
        default="host-tflm",
        help="printed as m-name-dut-[NAME] (the reference firmware's: unspecified; "
        "default %(default)s, so that a session names its DUT)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model = FirmwareModel(load_dut_model(args.model, window_bytes=args.window_bytes))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    monitor = FirmwareMonitor(model, vendor_name=args.vendor_name)
    terminal = PseudoTerminal()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even started in background
    print(
        f"{READY_LINE} {terminal.path} ({args.model.name}: int8, {model.input_dim} values a "
        f"window; name {args.vendor_name}); Ctrl-C stops it",
        flush=True,
    )
    code, how = 0, "stopped"
    try:
        serve(monitor, terminal, parent=sys.stdin.fileno() if args.parent_pipe else None)
        how = "stopped: the process that started it closed the pipe"
    except KeyboardInterrupt:
        code, how = 130, "stopped by Ctrl-C"
    except _Terminated:
        pass
    finally:
        terminal.close()
    dropped = f", {terminal.dropped} bytes nobody read dropped" if terminal.dropped else ""
    print(f"host DUT on {terminal.path}: {how} after {model.inferences} inferences{dropped}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
