"""A sweep's plan: the grid of settings times seeds, each run's folder and configuration.

::

    <output>/runs/<setting>/seed_<seed>/config.yaml     the run's YAML (validated)
    <output>/runs/<setting>/seed_<seed>/model/, result/, baseline.log
    <output>/runs/<setting>/seed_<seed>/sweep_run.json   its status (done, failed) and attempts
    <output>/runs/<setting>/seed_<seed>/stage_<NN>.log   each stage's output (all attempts)
    <output>/sweep_summary.csv, sweep_summary.md, sweep_spread.png, .sweep.lock

``<setting>`` names the run's overrides (``fit.epochs=2+fit.batch_size=256``;
``base`` without any). A run keeps the base YAML's data, eval and cache paths
(made absolute against the working folder, as the scripts read them, so that
the feature cache is shared) and gets its own model, result and log paths.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.config import Config, parse_config, path_keys
from ..core.config_values import quote
from ..core.errors import ConfigError
from ..data.run_inputs import inputs_digest
from ..registry.anomaly_scores import anomaly_score_entry

__all__ = [
    "SweepRun",
    "parse_override",
    "plan_sweep",
    "STAGES",
    "SUMMARY_CSV",
    "SUMMARY_MARKDOWN",
    "SPREAD_PLOT",
    "LOCK_FILE",
]

STAGES = ("00", "01", "02", "03")
SUMMARY_CSV = "sweep_summary.csv"
SUMMARY_MARKDOWN = "sweep_summary.md"
SPREAD_PLOT = "sweep_spread.png"
LOCK_FILE = ".sweep.lock"
_RUN_STATUS_FILE = "sweep_run.json"
_OWN_PATHS = {"model_directory": "model", "result_directory": "result", "log_file": "baseline.log"}


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a setting (YAML overrides) with one seed.

    Attributes
    ----------
    setting : str
        Name of the overrides, e.g. ``fit.epochs=2``; ``base`` without any.
    seed : int
    folder : Path
    config_text : str
        The run's YAML (written to ``folder / "config.yaml"``).
    digest : str
        SHA-256 of what determines the run's results (its YAML but ``n_workers``, the
        clips and labels it reads): a run whose configuration or data changed is run
        again.
    """

    setting: str
    seed: int
    folder: Path
    config_text: str
    digest: str

    @property
    def config_file(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def status_file(self) -> Path:
        return self.folder / _RUN_STATUS_FILE

    def stage_log(self, stage: str) -> Path:
        """``stage_<NN>.log``: what the stage printed, every attempt appended."""
        return self.folder / f"stage_{stage}.log"

    @property
    def name(self) -> str:
        return f"{self.setting}/seed_{self.seed}"

    def status(self) -> dict[str, Any]:
        """The recorded status (``{}`` if none, or unreadable)."""
        try:
            status = json.loads(self.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return status if isinstance(status, dict) else {}

    def is_complete(self, stages: tuple[str, ...]) -> bool:
        """Whether this run finished ``stages`` with its current configuration."""
        status = self.status()
        return (
            status.get("state") == "done"
            and status.get("config_sha256") == self.digest
            and set(stages) <= set(status.get("stages", []))
        )


def parse_override(text: str) -> tuple[str, list[Any]]:
    """``"fit.epochs=2,4"`` -> ``("fit.epochs", [2, 4])``; values are YAML scalars.

    Raises
    ------
    ConfigError
        If the text is not ``key=value[,value...]``.
    """
    key, separator, values = text.partition("=")
    key = key.strip()
    if not separator or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise ConfigError(
            f"--set {quote(text)}: expected key=value[,value...], e.g. fit.epochs=2,4"
        )
    parsed = []
    for value in values.split(","):
        try:
            scalar = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: {quote(value)} is not a YAML value") from None
        if isinstance(scalar, (dict, list)) and value.strip():
            raise ConfigError(f"--set {key}: {quote(value)} is not a single value")
        parsed.append(scalar)
    if len(set(map(repr, parsed))) != len(parsed):
        raise ConfigError(f"--set {key}: a value is given twice")
    return key, parsed


def plan_sweep(
    base_config: Path,
    base_raw: dict[str, Any],
    overrides: list[tuple[str, list[Any]]],
    seeds: list[int],
    output: Path,
    *,
    n_workers: int,
    identity: dict[str, Any],
) -> list[SweepRun]:
    """Every run of the grid (the product of the overrides' values) times ``seeds``.

    Each run's configuration is validated here, before anything runs: a bad
    value is a :class:`ConfigError` naming the setting.

    Parameters
    ----------
    base_config : Path
        The base YAML (named in messages).
    base_raw : dict
        Its parsed mapping.
    overrides : list of (str, list)
        ``--set`` keys and their values.
    seeds : list of int
    output : Path
        The sweep's folder (absolute).
    n_workers : int
        Each run's share of the cores (unless an override sets ``n_workers``).
    identity : dict
        What else determines a run's results (mode, machine types, backend): part
        of its digest, so that a finished run is not taken for one of another kind.
        The digest also holds what the run reads from the data, listed as the scripts
        list it (:func:`~anomaly_detection.data.run_inputs.inputs_digest`): the clips'
        paths, sizes and modification times and, in evaluation mode, the labels; adding,
        removing or replacing a clip, or correcting a label, makes the runs incomplete.

    Returns
    -------
    list of SweepRun
        Setting by setting, seed by seed.
    """
    keys = [key for key, _ in overrides]
    if len(set(keys)) != len(keys):
        raise ConfigError("--set: a key is given twice (put all its values in one --set)")
    if "seed" in keys:
        raise ConfigError("--set seed=...: use --seeds")
    for key in keys:
        if key in _OWN_PATHS:
            raise ConfigError(f"--set {key}=...: every run has its own, in its folder")
    runs: list[SweepRun] = []
    data_digests: dict[tuple, str] = {}
    for values in itertools.product(*(values for _, values in overrides)):
        setting_values = dict(zip(keys, values, strict=True))
        setting = "+".join(f"{key}={_label(value)}" for key, value in setting_values.items())
        setting = setting or "base"
        for seed in seeds:
            folder = output / "runs" / _folder_name(setting) / f"seed_{seed}"
            if any(other.folder == folder for other in runs):
                raise ConfigError(f"--set: two values give the same setting {setting!r}")
            raw = _run_config(base_raw, setting_values, seed=seed, folder=folder)
            raw["n_workers"] = raw.get("n_workers") if "n_workers" in keys else n_workers
            source = f"{base_config} with {setting}"
            try:
                config = parse_config(raw, source=source)
                for key in path_keys():  # absolute, defaults included, as the scripts read them
                    if key not in _OWN_PATHS:
                        value = getattr(config, key)
                        raw[key] = None if value is None else str(Path(value).resolve())
                text = yaml.safe_dump(raw, sort_keys=False)
                config = parse_config(yaml.safe_load(text), source=source)
            except ConfigError as error:
                raise ConfigError(str(error)) from None
            data = _inputs_digest(config, identity, data_digests)
            digest = _run_digest(raw, config, data, identity)
            runs.append(SweepRun(setting, seed, folder, text, digest))
    return runs


def _run_digest(
    raw: dict[str, Any], config: Config, data_digest: str, identity: dict[str, Any]
) -> str:
    """SHA-256 of what a run's results come from: its YAML (``n_workers`` aside), the
    digest of the clips and labels it reads (``data_digest``), the sweep's ``identity`` and
    backend, and the anomaly score's formula where its name has stood for another (a run
    scored under the earlier one, such as ``mahalanobis`` before it was the organisers'
    formula, is not complete)."""
    results_from = {key: value for key, value in raw.items() if key != "n_workers"}
    results_from["data"] = data_digest
    formula = anomaly_score_entry(config.anomaly_score).formula
    if formula:
        results_from["anomaly_score_formula"] = formula
    backend = identity.get("keras_backend") or config.fit.backend
    results_from["sweep"] = {**identity, "keras_backend": backend}
    return hashlib.sha256(yaml.safe_dump(results_from).encode()).hexdigest()


def _inputs_digest(config: Config, identity: dict[str, Any], known: dict[tuple, str]) -> str:
    """:func:`~anomaly_detection.data.run_inputs.inputs_digest` of the clips and labels a
    run of ``config`` reads, computed once per data folder, labels and year."""
    dev_mode = identity.get("mode") != "eval"
    key = (config.data_directory(dev_mode), config.eval_ground_truth, config.dataset_year)
    if key not in known:
        known[key] = inputs_digest(
            config, dev_mode=dev_mode, machine_types=identity.get("machine_types") or None
        )
    return known[key]


def _run_config(
    base_raw: dict[str, Any], setting: dict[str, Any], *, seed: int, folder: Path
) -> dict[str, Any]:
    """The base YAML with ``setting``'s values, ``seed`` and the run's own model, result
    and log paths in ``folder``."""
    raw = copy.deepcopy(base_raw)
    for key, value in setting.items():
        _set_dotted(raw, key, value)
    raw["seed"] = seed
    for key, name in _OWN_PATHS.items():
        raw[key] = str((folder / name).resolve())
    return raw


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *sections, last = key.split(".")
    node = raw
    for section in sections:
        child = node.get(section)
        if child is None:
            child = node[section] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{section}' is not a section")
        node = child
    node[last] = value


def _label(value: Any) -> str:
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def _folder_name(setting: str) -> str:
    """A file-system-safe folder name for ``setting`` (readable, unique by a short hash)."""
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "_", setting)
    if safe == setting and len(safe) <= 100:
        return safe
    return f"{safe[:80]}-{hashlib.sha256(setting.encode()).hexdigest()[:8]}"
