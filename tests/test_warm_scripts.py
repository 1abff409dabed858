"""The warm interpreters the tests run scripts in (tests/warm_scripts.py): what a run
reports is what a new process would have reported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import warm_scripts

from conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import multiprocessing, os, sys

    def work(label):
        os.write(2, f"worker line {label}\\n".encode())
        return label

    if __name__ == "__main__":
        action, value = sys.argv[1], sys.argv[2]
        print("started", value)
        if action == "pool":
            with multiprocessing.get_context("forkserver").Pool(1) as pool:
                pool.map(work, [value])
        elif action == "exit":
            sys.exit(int(value) if value.lstrip("-").isdigit() else value)
        elif action == "raise":
            raise ValueError(value)
        elif action == "abort":
            os.abort()
    """
)


@pytest.fixture()
def script(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(SCRIPT)
    return path


def both(script, *args):
    """The run in a new process and in a warm interpreter of its own environment."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "AD_WARM_SCRIPTS_TEST": "1"}
    fresh = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env
    )
    warm = warm_scripts.run(script, args, cwd=script.parent, env=env, timeout=120)
    return fresh, warm


@pytest.mark.parametrize(
    "args", [("exit", "0"), ("exit", "3"), ("exit", "256"), ("exit", "no model"), ("raise", "bad")]
)
def test_exit_status_and_output_are_those_of_a_new_process(script, args):
    fresh, warm = both(script, *args)
    assert warm.returncode == fresh.returncode
    assert warm.stdout == fresh.stdout == f"started {args[1]}\n"
    assert warm.stderr.splitlines()[-1:] == fresh.stderr.splitlines()[-1:]


def test_a_crash_is_the_runs_status_and_the_next_run_gets_a_new_interpreter(script):
    fresh, warm = both(script, "abort", "x")
    assert warm.returncode == fresh.returncode < 0
    assert warm.stdout == fresh.stdout == "started x\n"
    assert both(script, "exit", "0")[1].returncode == 0


def test_what_workers_print_belongs_to_the_run_that_started_them(script):
    """The fork server outlives the run that started it, and keeps its descriptors: the
    lines of a later run's workers are that run's, and only its."""
    for label in ("first", "second"):
        fresh, warm = both(script, "pool", label)
        assert warm.returncode == fresh.returncode == 0
        assert warm.stderr == fresh.stderr == f"worker line {label}\n"
