"""A sweep's runs as Ray tasks: over a Ray cluster, or a local Ray instance.

Each run is one task reserving ``cores_per_run`` CPUs; it runs the stages in
the sweep's folder, which every node must see at the same path (a shared file
system), as it must see this repository and its Python environment. A task
whose worker process dies is retried by Ray (``max_retries``); a run whose
stage fails is attempted again by the task itself (``retries``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import PipelineError
from .plan import SweepRun
from .runner import REPO, execute_with_retries

__all__ = ["run_on_ray"]

logger = logging.getLogger(__name__)


def _ray_task(
    run: SweepRun, stages: Sequence[str], retries: int, script_options: list[str]
) -> dict:
    import sys

    return execute_with_retries(
        run,
        stages,
        retries=retries,
        script_options=script_options,
        python=sys.executable,
        executor=f"ray worker {os.getpid()}",
    )


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` that accepts no connection is an error at once (Ray would retry
    for minutes)."""
    host, _, port = address.rpartition(":")
    if address in ("local", "auto") or not port.isdigit():
        return
    try:
        socket.create_connection((host.removeprefix("ray://") or "127.0.0.1", int(port)), 5).close()
    except OSError as error:
        raise PipelineError(f"--ray {address}: no Ray cluster answers there ({error})") from None


def run_on_ray(
    runs: Sequence[SweepRun],
    stages: Sequence[str],
    *,
    address: str,
    cores_per_run: int,
    retries: int,
    script_options: list[str],
    on_finished: Callable[[dict[str, Any]], None],
) -> None:
    """Run ``runs`` as Ray tasks and call ``on_finished(status)`` as each one ends.

    Parameters
    ----------
    address : str
        ``local`` starts a Ray instance on this machine (loopback only);
        ``auto`` or ``HOST:PORT`` joins a running cluster.

    Raises
    ------
    PipelineError
        If Ray is not installed or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise PipelineError("--ray: Ray is not installed (pip install 'ray==2.60.0')") from None
    _check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env_vars = {"PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    if os.environ.get("KERAS_BACKEND"):  # the runs' identity includes it: every node gets it
        env_vars["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    runtime_env = {"env_vars": env_vars}
    try:
        if address == "local":
            ray.init(
                address="local",
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                object_store_memory=80 * 1024 * 1024,
                runtime_env=runtime_env,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise PipelineError(f"--ray {address}: cannot start or reach Ray ({error})") from None
    try:
        task = ray.remote(_ray_task).options(num_cpus=cores_per_run, max_retries=retries)
        pending = {task.remote(run, list(stages), retries, script_options): run for run in runs}
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(finished[0])
            try:
                status = ray.get(finished[0])
            except ray.exceptions.RayError as error:  # the worker died, retries exhausted
                status = {
                    "run": run.name,
                    "setting": run.setting,
                    "seed": run.seed,
                    "state": "failed",
                    "failed_stage": "ray",
                    "attempts": retries + 1,
                    "error": f"Ray task lost: {str(error).splitlines()[0]}",
                }
            on_finished(status)
    except KeyboardInterrupt:
        for reference in pending:
            ray.cancel(reference, force=True)
        raise
    finally:
        ray.shutdown()
