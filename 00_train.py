#!/usr/bin/env python3
"""Train one autoencoder per machine type on its normal training clips.

    python 00_train.py -d        # dev_data/<type>/train/*.wav  -> model/model_<type>.hdf5
    python 00_train.py -e        # eval_data/<type>/train/*.wav

A type whose model already exists is skipped (as in the reference) unless
``--retrain`` is given. Keras trains on the backend ``fit.backend`` names (JAX by
default), or ``$KERAS_BACKEND`` if set, many steps per compiled call on JAX
(``fit.loop``); the model file loads in every backend.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no CUDA probes

from anomaly_detection.core.interruption import quiet_start

quiet_start()  # Ctrl-C while the libraries load: one line, not their traceback

import common
from anomaly_detection.model.backend import (
    check_keras_backend,
    choose_training_backend,
    training_backend,
)

choose_training_backend()  # before Keras loads: $KERAS_BACKEND, else fit.backend of --config

import keras_model
from anomaly_detection.evaluation.plots import plot_training_history
from anomaly_detection.evaluation.scoring import keras_predictor
from anomaly_detection.model.provenance import read_provenance, write_provenance
from anomaly_detection.model.training import (
    describe_loop,
    seed_everything,
    split_training_vectors,
    train_autoencoder,
)
from anomaly_detection.registry.variants import KERAS

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

    from anomaly_detection.features.frame_store import FrameStore

logger = logging.getLogger("00_train")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Train the autoencoder for each machine type.",
        skip_bad_clips="leave out unreadable training clips instead of stopping",
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train again even if model_<type>.hdf5 exists"
    )
    return parser


def save_with_provenance(
    run: common.RunContext, model: keras.Model, model_file: Path, type_dir: Path
) -> str:
    """Save the model; its provenance is written before the model file appears. Returns
    the SHA-256 of the saved bytes (the threshold is tagged with it)."""
    digests = []

    def describe(saved: Path) -> None:
        provenance = run.models.provenance(saved, type_dir)
        write_provenance(model_file, provenance)
        digests.append(provenance.model_digest)

    keras_model.save_model(model, model_file, before_publish=describe)
    return digests[0]


def warn_if_trained_on_other_clips(
    run: common.RunContext, model_file: Path, type_dir: Path
) -> None:
    """Warn when the model kept at ``model_file`` was trained on other clips than
    ``type_dir/train`` (e.g. the development set's model on an ``-e`` run)."""
    stored = read_provenance(model_file)
    if (
        stored is not None
        and stored.training_clips != run.models.provenance(model_file, type_dir).training_clips
    ):
        logger.warning(
            "%s: trained on other clips than %s (another set, or clips added or removed); "
            "kept, and its scores are those of that model: --retrain trains it on these",
            model_file,
            type_dir / "train",
        )


def already_loaded(frames: FrameStore) -> Callable[[], FrameStore]:
    """The training frames in memory, as the loader the Mahalanobis fit asks for."""
    return lambda: frames


def kept_existing_model(run: common.RunContext, model_file: Path, type_dir: Path) -> bool:
    """Whether the usable model already at ``model_file`` is kept (the reference skips a
    trained type); a damaged or half-trained file is trained again."""
    if not model_file.exists():
        return False
    problem = keras_model.unusable_model(model_file)
    if problem is not None:
        logger.warning("%s: %s; training it again", model_file, problem)
        return False
    existing = keras_model.load_model(model_file)
    keras_model.check_model_shape(existing, model_file, run.config.model.shape)
    warn_if_trained_on_other_clips(run, model_file, type_dir)
    logger.info(
        "== %s: %s exists, skipping (use --retrain to train again)", type_dir.name, model_file
    )
    return True


def train_machine_type(run: common.RunContext, type_dir: Path, model_file: Path) -> None:
    """Train, save and plot the autoencoder of one machine type, then fit its decision
    threshold on the same training clips."""
    config, machine_type = run.config, type_dir.name
    logger.info("== %s: training on %s", machine_type, type_dir / "train")
    frames = run.data.training_frames(type_dir)
    train, validation = split_training_vectors(
        frames, frames=config.feature.frames, fit=config.fit, seed=config.seed
    )
    logger.info(
        "%s: %d training and %d validation vectors",
        machine_type,
        train.n_vectors,
        validation.n_vectors if validation else 0,
    )

    seed_everything(config.seed)
    model = keras_model.get_model(
        config.feature.vector_dim,
        hidden_units=config.model.hidden_units,
        bottleneck_units=config.model.bottleneck_units,
        hidden_layers=config.model.hidden_layers,
    )
    history = train_autoencoder(model, train, validation, config.fit)  # compile + fit

    digest = save_with_provenance(run, model, model_file, type_dir)
    plot_training_history(
        history.history,
        run.layout.history_plot(machine_type),
        title=f"{machine_type}: autoencoder loss",
    )
    logger.info("%s: saved %s", machine_type, model_file)
    scorer = run.scoring.scorer(KERAS, machine_type, keras_predictor(model), already_loaded(frames))
    run.scoring.fit_threshold(KERAS, machine_type, scorer, frames, model_digest=digest)


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    backend = check_keras_backend(training_backend(run.config.fit.backend))
    logger.info(
        "training on Keras' %s backend (%s)", backend, describe_loop(run.config.fit, backend)
    )
    trained = False
    for type_dir in run.data.type_dirs():
        model_file = run.layout.model_file(KERAS, type_dir.name)
        if not args.retrain and kept_existing_model(run, model_file, type_dir):
            continue
        train_machine_type(run, type_dir, model_file)
        trained = True
    if trained:
        run.outputs.refresh_summary()  # results of the models replaced here are no longer current
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
