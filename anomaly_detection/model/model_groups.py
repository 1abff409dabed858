"""Which models train together in a group, and when groups are used (``fit.group``).

A group is several models of one shape trained side by side in one compiled program
(:mod:`.group_training`): the seeds of a sweep's setting, the machine types of a run
whose training sets hold as many vectors. Each model of a group equals the model the
single scan loop trains with its seed, so a group changes the speed, never the
result. Whether it is faster is the measured rule of the registry's
:data:`~anomaly_detection.registry.training_loops.MODEL_GROUPS` entry: on a GPU, yes
(the step is bound by latency, and 8 models take about as long as 2); on a CPU, no
(the models' arithmetic adds up).

Nothing here imports Keras or JAX: the sweep decides with it before any run starts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from ..core.config import Config, FitConfig
from ..registry.implementation import load
from ..registry.training_loops import MODEL_GROUPS, training_loop

__all__ = [
    "group_is_faster",
    "groups_wanted",
    "training_platform",
    "split_into_groups",
    "group_config_problem",
    "GROUP_KEYS",
]

logger = logging.getLogger(__name__)

Member = TypeVar("Member")

#: The keys in which the configurations of one group may differ: each model's seed and
#: where its files go.
GROUP_KEYS = ("seed", "model_directory", "result_directory", "log_file")


def group_is_faster(platform: str) -> bool:
    """The rule of ``fit.group: auto``: whether every registered measurement on JAX's
    ``platform`` (``cpu``, ``gpu``, ``tpu``) found a group faster than one model at a
    time. A platform never measured trains one model at a time."""
    measured = [m for m in MODEL_GROUPS.measurements if m.platform == platform]
    return bool(measured) and all(m.speedup > 1.0 for m in measured)


def training_platform() -> str:
    """JAX's platform here: ``cpu``, ``gpu`` or ``tpu`` (imports JAX)."""
    import jax

    return str(jax.default_backend())


def groups_wanted(fit: FitConfig, backend: str, *, platform: Callable[[], str]) -> bool:
    """Whether models of one shape train in groups under ``fit`` on Keras' ``backend``.

    ``fit.group`` ``never``: no; groups reproduce the scan loop, so only where it trains
    (``fit.loop: scan`` on JAX); ``always``: yes; ``auto``: where measured faster
    (:func:`group_is_faster` on ``platform()``, called only then).
    """
    reproduced = training_loop(MODEL_GROUPS.reproduces)
    if fit.group == "never" or fit.loop != reproduced.name or backend not in reproduced.backends:
        return False
    if fit.group == "always":
        return True
    chosen = platform()
    faster = bool(load(MODEL_GROUPS.rule)(chosen))
    logger.debug("fit.group auto on %s: %s", chosen, "groups" if faster else "one model at a time")
    return faster


def split_into_groups(
    members: Sequence[Member], key: Callable[[Member], Hashable]
) -> list[list[Member]]:
    """``members`` by ``key`` (what must agree within a group: shapes, vector counts), in
    order of first appearance; a member alone under its key is a group of one."""
    groups: dict[Hashable, list[Member]] = {}
    for member in members:
        groups.setdefault(key(member), []).append(member)
    return list(groups.values())


def group_config_problem(base: Config, other: Config) -> str | None:
    """Why ``other``'s models cannot train in a group with ``base``'s (they must differ
    only in :data:`GROUP_KEYS`), or ``None``."""
    first, second = _flat(base), _flat(other)
    differing = [key for key in first if key not in GROUP_KEYS and first[key] != second[key]]
    if not differing:
        return None
    return f"differs from the group's first configuration in {', '.join(differing)}"


def _flat(config: Config) -> dict[str, object]:
    """The configuration's values by key (``fit.epochs``), as compared."""
    flat: dict[str, object] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if not field.compare:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            flat.update({f"{field.name}.{k}": v for k, v in dataclasses.asdict(value).items()})
        else:
            flat[field.name] = value
    return flat
