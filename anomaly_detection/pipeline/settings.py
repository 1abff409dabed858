"""What one script run was asked to do: its configuration, set, machine types and options.

:class:`RunSettings` is read by every collaborator of the run context
(:mod:`.context`); it holds no state that changes during the run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.config import Config
from ..core.layout import OutputLayout
from ..registry.years import REFERENCE_YEAR, DcaseYear, year_entry

if TYPE_CHECKING:
    from ..data.evaluation_labels import EvaluationLabels

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """One run's configuration and command-line options.

    Attributes
    ----------
    config : Config
        The validated YAML (with the year's feature channel filled in).
    dev_mode : bool
        Labelled development clips (``-d``), else the evaluation set (``-e``).
    machine_types : tuple of str or None
        Only these (``--machine-type``); every type of the data folder when ``None``.
    progress : bool
        Progress bars on the terminal.
    skip_bad_clips : bool
        Leave unusable clips out instead of failing (``--skip-bad-clips``).
    ignore_provenance : bool
        A model made for other features or clips is a warning, not an error.
    dataset_year : int
        The DCASE year whose layout the data folder follows.
    ground_truth : EvaluationLabels or None
        Labels of the evaluation clips (``-e`` only).
    reads_labels : bool
        The script scores test clips and reads evaluation labels when there are some
        (``--ground-truth``): its results are judged by them.
    """

    config: Config
    dev_mode: bool
    machine_types: tuple[str, ...] | None = None
    progress: bool = False
    skip_bad_clips: bool = False
    ignore_provenance: bool = False
    dataset_year: int = REFERENCE_YEAR
    ground_truth: EvaluationLabels | None = None
    reads_labels: bool = False

    @functools.cached_property
    def layout(self) -> OutputLayout:
        """Where this run's models and results go."""
        config = self.config
        return OutputLayout(config.model_directory, config.result_directory, config.result_file)

    @property
    def mode(self) -> str:
        """The set this run works on: ``dev`` or ``eval``."""
        return "dev" if self.dev_mode else "eval"

    @property
    def labelled(self) -> bool:
        """The test clips have labels: development mode, or a ground truth in evaluation
        mode. Then AUC/pAUC, decision metrics and ROC curves are reported."""
        return self.dev_mode or self.ground_truth is not None

    @property
    def year(self) -> DcaseYear:
        """The registry's entry of :attr:`dataset_year`."""
        return year_entry(self.dataset_year)

    @property
    def data_directory(self) -> Path:
        """``dev_directory`` or ``eval_directory``, by the mode."""
        return self.config.data_directory(self.dev_mode)
