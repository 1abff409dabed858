"""What an int8 model needs on the microcontroller, measured in TensorFlow Lite Micro.

The tensor arena is found by bisection over ``arena_size``: the smallest arena
with which the model allocates *and* invokes in the real TFLM interpreter. It
is larger than (for some models equal to) the total of TFLM's allocation
recording, which counts only
what the allocator handed out, not what it needed free at its peak: the
temporary allocations made while planning memory and preparing each kernel,
released before the recording is read, and the alignment padding between the
head and the tail of the arena.

The suggested ``kTensorArenaSize`` adds :data:`ARENA_MARGIN_BYTES` to the
measured need, rounded up to :data:`ARENA_ALIGNMENT`: room for what the
target's build allocates and the host's does not (kernel scratch buffers of
optimised kernels such as CMSIS-NN, a profiler, a debug logger). The host is a
64-bit machine, whose TFLM structures hold 8-byte pointers; on a 32-bit
microcontroller the same structures are smaller, so the host's need is an
upper bound for them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError
from ..core.io_utils import write_text_atomic
from ..core.layout import OutputLayout
from ..core.native_logs import redirected_stderr, silenced_stderr
from ..model.provenance import file_digest
from ..registry.variants import TFLITE_VARIANTS
from .tflm import check_flatbuffer, tflm_runtime

__all__ = [
    "ARENA_ALIGNMENT",
    "ARENA_MARGIN_BYTES",
    "DeploymentReport",
    "runs_with_arena",
    "smallest_arena",
    "recorded_arena",
    "deployment_report",
    "write_deployment_report",
    "read_deployment_report",
    "deployment_reports",
]

logger = logging.getLogger(__name__)

ARENA_ALIGNMENT = 16
#: Added to the measured arena for the target's own allocations (see the module doc).
ARENA_MARGIN_BYTES = 1024
#: The arena of the MLPerf Tiny reference firmware (``submitter_implemented.cpp``).
REFERENCE_FIRMWARE_ARENA_BYTES = 10 * 1024
_SEARCH_LIMIT_BYTES = 1 << 24
_PROBE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class DeploymentReport:
    """The deployment facts of one ``.tflite`` model (``*.deploy.json``).

    Sizes in bytes; ``ops`` maps each TFLite builtin op to its count in the
    graph; ``resolver`` lists the ``MicroMutableOpResolver`` calls it needs;
    ``macs`` counts the multiply-accumulates of one inference (one vector);
    ``input``/``output`` give dtype, shape, scale and zero point.
    """

    model: str
    flash_bytes: int
    arena_bytes: int
    recorded_arena_bytes: int
    suggested_arena_bytes: int
    ops: dict[str, int]
    resolver: list[str]
    macs: int
    parameters: int
    input: dict[str, Any]
    output: dict[str, Any]
    #: SHA-256 of the measured file: a report never describes another file of that name.
    model_sha256: str = ""

    @property
    def fits_reference_firmware(self) -> bool:
        """Whether the reference firmware's 10 KB arena is enough."""
        return self.suggested_arena_bytes <= REFERENCE_FIRMWARE_ARENA_BYTES


def _interpreter(model: bytes, arena_size: int) -> Any:
    with silenced_stderr():
        return tflm_runtime().Interpreter.from_bytes(model, arena_size=arena_size)


def runs_with_arena(model: bytes, arena_size: int) -> bool:
    """Whether ``model`` allocates and runs one invoke (zero input) with ``arena_size`` bytes.

    Probed in a child process (:mod:`anomaly_detection.device.arena_probe`): TFLM reports
    most failures as an error, but crashes on some sizes; either is ``False``.
    """
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "anomaly_detection.device.arena_probe", str(arena_size)],
            input=model,
            capture_output=True,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
            timeout=_PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        logger.debug("TFLM hung with a %d-byte arena", arena_size)
        return False
    if probe.returncode < 0:
        logger.debug("TFLM crashed (signal %d) with a %d-byte arena", -probe.returncode, arena_size)
    return probe.returncode == 0


