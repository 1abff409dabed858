"""The documentation: the README's commands run, the figures it links are measured.

- Every command in the README's code blocks that runs a script of this repository
  (``python X.py``, ``python -m module``, ``python benchmarks/X.py``, ``./X.sh``) names a
  file that exists, and that script's ``--help`` lists every ``--option`` the line gives.
- Every line of the README and of ``docs/*.md`` linking ``measurements.md#<name>`` links a
  record that exists (``docs/measurements/<name>.json``), and every number on such a line
  is in that record's section of the page rendered from the records.
- The README stays a five-minute page, each path's first command near the top.
- ``docs/measurements.md`` is the page rendered from the records, up to date.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # render_measurements imports measurements
README = REPO / "README.md"
DOCS = REPO / "docs"
RECORDS = DOCS / "measurements"

MAX_README_LINES = 250
#: The README's three "choose your path" boxes, by the start of their headings.
PATH_HEADINGS = (
    "### A. Reproduce the MLPerf Tiny reference",
    "### B. Another DCASE year",
    "### C. Submit to MLPerf Tiny",
)
#: Each box's first command is on one of the README's first lines; a box's code is short.
FIRST_COMMAND_LINE = 100
MAX_BOX_LINES = 10
#: The measurement records the docs link (``measurements.md#<name>``): the anchors a page
#: may link, each of which must exist as ``docs/measurements/<name>.json``.
LINKED_RECORDS = (
    "demo",
    "test-suite",
    "features",
    "training",
    "tflm",
    "official-runner",
    "dcase-years",
    "organisers-presets",
)

LINK = re.compile(r"measurements\.md#([A-Za-z0-9-]+)")
#: A figure: a decimal (``0.9556``, ``1.6``), a ratio (``38x``), a percentage or an
#: amount with a unit of time, memory or size (``19 s``, ``1.37 GB``, ``4,632 bytes``).
FIGURE = re.compile(
    r"(?<![\w.#-])(\d[\d,]*\.\d+|\d[\d,]*(?=x\b|\s?%|\s(?:ms|s|min|h|GB|MB|KB|GiB|MiB|bytes)\b))"
)
OPTION = re.compile(r"^--[A-Za-z][\w-]*")

#: Shell wrappers whose options go to other commands: each of those must accept them.
WRAPPED = {
    "train.sh": (("00_train.py",), ("01_test.py",)),
    "convert_to_tflite.sh": (("02_convert.py",), ("03_tflite_test.py",)),
}
#: Wrappers with a ``--help`` of their own.
WRAPPERS_WITH_HELP = ("get_dataset.sh",)


# ---- the README's commands ---------------------------------------------------------------


def code_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of every line inside a fenced code block, continuation
    lines (``\\`` at the end) joined onto their first line."""
    lines, inside, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    return lines


def without_comment(line: str) -> str:
    """The line up to a shell comment (``#`` at the start or after a blank)."""
    match = re.search(r"(^|\s)#", line)
    return line[: match.start()] if match else line


