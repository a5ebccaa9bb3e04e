"""Jobs that connect with the client's own Ray run in a child process of this Python: its Ray connection
always closes (the child exits), a hang can be killed at the deadline, and an interrupted run leaves no
Ray client behind (children still running at exit are killed).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

_CHILD = (
    "import json, os, runpy, sys\n"
    "result = runpy.run_path(sys.argv[1], run_name='ray_preflight_job')['main'](sys.argv[2])\n"
    "sys.stdout.write('\\n' + sys.argv[3] + json.dumps(result) + '\\n')\n"
    "sys.stdout.flush()\n"
    "os._exit(0)\n"
)

#: Jobs still running; killed at exit.
_RUNNING: "Set[subprocess.Popen[bytes]]" = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_RUNNING):
        _kill(proc)


#: How long a job interrupted with SIGINT gets to close its Ray Client session before it is killed.
STOP_GRACE_S = 3.0


def _kill(proc: "subprocess.Popen[bytes]", grace: float = STOP_GRACE_S) -> None:
    """Stop a job: SIGINT first, so that its ``finally`` calls ``ray.shutdown()`` and the server ends the
    session at once (a killed client's session and tasks live on for Ray's reconnect grace period, 30 s);
    SIGKILL to the job's process group after ``grace`` seconds."""
    if proc.poll() is None and grace > 0:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not reap it
        pass


@contextlib.contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold SIGINT until the block ends, then raise KeyboardInterrupt. Around ``ray.init``: an init interrupted
    half-way leaves a Ray Client session on the server that ``ray.shutdown()`` cannot close."""
    pending: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def write_step(stage_file: Optional[str], step: str) -> None:
    """In a job: write the step it is at into ``stage_file`` (the run's progress reads it; best effort, the job never
    fails for it)."""
    if stage_file:
        try:
            with open(stage_file, "w") as handle:
                handle.write(step)
        except OSError:
            pass


def job_budget(ray_client: Dict[str, Any], ctx: Any, margin: float, least: float, what: str) -> float:
    """Seconds a job may take: the run's remaining time less ``margin``; ``Unavailable`` when the cluster is not
    reachable or fewer than ``least`` seconds are left."""
    from preflight.errors import Unavailable

    if not ray_client.get("ok"):
        raise Unavailable(f"cluster unreachable ({ray_client.get('error')})")
    budget = float(ctx.remaining()) - margin
    if budget <= least:
        raise Unavailable(f"no time left before the deadline {what}")
    return budget


def run_script(script: str, spec: Dict[str, Any], marker: str, timeout: float,
               env_extra: Optional[Dict[str, str]] = None,
               before_stop: Optional[Callable[[], Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Run ``main(spec)`` of ``script`` in a child process; its result is printed as JSON after ``marker``.

    The script is loaded from its file under a module name that is not importable anywhere, so cloudpickle
    ships its functions by value: the cluster's workers do not have this tool installed. The child exits
    without waiting for Ray's background threads, and is killed at ``timeout``; ``before_stop`` (if given) is asked
    first, while the job still holds what it waits for, and its answer joins the result.
    """
    command = [sys.executable, "-c", _CHILD, script, json.dumps(spec), marker]
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.update(env_extra or {})
    t0 = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=max(0.1, timeout))
    except subprocess.TimeoutExpired:
        seen: Dict[str, Any] = {}
        if before_stop is not None:
            try:
                seen = before_stop()
            except Exception as exc:  # noqa: BLE001 - what the job waited for is a nicety; stopping it is not
                seen = {"before_stop_error": f"{type(exc).__name__}: {exc}"[:300]}
        _kill(proc)
        return {"ok": False, "stage": "timeout", "error": f"the job did not finish within {timeout:.0f} s; it was stopped",
                "wall_s": time.monotonic() - t0, **seen}
    except BaseException:
        _kill(proc)
        raise
    finally:
        _RUNNING.discard(proc)
    text = stdout.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        if line.startswith(marker):
            result: Dict[str, Any] = json.loads(line[len(marker):])
            result["wall_s"] = time.monotonic() - t0
            if not result.get("ok"):
                result["stderr_tail"] = stderr.decode("utf-8", "replace")[-2000:]
            return result
    return {"ok": False, "stage": "crash", "exit_code": proc.returncode,
            "error": f"the job process ended with code {proc.returncode} and no result",
            "stderr_tail": stderr.decode("utf-8", "replace")[-2000:], "wall_s": time.monotonic() - t0}
