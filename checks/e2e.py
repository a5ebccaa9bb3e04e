"""The end-to-end proof: the platform's Fibonacci job through the client's own Ray.

The job hands ``ray.init`` what the user's own ``ray.init`` would get: the Ray Client address (given, or derived
from a Ray Jobs URL), or a GCS address exactly as given, so that it joins the cluster as a driver the way the
user's code would, and the verdict predicts the real thing.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from preflight.checks import fib_job
from preflight.checks.cluster_resources import describe_demand, read_demand
from preflight.checks.fib_job import MARKER
from preflight.checks.reachability import client_suggestion, node_here
from preflight.child_job import STOP_GRACE_S, job_budget, run_script
from preflight.errors import Unavailable
from preflight.model import Outcome, as_list, failed, formatted, passed, said, unreadable
from preflight.registry import CLIENT_ROUTE, check, probe
from preflight.target import GCS

#: Seconds kept back from the deadline to kill the job and report.
_MARGIN_S = 0.5


#: Seconds kept for reading what a job that reached its deadline waits for.
_DEMAND_READ_S = 1.0


def run_job(address: str, size: int, tasks: int, timeout: float, modules: Any = (),
            before_stop: Optional[Callable[[], Dict[str, Any]]] = None, stage_file: Optional[str] = None) -> Dict[str, Any]:
    """Run the Fibonacci job in a child process of this Python; kill it at ``timeout``. ``modules``: import names a
    worker is asked about after the job (the user's script's); ``stage_file``: where the job writes the step it is at."""
    spec = {"address": address, "size": size, "tasks": tasks, "modules": list(modules), "stage_file": stage_file}
    return run_script(fib_job.__file__, spec, MARKER, timeout, before_stop=before_stop)


def _waiting_for(target: Any, ctx: Any) -> Callable[[], Dict[str, Any]]:
    """At the deadline, before the job stops: the demand Ray could not place (what its tasks wait for)."""
    def read() -> Dict[str, Any]:
        return {"pending_demand": read_demand(target, ctx, min(_DEMAND_READ_S, ctx.timeout()))}

    return read


@probe(gate=("ray-version", "python-version", "client-packages", "proxy", "auth", "tls"), owner="fibonacci", stop_on=("capacity",))
def fibonacci_run(target, config, ctx, ray_client, script=None) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Connect with the client's Ray, run the Fibonacci tasks, verify them, disconnect."""
    # at the deadline: read what the job waits for, then stop it (SIGINT, so that it closes its session, then SIGKILL)
    budget = job_budget(ray_client, ctx, _MARGIN_S + _DEMAND_READ_S + STOP_GRACE_S, 1, "to run the job")
    if target.form == GCS and node_here(ray_client, target) is False:
        # Ray would wait for a node on this machine (60 s in Ray 2.60) and fail: reachability says so and what to type.
        raise Unavailable(f"ray.init({target.init_address!r}) joins as a driver, and no Ray node of that cluster runs on this machine "
                          "(see reachability)")
    modules = script.get("third_party") if isinstance(script, dict) and not script.get("error") else ()
    with ctx.stage_file(fib_job.STEPS) as stage_file:  # the run's progress shows the step: "fibonacci: remote tasks"
        return run_job(target.init_address, config.fib_size, config.fib_tasks, budget, modules or (), _waiting_for(target, ctx),
                       stage_file)


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@check("fibonacci", "Fibonacci job runs end to end", routes=CLIENT_ROUTE)
def fibonacci(fibonacci_run, config) -> Outcome:  # type: ignore[no-untyped-def]
    """Run the platform's smoke test through the client's Ray and verify every result."""
    run = fibonacci_run
    problem = unreadable(fibonacci_run=run)
    if problem:
        return problem
    details = {k: run.get(k) for k in ("stage", "connected_as", "size", "tasks", "init_s", "init_retried", "local_s", "remote_s", "shutdown_s",
                                       "nodes", "wall_s") if run.get(k) is not None}
    target = config.target
    driver = target.form == GCS
    details["init_address"] = target.init_address
    if run.get("ok"):
        nodes = len(as_list(run.get("nodes")))
        how = f"ray.init({target.init_address!r}) as a driver" if driver else "ray.init"
        return passed(
            f"{run.get('tasks')} tasks of size {formatted(run.get('size'), ',')} ran on {nodes} node(s) and matched the local "
            f"results (remote {formatted(run.get('remote_s'), '.2f')} s, local {formatted(run.get('local_s'), '.2f')} s; "
            f"{how} {formatted(run.get('init_s'), '.1f')} s)",
            **details,
        )
    stage = run.get("stage")
    error = said(run.get("error"), _first_line(run.get("stderr_tail") or "") or "unknown error")
    if run.get("stderr_tail"):
        details["stderr_tail"] = run["stderr_tail"]
    if stage == "import":
        return failed(f"Ray cannot be imported: {error}", 'pip install "ray[client]"', **details)
    if stage == "init" and driver:
        return failed(f"ray.init({target.init_address!r}) failed to join the cluster as a driver: {_first_line(error)}",
                      "a driver needs a Ray node of that cluster on this machine and the cluster's exact Ray and Python; "
                      f"from outside the cluster use the Ray Client: {client_suggestion(target)}", **details)
    if stage == "init":
        return failed(f"ray.init failed: {_first_line(error)}", "read the message above; run `ray-preflight -v` for details",
                      **details)
    if stage == "done" and run.get("mismatches"):
        return failed(f"{run['mismatches']} of {run.get('tasks')} remote results differ from the local computation",
                      "the workers compute differently: compare the server's packages with yours", **details)
    if stage == "timeout" and driver:
        return failed(f"{error} (ray.init({target.init_address!r}) joins as a driver, and waits up to 60 s for a Ray node of that "
                      "cluster on this machine)", f"from outside the cluster use the Ray Client: {client_suggestion(target)}; "
                      f"else raise --timeout (now {config.timeout_s:g} s)", **details)
    demand = as_list(run.get("pending_demand"))
    if stage == "timeout" and demand:
        details["pending_demand"] = demand
        return failed(f"{error}: its tasks were waiting for resources the cluster did not have (Ray's pending demand: "
                      f"{describe_demand(demand)})", "see capacity and autoscaler: the cluster needs free CPUs, or an autoscaler "
                      "that can add a node of that shape", **details)
    if stage == "timeout":
        return failed(error, f"raise --timeout (now {config.timeout_s:g} s) or lower --fib-size", **details)
    return failed(f"the job failed at {stage}: {_first_line(error)}", "run `ray-preflight -v` for the worker's error",
                  **details)
