#!/usr/bin/env python3
"""Convert each machine type's Keras model to TFLite, float and quantized.

    python 02_convert.py -d

Writes, beside ``model/model_<type>.hdf5``:

- ``model_<type>.tflite``                      float32 (BatchNorm folded into Dense)
- ``model_<type>_quant.tflite``                dynamic-range int8 weights
- ``model_<type>_quant_fullint.tflite``        full integer, float input/output
- ``model_<type>_quant_fullint_micro.tflite``  full integer, int8 ops only (TFLite Micro)
- ``model_<type>_quant_fullint_micro_intio.tflite`` and ``.cc``/``.h``
                                               as above with int8 input/output, and as C source

Full-integer variants are calibrated on vectors of the type's training clips.
"""
from __future__ import annotations

import argparse
import logging

import common
import keras_model

logger = logging.getLogger("02_convert")


def parse_arguments() -> argparse.ArgumentParser:
    parser = common.build_parser("Convert the Keras models to TFLite (float and int8).")
    parser.add_argument("--calibration-clips", type=int, default=200, metavar="N",
                        help="training clips used for int8 calibration (default %(default)s)")
    parser.add_argument("--calibration-vectors", type=int, default=20000, metavar="N",
                        help="vectors drawn from them (default %(default)s)")
    parser.add_argument("--skip-bad-clips", action="store_true",
                        help="leave out unreadable calibration clips instead of stopping")
    return parser


def main(args: argparse.Namespace, config: common.Config) -> int:
    if args.calibration_clips < 1 or args.calibration_vectors < 1:
        raise common.PipelineError("--calibration-clips and --calibration-vectors must be >= 1")
    cache = common.feature_cache(config, enabled=not args.no_cache)
    for type_dir in common.machine_type_dirs(config, args.dev, args.machine_types):
        machine_type = type_dir.name
        logger.info("== %s: converting", machine_type)
        model = keras_model.load_model(common.model_path(config, machine_type))

        frames = common.load_training_frames(type_dir, config, cache, args.skip_bad_clips,
                                             args.progress, max_clips=args.calibration_clips)
        calibration = common.calibration_vectors(frames, config.feature.frames,
                                                 args.calibration_vectors)
        folded = common.fold_batch_norm(model)
        common.check_folding(model, folded, calibration)

        for variant in common.TFLITE_VARIANTS:
            flatbuffer = common.convert_to_tflite(folded, variant, calibration)
            path = common.tflite_path(config, machine_type, variant.postfix)
            common.write_bytes_atomic(path, flatbuffer)
            common.record_model(config, f"tflite{variant.postfix}_", machine_type, path,
                                parameters=folded.count_params())
            logger.info("%s: %s (%s, %d bytes)", machine_type, path, variant.description,
                        len(flatbuffer))
            if variant.int8_io:
                header = common.write_c_array(flatbuffer, path.with_suffix(".cc"),
                                              variable=path.name.replace(".", "_"))
                logger.info("%s: C source %s and %s", machine_type, path.with_suffix(".cc"),
                            header)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, parse_arguments()))
