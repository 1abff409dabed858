"""The feature cache: cropped log-mel spectrograms of whole clip lists, on disk.

Every script needs the log-mel spectrograms of the same clips; they are
computed once and stored (after the frame crop) in one raw float32 file per clip
list, read back memory-mapped. This module is the only one that knows the
file format: an entry is ``<key[:2]>/<key>.f32`` (the clips' frames, one clip
after the other, ``n_mels`` float32 values per frame) and ``<key>.json`` (the
clip offsets, in frames), committed only when every clip of the list was
computed without error. The key covers every file's absolute path, size,
modification and status-change times and a fingerprint of its content (the
first 4 KiB: the header and the first samples), and every log-mel parameter
including the crop, so a changed file or a changed YAML key never reuses a
stale entry: a rewritten clip whose modification time was restored still has a
new status-change time, which no program can set back. The index also holds
an xxh3 checksum of the data file, computed from the data flushed to disk
before the index is written, and verified whenever the entry is opened: a
damaged data file (zeros left by a crash, a bad disk) is reported and
recomputed. Temporary files of runs that died are removed. Frame stacking is
applied after the cache.

Residual risk, documented: an edit that keeps a clip's size and both times
(impossible without changing the system clock or the file system's metadata
directly) and leaves its first 4 KiB unchanged reuses the old features.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import xxhash

from ..core.config import FeatureConfig
from ..core.errors import CacheError, OutputError
from ..core.io_utils import as_path, atomic_path, write_text_atomic
from .clip_features import ClipFeatures
from .frame_store import FileFrameStore

__all__ = ["FeatureCache", "CacheEntry", "data_checksum", "remove_orphans"]

logger = logging.getLogger(__name__)
_CACHE_FORMAT = 5
_FINGERPRINT_BYTES = 4096
_CHECKSUM_BLOCK = 8 << 20


def _fingerprint(path: str) -> str | None:
    """``size:ctime:mtime:xxh3(first 4 KiB)`` of a file, or ``None`` if it cannot be read
    (missing, a link loop, no permission: reported when its features are computed)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        head = os.pread(descriptor, _FINGERPRINT_BYTES, 0)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return (
        f"{status.st_size}:{status.st_ctime_ns}:{status.st_mtime_ns}:"
        f"{xxhash.xxh3_64_hexdigest(head)}"
    )


def data_checksum(path: Path, *, workers: int = 2) -> str:
    """Checksum of a file's bytes: xxh3-64 of the xxh3-64 digests of its 8 MiB chunks,
    hashed on ``workers`` threads straight from the page cache (memory-mapped)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return xxhash.xxh3_64_hexdigest(b"")
        with mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped:
            view = memoryview(mapped)
            chunks = [
                view[start : start + _CHECKSUM_BLOCK]
                for start in range(0, len(view), _CHECKSUM_BLOCK)
            ]
            try:
                if workers > 1 and len(chunks) > 1:
                    with ThreadPoolExecutor(workers) as executor:
                        digests = list(executor.map(xxhash.xxh3_64_digest, chunks))
                else:
                    digests = [xxhash.xxh3_64_digest(chunk) for chunk in chunks]
            finally:
                for chunk in chunks:
                    chunk.release()
                view.release()
    return xxhash.xxh3_64_hexdigest(b"".join(digests))


def remove_orphans(directory: Path, older_than: float) -> int:
    """Remove temporary files (``.*.part*``) under ``directory`` last written before
    ``older_than`` (a POSIX time): left by runs that were killed. Returns their count."""
    removed = 0
    for path in Path(directory).glob("*/.*.part*"):
        try:
            if path.stat().st_mtime < older_than:
                path.unlink()
                removed += 1
        except OSError:
            continue  # another run's file, gone or not ours to remove
    return removed


def _process_start_time() -> float:
    """When this process started (POSIX time), from ``/proc`` where it exists."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time() - time.process_time()  # roughly: not later than the start


@dataclass(frozen=True)
class CacheEntry:
    """One committed cache entry: clip ``i`` owns float32 rows ``offsets[i]:offsets[i + 1]``
    (``n_mels`` values each) of the raw file ``data_path``."""

    data_path: Path
    offsets: list[int]
    n_mels: int

    @property
    def n_frames(self) -> int:
        return self.offsets[-1]

    def frame_store(self) -> FileFrameStore:
        """The entry's frames as a store read batch by batch from the file."""
        return FileFrameStore(self.data_path, np.asarray(self.offsets), self.n_mels)


