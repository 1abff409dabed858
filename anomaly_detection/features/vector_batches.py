"""Which of a model's training vectors it trained on, and the batches they were cut into.

The training clips' frame-stacked vectors (ordered by clip, sorted file names, then by
position) are split into training and validation vectors, as the configuration's ``fit``
section says: ``validation_vectors: last`` holds out the last ``validation_split``
fraction (Keras' ``validation_split``, the MLPerf reference), ``random`` a random
fraction (the organisers' DCASE 2023+ baseline, scikit-learn's ``train_test_split``:
``ceil(validation_split * n)`` vectors). A random split is seeded (the configuration's
``seed``, 0 when null) so that a later run, fitting a score's state or a decision
threshold on the model's training vectors, finds the same ones. Plain numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..core.config import FitConfig

__all__ = ["VectorBatches"]


@dataclass(frozen=True)
class VectorBatches:
    """How a model's training vectors are split and batched.

    Attributes
    ----------
    batch_size : int
        Vectors per batch (``fit.batch_size``).
    validation_split : float
        Fraction of the vectors held out for validation (``fit.validation_split``).
    validation_vectors : {"last", "random"}
        Which vectors are held out (``fit.validation_vectors``).
    seed : int or None
        The configuration's ``seed``; a random split and the batches' shuffles take 0
        when it is ``None``.
    """

    batch_size: int = 512
    validation_split: float = 0.1
    validation_vectors: str = "last"
    seed: int | None = None

    @classmethod
    def of(cls, fit: FitConfig, seed: int | None) -> VectorBatches:
        """The batches of a configuration's ``fit`` section and ``seed``."""
        return cls(fit.batch_size, fit.validation_split, fit.validation_vectors, seed)

    @property
    def record(self) -> str:
        """What a state or decision threshold fitted on these batches records of them, so
        that one fitted on other batches (another split, batch size or seed) is not
        reused: ``batch_size 256, validation_split 0.1, validation_vectors random, seed
        13711`` (seed 0 for ``None``: the same batches)."""
        return (
            f"batch_size {self.batch_size}, validation_split {self.validation_split}, "
            f"validation_vectors {self.validation_vectors}, seed {self._seed()}"
        )

    def split(self, n_vectors: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training and of the validation vectors among ``n_vectors``.

        Returns
        -------
        training, validation : np.ndarray, int64
            ``last``: ``0..k-1`` and ``k..n-1`` with ``k = int(n * (1 - split))``;
            ``random``: a seeded permutation's tail and head (its first
            ``ceil(split * n)`` vectors held out), in the permutation's order.
        """
        if self.validation_vectors == "random":
            held_out = math.ceil(self.validation_split * n_vectors)
            order = np.random.default_rng(self._seed()).permutation(n_vectors)
            return order[held_out:].astype(np.int64), order[:held_out].astype(np.int64)
        split_at = int(n_vectors * (1.0 - self.validation_split))
        return np.arange(split_at, dtype=np.int64), np.arange(split_at, n_vectors, dtype=np.int64)

    def shuffled(self, indices: np.ndarray, *, stream: int = 1) -> Iterator[np.ndarray]:
        """``indices`` in a seeded random order, ``batch_size`` at a time (the last batch
        shorter); ``stream`` picks one of several independent orders."""
        rng = np.random.default_rng([self._seed(), stream])
        order = np.asarray(indices)[rng.permutation(len(indices))]
        return self.in_order(order)

    def in_order(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        """``indices`` as they are, ``batch_size`` at a time (the last batch shorter)."""
        for first in range(0, len(indices), self.batch_size):
            yield np.asarray(indices[first : first + self.batch_size])

    def _seed(self) -> int:
        return 0 if self.seed is None else self.seed
