#!/usr/bin/env python3
"""Train one autoencoder per machine type on its normal training clips.

    python 00_train.py -d        # dev_data/<type>/train/*.wav  -> model/model_<type>.hdf5
    python 00_train.py -e        # eval_data/<type>/train/*.wav

A type whose model already exists is skipped (as in the reference) unless
``--retrain`` is given.
"""
from __future__ import annotations

import argparse
import logging

import common
import keras_model

logger = logging.getLogger("00_train")


def parse_arguments() -> argparse.ArgumentParser:
    parser = common.build_parser("Train the autoencoder for each machine type.")
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if model_<type>.hdf5 exists")
    parser.add_argument("--skip-bad-clips", action="store_true",
                        help="leave out unreadable training clips instead of stopping")
    return parser


def main(args: argparse.Namespace, config: common.Config) -> int:
    cache = common.feature_cache(config, enabled=not args.no_cache)
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        machine_type = type_dir.name
        model_file = common.model_path(config, machine_type)
        if model_file.exists() and not args.retrain:
            logger.info("== %s: %s exists, skipping (use --retrain to train again)",
                        machine_type, model_file)
            continue
        logger.info("== %s: training on %s", machine_type, type_dir / "train")

        frames = common.load_training_frames(type_dir, config, cache, args.skip_bad_clips,
                                             args.progress)
        train, validation = common.split_training_vectors(frames, config.feature.frames,
                                                          config.fit, config.seed)
        logger.info("%s: %d training and %d validation vectors", machine_type, train.n_vectors,
                    validation.n_vectors if validation else 0)

        common.seed_everything(config.seed)
        model = keras_model.get_model(config.feature.vector_dim)
        history = common.train_autoencoder(model, train, validation, config.fit)

        keras_model.save_model(model, model_file)
        common.plot_training_history(history.history, common.history_plot_path(config, machine_type),
                                     title=f"{machine_type}: autoencoder loss")
        logger.info("%s: saved %s", machine_type, model_file)
        common.decision_threshold(model_file, common.keras_predictor(model), type_dir, config,
                                  training_frames=lambda: frames, refit=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