@functools.cache
def help_text(command: tuple[str, ...]) -> str:
    """The ``--help`` output of ``command`` (a repository file or ``-m module``), run once."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHON": sys.executable,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    if command[0].endswith(".sh"):
        argv = [str(REPO / command[0]), *command[1:], "--help"]
    else:
        argv = [sys.executable, *command, "--help"]
    result = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=120, env=environment
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed: {result.stderr[-2000:]}"
    return result.stdout


def script_command(line: str) -> tuple[str, tuple[tuple[str, ...], ...], list[str]] | None:
    """For a line that runs a script of the repository: the file it names, the commands
    whose ``--help`` must list its options (none: the file's own text), and its
    arguments; ``None`` for any other line."""
    try:
        tokens = shlex.split(without_comment(line))
    except ValueError:
        return None
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tokens[0]):
        tokens = tokens[1:]  # KERAS_BACKEND=tensorflow python ...
    if len(tokens) >= 2 and tokens[0] in ("python", "python3"):
        if tokens[1] == "-m" and len(tokens) >= 3:
            module = tokens[2]
            path = module.replace(".", "/")
            file = f"{path}.py" if (REPO / f"{path}.py").is_file() else f"{path}/__main__.py"
            return file, (("-m", module),), tokens[3:]
        if tokens[1].endswith(".py"):
            return tokens[1], ((tokens[1],),), tokens[2:]
        return None
    if tokens and tokens[0].startswith("./") and tokens[0].endswith(".sh"):
        name, arguments = tokens[0][2:], tokens[1:]
        if name == "get_dataset.sh" and arguments[:1] == ["--synthetic"]:
            # get_dataset.sh --synthetic hands the rest to the synthetic generator
            return name, (("-m", "anomaly_detection.data.synthetic"),), arguments[1:]
        if name in WRAPPED:
            return name, WRAPPED[name], arguments
        if name in WRAPPERS_WITH_HELP:
            return name, ((name,),), arguments
        return name, (), arguments
    return None


def readme_commands() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(number, line) for number, line in code_lines(text) if script_command(line)]


def test_the_readme_runs_scripts():
    """The README shows the scripts it documents (so the next test is not vacuous)."""
    shown = {script_command(line)[0] for _, line in readme_commands()}
    for name in ("00_train.py", "01_test.py", "export_eembc.py", "eembc_accuracy.py"):
        assert name in shown, f"README shows no command running {name}"
    assert {"get_dataset.sh", "run_demo.sh", "run_tests.sh"} <= shown


@pytest.mark.parametrize(
    "number, line", readme_commands(), ids=lambda value: str(value)[:60].strip()
)
def test_each_readme_command_names_a_file_and_options_it_takes(number, line):
    file, help_commands, arguments = script_command(line)
    assert (REPO / file).is_file(), f"README.md:{number}: {file} does not exist"
    options = [match.group(0) for token in arguments if (match := OPTION.match(token))]
    texts = [help_text(command) for command in help_commands]
    if not help_commands:  # a wrapper without --help: its own usage lines
        texts = [(REPO / file).read_text(encoding="utf-8")]
    for option in options:
        for command, text in zip(help_commands or [(file,)], texts, strict=True):
            listed = re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)
            assert listed, f"README.md:{number}: {' '.join(command)} does not take {option}"


def test_an_option_a_script_lacks_is_caught():
    """The check above fails on a made-up option (it is not vacuous)."""
    file, help_commands, arguments = script_command("python 01_test.py -d --no-such-option")
    assert file == "01_test.py" and arguments == ["-d", "--no-such-option"]
    assert "--no-such-option" not in help_text(help_commands[0])
    assert "--ground-truth" in help_text(help_commands[0])


# ---- figures link their measurement records ----------------------------------------------


def render_measurements() -> ModuleType:
    """``benchmarks/render_measurements.py`` (not a package: loaded from its file)."""
    path = REPO / "benchmarks" / "render_measurements.py"
    spec = importlib.util.spec_from_file_location("render_measurements", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def rendered_sections() -> dict[str, str]:
    """Each record's section of the page rendered from ``docs/measurements/*.json``."""
    renderer = render_measurements()
    page = renderer.render(renderer.read_records(RECORDS))
    sections: dict[str, str] = {}
    parts = re.split(r'^<a id="([A-Za-z0-9-]+)"></a>$', page, flags=re.MULTILINE)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[name] = body
    return sections


def linking_lines() -> list[tuple[str, int, str, list[str]]]:
    """``(page, line number, line, linked records)`` of every line of the README and of
    ``docs/*.md`` (but the generated page) linking ``measurements.md#<name>``."""
    pages = [README, *sorted(path for path in DOCS.glob("*.md") if path.name != "measurements.md")]
    found = []
    for page in pages:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            names = LINK.findall(line)
            if names:
                found.append((str(page.relative_to(REPO)), number, line, names))
    return found


def test_the_docs_link_exactly_the_listed_records():
    linked = {name for *_, names in linking_lines() for name in names}
    assert linked == set(LINKED_RECORDS), (
        f"linked but not listed: {sorted(linked - set(LINKED_RECORDS))}; "
        f"listed but not linked: {sorted(set(LINKED_RECORDS) - linked)}"
    )


@pytest.mark.parametrize("name", LINKED_RECORDS)
def test_each_linked_record_exists(name):
    assert (RECORDS / f"{name}.json").is_file(), (
        f"docs link measurements.md#{name}, but docs/measurements/{name}.json does not exist "
        "(run its benchmark, then benchmarks/render_measurements.py)"
    )
    assert name in rendered_sections(), f"the rendered page has no section {name}"


def test_every_figure_on_a_linking_line_is_in_its_record():
    sections = rendered_sections()
    for page, number, line, names in linking_lines():
        text = "".join(sections.get(name, "") for name in names)
        for figure in FIGURE.findall(line):
            assert figure in text, (
                f"{page}:{number}: {figure} is not in the section(s) {', '.join(names)} of "
                "docs/measurements.md"
            )


def test_a_figure_missing_from_its_record_is_caught():
    """The figure pattern finds what the documents quote, and not the link itself."""
    line = "the demo gave 0.9556 AUC, 38x faster, in 19 s: [see](measurements.md#demo-2)"
    assert FIGURE.findall(line) == ["0.9556", "38", "19"]
    assert LINK.findall(line) == ["demo-2"]
    assert FIGURE.findall("Python 3.10+ ([see](docs/measurements.md#test-suite))") == ["3.10"]


# ---- the README's shape, and the generated page ------------------------------------------


def test_the_readme_is_a_five_minute_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"
    for heading in PATH_HEADINGS:
        starts = [index for index, line in enumerate(lines) if line.startswith(heading)]
        assert len(starts) == 1, f"README.md: no single heading {heading!r}"
        box = lines[starts[0] + 1 :]
        opening = next(index for index, line in enumerate(box) if line.startswith("```"))
        closing = next(
            index for index, line in enumerate(box[opening + 1 :]) if line.startswith("```")
        )
        first = starts[0] + 1 + opening + 2  # 1-based line number of the first command
        assert first <= FIRST_COMMAND_LINE, f"{heading}: first command on line {first}"
        assert script_command(lines[first - 1]), f"{heading}: line {first} runs no script"
        assert closing <= MAX_BOX_LINES, f"{heading}: {closing} lines of commands"


def test_the_measurements_page_is_up_to_date():
    assert render_measurements().main(["--check"]) == 0, (
        "docs/measurements.md differs from the page rendered from docs/measurements/*.json: "
        "run python benchmarks/render_measurements.py"
    )
