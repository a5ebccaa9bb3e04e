"""The autoscaling proof, run by the ``scale-test`` check in a child process (like the Fibonacci job).

It connects with the client's Ray, asks for one CPU more than the cluster has now, as a placement
group (a demand Ray removes with the job if this process dies), waits (bounded) for a new node to join,
releases the demand, and with ``full`` waits (bounded) for the extra node to leave again.
``preflight.child_job.run_script`` calls ``main('{"address": ..., "full": false, "up_s": 240, "down_s": 180}')``; with a
``stage_file`` in the spec, the job writes there the step it is at (a key of ``STEPS``), for the run's progress.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List

from preflight.child_job import write_step

MARKER = "RAY-PREFLIGHT-SCALE "
POLL_S = 0.5
#: The steps the job writes to its stage file, and how the run's progress names them.
STEPS = {
    "import": "importing Ray",
    "init": "ray.init",
    "scale-up": "waiting for a new node",
    "ready": "waiting for the demand to be placed",
    "release": "releasing the demand",
    "scale-down": "waiting for the idle node to leave",
    "shutdown": "ray.shutdown",
}


def _alive(ray: Any) -> List[str]:
    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def _wait(condition: Any, limit_s: float) -> float:
    """Seconds until ``condition()`` held, or -1 when ``limit_s`` passed first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if condition():
            return time.monotonic() - t0
        time.sleep(POLL_S)
    return -1.0


def main(spec: str) -> Dict[str, Any]:
    args = json.loads(spec)
    stage_file = args.get("stage_file")
    out: Dict[str, Any] = {"ok": False, "stage": "import", "full": bool(args.get("full"))}
    write_step(stage_file, "import")
    try:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    group = None
    try:
        out["stage"] = "init"
        write_step(stage_file, "init")
        from preflight.child_job import interrupt_after

        with interrupt_after():
            ray.init(args["address"])
        before = _alive(ray)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        out.update(nodes_before=len(before), cpus_before=cpus)

        out["stage"] = "scale-up"
        write_step(stage_file, "scale-up")
        group = placement_group([{"CPU": 1}] * (cpus + 1), strategy="PACK")
        out["up_s"] = _wait(lambda: len(_alive(ray)) > len(before), float(args["up_s"]))
        out["nodes_peak"] = len(_alive(ray))
        if out["up_s"] < 0:
            out["error"] = f"no node joined within {args['up_s']:.0f} s of asking for {cpus + 1} CPUs (the cluster has {cpus})"
            return out
        write_step(stage_file, "ready")
        ready_s = _wait(lambda: _ready_quick(ray, group), 30.0)
        out["ready_s"] = round(out["up_s"] + ready_s, 2) if ready_s >= 0 else None

        out["stage"] = "release"
        write_step(stage_file, "release")
        remove_placement_group(group)
        group = None
        if out["full"]:
            out["stage"] = "scale-down"
            write_step(stage_file, "scale-down")
            out["down_s"] = _wait(lambda: len(_alive(ray)) <= len(before), float(args["down_s"]))
            if out["down_s"] < 0:
                out["error"] = f"the extra node was still there {args['down_s']:.0f} s after the demand was released"
                return out
        out["ok"] = True
        out["stage"] = "done"
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as data
        out["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
    finally:
        if group is not None:
            try:
                remove_placement_group(group)
                out["released"] = True
            except Exception as exc:  # noqa: BLE001
                out["release_error"] = f"{type(exc).__name__}: {exc}"
        write_step(stage_file, "shutdown")
        try:
            ray.shutdown()  # also after an interrupted ray.init (see fib_job)
        except Exception:  # noqa: BLE001 - the process exits next anyway
            pass
    return out


def _ready_quick(ray: Any, group: Any) -> bool:
    try:
        ray.get(group.ready(), timeout=POLL_S)
        return True
    except Exception:  # noqa: BLE001 - not yet
        return False
