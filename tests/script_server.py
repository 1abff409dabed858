"""A warm interpreter for the tests: runs the numbered scripts one after another, each as
a fresh ``python SCRIPT ARGS`` would, without paying for Python, Keras and TensorFlow
start-up again (4 to 6 s a run on 2 cores; see ``tests/warm_scripts.py``).

    python tests/script_server.py      # one JSON request a line on standard input

A request is ``{"script", "args", "cwd", "env", "stdout", "stderr"}``: the script runs
as ``__main__`` with that command line, working folder and environment, its file
descriptors 1 and 2 on the two files named (native writes included); the reply, on the
server's original standard output, is ``{"returncode": N}``. Between runs the state a
script changes is put back (environment, working folder, logging, signal handlers,
warnings, the project's caches, Keras' session), so that each run starts as a new
process would, Keras and TensorFlow aside: they stay loaded, on the backend the first
run chose. An end of input ends the server.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import runpy
import signal
import sys
import traceback
import warnings

#: Modules whose function caches a new process would start empty (the project's own).
_PROJECT_MODULES = ("anomaly_detection", "common", "keras_model")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_status(code: object) -> int:
    """What Python's exit status would be for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _run(script: str, args: list[str]) -> int:
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(script)  # as ``python SCRIPT`` puts the script's folder
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        return _exit_status(stop.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except BaseException:  # as the interpreter would: the traceback, exit status 1
        traceback.print_exc()
        return 1
    return 0


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


def _serve_one(request: dict, reply) -> None:
    saved = _Restored()
    streams = {1: os.dup(1), 2: os.dup(2)}
    out = os.open(request["stdout"], os.O_WRONLY | os.O_TRUNC)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        status = _run(request["script"], request["args"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for number, copy in streams.items():
            os.dup2(copy, number)
            os.close(copy)
        saved.put_back()
    reply.write(json.dumps({"returncode": status}) + "\n")
    reply.flush()


def main() -> None:
    reply = os.fdopen(os.dup(1), "w")
    requests = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # a script reading standard input reads nothing, not the requests
    os.close(null)
    try:
        for line in requests:
            _serve_one(json.loads(line), reply)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C on the test run, or its end
        return


if __name__ == "__main__":
    main()
