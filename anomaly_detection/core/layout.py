"""Where every output file goes: one owner for every path the scripts write or read back.

::

    <model_directory>/model_<type><postfix>.hdf5|.tflite    models (registry.model_files)
    <model_directory>/model_<type>...<suffix><tag>.threshold.json  each model's decision threshold
    <model_directory>/model_<type>...<suffix><tag>.npz  an anomaly score's state (Mahalanobis)
    <model_directory>/history_<type>.png                    training loss
    <result_directory>/<prefix>anomaly_score_<type>_<id>.csv
    <result_directory>/<prefix>decision_result_<type>_<id>.csv
    <result_directory>/<prefix><result_file>                 AUC/pAUC (development mode)
    <result_directory>/<prefix>decision_metrics.csv
    <result_directory>/roc_<type>_<label>[_eval].png, score_histogram_<type>_<label>[_eval].png
    <result_directory>/run_info.json, summary.md
    <result_directory>/<dev_data|eval_data>/baseline_<MSE|MAHALA>/...  the organisers' names

``<prefix>`` is the variant's result prefix: empty for the Keras model (as the
reference), ``<label>_`` for the others (``tflite<postfix>_`` in LiteRT, ``tflm<postfix>_`` in
TensorFlow Lite Micro; see :mod:`..registry.variants`). ``<tag>`` is the anomaly score's
file tag (:mod:`anomaly_detection.registry.anomaly_scores`): none for ``mse``,
``.mahalanobis`` for ``mahalanobis``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..registry.variants import KERAS, VARIANTS, ModelVariant

__all__ = ["OutputLayout", "ReservedResultNames", "reserved_result_names"]


@dataclass(frozen=True)
class OutputLayout:
    """The output paths of one configuration.

    Parameters
    ----------
    model_directory, result_directory : Path
    result_file : str
        Name of the AUC/pAUC file (``result.csv``).
    """

    model_directory: Path
    result_directory: Path
    result_file: str = "result.csv"

    # ---- models ----
    def model_file(self, variant: ModelVariant, machine_type: str) -> Path:
        """``<model_directory>/model_<type><postfix><suffix>``."""
        return self.model_directory / variant.model_file_name(machine_type)

    def threshold_file(self, variant: ModelVariant, machine_type: str, *, tag: str) -> Path:
        """The model file's name with ``<tag>.threshold.json`` appended; ``tag``: the
        anomaly score's file tag (``""`` for ``mse``, ``".mahalanobis"`` for
        ``mahalanobis``; :class:`~anomaly_detection.registry.anomaly_scores.AnomalyScore`)."""
        model_file = self.model_file(variant, machine_type)
        return model_file.with_name(f"{model_file.name}{tag}.threshold.json")

    def deployment_report(self, variant: ModelVariant, machine_type: str) -> Path:
        """``model/model_<type><postfix>.deploy.json``: what the model needs on the device."""
        return self.model_file(variant, machine_type).with_suffix(".deploy.json")

    def history_plot(self, machine_type: str) -> Path:
        """``<model_directory>/history_<type>.png``."""
        return self.model_directory / f"history_{machine_type}.png"

    # ---- results ----
    def anomaly_scores(self, variant: ModelVariant, machine_type: str, scoring_set: str) -> Path:
        """``<result_directory>/<prefix>anomaly_score_<type>_<scoring set>.csv``."""
        return self._result(variant, f"anomaly_score_{machine_type}_{scoring_set}.csv")

    def decisions(self, variant: ModelVariant, machine_type: str, scoring_set: str) -> Path:
        """``<result_directory>/<prefix>decision_result_<type>_<scoring set>.csv``."""
        return self._result(variant, f"decision_result_{machine_type}_{scoring_set}.csv")

    def result_csv(self, variant: ModelVariant) -> Path:
        """``<result_directory>/<prefix><result_file>``."""
        return self._result(variant, self.result_file)

    def decision_metrics(self, variant: ModelVariant) -> Path:
        """``<result_directory>/<prefix>decision_metrics.csv``."""
        return self._result(variant, "decision_metrics.csv")

    def roc_plot(self, variant: ModelVariant, machine_type: str, *, mode: str = "dev") -> Path:
        """``<result_directory>/roc_<type>_<label>.png`` (``..._<label>_eval.png`` for the
        evaluation set: a run on one set never replaces the other's plots)."""
        return self.result_directory / f"roc_{machine_type}_{variant.label}{_mode(mode)}.png"

    def score_histogram(
        self, variant: ModelVariant, machine_type: str, *, mode: str = "dev"
    ) -> Path:
        """``<result_directory>/score_histogram_<type>_<label>.png`` (``_eval`` as
        :meth:`roc_plot`)."""
        name = f"score_histogram_{machine_type}_{variant.label}{_mode(mode)}.png"
        return self.result_directory / name

    def organisers_folder(self, *, mode: str, score: str) -> Path:
        """``<result_directory>/<dev_data|eval_data>/baseline_<score>``: the organisers'
        folder of their file names (``score``: theirs, ``MSE`` or ``MAHALA``)."""
        _mode(mode)
        return self.result_directory / f"{mode}_data" / f"baseline_{score}"

    @property
    def run_info(self) -> Path:
        """``<result_directory>/run_info.json``: model facts collected for the summary."""
        return self.result_directory / "run_info.json"

    @property
    def summary(self) -> Path:
        """``<result_directory>/summary.md``."""
        return self.result_directory / "summary.md"

    def result_files(self, variant: ModelVariant) -> list[Path]:
        """Every existing result file of ``variant`` (scores, decisions, result CSV, plots)."""
        if not self.result_directory.is_dir():
            return []
        own = ("anomaly_score_", "decision_result_", "decision_metrics.csv", self.result_file)
        plots = ("roc_", "score_histogram_")

        def belongs(name: str) -> bool:
            rest = name.removeprefix(variant.result_prefix)
            if variant.result_prefix and rest != name and rest.startswith(own):
                return True
            return name.startswith(plots) and name.endswith(
                (f"_{variant.label}.png", f"_{variant.label}_eval.png")
            )

        files = [path for path in self.result_directory.iterdir() if belongs(path.name)]
        return sorted(files)

    def _result(self, variant: ModelVariant, name: str) -> Path:
        return self.result_directory / f"{variant.result_prefix}{name}"


def _mode(mode: str) -> str:
    """The plot-name suffix of a set: none for ``dev``, ``_eval`` for ``eval``."""
    if mode not in ("dev", "eval"):
        raise ValueError(f"mode must be 'dev' or 'eval', got {mode!r}")
    return "" if mode == "dev" else "_eval"


@dataclass(frozen=True)
class ReservedResultNames:
    """The result-folder names a user's ``result_file`` must keep clear of.

    Attributes
    ----------
    names : tuple of str
        Files the pipeline writes under a fixed name (``summary.md``, ...).
    prefixes : tuple of str
        How the pipeline's other result files start: the per-machine files
        (``anomaly_score_``, ...) and the variants' result prefixes (``tflite_``, ...).
    variant_tails : tuple of str
        What one variant's result prefix adds to another's (``tflite_`` + ``quant_`` is
        ``tflite_quant_``): a name starting with one, behind the shorter prefix, would
        be the longer prefix's file.
    """

    names: tuple[str, ...]
    prefixes: tuple[str, ...]
    variant_tails: tuple[str, ...]


#: A machine type no real one holds: what precedes it in a file name is that file's prefix.
_ANY_MACHINE = "\0"


def reserved_result_names() -> ReservedResultNames:
    """The names and prefixes of :class:`ReservedResultNames`, derived from the paths
    :class:`OutputLayout` writes and from the variants' result prefixes."""
    layout = OutputLayout(Path(), Path())
    fixed = (layout.run_info, layout.summary, layout.decision_metrics(KERAS))
    per_machine = (
        layout.anomaly_scores(KERAS, _ANY_MACHINE, _ANY_MACHINE),
        layout.decisions(KERAS, _ANY_MACHINE, _ANY_MACHINE),
        layout.roc_plot(KERAS, _ANY_MACHINE),
        layout.score_histogram(KERAS, _ANY_MACHINE),
    )
    variant_prefixes = [variant.result_prefix for variant in VARIANTS if variant.result_prefix]
    tails = [
        longer.removeprefix(shorter)
        for shorter in variant_prefixes
        for longer in variant_prefixes
        if longer != shorter and longer.startswith(shorter)
    ]
    return ReservedResultNames(
        names=tuple(_keras_name(path) for path in fixed),
        prefixes=_shortest(
            [_keras_name(path).partition(_ANY_MACHINE)[0] for path in per_machine]
            + variant_prefixes
        ),
        variant_tails=_shortest(tails),
    )


def _keras_name(path: Path) -> str:
    """A result file's name without the Keras model's result prefix (none, as the reference)."""
    return path.name.removeprefix(KERAS.result_prefix)


def _shortest(starts: list[str]) -> tuple[str, ...]:
    """``starts`` without repeats and without those that begin with another (which the
    other already covers), in their first order."""
    unique = list(dict.fromkeys(starts))
    return tuple(
        start
        for start in unique
        if not any(other != start and start.startswith(other) for other in unique)
    )
