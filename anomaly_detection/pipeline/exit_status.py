"""A scoring script's exit status: clips it could not score and averages that miss a
scoring set fail the run, unless ``--skip-bad-clips`` accepts them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..evaluation.scoring import TypeResult

__all__ = ["exit_status"]

logger = logging.getLogger(__name__)


def exit_status(
    results: Sequence[TypeResult], *, skip_bad_clips: bool, sectioned: bool = False
) -> int:
    """Report clips excluded from scoring and scoring sets without an AUC; 1 if any,
    unless ``skip_bad_clips``. ``sectioned``: a 2021+ ``result.csv``, whose means and
    official score are nan when a set has no AUC (2020's Average then covers the other
    IDs with ``skip_bad_clips``)."""
    log = logger.warning if skip_bad_clips else logger.error
    incomplete = [result for result in results if result.missing_auc()]
    for result in incomplete:
        missing = ", ".join(set_scores.name for set_scores in result.missing_auc())
        log(
            "%s: no AUC for %s; %s",
            result.machine_type,
            missing,
            _consequence(result, skip_bad_clips, sectioned),
        )
    excluded = [
        entry for result in results for set_scores in result.sets for entry in set_scores.excluded
    ]
    if not excluded:
        if incomplete and not skip_bad_clips:
            return 1
        return 0
    log(
        "%d test clip(s) could not be scored and were excluded from the scores and AUC:",
        len(excluded),
    )
    for _, reason in excluded:
        log("  %s", reason)
    if skip_bad_clips:
        return 0
    logger.error("failing because of the excluded clips (pass --skip-bad-clips to accept them)")
    return 1


def _consequence(result: TypeResult, skip_bad_clips: bool, sectioned: bool) -> str:
    """What a scoring set without an AUC does to ``result.csv``."""
    if sectioned:
        means = (
            "result.csv's AUC and pAUC means (this type's and over all types) and its "
            "official score are nan"
        )
        return means if skip_bad_clips else f"{means} (--skip-bad-clips accepts this)"
    if skip_bad_clips:
        scored = len(result.sets) - len(result.missing_auc())
        return f"the Average covers the other {scored} ID(s) only"
    return "the Average is nan (pass --skip-bad-clips to average the other IDs)"
