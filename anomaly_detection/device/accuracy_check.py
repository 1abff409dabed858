"""The MLPerf Tiny accuracy check of one int8 model, as the benchmark judges it.

One call per step of ``eembc_accuracy.py``: export the official ad01 set from the
development data (:func:`export_official_set`), load the firmware's model
(:func:`load_firmware_model`), run each sample's windows through TensorFlow Lite
Micro as the firmware does (:func:`emulate_runner`), and write the figures
(:func:`write_outputs`): ``eembc_scores.csv``, ``eembc_accuracy.csv``,
``results.txt`` in the runner's wording and, with a board's scores,
``device_vs_host.csv`` file by file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.config import Config
from ..core.errors import ModelError, PipelineError
from ..core.io_utils import write_csv_atomic, write_text_atomic
from ..evaluation.staleness import DIGEST_PREFIX
from ..features.cache import FeatureCache
from ..features.extraction import extract_log_mels, majority_sample_rate
from ..model.provenance import check_provenance, file_digest
from .benchmark_samples import Sample, listed_clips, official_set, write_samples
from .runner_figures import TARGET_AUC, results_text
from .tflm import TFLMModel
from .window_replay import read_sample, window_results

__all__ = [
    "PRINTED_ROUNDING",
    "HOST",
    "OUTPUT_FILES",
    "FileComparison",
    "export_official_set",
    "load_firmware_model",
    "emulate_runner",
    "compare_files",
    "write_outputs",
    "forget_outputs",
    "verdict",
]
#: The source name of the host emulation's scores and figures.
HOST = "host (TFLM)"
OUTPUT_FILES = ("results.txt", "eembc_accuracy.csv", "eembc_scores.csv", "device_vs_host.csv")

logger = logging.getLogger(__name__)
#: Half the last printed decimal of a window result (``%0.3f``): a file's mean moves
#: by at most this much between two runs that print the same window results.
PRINTED_ROUNDING = 0.0005
COLUMNS = [
    "auc",
    "pauc",
    "runner_auc",
    "top1",
    "target_met",
    "simplified_auc",
    "pr_accuracy",
    "listed_simplified_auc",
    "listed_pr_accuracy",
]


@dataclass(frozen=True)
class FileComparison:
    """A board's file scores against the host's: the largest difference and the files
    beyond the printed rounding."""

    max_difference: float
    beyond_rounding: int
    files: int


def export_official_set(
    config: Config, name: str, output: Path, model: Path, *, strict: bool = True
) -> Path:
    """Write the official set ``name`` (``ad01`` or ``ad01-alt``) from ToyCar's
    development test clips to ``output``; return ``output``.

    Raises
    ------
    PipelineError
        Naming the first listed clip that is missing or unreadable, or a model trained
        on other features or another sample rate than these clips (its provenance; a
        warning with ``strict=False``).
    """
    selected = listed_clips(config.dev_directory / "ToyCar", official_set(name))
    paths = [path for path, _ in selected]
    rate = majority_sample_rate(paths)
    check_provenance(model, feature=config.feature, sample_rate=rate, strict=strict)
    cache = None
    if config.cache_directory is not None:
        cache = FeatureCache(config.cache_directory, config.feature, workers=config.workers)
    clips = extract_log_mels(
        paths, config.feature, cache=cache, workers=config.workers, progress=sys.stderr.isatty()
    )
    labels_file = write_samples(clips, [label for _, label in selected], output, config.feature)
    logger.info("%s: %d samples and %s", name, len(selected), labels_file.name)
    return output


def load_firmware_model(path: Path) -> TFLMModel:
    """The model in TensorFlow Lite Micro, checked to be what the reference firmware runs.

    Raises
    ------
    ModelError
        If the model has float input or output (not the ``_intio`` model).
    """
    model = TFLMModel(path)  # one invoke per window, as on the device
    if not model.int8_io:
        raise ModelError(
            f"{path}: the reference firmware runs a model with int8 input and output "
            "(the _quant_fullint_micro_intio model); this one has float input or output"
        )
    return model


def emulate_runner(
    model: TFLMModel, samples_dir: Path, samples: Sequence[Sample], *, frames: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Each sample file's score (the mean of what the firmware prints for its windows),
    shape ``(n_samples,)``, and the windows of each file.

    Raises
    ------
    PipelineError
        Naming a sample file that is missing, of the wrong size, or not finite.
    """
    scores, windows = [], {}
    for sample in tqdm(samples, desc="TFLM", unit="file", disable=not sys.stderr.isatty()):
        values = read_sample(samples_dir, sample, model.input_dim, frames=frames)
        windows[sample.name] = len(values)
        scores.append(float(np.mean(window_results(model, values))))
    return np.asarray(scores, dtype=np.float64), windows


