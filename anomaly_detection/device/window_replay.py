"""The EEMBC EnergyRunner's accuracy run of the anomaly detection benchmark, replayed on the
host: each sample file's windows through TensorFlow Lite Micro, as the firmware computes them.

The runner feeds each sample file (``*_hist_librosa.bin``, float32 log-mel frames,
listed in ``y_labels.csv`` with its label, window and stride in bytes; see
:mod:`.benchmark_samples`) to the device one window at a time. The MLPerf Tiny
reference firmware (``submitter_implemented.cpp``) quantizes the window's floats with C's
``round()`` (half away from zero) and clamps them to int8, invokes the model,
dequantizes the output as ``float(q - zero_point) * scale``, and returns the
mean squared error over the window, accumulated in float32 in index order and
printed as ``m-results-[%0.3f]``. This module repeats that computation in
TensorFlow Lite Micro, bit for bit for firmware built without fused
multiply-add contraction of ``diffsum += diff * diff`` (GCC's
``-ffp-contract=off``; with FMA, as GCC may emit on a Cortex-M4F/M7, about 1
printed result in 100 differs by 0.001). The runner combines the printed window
results of a file into the file's score by their mean, as MLCommons' open runner does
(``np.mean(results, axis=0)`` in its ``main.py``; the window is 2,560 bytes, the
stride 512 bytes, so a 200-frame sample gives 196 windows); its figures are in
:mod:`.runner_figures`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import PipelineError
from .benchmark_samples import Sample
from .tflm import TFLMModel

__all__ = ["read_sample", "window_results"]


def read_sample(
    directory: Path, sample: Sample, input_dim: int, *, frames: int | None = None
) -> np.ndarray:
    """The windows of one sample file, shape ``(n_windows, input_dim)`` float32.

    ``frames``: the log-mel frames a sample holds (200 for the reference's crop); the
    file must then be exactly ``frames`` strides (one stride is one frame's bytes).

    Raises
    ------
    PipelineError
        If the file is missing, its size does not hold whole float32 values and at
        least one window, is not ``frames`` frames, or the window does not match the
        model's input.
    """
    path = Path(directory) / sample.name
    if sample.window_bytes != 4 * input_dim:
        raise PipelineError(
            f"{path}: window of {sample.window_bytes} bytes in y_labels.csv, but the model "
            f"takes {input_dim} float32 values ({4 * input_dim} bytes)"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PipelineError(f"{path}: cannot read sample ({error.strerror})") from None
    expected = None if frames is None else frames * sample.stride_bytes
    if expected is not None and len(data) != expected:
        raise PipelineError(
            f"{path}: {len(data)} bytes, a sample of {frames} frames of "
            f"{sample.stride_bytes} bytes is {expected} (a cut or foreign file; --frames "
            "sets another frame count)"
        )
    if len(data) % 4 or len(data) < sample.window_bytes:
        raise PipelineError(
            f"{path}: {len(data)} bytes, not whole float32 values holding at least one "
            f"{sample.window_bytes}-byte window"
        )
    values = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise PipelineError(f"{path}: holds non-finite values")
    stride = sample.stride_bytes // 4
    starts = range(0, len(values) - input_dim + 1, stride)
    return np.stack([values[start : start + input_dim] for start in starts])


def window_results(model: TFLMModel, windows: np.ndarray) -> np.ndarray:
    """What the firmware prints for each window: its float32 mean squared error,
    rounded to three decimals (``%0.3f``).

    Returns
    -------
    np.ndarray, shape (n_windows,), float64
    """
    reconstruction = model(windows)  # quantized, invoked and dequantized as the firmware does
    squared = np.square(reconstruction - windows, dtype=np.float32)
    # float32 running sum in index order (cumsum is sequential), then / count in float32
    mse = np.cumsum(squared, axis=1, dtype=np.float32)[:, -1] / np.float32(windows.shape[1])
    return np.asarray([float(f"{float(value):.3f}") for value in mse], dtype=np.float64)
