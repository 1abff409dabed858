"""The package's shape, as ARCHITECTURE.md states it: subpackages in layers, small modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "anomaly_detection"

#: Each subpackage's layer: a module may import its own subpackage and lower layers only.
#: ``sweep`` and ``pipeline`` share the top layer and must not import each other; so do
#: ``registry`` and ``dsp`` at the bottom.
LAYERS = {
    "registry": 0,
    "dsp": 0,
    "core": 1,
    "data": 2,
    "features": 3,
    "model": 4,
    "evaluation": 5,
    "device": 6,
    "sweep": 7,
    "pipeline": 7,
}
MAX_MODULE_LINES = 350
MAX_CLASS_LINES = 150


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_subpackages(module: Path) -> set[str]:
    """The ``anomaly_detection`` subpackages a module imports, at any depth of its code."""
    subpackage = module.relative_to(PACKAGE).parts[0]
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("anomaly_detection."):
                found.add(node.module.split(".")[1])  # type: ignore[union-attr]
            elif node.level == 1 and len(module.relative_to(PACKAGE).parts) > 1:
                found.add(subpackage)
            elif node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("anomaly_detection."):
                    found.add(alias.name.split(".")[1])
    return found


def layering_violations(modules: list[Path]) -> list[str]:
    """``module -> subpackage`` for every import of a higher (or sibling) layer."""
    violations = []
    for module in modules:
        parts = module.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue  # the package's own __init__ and the command aliases
        own = parts[0]
        for target in imported_subpackages(module):
            if target != own and LAYERS[target] >= LAYERS[own]:
                violations.append(f"{module.relative_to(PACKAGE)} -> {target}")
    return violations


#: Top-level modules kept only so that an earlier documented command line still works.
COMMAND_ALIASES = {"synthetic.py"}


def test_every_module_is_in_a_known_subpackage():
    loose = {m.name for m in PACKAGE.glob("*.py")} - {"__init__.py"}
    assert loose == COMMAND_ALIASES
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(LAYERS)


def test_no_subpackage_imports_a_higher_layer():
    assert layering_violations(_modules()) == []


def test_the_layering_check_catches_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "anomaly_detection"
    (fake / "data").mkdir(parents=True)
    (fake / "data" / "bad.py").write_text("from ..evaluation.metrics import roc_auc\n")
    (fake / "data" / "also_bad.py").write_text("from anomaly_detection.sweep import plan\n")
    (fake / "data" / "good.py").write_text("from ..core.errors import PipelineError\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert sorted(layering_violations(sorted(fake.rglob("*.py")))) == [
        "data/also_bad.py -> sweep",
        "data/bad.py -> evaluation",
    ]


@pytest.mark.parametrize("module", _modules(), ids=lambda m: str(m.relative_to(PACKAGE)))
def test_modules_and_classes_stay_small(module):
    assert len(module.read_text().splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name  # type: ignore[operator]


def test_the_package_runs_from_any_folder_under_its_old_and_new_names(tmp_path):
    import subprocess

    for module in ("anomaly_detection.data.synthetic", "anomaly_detection.synthetic"):
        run = subprocess.run(
            [sys.executable, "-m", module, str(tmp_path / module), "--machine-types", "ToyCar",
             "--dev-ids", "1", "--train-clips", "1", "--test-normal-clips", "0",
             "--test-anomaly-clips", "0", "--duration", "9", "--workers", "1"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert len(list((tmp_path / module).rglob("*.wav"))) == 1
