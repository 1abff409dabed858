"""A scoring script's exit status: clips it could not score and averages that miss a
scoring set fail the run, unless ``--skip-bad-clips`` accepts them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..evaluation.scoring import TypeResult

__all__ = ["exit_status"]

logger = logging.getLogger(__name__)


def exit_status(results: Sequence[TypeResult], *, skip_bad_clips: bool) -> int:
    """Report clips excluded from scoring and averages that miss an ID; 1 if any,
    unless ``skip_bad_clips``."""
    log = logger.warning if skip_bad_clips else logger.error
    incomplete = [result for result in results if result.missing_auc()]
    for result in incomplete:
        missing = ", ".join(set_scores.name for set_scores in result.missing_auc())
        if skip_bad_clips:
            scored = len(result.sets) - len(result.missing_auc())
            average = f"covers the other {scored} ID(s) only"
        else:
            average = "is nan (pass --skip-bad-clips to average the other IDs)"
        log("%s: no AUC for %s; the Average %s", result.machine_type, missing, average)
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
