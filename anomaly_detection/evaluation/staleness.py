"""Which results in a result folder describe the model files present now.

Each scoring run records, in ``run_info.json``, the SHA-256 and folder of the model
file it scored (:func:`anomaly_detection.evaluation.results.record_model`). A report
shows a model variant's results of a machine type only while that file is still
there with that digest and, for a converted model, was converted from the Keras
model now beside it; other results are listed apart, with the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ModelError
from ..core.layout import OutputLayout
from ..model.provenance import file_digest, read_provenance
from ..registry.anomaly_scores import DEFAULT_ANOMALY_SCORE, anomaly_score_entry
from ..registry.variants import KERAS, ModelVariant

__all__ = [
    "ModelOrigin",
    "ResultFacts",
    "StaleResult",
    "model_origin",
    "result_record",
    "stale_reason",
    "SET_NAMES",
]

#: The names of the sets a ``run_info.json`` record's ``mode`` stands for.
SET_NAMES = {"dev": "development", "eval": "evaluation"}

#: Hex digits of a SHA-256 shown in reports.
DIGEST_PREFIX = 12


@dataclass(frozen=True)
class ModelOrigin:
    """The model file a variant's results of one machine type came from."""

    folder: str
    file: str
    digest: str

    @property
    def short_digest(self) -> str:
        return self.digest[:DIGEST_PREFIX]


@dataclass(frozen=True)
class StaleResult:
    """Results not shown as current: whose, and why."""

    variant: ModelVariant
    machine_type: str
    reason: str


@dataclass(frozen=True)
class ResultFacts:
    """What results are computed on, besides the model: the set (``dev`` or ``eval``),
    pAUC's ``max_fpr``, per machine type the digest of its test clip list, the anomaly
    score (a name in the anomaly-score registry, with its formula) and, on the evaluation
    set, per machine type the digest of its labels (the ground truth's, none without;
    ``labels`` ``None``: a run that reads no labels, not compared; development labels are
    in the clip names); the decision thresholds' settings (``decision``:
    ``decision_percentile`` and ``decision_fit``; ``None``: not compared) and, per machine
    type, the digest of the training clips they (and a score's state, such as the
    Mahalanobis score's) are fitted on (``None``: no training folder). Recorded with each
    ``result.csv``; a report compares them with the current run's."""

    mode: str
    max_fpr: float
    clips: Mapping[str, str] = field(default_factory=dict)
    score: str = DEFAULT_ANOMALY_SCORE
    labels: Mapping[str, str] | None = None  # None: not compared (a run that reads none)
    decision: tuple[float, str] | None = None  # decision_percentile, decision_fit
    training: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def formula(self) -> str:
        """The score's formula (its registry entry's), recorded beside its name."""
        return anomaly_score_entry(self.score).formula

    def record(self, machine_type: str) -> dict[str, object]:
        return {
            "mode": self.mode,
            "max_fpr": self.max_fpr,
            "clips": self.clips.get(machine_type),
            "score": self.score,
            "formula": self.formula,
            "labels": None if self.labels is None else self.labels.get(machine_type),
            "decision": None if self.decision is None else list(self.decision),
            "training_clips": self.training.get(machine_type),
        }

    def difference(self, entry: Mapping[str, object], machine_type: str) -> str | None:
        """How the results of ``entry`` (a ``run_info.json`` entry of ``machine_type``)
        were computed on another set, ``max_fpr``, score, clips, labels, decision settings
        or training clips than these facts say; ``None`` when they were not (clips, labels
        and training clips are compared only for types these facts list)."""
        record = result_record(entry)
        if record.get("mode") != self.mode:
            return (
                f"scored on the {SET_NAMES.get(str(record.get('mode')), '?')} set; this run "
                f"scores the {SET_NAMES[self.mode]} set"
            )
        if record.get("max_fpr") != self.max_fpr:
            return (
                f"pAUC at FPR <= {record.get('max_fpr')}; the configuration now says {self.max_fpr}"
            )
        if record.get("score", DEFAULT_ANOMALY_SCORE) != self.score:  # none recorded: the default
            return f"scored by {record.get('score')}; this run's anomaly_score is {self.score}"
        if record.get("formula", "") != self.formula:  # none recorded: before formulas were
            return (
                f"scored by {self.score} under another formula "
                f"({record.get('formula') or 'the one before formulas were recorded'}); "
                f"this run's is {self.formula or 'the only one'}"
            )
        return self._data_difference(record, machine_type) or self._decision_difference(
            record, machine_type
        )

    def _data_difference(self, record: Mapping[str, object], machine_type: str) -> str | None:
        """How ``record``'s test clips or labels differ from these facts'."""
        clips = self.clips.get(machine_type)
        if clips is not None and record.get("clips") != clips:
            return (
                "scored on other test clips than the data folder holds now (clips added, "
                "removed, replaced or touched, or another folder)"
            )
        judged = self.mode == "eval" and machine_type in self.clips
        if (
            judged
            and self.labels is not None
            and record.get("labels") != self.labels.get(machine_type)
        ):
            return (
                "scored with other labels than the ground truth gives now (a label corrected, "
                "another --ground-truth, or none)"
            )
        return None

    def _decision_difference(self, record: Mapping[str, object], machine_type: str) -> str | None:
        """How the decision settings or training clips of ``record``'s thresholds differ
        from these facts' (a record older than them counts as different)."""
        if self.decision is not None and record.get("decision") != list(self.decision):
            then = record.get("decision")
            said = (
                f"decision_percentile {then[0]} (decision_fit {then[1]})"
                if isinstance(then, list) and len(then) == 2
                else "a decision_percentile not recorded"
            )
            percentile, fit = self.decision
            return f"decisions at {said}; the configuration now says {percentile} ({fit})"
        if machine_type in self.training and record.get("training_clips") != self.training.get(
            machine_type
        ):
            return (
                "thresholds fitted on other training clips than the data folder holds now "
                "(clips added, removed, replaced or touched, or another folder)"
            )
        return None


