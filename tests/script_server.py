"""A warm interpreter for the tests: runs the numbered scripts one after another, each as
a fresh ``python SCRIPT ARGS`` would, without paying for Python, Keras and TensorFlow
start-up again (4 to 6 s a run on 2 cores; see ``tests/warm_scripts.py``).

    python tests/script_server.py FOLDER   # one JSON request a line on standard input

A request is ``{"script", "args", "cwd", "env"}``: the script runs as ``__main__`` with
that command line, working folder and environment. File descriptors 1 and 2 stay on the
files ``FOLDER/stdout`` and ``FOLDER/stderr`` for the server's whole life, emptied before
each run, so that what a run writes is caught whoever writes it (native code; the fork
server and pool workers a run starts, which outlive it and keep the descriptors it had).
The reply, on the server's original standard output, is ``{"returncode", "stdout",
"stderr"}``. Between runs the state a script changes is put back (environment, working
folder, logging, signal handlers, warnings, the project's caches, Keras' session), so that
each run starts as a new process would, Keras and TensorFlow aside: they stay loaded, on
the backend the first run chose. An end of input ends the server.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import runpy
import signal
import sys
import time
import warnings
from pathlib import Path

#: Modules whose function caches a new process would start empty (the project's own).
_PROJECT_MODULES = ("anomaly_detection", "common", "keras_model")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_status(code: object) -> int:
    """What Python's exit status would be for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run(script: str, args: list[str]) -> int:
    """Run ``script`` as ``python script *args`` would; return its exit status."""
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(script)  # as ``python SCRIPT`` puts the script's folder
    _start_processes_now()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        return _exit_status(stop.code)
    except BaseException as error:  # as the interpreter: sys.excepthook prints it
        sys.excepthook(type(error), error, error.__traceback__)
        return -signal.SIGINT if isinstance(error, KeyboardInterrupt) else 1
    return 0


def _start_processes_now() -> None:
    """The feature cache takes unfinished files older than its process for those of
    killed runs: a run here is a process started now."""
    cache = sys.modules.get("anomaly_detection.features.cache")
    if cache is not None:
        started = time.time()
        cache._process_start_time = lambda: started


def _clear_project_caches() -> None:
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(_PROJECT_MODULES):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


def _reset_keras() -> None:
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


class _Restored:
    """What a run may change in this process, taken before it and put back after."""

    def __init__(self) -> None:
        self.environ = dict(os.environ)
        self.cwd = os.getcwd()
        self.handlers = {number: signal.getsignal(number) for number in _SIGNALS}
        self.warning_filters = list(warnings.filters)
        self.hooks = (sys.excepthook, sys.unraisablehook)
        self.path = list(sys.path)

    def put_back(self) -> None:
        os.environ.clear()
        os.environ.update(self.environ)
        os.chdir(self.cwd)
        for number, handler in self.handlers.items():
            signal.signal(number, handler)
        warnings.filters[:] = self.warning_filters
        warnings._filters_mutated()  # warnings shown once are shown again, as in a new process
        sys.excepthook, sys.unraisablehook = self.hooks
        sys.path[:] = self.path
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        _clear_project_caches()
        _reset_keras()


def _serve_one(request: dict, captured: dict[int, Path]) -> dict:
    for path in captured.values():
        os.truncate(path, 0)  # opened to append: every writer starts again at 0
    saved = _Restored()
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        status = _run(request["script"], request["args"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        saved.put_back()
    out, err = (captured[number].read_bytes().decode(errors="replace") for number in (1, 2))
    return {"returncode": status, "stdout": out, "stderr": err}


def main() -> None:
    reply = os.fdopen(os.dup(1), "w")
    requests = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # a script reading standard input reads nothing, not the requests
    os.close(null)
    captured = {1: Path(sys.argv[1]) / "stdout", 2: Path(sys.argv[1]) / "stderr"}
    for number, path in captured.items():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(descriptor, number)
        os.close(descriptor)
    try:
        for line in requests:
            reply.write(json.dumps(_serve_one(json.loads(line), captured)) + "\n")
            reply.flush()
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C on the test run, or its end
        return


if __name__ == "__main__":
    main()