def compare_files(host: np.ndarray, device: np.ndarray) -> FileComparison:
    """The board's file scores against the host emulation's."""
    difference = np.abs(np.asarray(device) - np.asarray(host))
    return FileComparison(
        max_difference=float(np.max(difference)),
        beyond_rounding=int(np.sum(difference > PRINTED_ROUNDING + 1e-12)),
        files=len(difference),
    )


def forget_outputs(output: Path) -> None:
    """Remove an earlier run's results from ``output`` before this run writes its own: a
    run that fails leaves none that would read as its own."""
    for name in OUTPUT_FILES:
        (output / name).unlink(missing_ok=True)


def write_outputs(
    output: Path,
    *,
    samples_dir: Path,
    samples: Sequence[Sample],
    model: Path,
    scores: dict[str, np.ndarray],
    figures: dict[str, dict[str, float]],
) -> None:
    """``eembc_scores.csv`` (host), ``eembc_accuracy.csv`` (a row per source, naming the
    samples folder, the model file and its SHA-256), ``results.txt`` (the runner's lines
    for the host, then the model file and the first digits of its SHA-256) and, with a
    board's scores, ``device_vs_host.csv``.

    Raises
    ------
    PipelineError
        If the folder cannot be written.
    """
    host = scores[HOST]
    digest = file_digest(model)
    try:
        output.mkdir(parents=True, exist_ok=True)
        host_rows = ([s.name, f"{v:.6f}"] for s, v in zip(samples, host, strict=True))
        write_csv_atomic(output / "eembc_scores.csv", [["file", "score"], *host_rows])
        rows = [
            [source, len(samples), *(f"{row[c]:.6f}" for c in COLUMNS), model.name, digest]
            + [str(samples_dir)]
            for source, row in figures.items()
        ]
        header = ["source", "files", *COLUMNS, "model", "model_sha256", "samples"]
        write_csv_atomic(output / "eembc_accuracy.csv", [header, *rows])
        named = f"model = {model.name} (SHA-256 {digest[:DIGEST_PREFIX]})\n"
        write_text_atomic(output / "results.txt", results_text(figures[HOST]) + named)
        board = [source for source in scores if source != HOST]
        if not board:  # an earlier run's comparison is not this run's
            (output / "device_vs_host.csv").unlink(missing_ok=True)
        else:
            write_csv_atomic(
                output / "device_vs_host.csv",
                [
                    ["file", "host", *board],
                    *(
                        [sample.name, f"{host[i]:.6f}", *(f"{scores[s][i]:.6f}" for s in board)]
                        for i, sample in enumerate(samples)
                    ),
                ],
            )
    except OSError as error:
        raise PipelineError(f"{output}: cannot write the results ({error})") from None


def verdict(figures: dict[str, float]) -> str:
    """One line: whether the runner's AUC meets the closed division's target."""
    met = "meets" if figures["target_met"] else "does NOT meet"
    return f"AUC {figures['runner_auc']:.3f} {met} the closed division's target {TARGET_AUC}"
