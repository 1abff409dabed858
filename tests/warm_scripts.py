"""Runs of the numbered scripts in warm interpreters (``tests/script_server.py``).

A new ``python 01_test.py`` spends 4 to 6 s of a test's time loading Python, Keras and
TensorFlow before its first line of work, and the suite runs the four scripts about 190
times. A server keeps those libraries loaded and runs each script as a new process would
(its command line, working folder and environment; standard output and error captured
from the file descriptors, exit status as Python's), putting back what the run changed.
One server per Keras backend and environment, at most two per pytest worker (about 1 GB
each): a script runs only in a server whose Keras was loaded on the backend a new process
of that script would load, so the numbers are those of a new process. Tests of the
process itself (start-up lines, signals, two processes compared) run new processes:
``run_script(..., fresh=True)``, or every run with ``AD_TESTS_FRESH=1``.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

from anomaly_detection.model.backend import configured_backend

SERVER = Path(__file__).with_name("script_server.py")
#: The scripts a server runs; any other file runs in a new process.
WARM_SCRIPTS = frozenset({"00_train.py", "01_test.py", "02_convert.py", "03_tflite_test.py"})
#: Variables that differ between the tests but that no library reads at start-up.
_PER_RUN_VARIABLES = frozenset({"PYTEST_CURRENT_TEST"})
_MOST_SERVERS = 2


def wanted(script: str) -> bool:
    return script in WARM_SCRIPTS and os.environ.get("AD_TESTS_FRESH") != "1"


def _keras_default(env: dict[str, str]) -> str:
    """The backend ``import keras`` picks: ``$KERAS_BACKEND``, else ``keras.json``'s."""
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"]
    home = Path(env.get("KERAS_HOME") or Path(env.get("HOME", "~")).expanduser() / ".keras")
    try:
        return str(json.loads((home / "keras.json").read_text())["backend"])
    except (OSError, ValueError, KeyError, TypeError):
        return "tensorflow"


def keras_backend(script: str, args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> str:
    """The Keras backend a new process of ``script`` would load (the scripts' own rules:
    ``02_convert.py`` on TensorFlow, ``00_train.py`` on ``fit.backend``, the others on
    Keras' default)."""
    if script == "02_convert.py":
        return "tensorflow"
    if script != "00_train.py" or env.get("KERAS_BACKEND"):
        return _keras_default(env)
    try:
        backend = configured_backend(args, folder=cwd)
    except SystemExit:  # the script stops at its first line, before Keras loads
        backend = None
    return backend or _keras_default(env)


class _Server:
    def __init__(self, env: dict[str, str]):
        self.folder = Path(tempfile.mkdtemp(prefix="script-server-"))  # its fd 1 and 2
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), str(self.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=SERVER.parent,
            env=env,
            text=True,
        )

    def run(self, request: dict, timeout: float) -> dict | None:
        """The reply (exit status, standard output and error), or ``None`` if the server
        died (a crash)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired([request["script"], *request["args"]], timeout)
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def output(self) -> dict[str, str]:
        """What the server's last run wrote (read after a crash)."""
        return {
            name: (self.folder / name).read_bytes().decode(errors="replace")
            for name in ("stdout", "stderr")
        }

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_servers: OrderedDict[tuple, _Server] = OrderedDict()
_closed_at_exit: list[bool] = []


def _server(key: tuple, env: dict[str, str]) -> _Server:
    if key in _servers and _servers[key].process.poll() is None:
        _servers.move_to_end(key)
        return _servers[key]
    if key in _servers:  # stopped (a timed-out run)
        _servers.pop(key).close()
    while len(_servers) >= _MOST_SERVERS:
        _servers.popitem(last=False)[1].close()
    if not _closed_at_exit:
        atexit.register(close_all)
        _closed_at_exit.append(True)
    _servers[key] = _Server(env)
    return _servers[key]


def close_all() -> None:
    while _servers:
        _servers.popitem()[1].close()


def run(
    script_path: Path, args: tuple[str, ...], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """``python script_path *args`` in a warm server, as :func:`subprocess.run` with
    ``capture_output=True, text=True`` would report it."""
    lasting = {name: value for name, value in env.items() if name not in _PER_RUN_VARIABLES}
    backend = keras_backend(script_path.name, args, cwd, env)
    key = (backend, tuple(sorted(lasting.items())))
    server = _server(key, lasting)
    request = {"script": str(script_path), "args": list(args), "cwd": str(cwd), "env": env}
    reply = server.run(request, timeout)
    if reply is None:  # the server died with the run (a crash): its status is the run's
        reply = {"returncode": server.process.wait(), **server.output()}
        _servers.pop(key).close()
    command = [sys.executable, str(script_path), *args]
    stdout, stderr = (_text(reply[name]) for name in ("stdout", "stderr"))
    return subprocess.CompletedProcess(command, reply["returncode"], stdout, stderr)


def _text(data: str) -> str:
    """As ``text=True`` reads a child's output: universal newlines."""
    return data.replace("\r\n", "\n").replace("\r", "\n")
