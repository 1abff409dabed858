"""``sweep_spread.png``: the spread of the runs over the seeds, and each setting's paired
differences from the baseline, so that a gain can be told from seed noise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..core.io_utils import atomic_path
from .paired import CONFIDENCE, PairedGain

__all__ = ["plot_spread_and_gains"]


def plot_spread_and_gains(
    path: Path,
    spreads: Mapping[str, Sequence[float]],
    gains: Mapping[str, PairedGain],
    *,
    ylabel: str,
) -> None:
    """Write the figure to ``path`` (PNG, atomically).

    Parameters
    ----------
    path : Path
    spreads : mapping of str to sequence of float
        By label (setting and model): every run's value, drawn as dots beside their
        mean ± one sample standard deviation.
    gains : mapping of str to PairedGain
        By label: the paired differences from the baseline, drawn as dots beside
        their mean and its interval, against a line at 0 (no panel when empty).
    ylabel : str
        What the values are.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if gains else 1
    width = max(6.0, 1.2 * len(spreads) + 2) + (max(5.0, 1.2 * len(gains) + 2) if gains else 0)
    figure, axes = plt.subplots(1, panels, figsize=(width, 4.8), squeeze=False)
    _draw_columns(axes[0][0], {label: (list(v), *_mean_and_std(v)) for label, v in spreads.items()})
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].set_title("Each run (dots); mean ± 1 std over the seeds (bar)", fontsize=10)
    if gains:
        paired = {
            label: (list(gain.differences.values()), gain.mean, gain.low, gain.high)
            for label, gain in gains.items()
        }
        _draw_columns(axes[0][1], paired)
        axes[0][1].axhline(0.0, color="grey", linewidth=1)
        axes[0][1].set_ylabel(f"difference from {next(iter(gains.values())).baseline}")
        axes[0][1].set_title(
            f"Paired by seed (dots); mean and {CONFIDENCE:.0%} interval (bar)", fontsize=10
        )
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def _mean_and_std(values: Sequence[float]) -> tuple[float, float, float]:
    array = np.asarray(values, dtype=float)
    deviation = float(np.std(array, ddof=1)) if len(array) > 1 else 0.0
    mean = float(array.mean())
    return mean, mean - deviation, mean + deviation


def _draw_columns(axes, columns: Mapping[str, tuple[list[float], float, float, float]]) -> None:
    """One column per label: its values as dots, and beside them a bar from ``low`` to
    ``high`` around the point ``mean`` (none where they are not numbers)."""
    for position, (values, mean, low, high) in enumerate(columns.values()):
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        axes.scatter(position + offsets[: len(values)], values, s=18, alpha=0.8)
        if np.isfinite([low, high]).all():
            error = [[mean - low], [high - mean]]
            axes.errorbar(position + 0.3, mean, yerr=error, fmt="ok", markersize=4, capsize=4)
    axes.set_xticks(range(len(columns)))
    axes.set_xticklabels(list(columns), rotation=30, ha="right", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
