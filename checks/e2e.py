"""The end-to-end proof: the platform's Fibonacci job through the client's own Ray."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, Set

from checks import fib_job
from checks.fib_job import MARKER
from preflight.errors import Unavailable
from preflight.model import Outcome, failed, passed
from preflight.registry import check, probe

#: Seconds kept back from the deadline to kill the job and report.
_MARGIN_S = 0.5
#: Jobs still running; killed at exit, so an interrupted run leaves no Ray client behind.
_RUNNING: "Set[subprocess.Popen[bytes]]" = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_RUNNING):
        _kill(proc)


def _kill(proc: "subprocess.Popen[bytes]") -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not reap it
        pass


def run_job(address: str, size: int, tasks: int, timeout: float) -> Dict[str, Any]:
    """Run the Fibonacci job in a child process of this Python; kill it at ``timeout``."""
    command = [sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')",
               fib_job.__file__, json.dumps({"address": address, "size": size, "tasks": tasks})]
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=max(0.1, timeout))
    except subprocess.TimeoutExpired:
        _kill(proc)
        return {"ok": False, "stage": "timeout", "error": f"the job did not finish within {timeout:.0f} s; it was stopped",
                "wall_s": time.monotonic() - t0}
    except BaseException:
        _kill(proc)
        raise
    finally:
        _RUNNING.discard(proc)
    text = stdout.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        if line.startswith(MARKER):
            result: Dict[str, Any] = json.loads(line[len(MARKER):])
            result["wall_s"] = time.monotonic() - t0
            if not result.get("ok"):
                result["stderr_tail"] = stderr.decode("utf-8", "replace")[-2000:]
            return result
    return {"ok": False, "stage": "crash", "exit_code": proc.returncode,
            "error": f"the job process ended with code {proc.returncode} and no result",
            "stderr_tail": stderr.decode("utf-8", "replace")[-2000:], "wall_s": time.monotonic() - t0}


@probe(gate=("ray-version", "python-version", "client-packages"), owner="fibonacci")
def fibonacci_run(target, config, ctx, ray_client) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Connect with the client's Ray, run the Fibonacci tasks, verify them, disconnect."""
    if not ray_client.get("ok"):
        raise Unavailable(f"cluster unreachable ({ray_client.get('error')})")
    budget = ctx.remaining() - _MARGIN_S
    if budget <= 1:
        raise Unavailable("no time left before the deadline to run the job")
    return run_job(target.address, config.fib_size, config.fib_tasks, budget)


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@check("fibonacci", "Fibonacci job runs end to end")
def fibonacci(fibonacci_run, config) -> Outcome:  # type: ignore[no-untyped-def]
    """Run the platform's smoke test through the client's Ray and verify every result."""
    run = fibonacci_run
    details = {k: run.get(k) for k in ("stage", "size", "tasks", "init_s", "local_s", "remote_s", "shutdown_s",
                                       "nodes", "wall_s") if run.get(k) is not None}
    if run.get("ok"):
        nodes = len(run.get("nodes") or [])
        return passed(
            f"{run['tasks']} tasks of size {run['size']:,} ran on {nodes} node(s) and matched the local results "
            f"(remote {run['remote_s']:.2f} s, local {run['local_s']:.2f} s; ray.init {run['init_s']:.1f} s)",
            **details,
        )
    stage = run.get("stage")
    error = run.get("error") or _first_line(run.get("stderr_tail", "")) or "unknown error"
    if run.get("stderr_tail"):
        details["stderr_tail"] = run["stderr_tail"]
    if stage == "import":
        return failed(f"Ray cannot be imported: {error}", 'pip install "ray[client]"', **details)
    if stage == "init":
        return failed(f"ray.init failed: {_first_line(error)}", "read the message above; run `ray-preflight -v` for details",
                      **details)
    if stage == "done" and run.get("mismatches"):
        return failed(f"{run['mismatches']} of {run['tasks']} remote results differ from the local computation",
                      "the workers compute differently: compare the server's packages with yours", **details)
    if stage == "timeout":
        return failed(error, f"raise --timeout (now {config.timeout_s:g} s) or lower --fib-size", **details)
    return failed(f"the job failed at {stage}: {_first_line(error)}", "run `ray-preflight -v` for the worker's error",
                  **details)
