"""Facts of clip lists that a run reads once: sample rates, channel counts and digests.

Several models of one machine type check the same clips (their sample rate, the digest
their results and thresholds are tied to); :class:`ClipFacts` reads each fact of each
list once per run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import AudioError
from ..data.audio import audio_channels
from ..features.extraction import majority_sample_rate
from ..model.provenance import clip_files_digest, clip_list_digest

__all__ = ["ClipFacts"]


class ClipFacts:
    """Facts of clip lists, each read from the files once."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, tuple[Path, ...]], Any] = {}

    def sample_rate(self, clips: Sequence[Path]) -> int | None:
        """The most common sample rate of ``clips``' headers (Hz), ``None`` if none reads."""
        return self.once("sample rate", clips, majority_sample_rate)

    def channel_count(self, clips: Sequence[Path]) -> int | None:
        """The most common channel count of ``clips``' headers, ``None`` if none reads."""
        return self.once("channel count", clips, _common_channel_count)

    def list_digest(self, clips: Sequence[Path]) -> str:
        """:func:`~anomaly_detection.model.provenance.clip_list_digest` of ``clips``: what
        a model's provenance records of its training clips."""
        return self.once("list digest", clips, clip_list_digest)

    def files_digest(self, clips: Sequence[Path]) -> str:
        """:func:`~anomaly_detection.model.provenance.clip_files_digest` of ``clips``: what
        results and thresholds are tied to (names, sizes, modification times)."""
        return self.once("files digest", clips, clip_files_digest)

    def once(self, fact: str, clips: Sequence[Path], compute: Callable[[Any], Any]) -> Any:
        """``compute(clips)``, computed on the first call for ``fact`` and these clips."""
        key = (fact, tuple(clips))
        if key not in self._known:
            self._known[key] = compute(clips)
        return self._known[key]


def _common_channel_count(clips: Sequence[Path]) -> int | None:
    """The most common channel count among the readable headers of ``clips``."""
    counts: Counter[int] = Counter()
    for path in clips:
        try:
            counts[audio_channels(path)] += 1
        except AudioError:
            continue  # reported when its features are computed
    return counts.most_common(1)[0][0] if counts else None