def result_record(entry: Mapping[str, object]) -> Mapping[str, object]:
    """The ``result_csv`` record of a ``run_info.json`` entry: what its result.csv rows of
    this machine type were computed from (empty if none was written)."""
    record = entry.get("result_csv")
    return record if isinstance(record, Mapping) else {}


def model_origin(
    layout: OutputLayout, variant: ModelVariant, machine_type: str, entry: Mapping[str, object]
) -> ModelOrigin:
    """The model file whose results ``result.csv`` holds, by the record written with it
    (the model file scored last, when no ``result.csv`` was written)."""
    record = result_record(entry) or entry
    folder = str(record.get("model_directory") or layout.model_directory)
    file = str(entry.get("file") or variant.model_file_name(machine_type))
    return ModelOrigin(folder, file, str(record.get("digest") or ""))


@functools.lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    return file_digest(path)


def _current_digest(path: Path) -> str | None:
    """SHA-256 of the file now at ``path`` (``None`` if missing); cached by size and mtime."""
    try:
        status = path.stat()
    except OSError:
        return None
    return _digest(path, status.st_size, status.st_mtime_ns)


def stale_reason(
    layout: OutputLayout,
    variant: ModelVariant,
    machine_type: str,
    entry: Mapping[str, object],
    expected: ResultFacts | None = None,
) -> str | None:
    """Why ``variant``'s results of ``machine_type`` do not describe the model file there
    now, or the set, ``max_fpr`` and clips of ``expected`` (the current run's); ``None``
    when they do."""
    if not result_record(entry).get("digest"):
        return "no record of the model that produced them (run_info.json)"
    origin = model_origin(layout, variant, machine_type, entry)
    reason = _model_changed(origin, variant, machine_type)
    if reason is None and expected is not None:
        reason = expected.difference(entry, machine_type)
    return reason


def _model_changed(origin: ModelOrigin, variant: ModelVariant, machine_type: str) -> str | None:
    model_file = Path(origin.folder) / origin.file
    current = _current_digest(model_file)
    if current is None:
        return f"{model_file} is gone"
    if current != origin.digest:
        return (
            f"{origin.file} changed since it was scored (scored {origin.short_digest}, "
            f"now {current[:DIGEST_PREFIX]})"
        )
    if variant.file != KERAS.file:  # a converted file: was it made from the Keras file now?
        keras_file = Path(origin.folder) / KERAS.model_file_name(machine_type)
        try:
            provenance = read_provenance(model_file)
        except ModelError as error:
            return str(error)
        source = None if provenance is None else provenance.source_model_digest
        keras_digest = _current_digest(keras_file)
        if source is not None and keras_digest is not None and source != keras_digest:
            return (
                f"{origin.file} was converted from an earlier {keras_file.name} "
                "(run 02_convert.py and 03_tflite_test.py again)"
            )
    return None
