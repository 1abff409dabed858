"""Running int8 TFLite models in TensorFlow Lite Micro, as the microcontroller runs them.

TFLM (the ``tflite-micro`` wheel holds the real interpreter) runs one vector
per invoke, with its own int8 kernels (CMSIS-NN matches them bit for bit),
which round differently from LiteRT's XNNPACK delegate. An int8 input is
quantized as the MLPerf Tiny reference firmware does, with C's ``round()``
(half away from zero, not numpy's half to even), then clamped to int8.

For scoring many clips, whole clips are handed to worker processes, each
holding its own interpreter, so that the invokes run on every core and only the
log-mel spectrograms and the scores cross between processes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import struct
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError, PipelineError
from ..core.interruption import deferred, ignore_in_worker, workers_spawned_deaf
from ..core.native_logs import silenced_stderr
from ..evaluation.scoring import score_log_mels

__all__ = ["TFLMModel", "tflm_runtime", "quantize_like_firmware", "check_flatbuffer"]

#: The arena every model gets for scoring (the deployment report finds the real need).
SCORING_ARENA_BYTES = 1 << 20
#: Clips per task handed to a worker process.
_CLIPS_PER_TASK = 8


def tflm_runtime(*, hint: str = "") -> Any:
    """The ``tflite_micro`` runtime module.

    Raises
    ------
    PipelineError
        One line, if the ``tflite-micro`` package is not installed (``hint``: what
        else the user can do).
    """
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise PipelineError(
            "the TFLite Micro interpreter is not installed (pip install the "
            f"tflite-micro version pinned in requirements.txt){hint}"
        ) from None
    return runtime


def quantize_like_firmware(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``clamp(round(x / scale) + zero_point, -128, 127)`` as int8, ``round`` half away from
    zero (C's ``roundf``), as the reference firmware quantizes its float input.

    Exact: the fraction ``x - trunc(x)`` of a float32 is exact, so a value just below a
    half (0.49999997) rounds down, as ``roundf`` does (adding 0.5 first would not).
    """
    scaled = np.asarray(values, dtype=np.float32) / np.float32(scale)
    whole = np.trunc(scaled)
    rounded = whole + np.where(np.abs(scaled - whole) >= 0.5, np.sign(scaled), 0)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def check_flatbuffer(path: Path, model: bytes) -> None:
    """Raise :class:`ModelError` unless ``model`` (read from ``path``) is a TFLite flatbuffer."""
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")


def _quantization(details: dict) -> tuple[float, int]:
    """Scale and zero point of an int8 tensor (``(1.0, 0)`` for a float tensor)."""
    parameters = details["quantization_parameters"]
    if not len(parameters["scales"]):
        return 1.0, 0
    return float(parameters["scales"][0]), int(parameters["zero_points"][0])


