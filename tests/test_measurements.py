"""Measurement records (benchmarks/measurements.py) and the page rendered from them
(benchmarks/render_measurements.py): when, where, at which commit and how each figure was
measured; a stale page is found; a broken record is one line naming its file."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import measurements  # noqa: E402
import render_measurements  # noqa: E402


def _demo_record(folder, monkeypatch, *, mean="0.9556 ± 0.0090"):
    """A ``demo`` record as demo_benchmark.py writes one, its command line given."""
    script = str(REPO / "benchmarks" / "demo_benchmark.py")
    monkeypatch.setattr(sys, "argv", [script, "--seeds", "8", "--work", "my demo"])
    return measurements.write_record(
        "demo",
        title="The demo over training seeds",
        figures=[("Keras AUC, mean ± std", mean), ("largest |TFLite - Keras| AUC", "0.0019")],
        tables=[{"title": "Per seed", "columns": ["seed", "Keras AUC"], "rows": [[0, "0.9558"]]}],
        notes=["One run per seed."],
        raw={"runs": [{"seed": 0}]},
        record_dir=folder,
    )


def test_the_page_says_when_where_at_which_commit_and_how_each_figure_was_measured(
    tmp_path, monkeypatch
):
    path = _demo_record(tmp_path / "records", monkeypatch)
    record = json.loads(path.read_text())
    assert path == tmp_path / "records" / "demo.json"
    assert record["command"] == "benchmarks/demo_benchmark.py --seeds 8 --work 'my demo'"
    assert record["machine"] == measurements.machine_facts()
    assert record["commit"] == measurements.code_facts()["commit"] != "unknown"
    assert record["raw"] == {"runs": [{"seed": 0}]}

    page = tmp_path / "measurements.md"
    assert render_measurements.main(["--records", str(path.parent), "--page", str(page)]) == 0
    text = page.read_text()
    machine = record["machine"]
    assert '<a id="demo"></a>\n## The demo over training seeds' in text
    when = f"Measured {record['measured'][:10]} ({record['measured']}) on {machine['cpu']}, "
    assert when + f"{machine['cores']} cores" in text
    assert f"commit `{record['commit'][:10]}" in text
    assert "    benchmarks/demo_benchmark.py --seeds 8 --work 'my demo'\n" in text
    assert f"numpy {record['libraries']['numpy']}" in text
    assert "| Keras AUC, mean ± std | 0.9556 ± 0.0090 |" in text
    assert "| largest \\|TFLite - Keras\\| AUC | 0.0019 |" in text  # a '|' kept in its cell
    assert "**Per seed**\n\n| seed | Keras AUC |\n|---|---|\n| 0 | 0.9558 |" in text
    assert "One run per seed." in text


def test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one(tmp_path, monkeypatch, capsys):
    records, page = tmp_path / "records", tmp_path / "measurements.md"
    _demo_record(records, monkeypatch)
    arguments = ["--records", str(records), "--page", str(page)]
    assert render_measurements.main([*arguments, "--check"]) == 1  # no page yet
    assert render_measurements.main(arguments) == 0
    assert render_measurements.main([*arguments, "--check"]) == 0
    capsys.readouterr()

    _demo_record(records, monkeypatch, mean="0.9509 ± 0.0111")  # measured again
    assert render_measurements.main([*arguments, "--check"]) == 1
    assert f"{page} is out of date: run render_measurements.py" in capsys.readouterr().err
    assert "0.9556" in page.read_text()  # --check writes nothing


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"name": "demo", "title": ', "not a readable record (Expecting value"),
        ('{"name": "training"}', "not a record named 'demo'"),
        ('["demo"]', "not a record named 'demo'"),
        ('{"name": "demo", "title": "x"}', "a record lacks the field(s) measured, machine,"),
    ],
)
def test_a_broken_record_is_one_line_naming_its_file(tmp_path, text, cause):
    records = tmp_path / "records"
    records.mkdir()
    (records / "demo.json").write_text(text)
    with pytest.raises(SystemExit) as raised:
        render_measurements.main(["--records", str(records), "--page", str(tmp_path / "m.md")])
    message = str(raised.value)
    assert message.startswith(f"error: {records / 'demo.json'}: {cause}")
    assert "\n" not in message
    assert not (tmp_path / "m.md").exists()


def test_a_record_name_is_a_page_anchor(tmp_path):
    with pytest.raises(ValueError, match="a record's name is letters, digits and '-'"):
        measurements.write_record("test suite", title="x", figures=[], record_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
