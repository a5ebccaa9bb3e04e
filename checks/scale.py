"""The opt-in autoscaling proof (``--scale-test``): demand beyond the cluster's size, a node must join.

It runs after the Fibonacci job has passed (the demand would otherwise hold the CPUs that job needs),
through the client's own Ray, in a child process killed at the deadline. The demand is a placement
group: removed at once when the test ends, and by Ray with the job if the child dies. A cluster that the facts
already show cannot add a node (no autoscaler with node types, autoscaling off, every worker group at its
``maxReplicas``) is told so at once: no demand is made and nothing waits out the deadline.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from preflight.checks import scale_job
from preflight.checks.cluster_resources import count_of, kube_view, obtainable, ray_view
from preflight.child_job import job_budget, run_script
from preflight.model import Outcome, as_dict, dig, failed, formatted, number, passed, unreadable
from preflight.registry import CLIENT_ROUTE, check, probe

#: Seconds kept back from the deadline to stop the child and report.
_MARGIN_S = 1.0


def cannot_scale(dashboard: Any, kuberay: Any) -> Optional[str]:
    """Why no node can ever join, when the facts say so for sure; None when one may (or nobody can tell)."""
    kube = kube_view(kuberay)
    ray = ray_view(dashboard)
    if kube is not None:
        name = kube["name"]
        if not kube["autoscaling"]:
            return f"RayCluster {name} does not autoscale (enableInTreeAutoscaling is off): its worker groups keep their replicas"
        most, _ = obtainable(kube, "cpus")
        if ray["readable"] and most is not None and most <= ray["cpus"]:
            return (f"every worker group of RayCluster {name} is at its maxReplicas: the cluster has {count_of(ray['cpus'], 'CPU')} "
                    f"and can have at most {count_of(most, 'CPU')}")
        return None
    active = dig(dashboard, "cluster_status", "clusterStatus", "autoscalerReport", "activeNodes")
    if ray["readable"] and (ray["autoscaler"] == "none" or (ray["autoscaler"] == "read-only" and as_dict(active))):
        return "no autoscaler with node types runs: a fixed-size cluster (see the autoscaler check)"
    return None


@probe(gate=("ray-version", "python-version", "client-packages", "proxy", "fibonacci"), owner="scale-test")
def scale_run(target, config, profile, ctx, ray_client, dashboard=None, kuberay=None) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Ask for one CPU more than the cluster has, time the new node, release; with full, time its leaving."""
    never = cannot_scale(dashboard, kuberay)
    if never:
        return {"ok": False, "stage": "before asking", "cannot_scale": never}
    budget = job_budget(ray_client, ctx, _MARGIN_S, 5, "for the scale test (raise --timeout)")
    full = config.scale_test == "full"
    idle = float(profile.autoscaler_idle_timeout_s or 60)
    down = min(3 * idle + 60, budget / 2) if full else 0.0
    with ctx.stage_file(scale_job.STEPS) as stage_file:  # the run's progress shows the step: "scale-test: waiting for a new node"
        spec = {"address": target.init_address, "full": full, "up_s": max(1.0, budget - down - 15), "down_s": down,
                "stage_file": stage_file}
        # If the child dies, the server drops its session (and the placement group) after this grace period, not 30 s.
        return run_script(scale_job.__file__, spec, scale_job.MARKER, budget, {"RAY_CLIENT_RECONNECT_GRACE_PERIOD": "5"})


@check("scale-test", "Autoscaler adds (and removes) a node on demand", opt_in=True, routes=CLIENT_ROUTE)
def scale_test(scale_run, profile, kuberay=None) -> Outcome:  # type: ignore[no-untyped-def]
    """Time from demand to a new node (and, with --scale-test=full, from release to its removal)."""
    run = scale_run
    problem = unreadable(scale_run=run)
    if problem:
        return problem
    details = {k: run.get(k) for k in ("stage", "nodes_before", "cpus_before", "nodes_peak", "up_s", "ready_s", "down_s",
                                       "wall_s") if run.get(k) is not None}
    if run.get("cannot_scale"):
        name = dig(kuberay, "raycluster", "value", "name") if dig(kuberay, "raycluster", "ok") else None
        where = f"`kubectl -n {dig(kuberay, 'namespace')} edit raycluster {name}`: " if name else "on the RayCluster, "
        return failed(f"no node can join: {run['cannot_scale']}; nothing was asked of the cluster",
                      f"{where}enableInTreeAutoscaling: true and a worker group whose maxReplicas is above its replicas "
                      "(or run the scale test against the cluster that should autoscale)", **details)
    if run.get("ok"):
        cpus = number(run.get("cpus_before"))
        summary = (f"a node joined {formatted(run.get('up_s'), '.1f')} s after asking for "
                   f"{formatted(None if cpus is None else cpus + 1)} CPUs "
                   f"({run.get('nodes_before')} → {run.get('nodes_peak')} nodes); demand released")
        if run.get("full"):
            summary += f"; the idle node left {formatted(run.get('down_s'), '.1f')} s later"
            cluster = as_dict(dig(kuberay, "raycluster"))
            idle = number(dig(cluster, "value", "idle_timeout_s")) if cluster.get("ok") else None
            idle = idle or profile.autoscaler_idle_timeout_s
            if idle:
                summary += f" (idle timeout {idle:g} s)"
        return passed(summary, **details)
    error = run.get("error") or "the scale test did not finish"
    hint = "see the autoscaler and worker-groups checks; `kubectl -n <namespace> logs <head pod> -c autoscaler --tail=100`"
    if dig(kuberay, "raycluster", "ok"):
        ns, name = dig(kuberay, "namespace"), dig(kuberay, "raycluster", "value", "name")
        hint = (f"`kubectl -n {ns} get pods -l ray.io/cluster={name}` and the autoscaler's log "
                f"(`kubectl -n {ns} logs -l ray.io/node-type=head -c autoscaler --tail=100`)")
    return failed(f"scale test failed at {run.get('stage')}: {error}", hint, **details)
