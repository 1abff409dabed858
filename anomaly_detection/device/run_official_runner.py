"""MLCommons' open runner, unmodified, against the host DUT.

    python -m anomaly_detection.device.run_official_runner --dataset-path DIR --mode a \\
        --model model/model_ToyCar_quant_fullint_micro_intio.tflite   # starts a host DUT
    python -m anomaly_detection.device.run_official_runner --dataset-path DIR --mode p \\
        --port /dev/pts/3                                              # a host DUT running

The runner (``benchmark/runner/`` of ``mlcommons/tiny``: ``--runner-dir``, else
``$AD_RUNNER_DIR``, else ``../shared/third_party/mlcommons-tiny-runner`` beside the
project) runs in this process from its own folder, as ``main.py -d devices_ad.yaml -t
tests_<mode>.yaml -s DIR -m MODE``: its files, arguments and outputs are its own, its
``sessions/<time>/`` (``log.txt``, ``results.txt``, ``results.json``) written under
``--session-root``. ``DIR`` holds ``ad01/y_labels.csv`` and the sample files. Two
lookups are replaced, in this process only: the serial port list shows the host DUT's
pseudo-terminal as the L4R5ZI of ``devices_ad.yaml`` (its USB vendor and product ID),
and the USB scan (pyusb, which needs libusb) finds no other device. The port is locked
for the run, so a second runner on the same DUT stops with one line.

After the runner, one line names the session folder and one gives its figures, the
throughput named as the host's: it is this computer's, not a board's.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import logging
import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from ..core.errors import PipelineError
from ..core.folder_lock import lock_holder
from .dut_process import HostDutProcess
from .runner_sessions import read_results_text

__all__ = ["runner_directory", "present_as_board", "lock_port", "SESSION_LINE", "main"]

#: The environment variable naming the runner's folder.
RUNNER_DIR_VARIABLE = "AD_RUNNER_DIR"
#: The line that names the runner's session folder.
SESSION_LINE = "official runner session:"
TEST_SCRIPTS = {"a": "tests_accuracy.yaml", "p": "tests_performance.yaml"}
#: What the runner imports beyond this project's own needs: module, package to install.
RUNNER_PACKAGES = {"serial": "pyserial", "usb": "pyusb", "sklearn": "scikit-learn"}
DEVICES = "devices_ad.yaml"


def runner_directory(given: Path | None = None) -> Path:
    """The runner's folder: ``given``, else ``$AD_RUNNER_DIR``, else the shared copy beside
    the project.

    Raises
    ------
    PipelineError
        If it lacks the runner's ``main.py`` or its ad01 YAML files, or a package the
        runner imports is not installed.
    """
    for module, package in RUNNER_PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            raise PipelineError(
                f"MLCommons' runner needs {package}, not installed here (pip install the "
                "versions pinned in requirements-test.txt)"
            )
    default = Path(__file__).resolve().parents[3] / "shared/third_party/mlcommons-tiny-runner"
    folder = Path(given or os.environ.get(RUNNER_DIR_VARIABLE) or default)
    for name in ("main.py", DEVICES, *TEST_SCRIPTS.values()):
        if not (folder / name).is_file():
            raise PipelineError(
                f"{folder}: no MLCommons runner here ({name} missing; --runner-dir or "
                f"${RUNNER_DIR_VARIABLE} names the folder of mlcommons/tiny's benchmark/runner)"
            )
    return folder.resolve()


def _no_usb_devices(*args: Any, find_all: bool = False, **kwargs: Any) -> Any:
    """pyusb's ``usb.core.find`` on a host with no USB-only device."""
    return iter(()) if find_all else None


def present_as_board(port: str, devices_file: Path) -> None:
    """Make the runner's device scan find ``port`` as the DUT of ``devices_file`` (its
    first ``type: dut`` entry's first USB vendor and product ID) and no USB-only
    device: ``serial.tools.list_ports.comports`` and ``usb.core.find`` are replaced in
    this process, nothing else."""
    import usb.core
    from serial.tools import list_ports, list_ports_common

    devices = yaml.safe_load(devices_file.read_text(encoding="utf-8"))
    board = next(entry for entry in devices if entry.get("type") == "dut")
    vendor, products = next(iter(board["usb"].items()))
    info = list_ports_common.ListPortInfo(port, skip_link_detection=True)
    info.vid = vendor
    info.pid = products[0] if isinstance(products, list) else products
    info.description = info.product = f"host DUT as {board['name']}"
    list_ports.comports = lambda include_links=False: [info]
    usb.core.find = _no_usb_devices


