"""The MLPerf Tiny benchmark firmware's serial monitor for ad01, as a state machine: the
bytes a runner sends in, the bytes the firmware prints out.

What the firmware answers is fixed by two C files of ``mlcommons/tiny``:
``benchmark/api/internally_implemented.cpp`` (the command buffer, ``name``,
``timestamp``, ``profile``, ``help``, ``db``, ``infer``, ``results`` and ``m-ready``
after every command) and the anomaly detection reference's
``submitter_implemented.cpp`` (``th_load_tensor``, ``th_results``, ``th_timestamp``).
This module repeats them: a command ends at ``%``; only its first 80 characters count
(``EE_CMD_SIZE``); words are split on spaces as ``strtok`` does; numbers are read as
``atoi`` reads them; the byte buffer holds ``MAX_DB_INPUT_SIZE`` (5,120) bytes; every
message has the C code's wording and line ends. The model's arithmetic is not here: an
:class:`Inference` (the host DUT's TFLM model) loads the window, invokes and gives the
firmware's result.

Where the C code has no defined behaviour the monitor stays safe and says so in one
line: bytes past the byte buffer's end are dropped (the firmware would overwrite its
memory), and an empty command is reported as ``e-[Unknown command: (null)]`` (what
newlib prints for the null word ``strtok`` returns).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

__all__ = [
    "COMMAND_SIZE",
    "BUFFER_BYTES",
    "FIRMWARE_VERSION",
    "MODEL_VERSION",
    "READY",
    "Inference",
    "ByteBuffer",
    "FirmwareMonitor",
    "c_atoi",
]

#: ``EE_CMD_SIZE``: characters of a command the firmware keeps.
COMMAND_SIZE = 80
#: ``MAX_DB_INPUT_SIZE`` of the ad01 reference: 5 slices x 128 bins x float32, twice.
BUFFER_BYTES = 5 * 128 * 4 * 2
#: ``EE_FW_VERSION``, printed by ``profile`` and ``help``.
FIRMWARE_VERSION = "ULPMark for tinyML Firmware V0.0.1"
#: ``TH_MODEL_VERSION`` of the ad01 reference, printed by ``profile``.
MODEL_VERSION = "ad01"
READY = "m-ready\r\n"
_TERMINATOR = b"%"
_HELP = (
    f"{FIRMWARE_VERSION}\r\n",
    "\r\n",
    "help         : Print this information\r\n",
    "name         : Print the name of the device\r\n",
    "timestsamp   : Generate a timetsamp\r\n",
    "db SUBCMD    : Manipulate a generic byte buffer\r\n",
    "  load N     : Allocate N bytes and set load counter\r\n",
    "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes\r\n",
    "  print [N=16] [offset=0]\r\n",
    "             : Print N bytes at offset as hex\r\n",
    "infer N [W=0]: Load input, execute N inferences after W warmup loops\r\n",
    "results      : Return the result fp32 vector\r\n",
)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_HEX_PAIRS = re.compile(r"(?:[0-9a-fA-F]{2})*")


class Inference(Protocol):
    """The model behind the monitor: what ``th_load_tensor``, ``th_infer`` and
    ``th_results`` do with it."""

    input_dim: int

    def load(self, window: np.ndarray) -> None:
        """Quantize ``window`` (float32, shape ``(input_dim,)``) into the input tensor."""

    def invoke(self) -> None:
        """One inference on the input tensor as it stands."""

    def result(self) -> float:
        """The firmware's result of the last loaded window (its mean squared error)."""


def c_atoi(text: str) -> int:
    """C's ``atoi`` on a 32-bit target: leading white space, a sign, the digits up to the
    first other character; 0 when there are none; out of range saturates (``strtol``)."""
    stripped = text.lstrip(" \t\n\v\f\r")
    sign = -1 if stripped.startswith("-") else 1
    if stripped.startswith(("+", "-")):
        stripped = stripped[1:]
    digits = ""
    for character in stripped:
        if not "0" <= character <= "9":
            break
        digits += character
    value = sign * int(digits) if digits else 0
    return min(max(value, _INT_MIN), _INT_MAX)


