"""Log-mel extraction for many clips: a thread pool, in front of the feature cache.

Each worker task computes a few clips as one batch (the FFT and the array
arithmetic release the GIL, so the threads scale over cores) and, with a frame
crop and a cache, writes them to the cache file itself; the clips then come
back as views of that file, as on a cache hit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.config import FeatureConfig
from ..core.config_checks import DCASE_SAMPLE_RATE
from ..core.errors import AudioError, ConfigError, FeatureError, TrainingError
from ..data.audio import audio_sample_rate
from ..dsp.mel import empty_mel_bands
from .cache import FeatureCache
from .clip_features import ClipFeatures, files_to_log_mels
from .frame_store import FrameStore, MemoryFrameStore

__all__ = ["iter_log_mels", "extract_log_mels", "majority_sample_rate", "load_frame_store"]

logger = logging.getLogger(__name__)

_CLIPS_PER_TASK = 2  # clips per worker task, computed as one batch (fastest measured)


def majority_sample_rate(files: Sequence[Path]) -> int | None:
    """The most common sample rate among the readable headers of ``files`` (Hz)."""
    rates = []
    for path in files:
        try:
            rates.append(audio_sample_rate(path))
        except AudioError:
            continue  # reported when its features are computed
    if not rates:
        return None
    values, counts = np.unique(rates, return_counts=True)
    return int(values[np.argmax(counts)])


def check_settings_at_rate(feature: FeatureConfig, sample_rate: int) -> None:
    """Check the feature settings at the clips' real sample rate, and log (once per run and
    rate) the durations they cover; warn when the rate is not the DCASE 16 kHz.

    ``n_fft``, ``hop_length`` and ``frame_crop`` count samples and frames, so the
    reference's settings cover 64 ms windows and 1.6-8 s of a 16 kHz clip, but 23 ms and
    0.58-2.9 s of a 44.1 kHz one.

    Raises
    ------
    ConfigError
        If a mel band would hold no FFT bin at ``sample_rate``.
    """
    empty = empty_mel_bands(sample_rate=sample_rate, n_fft=feature.n_fft, n_mels=feature.n_mels)
    if empty:
        raise ConfigError(
            f"'feature.n_fft' ({feature.n_fft}) is too small for 'feature.n_mels' "
            f"({feature.n_mels}) at the clips' {sample_rate} Hz: {empty} mel band(s) would "
            "hold no FFT bin (raise n_fft or lower n_mels)"
        )
    window_ms = 1e3 * feature.n_fft / sample_rate
    hop_ms = 1e3 * feature.hop_length / sample_rate
    crop = (
        "every frame"
        if feature.frame_crop is None
        else "frames {}-{} = {:.2f}-{:.2f} s".format(
            *feature.frame_crop,
            *(frame * feature.hop_length / sample_rate for frame in feature.frame_crop),
        )
    )
    usual = sample_rate == DCASE_SAMPLE_RATE
    (logger.info if usual else logger.warning)(
        "clips at %d Hz%s: window %.1f ms, hop %.1f ms, %s%s",
        sample_rate,
        "" if usual else ", not DCASE's 16 kHz",
        window_ms,
        hop_ms,
        crop,
        "" if usual else " (the settings count samples)",
    )


def iter_log_mels(
    files: Sequence[Path],
    feature: FeatureConfig,
    *,
    cache: FeatureCache | None = None,
    workers: int = 1,
    description: str = "features",
    progress: bool = True,
    check_sample_rate: bool = True,
) -> Iterator[ClipFeatures]:
    """Cropped log-mel spectrograms of ``files``, yielded in order as they are computed.

    Unreadable or unsuitable clips come back with ``log_mel=None`` and an
    ``error`` naming the file and the cause; so do clips whose sample rate
    differs from the majority of ``files`` (the mel filters depend on it).
    Each worker task computes a few clips as one batch (the FFT and the array
    arithmetic release the GIL, so the threads scale over cores) and, with a
    frame crop, writes them to the cache file itself; the clips then come back
    as views of that file, as on a cache hit.
    """
    files = list(files)
    if cache is not None:
        cached = cache.load(files)
        if cached is not None:
            yield from cached
            return
    expected = majority_sample_rate(files) if check_sample_rate else None

    # With a frame crop every usable clip has the same frame count: a fixed slot in the file.
    slot_frames = None
    if feature.frame_crop is not None:
        slot_frames = feature.frame_crop[1] - feature.frame_crop[0]
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(
            tqdm(total=len(files), desc=description, unit="clip", disable=not progress, leave=False)
        )
        entry = stack.enter_context(cache.writer(files, slot_frames)) if cache is not None else None

        def run(first: int) -> list[ClipFeatures]:
            results = files_to_log_mels(
                files[first : first + _CLIPS_PER_TASK], feature, expected_sample_rate=expected
            )
            if entry is not None:
                results = [
                    entry.write_slot(index, clip) for index, clip in enumerate(results, first)
                ]
            return results

        mapper: Callable[
            [Callable[[int], list[ClipFeatures]], Iterable[int]], Iterator[list[ClipFeatures]]
        ] = map
        if workers > 1:
            executor = ThreadPoolExecutor(max_workers=workers)
            # On an early stop (Ctrl-C, a consumer that breaks off), drop the queued clips.
            stack.callback(executor.shutdown, wait=True, cancel_futures=True)
            mapper = executor.map
        for results in mapper(run, range(0, len(files), _CLIPS_PER_TASK)):
            for result in results:
                if entry is not None:
                    entry.add(result)
                bar.update()
                yield result


def extract_log_mels(
    files: Sequence[Path], feature: FeatureConfig, **options: Any
) -> list[ClipFeatures]:
    """All of :func:`iter_log_mels` (the same keyword options) as a list."""
    return list(iter_log_mels(files, feature, **options))


def _usable(
    clips: Iterable[ClipFeatures], problems: list[AudioError | FeatureError]
) -> Iterator[ClipFeatures]:
    """The clips without error; the errors are logged and appended to ``problems``."""
    for clip in clips:
        if clip.error is None:
            yield clip
        else:
            logger.error("%s", clip.error)
            problems.append(clip.error)


def load_frame_store(
    files: Sequence[Path],
    feature: FeatureConfig,
    *,
    cache: FeatureCache | None = None,
    workers: int = 1,
    skip_bad_clips: bool = False,
    description: str = "features",
    progress: bool = True,
) -> FrameStore:
    """The cropped log-mel frames of ``files`` (training clips) as one frame store.

    With a cache the store reads the cache file batch by batch (missing
    features are computed into it first); without, the frames are streamed
    into memory, held once.

    Raises
    ------
    TrainingError
        If a clip is unusable (unless ``skip_bad_clips``: it is then left out,
        with an error logged), or none is usable.
    """
    folder = files[0].parent if files else Path(".")
    problems: list[AudioError | FeatureError] = []
    if cache is None:
        clips = _usable(
            iter_log_mels(
                files, feature, workers=workers, description=description, progress=progress
            ),
            problems,
        )
        # Streamed into memory: the clips' frames are held once, never as a list and a copy.
        paths: list[Path] = []
        store = MemoryFrameStore.from_clips(
            _log_mels_noting_paths(clips, paths), len(files), feature.n_mels
        )
        _check_usable(folder, problems, store.n_clips, skip_bad_clips=skip_bad_clips)
        store.clip_paths = paths
        return store
    entry = cache.entry(files)
    if entry is not None:
        return _with_paths(entry.frame_store(), files)
    usable_files = [
        clip.path
        for clip in _usable(
            iter_log_mels(
                files,
                feature,
                cache=cache,
                workers=workers,
                description=description,
                progress=progress,
            ),
            problems,
        )
    ]
    _check_usable(folder, problems, len(usable_files), skip_bad_clips=skip_bad_clips)
    if problems:
        # The cache keeps only error-free clip lists: store the usable ones as their own.
        logger.info("%s: caching the features of the %d usable clips", folder, len(usable_files))
        for _ in iter_log_mels(
            usable_files,
            feature,
            cache=cache,
            workers=workers,
            description=f"{description} (usable clips)",
            progress=progress,
        ):
            pass
    entry = cache.entry(usable_files)
    if entry is None:
        raise TrainingError(
            f"{cache.directory}: the feature-cache entry of {len(usable_files)} "
            f"clips of {folder} was not written (did clips change during the "
            "run?)"
        )
    return _with_paths(entry.frame_store(), usable_files)


def _log_mels_noting_paths(
    clips: Iterable[ClipFeatures], paths: list[Path]
) -> Iterator[np.ndarray]:
    """The clips' log-mels, appending each one's path to ``paths`` as it goes."""
    for clip in clips:
        if clip.log_mel is not None:
            paths.append(clip.path)
            yield clip.log_mel


def _with_paths(store: FrameStore, files: Sequence[Path]) -> FrameStore:
    store.clip_paths = list(files)
    return store


def _check_usable(
    folder: Path,
    problems: Sequence[AudioError | FeatureError],
    n_usable: int,
    *,
    skip_bad_clips: bool,
) -> None:
    if problems and not skip_bad_clips:
        raise TrainingError(
            f"{folder}: {len(problems)} unusable clip(s), first: {problems[0]} "
            "(fix or remove them, or pass --skip-bad-clips)"
        )
    if n_usable == 0:
        raise TrainingError(f"{folder}: no usable training clips")