def lock_port(port: str) -> int:
    """Hold ``port`` for this runner; return the descriptor (the lock ends with it).

    Raises
    ------
    PipelineError
        If the port is not there, or another runner holds it.
    """
    try:
        descriptor = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as error:
        raise PipelineError(f"{port}: no host DUT on this port ({error.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise PipelineError(
            f"{port}: another runner is attached to this DUT ({lock_holder(Path(port))}); "
            "one runner at a time"
        ) from None
    return descriptor


def _session() -> Path | None:
    """The runner's session folder, once its ``script`` module has opened it."""
    log = getattr(sys.modules.get("script"), "log_filename", None)
    return None if log is None else Path(log).resolve().parent


def run_runner(runner: Path, dataset: Path, mode: str) -> Path:
    """``main.py`` of the runner, as its command line runs it; return its session folder
    (absolute). The runner replaces ``sys.stdout`` and ``sys.stderr`` (into its log)."""
    sys.path.insert(0, str(runner))
    sys.argv = [str(runner / "main.py"), "-d", str(runner / DEVICES)]
    sys.argv += ["-t", str(runner / TEST_SCRIPTS[mode]), "-s", str(dataset), "-m", mode]
    runpy.run_path(str(runner / "main.py"), run_name="__main__")
    session = _session()
    if session is None:
        raise PipelineError(f"{runner / 'main.py'}: the runner stopped before it opened a session")
    return session


def report(session: Path, mode: str, out: TextIO) -> None:
    """The session folder and the figures of its ``results.txt``, on ``out``."""
    print(f"{SESSION_LINE} {session}", file=out)
    results = read_results_text(session / "results.txt")
    print(results.summary(mode), file=out, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m anomaly_detection.device.run_official_runner",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--dataset-path", type=Path, required=True, help="folder holding ad01/y_labels.csv"
    )
    parser.add_argument("--mode", choices=sorted(TEST_SCRIPTS), default="a", help="a or p")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="the port of a host DUT already running")
    target.add_argument("--model", type=Path, help="start a host DUT with this int8 model")
    parser.add_argument("--runner-dir", type=Path, help="the runner's folder")
    parser.add_argument(
        "--session-root", type=Path, default=Path("."), help="where sessions/ goes (default .)"
    )
    return parser


def _check(args: argparse.Namespace) -> tuple[Path, Path]:
    """The runner's folder and the dataset folder, checked."""
    runner = runner_directory(args.runner_dir)
    dataset = args.dataset_path.resolve()
    if not (dataset / "ad01" / "y_labels.csv").is_file():
        raise PipelineError(f"{dataset}: --dataset-path holds no ad01/y_labels.csv")
    args.session_root.mkdir(parents=True, exist_ok=True)
    return runner, dataset


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr  # the runner replaces both by its log
    dut: HostDutProcess | None = None
    try:
        runner, dataset = _check(args)
        if args.model is not None:
            dut = HostDutProcess(args.model)
            args.port = dut.port
        lock_port(args.port)  # held until this process ends
        present_as_board(args.port, runner / DEVICES)
        os.chdir(args.session_root)
        report(run_runner(runner, dataset, args.mode), args.mode, out)
        return 0
    except PipelineError as error:
        print(f"error: {error}", file=err)
    except KeyboardInterrupt:
        print("official runner: interrupted by the user; the session is incomplete", file=err)
        return 130
    except Exception as error:  # the runner's own failures: one line, its log has the rest
        session = _session()
        where = f" (its log: {session / 'log.txt'})" if session is not None else ""
        print(
            f"error: the official runner stopped: {type(error).__name__}: {error}{where}", file=err
        )
    finally:
        if dut is not None:
            dut.stop()
    return 1


if __name__ == "__main__":
    status = main()
    logging.shutdown()
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(status)  # the runner's serial reader is not a daemon thread: never wait for it
