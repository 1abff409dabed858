"""How models are trained: the training loops (``fit.loop``) and the rule for groups of
models (``fit.group``).

A :class:`TrainingLoop` names the code that fits one model, called as
``fit(model, train, validation, fit, *, callbacks)`` and returning Keras' ``History``
(see :func:`anomaly_detection.model.training.train_autoencoder`), and the Keras
backends it runs on; elsewhere Keras' own ``fit`` trains. :data:`MODEL_GROUPS` is the
entry of groups: several models of one shape (the seeds of a sweep's setting, the
machine types of a run whose training sets hold as many vectors) trained side by side
in one compiled program, each exactly as the single loop it reproduces would train
it. Whether a group is faster than one model at a time is measured, not assumed: the
entry holds the measurements, by JAX platform, that its rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "TrainingLoop",
    "TRAINING_LOOPS",
    "GroupMeasurement",
    "ModelGroups",
    "MODEL_GROUPS",
    "GROUP_MODES",
    "training_loop",
    "training_loop_names",
]


@dataclass(frozen=True)
class TrainingLoop:
    """One way of fitting one model.

    Attributes
    ----------
    name : str
        The ``fit.loop`` value.
    description : str
        For the log (``"Keras' fit"``).
    implementation : str
        Import path of ``fit(model, train, validation, fit, *, callbacks)``, resolved by
        :func:`.implementation.load` when used.
    backends : tuple of str
        The Keras backends it runs on; on another, Keras' ``fit`` trains instead.
    """

    name: str
    description: str
    implementation: str
    backends: tuple[str, ...]


#: Every ``fit.loop``, the default first.
TRAINING_LOOPS: tuple[TrainingLoop, ...] = (
    TrainingLoop(
        "scan",
        "scan loop",
        implementation="anomaly_detection.model.scan_training:fit_scan_loop",
        backends=("jax",),
    ),
    TrainingLoop(
        "keras",
        "Keras' fit",
        implementation="anomaly_detection.model.training:fit_with_keras",
        backends=("jax", "tensorflow", "torch"),
    ),
)


@dataclass(frozen=True)
class GroupMeasurement:
    """Training speed of a group of models against one model at a time, on one platform.

    Attributes
    ----------
    platform : str
        JAX's platform name (``jax.default_backend()``): ``cpu``, ``gpu``, ``tpu``.
    models : int
        Models in the group measured.
    speedup : float
        Vectors per second of the whole group over those of one model trained alone
        (above 1: the group is faster than training its models one after another).
    measured_on : str
        The machine, software and who measured it.
    """

    platform: str
    models: int
    speedup: float
    measured_on: str


@dataclass(frozen=True)
class ModelGroups:
    """The entry of groups of models (``fit.group``).

    Attributes
    ----------
    reproduces : str
        The :class:`TrainingLoop` each model of a group equals (same batches, optimizer,
        BatchNorm, validation, stops); groups form only where that loop trains.
    implementation : str
        Import path of ``fit_group(models, trains, validations, fit)``.
    rule : str
        Import path of ``rule(platform) -> bool``: whether groups are faster there,
        read from :attr:`measurements` (``fit.group: auto``).
    measurements : tuple of GroupMeasurement
    """

    reproduces: str
    implementation: str
    rule: str
    measurements: tuple[GroupMeasurement, ...]


#: Where the CPU figures come from: the step times of ``fit_scanned`` (11.0 ms) and of
#: ``fit_group`` of 3 and 4 models (33.8, 53.1 ms), best epoch of each.
_CPU = "2-core AMD EPYC VM (shared), JAX 0.10.2, fit_group against fit_scanned, batch 512"

#: Groups reproduce the scan loop; measured on a GPU (issue 34, before this code) and on
#: the 2-core CPU this project is developed on.
MODEL_GROUPS = ModelGroups(
    reproduces="scan",
    implementation="anomaly_detection.model.group_training:fit_group",
    rule="anomaly_detection.model.model_groups:group_is_faster",
    measurements=(
        GroupMeasurement(
            "gpu", 8, 8.3 / 2.0, "NVIDIA H200, JAX 0.11, plain-JAX step, batch 512 (issue 34)"
        ),
        GroupMeasurement(
            "gpu", 32, 19.0 / 2.0, "NVIDIA H200, JAX 0.11, plain-JAX step, batch 512 (issue 34)"
        ),
        GroupMeasurement("cpu", 3, 11.0 / 33.8 * 3, _CPU),
        GroupMeasurement("cpu", 4, 11.0 / 53.1 * 4, _CPU),
    ),
)

#: ``fit.group``: groups where the measurements say they are faster, always, never.
GROUP_MODES = ("auto", "always", "never")


def training_loop_names() -> tuple[str, ...]:
    """The ``fit.loop`` values, in :data:`TRAINING_LOOPS`' order."""
    return tuple(loop.name for loop in TRAINING_LOOPS)


def training_loop(name: str) -> TrainingLoop:
    """The loop of :data:`TRAINING_LOOPS` called ``name``.

    Raises
    ------
    KeyError
        No loop has that name (the configuration check rejects it before any run).
    """
    for loop in TRAINING_LOOPS:
        if loop.name == name:
            return loop
    raise KeyError(f"{name!r}: not a training loop ({', '.join(training_loop_names())})")
