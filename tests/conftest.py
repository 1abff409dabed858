"""Shared fixtures: a tiny synthetic dataset, configurations, and script runs."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import warm_scripts  # noqa: E402

from anomaly_detection.data.synthetic import SyntheticSpec, write_dataset  # noqa: E402

TINY_SPEC = SyntheticSpec(
    machine_types=("ToyCar",),
    dev_ids=(1, 2),
    eval_ids=(5,),
    train_clips=10,
    test_normal_clips=5,
    test_anomaly_clips=5,
    duration=9.0,
    seed=3,
)


def pytest_configure(config):
    """Ctrl-C as in a terminal, for this process and the scripts the tests start: a test
    session started in the background (``./run_tests.sh &``, a CI runner) inherits SIGINT
    ignored, and an ignored signal stays ignored in every child, so the tests that press
    Ctrl-C in a script would find it deaf."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _share_jax_compilations(config)


#: JAX's persistent compilation cache, for this test run's processes.
_JAX_CACHE = "JAX_COMPILATION_CACHE_DIR"


def _share_jax_compilations(config) -> None:
    """One JAX compilation cache for every process of this test run (the pytest-xdist
    workers inherit it, and the scripts they start): the same tiny models trained and
    scored again and again compile the same programs, which JAX then loads instead of
    compiling (a test's time, never its results: a cached program is the compiled one).
    A new empty folder per run, removed at its end; a folder the caller set is kept."""
    if os.environ.get(_JAX_CACHE):
        return
    folder = tempfile.mkdtemp(prefix="anomaly-detection-tests-jax-")
    os.environ[_JAX_CACHE] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    config.add_cleanup(partial(shutil.rmtree, folder, ignore_errors=True))


def base_config(work: Path, data_root: Path, **overrides) -> dict:
    """The default ``baseline.yaml`` with paths under ``work`` / ``data_root`` and 2 epochs."""
    config = yaml.safe_load((REPO / "baseline.yaml").read_text())
    config.update(
        dev_directory=str(data_root / "dev_data"),
        eval_directory=str(data_root / "eval_data"),
        model_directory=str(work / "model"),
        result_directory=str(work / "result"),
        cache_directory=str(work / "cache"),
        log_file=str(work / "baseline.log"),
        seed=0,
    )
    config["fit"].update(epochs=2, verbose=0)
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    return config


def write_config(work: Path, data_root: Path, **overrides) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(base_config(work, data_root, **overrides)))
    return path


def run_script(
    script: str, *args: str, cwd: Path | None = None, timeout: float = 600, fresh: bool = False
) -> subprocess.CompletedProcess:
    """Run a numbered script (or any repo file) with this interpreter: the numbered
    scripts in a warm interpreter (:mod:`warm_scripts`) unless ``fresh``, any other file
    (and every file with ``fresh``) in a new process."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not fresh and warm_scripts.wanted(script):
        return warm_scripts.run(
            REPO / script, args, cwd=cwd or REPO, env=environment, timeout=timeout
        )
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Root of a tiny synthetic dataset: dev_data/ToyCar (IDs 01, 02) and eval_data/ToyCar (05)."""
    root = tmp_path_factory.mktemp("tiny_data")
    write_dataset(root, TINY_SPEC, dev=True, eval_=True, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def dev_run(tmp_path_factory, tiny_data) -> dict:
    """The four scripts run once in development mode on the tiny dataset, each in a new
    process (the console's tests read what they print)."""
    work = tmp_path_factory.mktemp("dev_run")
    config = write_config(work, tiny_data)
    runs = {}
    for script in ("00_train.py", "01_test.py", "02_convert.py", "03_tflite_test.py"):
        runs[script] = run_script(script, "-d", "--config", str(config), cwd=work, fresh=True)
        assert runs[script].returncode == 0, runs[script].stderr[-3000:]
    return {"work": work, "config": config, "runs": runs, "data": tiny_data}


def reference_dir() -> Path:
    """The shared reference data; skipped (or failed, in CI) when absent."""
    path = Path(os.environ.get("AD_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
    if not (path / "ad01.h5").is_file():
        message = (
            f"reference data not found in {path}: set AD_REFERENCE_DIR to the folder "
            "holding ad01.h5 and the ToyCar clips"
        )
        if os.environ.get("AD_REQUIRE_REFERENCE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support; records the ranges asked for."""

    ranges: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        requested = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not requested:
            return super().do_GET()
        type(self).ranges.append(requested)
        start = int(requested.split("=")[1].rstrip("-"))
        with open(path, "rb") as handle:
            data = handle.read()
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture()
def server(tmp_path):
    """A static file server on 127.0.0.1 (loopback only) serving ``tmp_path/served``."""
    root = tmp_path / "served"
    root.mkdir()
    RangeHandler.ranges = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(RangeHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
