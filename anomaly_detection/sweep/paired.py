"""Gains told from seed noise: each setting against a baseline setting, seed by seed.

The runs of two settings with one seed share what the seed draws (initial weights,
shuffles, validation split), so the difference of their results seed by seed holds
the setting's effect and less noise than two unrelated sets of runs. Over the seeds
complete in both settings, the mean of the paired differences gets a 95 % interval
(Student's t with n - 1 degrees of freedom: ``scipy.stats.t``) and a verdict:
``better`` (the whole interval above 0), ``worse`` (below 0), ``within seed noise``
(it holds 0), ``too few seeds`` (fewer than 2 pairs: no interval). A seed complete in
only one of the two settings is left out of the pair, and named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CONFIDENCE", "VERDICTS", "PairedGain", "paired_gain", "compare_with_baseline"]

#: The interval's confidence level.
CONFIDENCE = 0.95
#: The verdicts, from the interval of the mean paired difference.
VERDICTS = ("better", "worse", "within seed noise", "too few seeds")


@dataclass(frozen=True)
class PairedGain:
    """A setting's result minus the baseline's, seed by seed, for one model and measure.

    Attributes
    ----------
    setting, baseline : str
    model : str
        The model variant's label (``keras``, ``tflite_quant``...).
    measure : str
        The summary row compared: ``Average`` (AUC, mean over machine types) or
        ``official score``.
    differences : dict of int to float
        By seed complete in both settings: setting minus baseline.
    unpaired : tuple of int
        Seeds complete in only one of the two settings (left out).
    mean, low, high : float
        The mean difference and its interval (``nan`` with fewer than 2 pairs; ``mean``
        ``nan`` without any).
    verdict : str
        One of :data:`VERDICTS`.
    """

    setting: str
    baseline: str
    model: str
    measure: str
    differences: dict[int, float]
    unpaired: tuple[int, ...]
    mean: float
    low: float
    high: float
    verdict: str


def paired_gain(
    values: Mapping[int, float], baseline: Mapping[int, float], *, confidence: float = CONFIDENCE
) -> tuple[dict[int, float], float, float, float, str]:
    """The paired differences of ``values`` and ``baseline`` (both by seed), their mean,
    the ``confidence`` interval of the mean and the verdict.

    Returns
    -------
    differences : dict of int to float
        By seed present in both, in seed order.
    mean, low, high : float
    verdict : str
    """
    from scipy import stats

    differences = {
        seed: values[seed] - baseline[seed] for seed in sorted(set(values) & set(baseline))
    }
    array = np.asarray(list(differences.values()), dtype=float)
    mean = float(array.mean()) if len(array) else math.nan
    if len(array) < 2:
        return differences, mean, math.nan, math.nan, "too few seeds"
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df=len(array) - 1))
    half_width = quantile * float(array.std(ddof=1)) / math.sqrt(len(array))
    low, high = mean - half_width, mean + half_width
    verdict = "better" if low > 0 else "worse" if high < 0 else "within seed noise"
    return differences, mean, low, high, verdict


def compare_with_baseline(
    values: Mapping[tuple[str, str, str], Mapping[int, float]],
    settings: Sequence[str],
    baseline: str,
) -> list[PairedGain]:
    """Every setting but ``baseline`` against it, per model and measure.

    Parameters
    ----------
    values : mapping
        ``{(setting, model, measure): {seed: value}}`` of the complete runs.
    settings : sequence of str
        The sweep's settings, in its order (those without a complete run included).
    baseline : str

    Returns
    -------
    list of PairedGain
        Setting by setting (in ``settings``' order), then as ``values`` lists the models
        and measures; a model or measure the baseline lacks is compared with no seed.
    """
    gains = []
    for setting in settings:
        if setting == baseline:
            continue
        for (other, model, measure), by_seed in values.items():
            if other != setting:
                continue
            reference = values.get((baseline, model, measure), {})
            differences, mean, low, high, verdict = paired_gain(by_seed, reference)
            unpaired = tuple(sorted(set(by_seed) ^ set(reference)))
            gains.append(
                PairedGain(
                    setting,
                    baseline,
                    model,
                    measure,
                    differences,
                    unpaired,
                    mean,
                    low,
                    high,
                    verdict,
                )
            )
    return gains
