"""Run a TFLite model once in TensorFlow Lite Micro with a given arena, in its own process.

    python -m anomaly_detection.device.arena_probe ARENA_BYTES < model.tflite

Exit status 0 if the model allocates and runs one invoke, 1 if TFLM reports an
error. TFLM crashes on some arena sizes that are too small (a segmentation
fault while planning memory, seen with per-channel quantized models), so the
deployment report probes each size in a separate process: a crash there is a
failed probe, not a failed run.
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> int:
    from tflite_micro.python.tflite_micro import runtime

    arena_size = int(sys.argv[1])
    model = sys.stdin.buffer.read()
    try:
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
        details = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()
    except (RuntimeError, ValueError):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