def smallest_arena(model: bytes) -> int:
    """The smallest ``arena_size`` (bytes) with which :func:`runs_with_arena` holds.

    Raises
    ------
    ModelError
        If the model does not run even with 16 MB.
    """
    high = 1 << 12
    while not runs_with_arena(model, high):
        if high >= _SEARCH_LIMIT_BYTES:
            raise ModelError(f"TFLite Micro cannot run the model even with a {high}-byte arena")
        high *= 2
    low = 0  # invariant: fails with low, runs with high
    while high - low > 1:
        middle = (low + high) // 2
        if runs_with_arena(model, middle):
            high = middle
        else:
            low = middle
    return high


def recorded_arena(interpreter: Any) -> int:
    """The arena total of a TFLM interpreter's allocation recording (``print_allocations``),
    in bytes."""
    with tempfile.TemporaryFile() as captured:
        with redirected_stderr(captured):  # TFLM prints its recording to standard error
            interpreter.print_allocations()
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    if match is None:
        raise ModelError("TFLite Micro printed no allocation total")
    return int(match.group(1))


def _resolver_call(op_name: str) -> str:
    """``FULLY_CONNECTED`` -> ``AddFullyConnected()``, ``CONV_2D`` -> ``AddConv2D()``."""
    parts = [part if part[0].isdigit() else part.capitalize() for part in op_name.split("_")]
    return "Add" + "".join(parts) + "()"


def _tensor_facts(details: dict) -> dict[str, Any]:
    parameters = details["quantization_parameters"]
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(size) for size in details["shape"]],
        "scale": float(parameters["scales"][0]) if len(parameters["scales"]) else None,
        "zero_point": int(parameters["zero_points"][0]) if len(parameters["zero_points"]) else None,
    }