class FeatureCache:
    """Log-mel spectrograms of whole clip lists, stored under ``directory``.

    One entry per list of clips and feature setting: the clips' cropped
    log-mels concatenated in one raw float32 file (memory-mapped when read)
    and a JSON index of clip offsets. The key covers every
    file's absolute path, size and modification time and every log-mel
    parameter, so a changed, added or removed clip or a changed YAML key
    gives a new entry (the whole list is then recomputed: seconds for
    thousands of clips).
    """

    def __init__(self, directory: Path, feature: FeatureConfig, *, workers: int = 1):
        self.directory = Path(directory)
        self.n_mels = feature.n_mels
        self._workers = max(1, workers)
        self._parameters = json.dumps(
            {"format": _CACHE_FORMAT, **feature.log_mel_key()}, sort_keys=True
        )
        self._orphans_checked = False

    def _remove_orphans_once(self) -> None:
        """Temporary files older than this process are left by killed runs: removed."""
        if not self._orphans_checked and self.directory.is_dir():
            removed = remove_orphans(self.directory, older_than=_process_start_time())
            if removed:
                logger.info("%s: removed %d unfinished cache file(s)", self.directory, removed)
        self._orphans_checked = True

    def entry_paths(self, files: Sequence[Path]) -> tuple[Path, Path] | None:
        """Index and data file of the entry for ``files`` (``None`` if a file is missing)."""
        absolute = [os.path.abspath(clip) for clip in files]
        fingerprints = [_fingerprint(path) for path in absolute]  # threads measured slower
        parts = [self._parameters]
        for path, fingerprint in zip(absolute, fingerprints, strict=True):
            if fingerprint is None:
                return None
            parts.append(f"\0{path}\0{fingerprint}")
        # surrogateescape: a file name that is not valid UTF-8 keeps its own bytes
        key = hashlib.sha256("".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
        return (self.directory / key[:2] / f"{key}.json", self.directory / key[:2] / f"{key}.f32")

    def load(self, files: Sequence[Path]) -> list[ClipFeatures] | None:
        """The cached features of ``files`` (views of one memory map), or ``None`` on a miss."""
        entry = self.entry(files)
        if entry is None:
            return None
        if entry.n_frames == 0:
            frames = np.empty((0, self.n_mels), dtype=np.float32)
        else:
            frames = np.memmap(
                entry.data_path, dtype=np.float32, mode="r", shape=(entry.n_frames, self.n_mels)
            ).view(np.ndarray)
        offsets = entry.offsets
        return [
            ClipFeatures(as_path(path), frames[begin:end])
            for path, begin, end in zip(files, offsets[:-1], offsets[1:], strict=True)
        ]

    def entry(self, files: Sequence[Path]) -> CacheEntry | None:
        """The committed entry for ``files``, or ``None`` on a miss.

        An entry whose index or data file is unreadable or inconsistent is
        reported and treated as a miss (it is rewritten).
        """
        self._remove_orphans_once()
        paths = self.entry_paths(files)
        if paths is None or not paths[0].is_file():
            return None
        index_path, data_path = paths
        try:
            index = json.loads(index_path.read_text())
            offsets = index["offsets"]
            if len(offsets) != len(files) + 1:
                raise ValueError("index does not match the clip list")
            expected = offsets[-1] * self.n_mels * np.dtype(np.float32).itemsize
            if data_path.stat().st_size != expected:
                raise ValueError(
                    f"{data_path.name} has {data_path.stat().st_size} bytes, "
                    f"the index needs {expected}"
                )
            if data_checksum(data_path, workers=self._workers) != index["checksum"]:
                raise ValueError(f"{data_path.name} does not match its checksum (damaged)")
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("%s: damaged feature-cache entry (%s); recomputing", index_path, error)
            index_path.unlink(missing_ok=True)
            return None
        return CacheEntry(data_path, offsets, self.n_mels)

    @contextlib.contextmanager
    def writer(
        self, files: Sequence[Path], slot_frames: int | None = None
    ) -> Iterator[_EntryWriter | None]:
        """Context yielding an :class:`_EntryWriter` for the entry of ``files`` (``None``
        if a file is missing). The entry is committed only if every clip was added and
        none had an error (an interrupted run or a bad clip leaves no entry, so problems
        are always reported from the files themselves)."""
        paths = self.entry_paths(files)
        if paths is None:
            yield None
            return
        index_path, data_path = paths
        self._remove_orphans_once()
        try:  # clips are read under AudioError, so an OSError here is the cache's
            with atomic_path(data_path) as temporary:
                with open(temporary, "w+b") as handle:
                    entry = _EntryWriter(handle, slot_frames, self.n_mels, len(files))
                    yield entry
                    handle.flush()
                    os.fsync(handle.fileno())  # on disk before the index says it is
                checksum = (
                    data_checksum(temporary, workers=self._workers) if entry.complete else None
                )
            if checksum is not None:
                index = {"offsets": entry.offsets, "checksum": checksum}
                write_text_atomic(index_path, json.dumps(index))
            else:
                data_path.unlink(missing_ok=True)
        except (OSError, OutputError) as error:
            cause = error.strerror if isinstance(error, OSError) else error.reason
            raise CacheError(
                f"{self.directory}: cannot write the feature cache "
                f"({cause or error}); free some space, set another "
                "cache_directory, or pass --no-cache"
            ) from None


class _EntryWriter:
    """The data file of one cache entry being written, and its index.

    Clips are added in list order (:meth:`add`). With ``slot_frames`` (a frame
    crop: every usable clip has that many frames), worker threads write each
    clip straight to its place in the file (:meth:`write_slot`), in parallel
    and in any order, and the clip's log-mel is then read from the file's
    memory map, as on a cache hit; otherwise :meth:`add` appends the data.
    """

    def __init__(self, handle: BinaryIO, slot_frames: int | None, n_mels: int, n_clips: int):
        self._handle = handle
        self._slot_frames = slot_frames
        self._slot_bytes = (slot_frames or 0) * n_mels * np.dtype(np.float32).itemsize
        self._slots = None  # (n_clips, slot_frames, n_mels) read-only map of the file
        if slot_frames and n_clips:
            # Space reserved up front: a full disk shows before any work, and the slot
            # writes were 7% faster on ext4 than into a sparse file.
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(handle.fileno(), 0, n_clips * self._slot_bytes)
            else:
                os.ftruncate(handle.fileno(), n_clips * self._slot_bytes)
            self._slots = np.memmap(
                handle, dtype=np.float32, mode="r", shape=(n_clips, slot_frames, n_mels)
            ).view(np.ndarray)
        self._n_clips = n_clips
        self.offsets: list[int] = [0]
        self._usable = True  # False once a clip had an error or did not fit its slot

    @property
    def complete(self) -> bool:
        """Every clip of the list was added, without error, each in its slot."""
        return self._usable and len(self.offsets) == self._n_clips + 1

    def _fits_slot(self, clip: ClipFeatures) -> bool:
        return clip.log_mel is not None and len(clip.log_mel) == self._slot_frames

    def write_slot(self, index: int, clip: ClipFeatures) -> ClipFeatures:
        """Write clip number ``index`` at its place in the file (thread-safe); returns the
        clip with its log-mel as a view of the file (unchanged if it has no slot), so the
        computed array can be freed."""
        if self._slots is None or not self._fits_slot(clip):
            return clip
        data = np.ascontiguousarray(clip.log_mel, dtype=np.float32).data.cast("B")
        offset = index * self._slot_bytes
        while data:
            written = os.pwrite(self._handle.fileno(), data, offset)
            data, offset = data[written:], offset + written
        return ClipFeatures(clip.path, self._slots[index])

    def add(self, clip: ClipFeatures) -> None:
        """Record the next clip of the list (appending its data when there are no slots)."""
        if clip.log_mel is None:
            self._usable = False
        elif self._slot_frames is None:
            self._handle.write(np.ascontiguousarray(clip.log_mel, dtype=np.float32).data)
        elif not self._fits_slot(clip):
            self._usable = False
        self.offsets.append(self.offsets[-1] + (0 if clip.log_mel is None else len(clip.log_mel)))
