"""A model file checked against the run before it scores a clip, and what it was made from.

:class:`ModelChecks` compares a model's input size and provenance (the features, sample
rate and channel count it was made for) with the run's configuration and clips, and describes a
model file the run writes (:meth:`ModelChecks.provenance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..core.errors import ModelError
from ..data.dataset import list_train_files
from ..model.provenance import Provenance, check_provenance, make_provenance
from .clip_facts import ClipFacts
from .settings import RunSettings

__all__ = ["ModelChecks"]


class ModelChecks:
    """Checks and provenance of the model files of one run.

    Parameters
    ----------
    settings : RunSettings
    facts : ClipFacts
        Shared with the other collaborators of the run.
    """

    def __init__(self, settings: RunSettings, facts: ClipFacts):
        self.settings = settings
        self.facts = facts

    def check(
        self, model_file: Path, clips: Sequence[Path], *, input_dim: int
    ) -> Provenance | None:
        """Check, before feeding them, that the model at ``model_file`` takes vectors of
        this configuration's size and was made for its features and for ``clips``' sample
        rate and channel count; returns its provenance (``None`` for a model made elsewhere).

        Raises
        ------
        ModelError
            Naming the file, the differing key and both values.
        """
        feature = self.settings.config.feature
        if input_dim != feature.vector_dim:
            raise ModelError(
                f"{model_file}: the model takes vectors of {input_dim} values, the features "
                f"are {feature.vector_dim} (n_mels {feature.n_mels} x frames {feature.frames})"
            )
        return check_provenance(
            model_file,
            feature=feature,
            sample_rate=self.facts.sample_rate(clips),
            channels=self.facts.channel_count(clips),
            strict=not self.settings.ignore_provenance,
        )

    def provenance(
        self, model_file: Path, type_dir: Path, *, source_model: Path | None = None
    ) -> Provenance:
        """The provenance of the model file at ``model_file``, made from ``type_dir``'s
        training clips (and converted from ``source_model``)."""
        files = list_train_files(type_dir)
        return make_provenance(
            model_file,
            feature=self.settings.config.feature,
            sample_rate=self.facts.sample_rate(files),
            training_clips=self.facts.list_digest(files),
            source_model=source_model,
            channels=self.facts.channel_count(files),
        )
