"""The labels of an evaluation set's test clips: found, and checked against the data folder.

2020's are ``eval_data_list.csv`` (:mod:`.ground_truth`); from 2021 on, the official
evaluators' ground truth folders (:mod:`.section_ground_truth`) or the organisers'
``eval_data_list_<year>.csv`` (:mod:`.evaluation_lists`). All are found the same
way (:func:`find_evaluation_labels`) and must label only machine types the data folder
has (:func:`check_labelled_types`): every label needs its test clip, as the official
evaluators require.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from ..core.errors import DatasetError
from ..registry.years import DcaseYear
from .evaluation_lists import EvaluationList, read_evaluation_list
from .ground_truth import GroundTruth, find_ground_truth, read_ground_truth
from .section_ground_truth import SectionGroundTruth, find_section_ground_truth

__all__ = ["EvaluationLabels", "find_evaluation_labels", "check_labelled_types"]

logger = logging.getLogger(__name__)

#: The labels of one evaluation set, in its year's format.
EvaluationLabels: TypeAlias = GroundTruth | SectionGroundTruth | EvaluationList


def find_evaluation_labels(
    option: Path | None, configured: Path | None, eval_directory: Path, *, year: DcaseYear
) -> EvaluationLabels | None:
    """The labels of the evaluation clips: ``option`` (``--ground-truth``), else
    ``configured`` (the YAML's ``eval_ground_truth``), else those beside ``eval_directory``;
    from 2021 a folder of the evaluators' or the organisers' ``eval_data_list_<year>.csv``;
    ``None`` when there are none (score files only).

    Raises
    ------
    DatasetError
        The chosen labels cannot be read (naming the file and line).
    """
    if year.sectioned:
        chosen = option if option is not None else configured
        if chosen is not None and chosen.is_file():  # the organisers' eval_data_list_<year>.csv
            return read_evaluation_list(chosen, year.year)
        if chosen is not None and not chosen.exists():
            raise DatasetError(
                f"{chosen}: ground truth not found (a folder holding ground_truth_data/, or "
                f"the organisers' eval_data_list_{year.year}.csv)"
            )
        return find_section_ground_truth(option, configured, eval_directory)
    path = find_ground_truth(option, configured, eval_directory)
    return None if path is None else read_ground_truth(path)


def check_labelled_types(
    labels: EvaluationLabels, type_dirs: Sequence[Path], selected: Sequence[str] | None
) -> None:
    """Check that every machine type ``labels`` labels has a folder among ``type_dirs`` (the
    evaluation data's); a type that ``selected`` (``--machine-type``) leaves out is logged
    as not used instead.

    Raises
    ------
    DatasetError
        Naming the labels' file and the first labelled type without a folder.
    """
    present = {type_dir.name for type_dir in type_dirs}
    labelled = labels.labelled_types()
    unused = sorted(name for name in labelled if selected and name not in selected)
    for name, path in labelled.items():
        if name not in present and name not in unused:
            folder = type_dirs[0].parent if type_dirs else "the evaluation data"
            raise DatasetError(
                f"{path}: labels machine type {name}, which has no folder in {folder}: every "
                "label needs its test clip, as the official evaluator requires "
                "(--machine-type chooses fewer types)"
            )
    if unused:
        logger.info(
            "ground truth: the labels of %s are not used (--machine-type %s)",
            ", ".join(unused),
            " ".join(selected or ()),
        )
