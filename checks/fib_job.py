"""The platform's Fibonacci smoke test, run by the ``fibonacci`` check in a child process.

It runs in a child (``preflight.child_job.run_script`` calls ``main('{"address": ..., "size": 10000, "tasks": 2}')``)
so that the Ray connection it opens always closes (the child exits) and a hang can be killed; the file is
loaded under a module name no worker can import, so cloudpickle ships its functions by value (the cluster's
workers do not have this tool installed). Its remote functions must use nothing from this tool; the driver
side imports only ``preflight.child_job`` (``interrupt_after``, and ``write_step`` for the run's progress).

``address`` is what the user's own ``ray.init`` gets: a Ray Client address (``ray://``), or a GCS address
(``host:port``), with which ``ray.init`` joins the cluster as a driver; ``connected_as`` records which one Ray made of it.
With a ``stage_file`` in the spec, the job writes there the step it is at (a key of ``STEPS``), for the run's progress.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Dict, List

from preflight.child_job import write_step

MARKER = "RAY-PREFLIGHT-RESULT "
#: The steps the job writes to its stage file, and how the run's progress names them.
STEPS = {
    "import": "importing Ray",
    "init": "ray.init",
    "local": "local computation",
    "remote": "remote tasks",
    "worker": "asking a worker for its packages",
    "shutdown": "ray.shutdown",
}
_MOD = (1 << 61) - 1
#: Packages whose versions must agree on both sides for objects to (de)serialise.
PARITY = ("cloudpickle", "numpy", "pandas", "pyarrow")


def fibonacci(size: int) -> List[int]:
    sequence = [0, 1][:size]
    while len(sequence) < size:
        sequence.append(sequence[-1] + sequence[-2])
    return sequence


def digest(sequence: List[int]) -> List[int]:
    """A small fingerprint of a sequence: its length, the last number's bit length and residue."""
    last = sequence[-1] if sequence else 0
    return [len(sequence), last.bit_length(), last % _MOD]


def installed(names: List[str]) -> Dict[str, Any]:
    """The versions of ``names`` in this Python (None when absent), read from package metadata."""
    from importlib import metadata

    found: Dict[str, Any] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except Exception:  # noqa: BLE001 - absent or unreadable
            found[name] = None
    return found


def importable(modules: List[str]) -> Dict[str, Any]:
    """Which of ``modules`` (top-level import names) this Python can import: found without importing them."""
    from importlib.util import find_spec

    found: Dict[str, Any] = {}
    for name in modules:
        try:
            found[name] = find_spec(name) is not None
        except Exception:  # noqa: BLE001 - a broken package is not importable
            found[name] = False
    return found


def worker_answers(names: List[str], modules: List[str]) -> Dict[str, Any]:
    """One question to a worker: its versions of ``names`` and which of ``modules`` it can import."""
    return {"packages": installed(names), "modules": importable(modules)}


#: Ray's answers when a head could not start the per-client server for a session (seen on heads that have just
#: started: the server timed out, or its process died at once and the proxy crashed reading it).
_SERVER_START_FAILED = ("Starting Ray client server failed", "Initialization failure from server")


def _init(ray: Any, address: str, out: Dict[str, Any]) -> Any:
    """``ray.init``, retried once (and reported) when the server failed to start its per-client server."""
    try:
        return ray.init(address)
    except Exception as exc:  # noqa: BLE001 - only that one server-side failure is retried
        if not any(text in str(exc) for text in _SERVER_START_FAILED):
            raise
        out["init_retried"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
        try:
            ray.shutdown()  # leave no half-made client context behind
        except Exception:  # noqa: BLE001 - nothing to close
            pass
        time.sleep(2)
        return ray.init(address)


def _node_id(ray: Any) -> str:
    context = ray.get_runtime_context()
    getter = getattr(context, "get_node_id", None)
    if getter is not None:
        return str(getter())
    return context.node_id.hex()  # Ray 2.2


def main(spec: str) -> Dict[str, Any]:
    args = json.loads(spec)
    size, tasks = int(args["size"]), int(args["tasks"])
    stage_file = args.get("stage_file")
    out: Dict[str, Any] = {"ok": False, "stage": "import", "size": size, "tasks": tasks}
    write_step(stage_file, "import")
    try:
        import ray
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    connected = False
    try:
        out["stage"] = "init"
        write_step(stage_file, "init")
        t0 = time.perf_counter()
        from preflight.child_job import interrupt_after

        with interrupt_after():
            context = _init(ray, args["address"], out)
        connected = True
        # A Ray Client session gives a ClientContext; joining as a driver through the GCS, a RayContext.
        out["connected_as"] = "ray-client" if type(context).__name__ == "ClientContext" else "driver"
        out["init_s"] = time.perf_counter() - t0

        @ray.remote
        def remote_fibonacci(n: int) -> Dict[str, Any]:
            return {"digest": digest(fibonacci(n)), "node": _node_id(ray), "host": socket.gethostname()}

        out["stage"] = "local"
        write_step(stage_file, "local")
        t0 = time.perf_counter()
        expected = [digest(fibonacci(size)) for _ in range(tasks)]
        out["local_s"] = time.perf_counter() - t0

        out["stage"] = "remote"
        write_step(stage_file, "remote")
        t0 = time.perf_counter()
        refs = [remote_fibonacci.remote(size) for _ in range(tasks)]
        answers = ray.get(refs)
        out["remote_s"] = time.perf_counter() - t0
        # Asked after the Fibonacci tasks, of a worker they left warm: beside them, on a cluster with as many
        # CPUs as tasks, it waited for a slot or a new worker process.
        packages = _ask_worker(ray, out, list(args.get("modules") or []))
        out["mismatches"] = sum(1 for a, e in zip(answers, expected) if a["digest"] != e)
        out["nodes"] = sorted({a["node"] for a in answers})
        out["hosts"] = sorted({a["host"] for a in answers})
        out["ok"] = out["mismatches"] == 0 and len(answers) == tasks
        out["stage"] = "done"
        write_step(stage_file, "worker")
        _collect_packages(ray, packages, out)
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as data
        out["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
    finally:
        # Also after an interrupted ray.init: the server may have opened the session already, and an
        # unclosed session keeps its job running for Ray's reconnect grace period.
        write_step(stage_file, "shutdown")
        t0 = time.perf_counter()
        try:
            ray.shutdown()
        except Exception as exc:  # noqa: BLE001
            out["shutdown_error"] = f"{type(exc).__name__}: {exc}"
        if connected:
            out["shutdown_s"] = time.perf_counter() - t0
    return out


def _ask_worker(ray: Any, out: Dict[str, Any], modules: List[str]) -> Any:
    """Ask a worker for its versions of the PARITY packages and which of ``modules`` it can import (informative: a
    failure is reported, not fatal)."""
    try:
        return ray.remote(worker_answers).remote(list(PARITY), modules)
    except BaseException as exc:  # noqa: BLE001
        out["server_packages_error"] = f"{type(exc).__name__}: {exc}"[:500]
        return None


def _collect_packages(ray: Any, ref: Any, out: Dict[str, Any]) -> None:
    if ref is None:
        return
    try:
        answers = ray.get(ref, timeout=30)
        out["server_packages"] = answers["packages"]
        out["server_modules"] = answers["modules"]
    except BaseException as exc:  # noqa: BLE001
        out["server_packages_error"] = f"{type(exc).__name__}: {exc}"[:500]