class ByteBuffer:
    """The firmware's byte buffer (``gp_buff``): ``size`` is what ``db load`` asked for
    (``g_buff_size``), ``position`` the bytes loaded since (``g_buff_pos``)."""

    def __init__(self) -> None:
        self.data = bytearray(BUFFER_BYTES)
        self.size = 0
        self.position = 0

    def loaded(self, limit: int) -> bytes:
        """``ee_get_buffer``: the first loaded bytes, at most ``limit``."""
        return bytes(self.data[: min(limit, self.position)])

    def command(self, words: list[str]) -> list[str]:
        """``ee_buffer_parse``: the lines of ``db load N``, ``db print``, ``db <hex digits>``
        (``words``: those after ``db``)."""
        if not words:
            return ["e-[Command 'db' requires a subcommand]\r\n"]
        if words[0] == "load":
            if len(words) < 2:
                return ["e-[Command 'db load' requires the # of bytes]\r\n"]
            size = c_atoi(words[1])
            if size == 0:
                return ["e-[Command 'db load' must be >0 bytes]\r\n"]
            self.size, self.position = size % 2**32, 0  # a size_t
            if self.size > BUFFER_BYTES:
                return [f"Supplied buffer size {size} exceeds maximum of {BUFFER_BYTES}\n"]
            return [f"m-[Expecting {size} bytes]\r\n"]
        if words[0] == "print":
            return self._print()
        return self._load_hex(words[0])

    def _load_hex(self, digits: str) -> list[str]:
        """Store the bytes of ``digits`` pair by pair, as the C loop does: it stops at
        ``m-load-done`` (the rest disregarded), at the buffer's end, or at a non-hex pair
        (the bytes before it kept)."""
        if len(digits) % 2:
            return ["e-[Insufficent number of hex digits]\r\n"]
        pairs = _HEX_PAIRS.match(digits)
        valid = pairs.end() if pairs else 0
        values = bytes.fromhex(digits[:valid])
        done = self.size - self.position if self.position < self.size else len(values) + 1
        written = min(len(values), done, BUFFER_BYTES - self.position)
        self.data[self.position : self.position + written] = values[:written]
        self.position += written
        if written == done:
            return ["m-load-done\r\n"]
        if written < len(values):
            return [
                f"e-[host DUT: the byte buffer holds {BUFFER_BYTES} bytes; the rest of "
                "this line is dropped (the firmware would overwrite its memory)]\r\n"
            ]
        if valid < len(digits):
            return [f"e-[Invalid hex digit '{digits[valid : valid + 2]}']\r\n"]
        return []

    def _print(self) -> list[str]:
        """``db print``: the bytes ``db load`` asked for, 8 a line (its arguments ignored,
        as in the C code)."""
        size = min(self.size, BUFFER_BYTES)
        text = []
        for index in range(size):
            if index % 8 == 0:
                text.append("m-buffer-")
            text.append(f"{self.data[index]:02x}")
            text.append("\r\n" if (index + 1) % 8 == 0 or index + 1 == size else "-")
        if size % 8:
            text.append("\r\n")
        return ["".join(text)] if text else []


