"""Log-mel extraction for many clips: an on-disk cache and a thread pool.

Every script needs the log-mel spectrograms of the same clips; they are
computed once and stored as float32 ``.npy`` files (after the frame crop),
keyed on the file (absolute path, size, modification time) and on every
parameter of the log-mel computation including the crop, so that a changed
file or a changed YAML key never reuses a stale entry. Frame stacking is
applied after the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .config import FeatureConfig
from .features import AudioError, FeatureError, audio_sample_rate, file_to_log_mel
from .io_utils import atomic_path

__all__ = ["FeatureCache", "ClipFeatures", "iter_log_mels", "extract_log_mels",
           "majority_sample_rate"]

logger = logging.getLogger(__name__)
_CACHE_FORMAT = 2


class FeatureCache:
    """Log-mel spectrograms stored under ``directory``, one ``.npy`` per clip and setting."""

    def __init__(self, directory: Path, feature: FeatureConfig):
        self.directory = Path(directory)
        self._parameters = json.dumps({"format": _CACHE_FORMAT, **feature.log_mel_key()},
                                      sort_keys=True)

    def entry_path(self, clip: Path) -> Path:
        """Cache file of ``clip`` under the current settings and file state."""
        clip = Path(clip).resolve()
        status = clip.stat()
        identity = f"{clip}\0{status.st_size}\0{status.st_mtime_ns}\0{self._parameters}"
        digest = hashlib.sha256(identity.encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest}.npy"

    def load(self, clip: Path) -> np.ndarray | None:
        """The cached log-mel of ``clip``, or ``None`` on a miss.

        An unreadable entry is reported and treated as a miss (it is rewritten).
        """
        entry = self.entry_path(clip)
        if not entry.exists():
            return None
        try:
            return np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            logger.warning("%s: unreadable feature-cache entry for %s (%s); recomputing",
                           entry, clip, error)
            return None

    def store(self, clip: Path, log_mel: np.ndarray) -> None:
        """Write ``clip``'s log-mel atomically."""
        with atomic_path(self.entry_path(clip)) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, np.asarray(log_mel, dtype=np.float32), allow_pickle=False)


@dataclass(frozen=True)
class ClipFeatures:
    """Cropped log-mel of one clip, or the reason it could not be computed."""

    path: Path
    log_mel: np.ndarray | None  # (n_frames, n_mels) float32, cropped
    error: str | None = None


def _one_clip(path: Path, feature: FeatureConfig, cache: FeatureCache | None,
              expected_sample_rate: int | None) -> ClipFeatures:
    try:
        log_mel = cache.load(path) if cache is not None else None
        if log_mel is not None and expected_sample_rate is not None:
            sample_rate = audio_sample_rate(path)
            if sample_rate != expected_sample_rate:
                raise FeatureError(f"sample rate {sample_rate} Hz differs from the "
                                   f"{expected_sample_rate} Hz of the other clips")
        if log_mel is None:
            log_mel = file_to_log_mel(path, feature, expected_sample_rate)
            if cache is not None:
                cache.store(path, log_mel)
        if log_mel.shape[0] < feature.frames:
            raise FeatureError(f"clip has {log_mel.shape[0]} log-mel frames, stacking needs "
                               f"{feature.frames}")
        return ClipFeatures(path, log_mel)
    except AudioError as error:
        return ClipFeatures(path, None, error=str(error))
    except FeatureError as error:
        return ClipFeatures(path, None, error=f"{path}: {error}")


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


def iter_log_mels(files: Sequence[Path], feature: FeatureConfig,
                  cache: FeatureCache | None = None, workers: int = 1,
                  description: str = "features", progress: bool = True,
                  check_sample_rate: bool = True) -> Iterator[ClipFeatures]:
    """Cropped log-mel spectrograms of ``files``, yielded in order as they are computed.

    Unreadable or unsuitable clips come back with ``log_mel=None`` and an
    ``error`` naming the file and the cause; so do clips whose sample rate
    differs from the majority of ``files`` (the mel filters depend on it).
    The FFT and matrix products release the GIL, so threads scale over cores.
    """
    expected = majority_sample_rate(files) if check_sample_rate else None

    def run(path: Path) -> ClipFeatures:
        return _one_clip(path, feature, cache, expected)

    with contextlib.ExitStack() as stack:
        # One BLAS thread per worker: the workers already use every core.
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        bar = stack.enter_context(tqdm(total=len(files), desc=description, unit="clip",
                                       disable=not progress, leave=False))
        mapper = map
        if workers > 1:
            mapper = stack.enter_context(ThreadPoolExecutor(max_workers=workers)).map
        for result in mapper(run, files):
            bar.update()
            yield result


def extract_log_mels(files: Sequence[Path], feature: FeatureConfig,
                     cache: FeatureCache | None = None, workers: int = 1,
                     description: str = "features", progress: bool = True
                     ) -> list[ClipFeatures]:
    """All of :func:`iter_log_mels` as a list."""
    return list(iter_log_mels(files, feature, cache, workers, description, progress))
