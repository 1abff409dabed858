#!/usr/bin/env python3
"""Train one autoencoder per machine type on its normal training clips.

    python 00_train.py -d        # dev_data/<type>/train/*.wav  -> model/model_<type>.hdf5
    python 00_train.py -e        # eval_data/<type>/train/*.wav

A type whose model already exists is skipped (as in the reference) unless
``--retrain`` is given. Keras trains on the backend ``fit.backend`` names (JAX by
default), or ``$KERAS_BACKEND`` if set, many steps per compiled call on JAX
(``fit.loop``); the model file loads in every backend. Where it is faster (a GPU;
``fit.group``), models of one shape train side by side as one group: the machine
types whose training sets hold as many vectors, and the runs of ``--group-config``
(a sweep's other seeds of one setting), each model as it would train alone.
"""

from __future__ import annotations

import argparse
import contextlib
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
from anomaly_detection.core.config import load_config
from anomaly_detection.core.errors import ConfigError, TrainingError
from anomaly_detection.core.folder_lock import folder_locks
from anomaly_detection.evaluation.plots import plot_training_history
from anomaly_detection.evaluation.scoring import keras_predictor
from anomaly_detection.model.group_training import train_autoencoders
from anomaly_detection.model.model_groups import (
    group_config_problem,
    groups_wanted,
    training_platform,
)
from anomaly_detection.model.provenance import read_provenance, write_provenance
from anomaly_detection.model.training import describe_loop, seed_everything, split_training_vectors
from anomaly_detection.pipeline.cli import check_output_locations
from anomaly_detection.pipeline.context import context_from_arguments
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
    parser.add_argument(
        "--group-config",
        nargs="+",
        type=Path,
        default=[],
        metavar="PATH",
        help="also train the models of these YAML files (the same settings but seed and "
        "output paths, as a sweep's other seeds), in groups where faster (fit.group)",
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


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    config = run.config
    backend = check_keras_backend(training_backend(config.fit.backend))
    logger.info("training on Keras' %s backend (%s)", backend, describe_loop(config.fit, backend))
    with contextlib.ExitStack() as held:
        runs = [run, *group_runs(args, run, held)]
        jobs = [
            (each, d)
            for each in runs
            for d in each.data.type_dirs()
            if needs_training(args, each, d)
        ]
        grouped = len(jobs) > 1 and groups_wanted(config.fit, backend, platform=training_platform)
        if grouped:
            logger.info("%d models: those of one shape train as one group", len(jobs))
        for batch in [jobs] if grouped else [[job] for job in jobs]:
            train_and_save(batch, grouped=grouped, name_seeds=len(runs) > 1)
        for each in runs:  # the results of the models replaced here are no longer current
            if any(trained is each for trained, _ in jobs):
                each.outputs.refresh_summary()
    return 0


def group_runs(
    args: argparse.Namespace, run: common.RunContext, held: contextlib.ExitStack
) -> list[common.RunContext]:
    """The runs of ``--group-config``, their folders held: configurations that differ from
    ``--config``'s only in the seed and the output paths."""
    runs: list[common.RunContext] = []
    for path in args.group_config:
        config = load_config(path)
        problem = group_config_problem(run.config, config)
        if problem is None and any(
            other.config.model_directory.resolve() == config.model_directory.resolve()
            for other in [run, *runs]
        ):
            problem = f"writes to the model_directory of another run ({config.model_directory})"
        if problem is not None:
            raise ConfigError(f"--group-config {path}: {problem}")
        check_output_locations(config, cache=not args.no_cache)
        held.enter_context(folder_locks([config.model_directory, config.result_directory]))
        runs.append(context_from_arguments(args, config))
    return runs


def needs_training(args: argparse.Namespace, run: common.RunContext, type_dir: Path) -> bool:
    """Whether the type's model is to be trained: absent, unusable, or ``--retrain``."""
    model_file = run.layout.model_file(KERAS, type_dir.name)
    if not model_file.exists() or args.retrain:
        return True
    problem = keras_model.unusable_model(model_file)
    if problem is not None:
        logger.warning("%s: %s; training it again", model_file, problem)
        return True
    existing = keras_model.load_model(model_file)
    keras_model.check_model_shape(existing, model_file, run.config.model.shape)
    warn_if_trained_on_other_clips(run, model_file, type_dir)
    logger.info(
        "== %s: %s exists, skipping (use --retrain to train again)", type_dir.name, model_file
    )
    return False


def train_and_save(
    jobs: list[tuple[common.RunContext, Path]], *, grouped: bool, name_seeds: bool
) -> None:
    """Train the models of ``jobs`` (in groups of one shape with ``grouped``), then save
    each with its provenance, loss plot and threshold (``name_seeds``: the log names
    each model's seed).

    Raises
    ------
    TrainingError
        After saving the others, naming each model whose loss became non-finite.
    """
    loaded: dict[Path, FrameStore] = {}  # the seeds of a type share its frames
    models, datasets = [], []
    for run, type_dir in jobs:
        seed = f" (seed {run.config.seed})" if name_seeds else ""
        logger.info("== %s%s: training on %s", type_dir.name, seed, type_dir / "train")
        if type_dir not in loaded:
            loaded[type_dir] = run.data.training_frames(type_dir)
        config = run.config
        train, validation = split_training_vectors(
            loaded[type_dir], frames=config.feature.frames, fit=config.fit, seed=config.seed
        )
        logger.info(
            "%s: %d training and %d validation vectors",
            type_dir.name,
            train.n_vectors,
            validation.n_vectors if validation else 0,
        )
        seed_everything(config.seed)
        models.append(
            keras_model.get_model(
                config.feature.vector_dim,
                hidden_units=config.model.hidden_units,
                bottleneck_units=config.model.bottleneck_units,
                hidden_layers=config.model.hidden_layers,
            )
        )
        datasets.append((train, validation))
    outcomes = train_autoencoders(models, datasets, jobs[0][0].config.fit, grouped=grouped)
    failures: list[tuple[str, TrainingError]] = []
    for (run, type_dir), model, outcome in zip(jobs, models, outcomes, strict=True):
        if isinstance(outcome, TrainingError):
            failures.append((f"{type_dir.name} (seed {run.config.seed})", outcome))
        else:
            save_model(run, type_dir, model, outcome.history, loaded[type_dir])
    if len(jobs) == 1 and failures:
        raise failures[0][1]
    if failures:
        raise TrainingError("; ".join(f"{name}: {error}" for name, error in failures))


def save_model(
    run: common.RunContext,
    type_dir: Path,
    model: keras.Model,
    history: dict[str, list[float]],
    frames: FrameStore,
) -> None:
    """Save the trained model with its provenance, its loss plot and its threshold."""
    machine_type = type_dir.name
    model_file = run.layout.model_file(KERAS, machine_type)
    digest = save_with_provenance(run, model, model_file, type_dir)
    plot_training_history(
        history, run.layout.history_plot(machine_type), title=f"{machine_type}: autoencoder loss"
    )
    logger.info("%s: saved %s", machine_type, model_file)
    predict = keras_predictor(model)
    scorer = run.scoring.scorer(KERAS, machine_type, predict, already_loaded(frames))
    run.scoring.fit_threshold(KERAS, machine_type, scorer, frames, model_digest=digest)


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
