"""The anomaly scores a model can score clips by (the ``anomaly_score:`` key).

Each :class:`AnomalyScore` names the code that scores clips under it: an object
following :class:`~anomaly_detection.evaluation.score_methods.AnomalyScoreMethod`, which
fits and stores what the score needs beside the model file and returns the model as
it scores clips. A new anomaly score is one entry in :data:`ANOMALY_SCORES` and its
implementation; the configuration check, the file names and the summary read the
entry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AnomalyScore",
    "ANOMALY_SCORES",
    "DEFAULT_ANOMALY_SCORE",
    "anomaly_score_entry",
    "anomaly_score_names",
]


@dataclass(frozen=True)
class AnomalyScore:
    """One anomaly score.

    Parameters
    ----------
    name : str
        The ``anomaly_score:`` value in the YAML, recorded in thresholds and results.
    description : str
        One line naming the score (the summary's "Scored ... by the ..." line).
    implementation : str
        Import path (``"anomaly_detection.evaluation.<module>:<Name>"``) of the object
        that fits the score's state and scores clips, resolved by
        :func:`~anomaly_detection.registry.implementation.load` when used.
    file_tag : str
        What the score's files add to the model file's name: its decision threshold is
        ``<model file><file_tag>.threshold.json``, any state stored beside the model
        ``<model file><file_tag><extension>``. Empty for the reference's score.
    formula : str
        Which formula the name stands for, where it has stood for another before: recorded
        with every state, threshold and result computed under it, so that nothing
        computed by the earlier formula is taken for this one. Empty for a name that has
        had one formula only (records older than the field read as empty).
    organisers_name : str or None
        The organisers' name of the score (their ``--score``: ``MSE``, ``MAHALA``), in the
        folder of their file names (``baseline_MSE``); ``None`` where they have none.
    """

    name: str
    description: str
    implementation: str
    file_tag: str = ""
    formula: str = ""
    organisers_name: str | None = None

    def threshold_file_name(self, model_file_name: str) -> str:
        """``<model file name><file_tag>.threshold.json``."""
        return f"{model_file_name}{self.file_tag}.threshold.json"

    def state_file_name(self, model_file_name: str, extension: str) -> str:
        """``<model file name><file_tag><extension>``: the score's state beside the model
        (``extension`` with its dot, e.g. ``".npz"``)."""
        return f"{model_file_name}{self.file_tag}{extension}"


#: The reference's score: the mean over a clip's vectors of their mean squared
#: reconstruction error.
_MSE = AnomalyScore(
    name="mse",
    description="mean squared reconstruction error (MSE, the reference's)",
    implementation="anomaly_detection.evaluation.score_methods:MeanSquaredError",
    organisers_name="MSE",
)

#: The default ``anomaly_score``.
DEFAULT_ANOMALY_SCORE = _MSE.name

#: Every registered anomaly score, the default first.
ANOMALY_SCORES: tuple[AnomalyScore, ...] = (
    _MSE,
    # The organisers' formula (nttcslab/dcase2023_task2_baseline_ae): a clip's mean
    # residual block against each domain's covariance, the smaller of the two. Until
    # formulas were recorded this name stood for the per-block one below: its files
    # and results (no formula recorded) are refitted or shown stale, never reused.
    AnomalyScore(
        name="mahalanobis",
        description="selective Mahalanobis distance (the DCASE 2023+ organisers' formula)",
        implementation="anomaly_detection.evaluation.organisers_mahalanobis:SelectiveMahalanobis",
        file_tag=".mahalanobis",
        formula="organisers",
        organisers_name="MAHALA",
    ),
    # The textbook reading: each residual block's own distance, averaged over the clip.
    AnomalyScore(
        name="mahalanobis_per_block",
        description="selective Mahalanobis distance, per-block mean (this project's reading)",
        implementation="anomaly_detection.evaluation.mahalanobis:PerBlockMahalanobis",
        file_tag=".mahalanobis_per_block",
    ),
)


def anomaly_score_names() -> tuple[str, ...]:
    """The registered scores' names, in the table's order."""
    return tuple(entry.name for entry in ANOMALY_SCORES)


def anomaly_score_entry(name: str) -> AnomalyScore:
    """The registered score called ``name``.

    Raises
    ------
    KeyError
        No score of that name is registered (the configuration check rejects such a
        name before any run).
    """
    for entry in ANOMALY_SCORES:
        if entry.name == name:
            return entry
    raise KeyError(f"{name!r}: not a registered anomaly score ({', '.join(anomaly_score_names())})")
