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
- ``model_<type>_quant_fullint_micro*.deploy.json``  what each micro model needs in
                                               TensorFlow Lite Micro: arena, flash, ops, MACs

Full-integer files are calibrated on vectors of the type's training clips.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no CUDA probes

from anomaly_detection.core.interruption import quiet_start

quiet_start()  # Ctrl-C while the libraries load: one line, not their traceback

import common
from anomaly_detection.model.backend import use_tensorflow_backend

use_tensorflow_backend()  # before Keras loads: the TFLite converter needs TensorFlow

import keras_model
from anomaly_detection.core.errors import ModelError
from anomaly_detection.core.io_utils import atomic_path
from anomaly_detection.data.dataset import list_train_files
from anomaly_detection.device.deployment import deployment_report, write_deployment_report
from anomaly_detection.device.tflite_convert import (
    check_folding,
    convert_to_tflite,
    fold_batch_norm,
    write_c_array,
)
from anomaly_detection.device.tflm import tflm_runtime
from anomaly_detection.features.frame_store import sample_vectors
from anomaly_detection.model.provenance import write_provenance
from anomaly_detection.registry.variants import KERAS, TFLITE_VARIANTS, ModelVariant

logger = logging.getLogger("02_convert")


def build_parser() -> argparse.ArgumentParser:
    parser = common.build_parser(
        "Convert the Keras models to TFLite (float and int8).",
        skip_bad_clips="leave out unreadable calibration clips instead of stopping",
    )
    parser.add_argument(
        "--calibration-clips",
        type=int,
        default=200,
        metavar="N",
        help="training clips used for int8 calibration (default %(default)s)",
    )
    parser.add_argument(
        "--calibration-vectors",
        type=int,
        default=20000,
        metavar="N",
        help="vectors drawn from them (default %(default)s)",
    )
    return parser


def write_tflite(
    run: common.RunContext, variant: ModelVariant, type_dir: Path, flatbuffer: bytes
) -> None:
    """Write one TFLite model; first its provenance, for a micro model its deployment
    report and, for the int8 I/O one, its C source (all from the new model before it
    appears)."""
    machine_type = type_dir.name
    path = run.layout.model_file(variant, machine_type)
    source = run.layout.model_file(KERAS, machine_type)
    with atomic_path(path) as temporary:
        temporary.write_bytes(flatbuffer)
        write_provenance(path, run.models.provenance(temporary, type_dir, source_model=source))
        arena_size = None
        if variant.file.int8_ops_only:
            report = dataclasses.replace(deployment_report(temporary), model=path.name)
            write_deployment_report(run.layout.deployment_report(variant, machine_type), report)
            arena_size = report.suggested_arena_bytes
            logger.info(
                "%s %s: TFLM arena %d B (kTensorArenaSize %d%s)",
                machine_type,
                variant.short_name,
                report.arena_bytes,
                report.suggested_arena_bytes,
                "" if report.fits_reference_firmware else "; OVER the reference's 10 KB",
            )
        if variant.file.int8_io:
            header = write_c_array(
                flatbuffer,
                path.with_suffix(".cc"),
                variable=path.name.replace(".", "_"),
                arena_size=arena_size,
            )
            logger.info(
                "%s %s: C source %s.cc and .h", machine_type, variant.short_name, header.stem
            )
    logger.info("%s: %s (%s, %d B)", machine_type, path.name, variant.short_name, len(flatbuffer))


def main(args: argparse.Namespace, run: common.RunContext) -> int:
    if args.calibration_clips < 1 or args.calibration_vectors < 1:
        raise common.PipelineError("--calibration-clips and --calibration-vectors must be >= 1")
    tflm_runtime()  # the deployment reports need TFLite Micro: a one-line error before any work
    for type_dir in run.data.type_dirs():
        machine_type = type_dir.name
        logger.info("== %s: converting", machine_type)
        keras_file = run.layout.model_file(KERAS, machine_type)
        model = keras_model.load_model(keras_file)
        keras_model.check_model_shape(model, keras_file, run.config.model.shape)
        run.models.check(keras_file, list_train_files(type_dir), input_dim=model.input_shape[-1])
        if not keras_model.has_finite_weights(model):
            raise ModelError(f"{keras_file}: the model has non-finite weights (retrain it)")

        frames = run.data.training_frames(type_dir, max_clips=args.calibration_clips)
        calibration = sample_vectors(
            frames, frames=run.config.feature.frames, max_vectors=args.calibration_vectors
        )
        folded = fold_batch_norm(model)
        check_folding(model, folded, calibration)

        for variant in TFLITE_VARIANTS:  # each TFLite file, under its LiteRT label
            flatbuffer = convert_to_tflite(
                folded,
                variant.file,
                representative=calibration,
                per_channel=run.config.model.per_channel_int8,
            )
            write_tflite(run, variant, type_dir, flatbuffer)
            run.outputs.record_model(variant, machine_type, parameters=folded.count_params())
    run.outputs.refresh_summary()  # results of the models replaced here are no longer current
    return 0


if __name__ == "__main__":
    raise SystemExit(common.run_script(main, build_parser()))
