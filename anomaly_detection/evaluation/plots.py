"""Plots a person reads at a glance: training loss, ROC curves, score histograms.

Every figure is written as a PNG, atomically (complete under its final name or
not at all). matplotlib is imported on first use, with the non-interactive Agg
backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.io_utils import atomic_path
from .metrics import roc_curve
from .scoring import TypeResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_training_history", "plot_roc_curves", "plot_score_histograms", "plot_log_mel"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Figure, path: Path) -> None:
    """Write ``figure`` to ``path`` (PNG) atomically and release it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    _pyplot().close(figure)


def plot_roc_curves(result: TypeResult, max_fpr: float, path: Path, label: str) -> None:
    """ROC curve of every ID with AUC/pAUC in the legend and the pAUC region shaded."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 6.5))
    axes.axvspan(
        0, max_fpr, color="tab:orange", alpha=0.12, label=f"pAUC region (FPR <= {max_fpr:g})"
    )
    for set_scores in result.sets:
        if set_scores.labels is None or set_scores.metric_problem:
            continue
        fpr, tpr, _ = roc_curve(set_scores.labels, set_scores.scores)
        axes.plot(
            fpr,
            tpr,
            linewidth=2,
            label=f"{set_scores.name}: AUC {set_scores.auc:.3f}, pAUC {set_scores.pauc:.3f}",
        )
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"{result.machine_type}: ROC ({label})",
    )
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=10)
    figure.tight_layout()
    _save(figure, path)


def plot_score_histograms(
    result: TypeResult, threshold: float | Callable[[str], float] | None, path: Path, label: str
) -> None:
    """Per ID, histograms of the anomaly scores of normal and anomalous clips, with the
    decision threshold (one value, or the threshold of each scoring set)."""
    plt = _pyplot()
    n_ids = len(result.sets)
    columns = min(n_ids, 2)
    rows = math.ceil(n_ids / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4 * rows), squeeze=False)
    for axis, set_scores in zip(axes.flat, result.sets, strict=False):
        bins = np.histogram_bin_edges(set_scores.scores, bins=30) if set_scores.scores.size else 10
        if set_scores.labels is None:
            axis.hist(set_scores.scores, bins=bins, color="tab:grey", alpha=0.8, label="unlabelled")
        else:
            axis.hist(
                set_scores.scores[set_scores.labels == 0],
                bins=bins,
                alpha=0.6,
                color="tab:blue",
                label="normal",
            )
            axis.hist(
                set_scores.scores[set_scores.labels == 1],
                bins=bins,
                alpha=0.6,
                color="tab:red",
                label="anomaly",
            )
        value = threshold(set_scores.name) if callable(threshold) else threshold
        if value is not None and math.isfinite(value):
            axis.axvline(value, color="black", linestyle="--", label=f"threshold {value:.3g}")
        axis.set(
            title=f"{result.machine_type} {set_scores.name} ({label})",
            xlabel="anomaly score (mean squared error)",
            ylabel="clips",
        )
        axis.legend(fontsize=9)
    for axis in list(axes.flat)[n_ids:]:
        axis.set_visible(False)
    figure.tight_layout()
    _save(figure, path)


def plot_training_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Plot training (and validation) loss per epoch to a PNG, atomically.

    The loss axis is logarithmic (the first epoch's loss is often 20-30x the later ones,
    which would flatten the convergence on a linear axis); the epoch of the lowest
    validation loss is marked.
    """
    import matplotlib.ticker

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], label="training loss")
    validation = np.asarray(history.get("val_loss", []), dtype=float)
    if validation.size and np.isfinite(validation).any():
        axes.plot(epochs[: validation.size], validation, label="validation loss")
        best = int(np.nanargmin(np.where(np.isfinite(validation), validation, np.nan)))
        axes.scatter(
            [epochs[best]],
            [validation[best]],
            color="tab:red",
            zorder=3,
            label=f"best validation: epoch {epochs[best]} ({validation[best]:.4g})",
        )
    losses = np.concatenate([np.asarray(history["loss"], dtype=float), validation])
    log_axis = bool((losses[np.isfinite(losses)] > 0).all())
    if log_axis:
        axes.set_yscale("log")
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_ylabel("loss (mean squared error" + (", log scale)" if log_axis else ")"))
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    _save(figure, path)


def plot_log_mel(log_mel: np.ndarray, path: Path) -> None:
    """A log-mel spectrogram ``(n_frames, n_mels)`` as an image: time across, mel bands up."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4))
    image = axes.imshow(np.asarray(log_mel).T, origin="lower", aspect="auto", cmap="magma")
    axes.set(xlabel="frame", ylabel="mel band", title=path.stem)
    figure.colorbar(image, ax=axes, label="dB")
    figure.tight_layout()
    _save(figure, path)
