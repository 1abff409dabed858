"""What a run's results are computed on, besides the model: :class:`~anomaly_detection.
evaluation.staleness.ResultFacts` of every machine type of the run's data folder."""

from __future__ import annotations

from ..core.errors import DatasetError
from ..data.dataset import select_machine_type_dirs, wav_files
from ..data.run_inputs import scoring_sets
from ..evaluation.staleness import ResultFacts
from .clip_facts import ClipFacts
from .settings import RunSettings

__all__ = ["result_facts"]


def result_facts(settings: RunSettings, facts: ClipFacts) -> ResultFacts:
    """The set, ``max_fpr``, test clip lists, anomaly score, (evaluation set) labels,
    decision settings and training clips a run of ``settings`` computes its results on, for
    every machine type of the data folder: results of the types ``--machine-type`` leaves
    out, which the run keeps or shows, are judged too (each that can be listed).

    Raises
    ------
    DatasetError
        The data folder, or a chosen machine type's test clips, cannot be listed.
    """
    ground_truth, chosen = settings.ground_truth, settings.machine_types
    clips, labels, training = {}, {}, {}
    every = select_machine_type_dirs(settings.data_directory, None, skip_broken_links=True)
    for folder in every:
        try:
            test_sets = scoring_sets(folder, settings.dataset_year, dev_mode=settings.dev_mode)
        except DatasetError:
            if chosen is None or folder.name in chosen:
                raise
            continue  # left out of this run, and unreadable: not judged by its clips
        clips[folder.name] = facts.files_digest([path for s in test_sets for path in s.files])
        train_dir = folder / "train"  # the clips its thresholds (and a score's state) fit on
        training[folder.name] = (
            facts.files_digest(wav_files(train_dir)) if train_dir.is_dir() else None
        )
        if ground_truth is not None:
            labels[folder.name] = ground_truth.labels_digest(folder.name)
    config = settings.config
    return ResultFacts(
        settings.mode,
        config.max_fpr,
        clips,
        config.anomaly_score,
        labels if settings.reads_labels else None,
        (config.decision_percentile, config.decision_fit),
        training,
    )
