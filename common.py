"""The reference's ``common.py``: its public functions, with its signatures and semantics.

Code written against the MLPerf Tiny anomaly detection reference (and the DCASE
2020 Task 2 baseline) keeps working::

    import common as com

    param = com.yaml_load()                          # the dict of baseline.yaml
    mode = com.command_line_chk()                    # True: -d, False: -e, None: neither
    for target_dir in com.select_dirs(param=param, mode=mode):
        files = com.file_list_generator(target_dir)
        train_data = com.list_to_vector_array(files, n_mels=param["feature"]["n_mels"])

Each function is backed by the :mod:`anomaly_detection` package (the same
features, bit for bit, as the pipeline). Where the reference failed silently
(a broken file logged and ``None`` returned, a too-short clip turned into an
empty array) these raise a :class:`PipelineError` naming the file instead.

The four scripts also import their entry points from here: :func:`build_parser`,
:func:`run_script` and :class:`RunContext`. Importing this module loads neither
TensorFlow nor Keras.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anomaly_detection import __version__
from anomaly_detection.core.config import FeatureConfig, load_raw_config
from anomaly_detection.core.errors import FeatureError, PipelineError
from anomaly_detection.core.io_utils import write_csv_atomic
from anomaly_detection.data.audio import load_audio
from anomaly_detection.device.benchmark_samples import sample_file_name, write_sample
from anomaly_detection.features.clip_features import file_to_log_mel
from anomaly_detection.features.spectrogram import frame_stack
from anomaly_detection.pipeline.cli import build_parser, run_script
from anomaly_detection.pipeline.context import RunContext

__all__ = [
    "__versions__",
    "logger",
    "command_line_chk",
    "yaml_load",
    "file_load",
    "save_csv",
    "file_to_vector_array",
    "select_dirs",
    "get_machine_id_list_for_test",
    "test_file_list_generator",
    "list_to_vector_array",
    "file_list_generator",
    "PipelineError",
    "RunContext",
    "build_parser",
    "run_script",
]

__versions__ = __version__
logger = logging.getLogger("common")

_REFERENCE_CROP = (50, 250)  # the MLPerf Tiny reference keeps log-mel frames 50..249


def command_line_chk(argv: Sequence[str] | None = None) -> bool | None:
    """The mode of the reference's command line: ``True`` for ``-d``, ``False`` for ``-e``.

    Prints the reference's "incorrect argument" message and returns ``None``
    unless exactly one of ``-d``/``--dev`` and ``-e``/``--eval`` is given.
    """
    parser = argparse.ArgumentParser(
        description="Without option argument, it will not run properly."
    )
    parser.add_argument("-v", "--version", action="store_true", help="show application version")
    parser.add_argument("-e", "--eval", action="store_true", help="run mode Evaluation")
    parser.add_argument("-d", "--dev", action="store_true", help="run mode Development")
    args = parser.parse_args(argv)
    if args.version:
        print(f"MLPerf Tiny anomaly detection (DCASE 2020 task 2 baseline)\nversion {__versions__}")
    if args.eval ^ args.dev:
        return bool(args.dev)
    print("incorrect argument")
    print("please set option argument '--dev' or '--eval'")
    return None


def yaml_load(path: str | Path = "baseline.yaml") -> dict[str, Any]:
    """``baseline.yaml`` as the dict of its keys, validated first (one
    :class:`~anomaly_detection.core.errors.ConfigError` listing every problem)."""
    return load_raw_config(path)


def file_load(wav_name: str | Path, mono: bool = False) -> tuple[np.ndarray, int]:
    """A WAV file's samples as float32 in [-1, 1] and its sample rate in Hz.

    Multi-channel files are mixed down to mono whatever ``mono`` says (the
    DCASE clips are mono). A missing or broken file raises
    :class:`~anomaly_detection.core.errors.AudioError` naming it.
    """
    return load_audio(Path(wav_name))


def save_csv(save_file_path: str | Path, save_data: Iterable[Sequence[object]]) -> None:
    """Write rows as CSV with ``\\n`` line endings (atomically)."""
    write_csv_atomic(Path(save_file_path), save_data)


def file_to_vector_array(
    file_name: str | Path,
    n_mels: int = 64,
    frames: int = 5,
    n_fft: int = 1024,
    hop_length: int = 512,
    power: float = 2.0,
    method: str = "librosa",
    save_png: bool = False,
    save_hist: bool = False,
    save_bin: bool = False,
    save_parts: bool = False,
    *,
    frame_crop: tuple[int, int] | None = _REFERENCE_CROP,
) -> np.ndarray:
    """Frame-stacked log-mel vectors of one WAV file, as the MLPerf Tiny reference.

    The log-mel spectrogram's frames 50..249 are kept (``frame_crop``; ``None``
    keeps all, as the original DCASE baseline) and every ``frames`` consecutive
    frames are concatenated.

    Parameters
    ----------
    file_name : str or Path
    n_mels, frames, n_fft, hop_length, power
        As ``baseline.yaml``'s ``feature`` section (the reference's defaults).
    method : str
        ``"librosa"``, the only method (the same values, computed without librosa).
    save_png, save_hist, save_bin, save_parts : bool
        Also write, beside the WAV file, the kept log-mel spectrogram as an
        image (``<name>_hist_librosa.png``), as comma-separated text
        (``_hist_librosa.txt``), as raw little-endian float32, frame-major
        (``_hist_librosa.bin``, the EEMBC sample format), and every vector as
        raw float32 (``_hist_librosa_partNNN.bin``).

    Returns
    -------
    np.ndarray, shape (n_vectors, n_mels * frames), float64
        ``vectors[i, t * n_mels:(t + 1) * n_mels]`` is kept frame ``i + t``.

    Raises
    ------
    PipelineError
        An unknown ``method``, an unreadable file, or a clip too short for the
        crop or for one vector (the reference returned an empty array).
    """
    if method != "librosa":
        raise PipelineError(f"spectrogram method not supported: {method}")
    path = Path(file_name)
    feature = FeatureConfig(
        n_mels=n_mels,
        frames=frames,
        n_fft=n_fft,
        hop_length=hop_length,
        power=power,
        frame_crop=frame_crop,
    )
    try:
        log_mel = file_to_log_mel(path, feature)
        vectors = frame_stack(log_mel, frames)
    except FeatureError as error:
        raise FeatureError(f"{path}: {error}") from None
    _save_log_mel(
        path, log_mel, vectors, png=save_png, text=save_hist, binary=save_bin, parts=save_parts
    )
    return vectors.astype(np.float64)


def _save_log_mel(
    path: Path,
    log_mel: np.ndarray,
    vectors: np.ndarray,
    *,
    png: bool,
    text: bool,
    binary: bool,
    parts: bool,
) -> None:
    """The optional outputs of :func:`file_to_vector_array`, beside ``path``:
    ``<stem>_hist_librosa<ending>``."""
    sample = path.with_name(sample_file_name(path))  # <stem>_hist_librosa.bin

    def beside(ending: str) -> Path:
        return sample.with_name(sample.name.removesuffix(".bin") + ending)

    if png:
        from anomaly_detection.evaluation.plots import plot_log_mel

        plot_log_mel(log_mel, beside(".png"))
    if text:
        np.asarray(log_mel, dtype=np.float64).tofile(beside(".txt"), sep=",")
    if binary:
        write_sample(sample, log_mel)
    if parts:
        for index, vector in enumerate(vectors):
            write_sample(beside(f"_part{index:03d}.bin"), vector)


def select_dirs(param: dict[str, Any], mode: bool) -> list[str]:
    """Absolute paths of the entries of ``dev_directory`` (``mode`` true) or
    ``eval_directory``, sorted: the machine-type folders."""
    base = param["dev_directory"] if mode else param["eval_directory"]
    logger.info("load_directory <- %s", "development" if mode else "evaluation")
    return sorted(glob.glob(os.path.abspath(f"{glob.escape(str(base))}/*")))


def get_machine_id_list_for_test(
    target_dir: str | Path, dir_name: str = "test", ext: str = "wav"
) -> list[str]:
    """The sorted machine IDs (``id_01``...) named by the test files of ``target_dir``."""
    names = glob.glob(os.path.abspath(f"{glob.escape(str(target_dir))}/{dir_name}/*.{ext}"))
    return sorted(
        {match for name in names for match in re.findall(r"id_[0-9][0-9]", os.path.basename(name))}
    )


def test_file_list_generator(
    target_dir: str | Path,
    id_name: str,
    mode: bool,
    dir_name: str = "test",
    prefix_normal: str = "normal",
    prefix_anomaly: str = "anomaly",
    ext: str = "wav",
) -> tuple[np.ndarray | list[str], np.ndarray | None]:
    """The test files of one machine ID, and their labels in development mode.

    Returns
    -------
    files : np.ndarray of str (development) or list of str (evaluation)
        Development: the normal files, then the anomalous ones, each sorted.
    labels : np.ndarray, float64 (0.0 normal, 1.0 anomaly), or None (evaluation)
    """
    folder = f"{glob.escape(str(target_dir))}/{dir_name}"
    if mode:
        normal = sorted(glob.glob(f"{folder}/{prefix_normal}_{id_name}*.{ext}"))
        anomaly = sorted(glob.glob(f"{folder}/{prefix_anomaly}_{id_name}*.{ext}"))
        files: np.ndarray | list[str] = np.array(normal + anomaly, dtype=str)
        labels = np.concatenate((np.zeros(len(normal)), np.ones(len(anomaly))))
    else:
        files, labels = sorted(glob.glob(f"{folder}/*{id_name}*.{ext}")), None
    if len(files) == 0:
        logger.error("no_wav_file!! (%s/%s, %s)", target_dir, dir_name, id_name)
    return files, labels


def list_to_vector_array(
    file_list: Sequence[str | Path],
    msg: str = "calc...",
    n_mels: int = 64,
    frames: int = 5,
    n_fft: int = 1024,
    hop_length: int = 512,
    power: float = 2.0,
) -> np.ndarray:
    """:func:`file_to_vector_array` of every file, concatenated in order.

    Returns
    -------
    np.ndarray, shape (total_vectors, n_mels * frames), float64

    Raises
    ------
    PipelineError
        If ``file_list`` is empty or a file cannot be used.
    """
    if not file_list:
        raise PipelineError(f"{msg}: no files to convert")
    from tqdm import tqdm

    arrays = [
        file_to_vector_array(
            name, n_mels=n_mels, frames=frames, n_fft=n_fft, hop_length=hop_length, power=power
        )
        for name in tqdm(file_list, desc=msg)
    ]
    return np.concatenate(arrays)


def file_list_generator(
    target_dir: str | Path, dir_name: str = "train", ext: str = "wav"
) -> list[str]:
    """Absolute paths of ``<target_dir>/<dir_name>/*.<ext>``, sorted (empty if none)."""
    files = sorted(glob.glob(os.path.abspath(f"{glob.escape(str(target_dir))}/{dir_name}/*.{ext}")))
    if not files:
        logger.error("no_wav_file!! (%s/%s)", target_dir, dir_name)
    return files