class FirmwareMonitor:
    """The firmware's command parser and byte buffer in front of an :class:`Inference`.

    Parameters
    ----------
    model : Inference
    vendor_name : str
        ``TH_VENDOR_NAME_STRING``, printed as ``m-name-dut-[<vendor_name>]``.
    clock_us : callable, optional
        Microseconds for ``m-lap-us-N`` (default: since the monitor started).
    """

    def __init__(
        self,
        model: Inference,
        *,
        vendor_name: str = "unspecified",
        clock_us: Callable[[], int] | None = None,
    ):
        self.model = model
        self.vendor_name = vendor_name
        started = time.monotonic_ns()
        self._clock_us = clock_us or (lambda: (time.monotonic_ns() - started) // 1000)
        self._command = bytearray()
        self.buffer = ByteBuffer()

    def feed(self, data: bytes) -> bytes:
        """The firmware's output for the bytes ``data`` (any split of the input stream)."""
        output = []
        while data:
            end = data.find(_TERMINATOR)
            chunk = data if end < 0 else data[:end]
            self._command += chunk[: COMMAND_SIZE - len(self._command)]  # the C code drops the rest
            if end < 0:
                break
            command = bytes(self._command).split(b"\0")[0].decode("latin-1")
            self._command.clear()
            output.append(self.execute(command))
            data = data[end + 1 :]
        return "".join(output).encode("latin-1")

    def execute(self, command: str) -> str:
        """The lines one command prints, ``m-ready`` last."""
        words = [word for word in command.split(" ") if word]
        if not words:
            lines = ["e-[Unknown command: (null)]\r\n"]
        elif words[0] == "name":
            lines = [f"m-name-dut-[{self.vendor_name}]\r\n"]
        elif words[0] == "timestamp":
            lines = [self._timestamp()]
        else:
            lines = self._profile_command(words)
        return "".join(lines) + READY

    def _timestamp(self) -> str:
        return f"m-lap-us-{self._clock_us()}\r\n"

    def _profile_command(self, words: list[str]) -> list[str]:
        """``ee_profile_parse``: profile, help, db, infer, results; else unknown."""
        command = words[0]
        if command == "profile":
            return [f"m-profile-[{FIRMWARE_VERSION}]\r\n", f"m-model-[{MODEL_VERSION}]\r\n"]
        if command == "help":
            return list(_HELP)
        if command == "db":
            return self.buffer.command(words[1:])
        if command == "infer":
            return self._infer_command(words[1:])
        if command == "results":
            return [self._results()]
        return [f"e-[Unknown command: {command}]\r\n"]

    def _infer_command(self, words: list[str]) -> list[str]:
        """``infer [N=1] [W=10]``, checked as the C code checks them."""
        count, warmups = 1, 10
        if words:
            count = c_atoi(words[0])
            if count <= 0:
                return ["e-[Inference iterations must be >0]\r\n"]
            if len(words) > 1:
                warmups = c_atoi(words[1])
                if warmups < 0:
                    return ["e-[Inference warmup must be >=0]\r\n"]
        return self._infer(count, warmups)

    def _infer(self, count: int, warmups: int) -> list[str]:
        """``ee_infer``: load the buffer into the input tensor, warm up, time ``count``
        inferences between two timestamps, print the result."""
        lines = self._load_tensor()
        lines.append(f"m-warmup-start-{warmups}\r\n")
        for _ in range(warmups):
            self.model.invoke()
        lines += ["m-warmup-done\r\n", f"m-infer-start-{count}\r\n", self._timestamp()]
        for _ in range(count):
            self.model.invoke()
        lines += [self._timestamp(), "m-infer-done\r\n", self._results()]
        return lines

    def _load_tensor(self) -> list[str]:
        """``th_load_tensor``: the buffer's loaded bytes as float32 into the model, unless
        they are not exactly one window (then the input stays as it was)."""
        loaded = self.buffer.loaded(4 * self.model.input_dim)
        if len(loaded) // 4 != self.model.input_dim:
            values = len(loaded) // 4
            return [f"Input db has {values} elemented, expected {self.model.input_dim}\n"]
        self.model.load(np.frombuffer(loaded, dtype="<f4"))
        return []

    def _results(self) -> str:
        """``th_results``: ``m-results-[%0.3f]`` of the firmware's mean squared error."""
        return f"m-results-[{self.model.result():0.3f}]\r\n"
