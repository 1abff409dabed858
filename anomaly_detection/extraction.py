"""Log-mel extraction for many clips: an on-disk cache and a thread pool.

Every script needs the log-mel spectrograms of the same clips; they are
computed once and stored as float32 ``.npy`` files, keyed on the file (absolute
path, size, modification time) and on every parameter of the log-mel
computation, so that a changed file or a changed YAML key never reuses a stale
entry. The crop and frame stacking are applied after the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .config import FeatureConfig
from .features import (AudioError, FeatureError, audio_sample_rate, crop_frames, load_audio,
                       log_mel_spectrogram)
from .io_utils import atomic_path

__all__ = ["FeatureCache", "ClipFeatures", "extract_log_mels"]

logger = logging.getLogger(__name__)
_CACHE_FORMAT = 1


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
    sample_rate: int | None = None  # Hz
    error: str | None = None


def _one_clip(path: Path, feature: FeatureConfig, cache: FeatureCache | None) -> ClipFeatures:
    try:
        log_mel = cache.load(path) if cache is not None else None
        if log_mel is None:
            signal, sample_rate = load_audio(path)
            log_mel = log_mel_spectrogram(signal, sample_rate, n_mels=feature.n_mels,
                                          n_fft=feature.n_fft, hop_length=feature.hop_length,
                                          power=feature.power)
            if cache is not None:
                cache.store(path, log_mel)
        else:
            sample_rate = audio_sample_rate(path)
        cropped = crop_frames(log_mel, feature.frame_crop)
        if cropped.shape[0] < feature.frames:
            raise FeatureError(f"clip has {cropped.shape[0]} log-mel frames, stacking needs "
                               f"{feature.frames}")
        return ClipFeatures(path, cropped, sample_rate)
    except AudioError as error:
        return ClipFeatures(path, None, error=str(error))
    except FeatureError as error:
        return ClipFeatures(path, None, error=f"{path}: {error}")


def extract_log_mels(files: Sequence[Path], feature: FeatureConfig,
                     cache: FeatureCache | None = None, workers: int = 1,
                     description: str = "features", progress: bool = True
                     ) -> list[ClipFeatures]:
    """Cropped log-mel spectrograms of ``files``, in order, computed in parallel.

    Unreadable or unsuitable clips come back with ``log_mel=None`` and an
    ``error`` naming the file and the cause; the caller decides what to do.
    The FFT and matrix products release the GIL, so threads scale over cores.
    """
    def run(path: Path) -> ClipFeatures:
        return _one_clip(path, feature, cache)

    results: list[ClipFeatures] = []
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(files), desc=description, unit="clip",
                                       disable=not progress, leave=False))
        mapper = map
        if workers > 1:
            mapper = stack.enter_context(ThreadPoolExecutor(max_workers=workers)).map
        for result in mapper(run, files):
            results.append(result)
            bar.update()
    return results