def _graph_facts(model: bytes) -> tuple[dict[str, int], int, int]:
    """Op counts, multiply-accumulates per inference and weight count, from the flatbuffer."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if name.isupper()}
    graph = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(model), 0))
    subgraph = graph.subgraphs[0]
    ops: dict[str, int] = {}
    macs = parameters = 0
    for operator in subgraph.operators:
        code = graph.operatorCodes[operator.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        ops[name] = ops.get(name, 0) + 1
        if name == "FULLY_CONNECTED":
            weights = subgraph.tensors[operator.inputs[1]].shape
            rows = int(np.prod(subgraph.tensors[operator.inputs[0]].shape[:-1]))
            macs += rows * int(np.prod(weights))
            parameters += int(np.prod(weights)) + int(weights[0])
    return ops, macs, parameters


def deployment_report(path: Path) -> DeploymentReport:
    """Measure the deployment facts of the ``.tflite`` file at ``path``.

    Raises
    ------
    ModelError
        If TFLite Micro cannot run the model.
    """
    tflm_runtime()  # a missing package is a one-line error, not a failed search
    model = Path(path).read_bytes()
    check_flatbuffer(Path(path), model)
    arena = smallest_arena(model)
    interpreter = _interpreter(model, arena)  # runs with it: its facts and its recording
    ops, macs, parameters = _graph_facts(model)
    suggested = -(-(arena + ARENA_MARGIN_BYTES) // ARENA_ALIGNMENT) * ARENA_ALIGNMENT
    return DeploymentReport(
        model=Path(path).name,
        flash_bytes=len(model),
        arena_bytes=arena,
        recorded_arena_bytes=recorded_arena(interpreter),
        suggested_arena_bytes=suggested,
        ops=ops,
        resolver=[_resolver_call(name) for name in ops],
        macs=macs,
        parameters=parameters,
        input=_tensor_facts(interpreter.get_input_details(0)),
        output=_tensor_facts(interpreter.get_output_details(0)),
        model_sha256=hashlib.sha256(model).hexdigest(),
    )


def write_deployment_report(path: Path, report: DeploymentReport) -> None:
    """Write ``report`` as JSON, atomically."""
    write_text_atomic(path, json.dumps(asdict(report), indent=2) + "\n")


def read_deployment_report(path: Path) -> DeploymentReport:
    """Read a report written by :func:`write_deployment_report`.

    Raises
    ------
    ModelError
        If the file is not a deployment report.
    """
    try:
        report = DeploymentReport(**json.loads(Path(path).read_text(encoding="utf-8")))
        sizes = (report.flash_bytes, report.arena_bytes, report.recorded_arena_bytes)
        if not all(isinstance(size, int) for size in (*sizes, report.macs)):
            raise TypeError("sizes must be integers")
        if not isinstance(report.suggested_arena_bytes, int) or not isinstance(report.ops, dict):
            raise TypeError("suggested_arena_bytes must be an integer, ops a mapping")
    except (OSError, ValueError, TypeError) as error:
        raise ModelError(f"{path}: not a readable deployment report ({error})") from None
    return report


def deployment_markdown(
    reports: list[tuple[str, DeploymentReport]], folder: Path | None = None
) -> list[str]:
    """The summary's deployment section: one row per ``(machine type, report)`` of the
    models in ``folder`` (named in the text)."""
    if not reports:
        return []
    rows = [
        f"| {machine_type} | {report.model} | {report.flash_bytes:,} | {report.arena_bytes:,} | "
        f"{report.recorded_arena_bytes:,} | {report.suggested_arena_bytes:,} | "
        f"{report.macs:,} | {', '.join(f'{op} x{count}' for op, count in report.ops.items())} | "
        f"{'yes' if report.fits_reference_firmware else '**no**'} |"
        for machine_type, report in reports
    ]
    return [
        "",
        "## Deployment (TensorFlow Lite Micro)",
        "",
        "Measured in the TFLM interpreter"
        + ("" if folder is None else f" for the models in `{folder.resolve()}`")
        + ": *arena* is the smallest `arena_size` with which "
        "the model allocates and runs; *recorded* is the total of TFLM's allocation "
        "recording, which leaves out the temporary allocations made while planning memory "
        "and preparing the kernels: at most the arena, smaller where a temporary "
        "allocation sets the peak (as for the int8-I/O model), equal where none does; "
        "*suggested* adds "
        f"{ARENA_MARGIN_BYTES} bytes for the target's own allocations, rounded up to "
        f"{ARENA_ALIGNMENT} (the `kTensorArenaSize` to use). The reference firmware's "
        f"arena is {REFERENCE_FIRMWARE_ARENA_BYTES:,} bytes. MACs: multiply-accumulates "
        "per inference (one vector). Details in `model/*.deploy.json`.",
        "",
        "| type | model | flash (B) | arena (B) | recorded (B) | suggested (B) | MACs | ops "
        "| fits 10 KB |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def deployment_reports(
    layout: OutputLayout, machine_types: Sequence[str]
) -> list[tuple[str, DeploymentReport]]:
    """The readable deployment reports of the micro models that describe the model file
    there now (a damaged report, or one of another file, is skipped with a warning:
    02_convert.py writes it again)."""
    reports = []
    for machine_type in machine_types:
        for variant in TFLITE_VARIANTS:
            path = layout.deployment_report(variant, machine_type)
            if not path.is_file():
                continue
            try:
                report = read_deployment_report(path)
            except ModelError as error:
                logger.warning("%s; left out of the summary", error)
                continue
            model_file = layout.model_file(variant, machine_type)
            if not model_file.is_file() or report.model_sha256 != file_digest(model_file):
                logger.warning(
                    "%s: measured on another %s than the one there now; left out of the "
                    "summary (02_convert.py measures it again)",
                    path,
                    model_file.name,
                )
                continue
            reports.append((machine_type, report))
    return reports