class _Runner:
    """One interpreter and the firmware's conversions around it: float vectors in,
    float reconstructions out, one invoke per vector."""

    def __init__(self, model: bytes, arena_size: int):
        self.interpreter = tflm_runtime().Interpreter.from_bytes(model, arena_size=arena_size)
        input_details = self.interpreter.get_input_details(0)
        output_details = self.interpreter.get_output_details(0)
        self.input_dtype = np.dtype(input_details["dtype"])
        self.output_dtype = np.dtype(output_details["dtype"])
        self.input_dim = int(np.prod(input_details["shape"]))
        self.input_quantization = _quantization(input_details)
        self.output_quantization = _quantization(output_details)
        output_dim = int(np.prod(output_details["shape"]))
        if output_dim != self.input_dim:
            raise ValueError(f"not an autoencoder: {self.input_dim} inputs, {output_dim} outputs")

    def load(self, vector: np.ndarray) -> None:
        row = np.asarray(vector, dtype=np.float32).reshape(1, self.input_dim)
        if self.input_dtype == np.int8:
            row = quantize_like_firmware(row, *self.input_quantization)
        self.interpreter.set_input(row, 0)

    def reconstruct(self, vectors: np.ndarray) -> np.ndarray:
        rows = np.asarray(vectors, dtype=np.float32)
        if self.input_dtype == np.int8:
            rows = quantize_like_firmware(rows, *self.input_quantization)
        outputs = np.empty((len(rows), self.input_dim), dtype=self.output_dtype)
        for index in range(len(rows)):
            self.interpreter.set_input(rows[index : index + 1], 0)
            self.interpreter.invoke()
            outputs[index] = self.interpreter.get_output(0).reshape(-1)
        if self.output_dtype == np.int8:
            scale, zero_point = self.output_quantization
            return (outputs.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        return outputs.astype(np.float32, copy=False)


_worker_runner: _Runner | None = None  # each worker process's interpreter


def _deaf_fork_server() -> multiprocessing.context.BaseContext:
    """The fork-server context, its server started with Ctrl-C ignored: every worker forked
    from it ignores Ctrl-C from its first instruction (the parent stops the pool and
    prints the one line), and no worker re-imports the script."""
    with workers_spawned_deaf():
        multiprocessing.forkserver.ensure_running()
    return multiprocessing.get_context("forkserver")


def _load_worker(model: bytes, arena_size: int) -> None:
    global _worker_runner
    ignore_in_worker()
    _worker_runner = _Runner(model, arena_size)


def _score_in_worker(log_mels: list[np.ndarray], frames: int) -> list[float]:
    assert _worker_runner is not None, "worker started without its model"
    return list(score_log_mels(_worker_runner.reconstruct, log_mels, frames=frames))


class TFLMModel:
    """A ``.tflite`` model in the TFLM interpreter.

    Called with vectors it is a :data:`~anomaly_detection.evaluation.scoring.Predictor` (in
    this process); :meth:`anomaly_scores` scores whole clips on ``workers`` processes.

    Parameters
    ----------
    path : Path
    workers : int
        Processes for :meth:`anomaly_scores` (1: in this process).

    Raises
    ------
    ModelError
        If the file is missing or TFLM cannot load and allocate it.
    """

    def __init__(self, path: Path, *, workers: int = 1):
        tflm_runtime()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: TFLite model not found (run 02_convert.py)")
        self._model = self.path.read_bytes()
        check_flatbuffer(self.path, self._model)
        try:
            with silenced_stderr():
                self._runner = _Runner(self._model, SCORING_ARENA_BYTES)
        except (RuntimeError, ValueError, struct.error, IndexError) as error:
            raise ModelError(f"{self.path}: TFLite Micro cannot run this model ({error})") from None
        self._workers = max(1, workers)
        self._executor: Executor | None = None
        if self._workers > 1:  # all started now, whole, so the scoring time is the scoring's
            try:
                with deferred():  # one busy task each: the pool starts every worker
                    started = [self._pool().submit(time.sleep, 0.05) for _ in range(self._workers)]
                for future in started:
                    future.result()
            except BaseException:  # Ctrl-C included: no pool left running at exit
                self.close()
                raise

    @property
    def input_dim(self) -> int:
        """Length of the feature vector the model takes."""
        return self._runner.input_dim

    @property
    def int8_io(self) -> bool:
        """Whether the model takes and gives int8 tensors (as the reference firmware's)."""
        return bool(self._runner.input_dtype == np.int8 and self._runner.output_dtype == np.int8)

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=_deaf_fork_server(),
                initializer=_load_worker,
                initargs=(self._model, SCORING_ARENA_BYTES),
            )
        return self._executor

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def __enter__(self) -> TFLMModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Reconstructions of ``vectors`` (shape ``(n, dim)``), float32, one invoke each."""
        return self._runner.reconstruct(vectors)

    def load_input(self, vector: np.ndarray) -> None:
        """Put one vector (``(dim,)``) into the input tensor, quantized as the firmware's
        ``th_load_tensor`` does, for :meth:`invoke`."""
        self._runner.load(vector)

    def invoke(self) -> None:
        """One inference on the input tensor as it stands (the firmware's ``th_infer``)."""
        self._runner.interpreter.invoke()

    def anomaly_scores(self, log_mels: Sequence[np.ndarray], *, frames: int) -> Iterator[float]:
        """The anomaly score of each log-mel spectrogram (``(n_frames, n_mels)``), in order.

        Clips go to the worker processes in groups of a few; the scores come back
        as they are ready, so a caller can show progress.
        """
        if self._workers == 1 or len(log_mels) < 2 * self._workers:
            yield from score_log_mels(self._runner.reconstruct, log_mels, frames=frames)
            return
        groups = [
            list(log_mels[start : start + _CLIPS_PER_TASK])
            for start in range(0, len(log_mels), _CLIPS_PER_TASK)
        ]
        for scores in self._pool().map(_score_in_worker, groups, [frames] * len(groups)):
            yield from scores
