"""The autoscaler, as the Ray side sees it (the dashboard's /api/cluster_status) and, with Kubernetes
access, as KubeRay runs it (``enableInTreeAutoscaling``, the head pod's ``autoscaler`` container and its
idle timeout): one verdict from both."""

from __future__ import annotations

from typing import Any, Dict, Optional

from preflight.checks.cluster_resources import node_types
from preflight.checks.kuberay import restarting
from preflight.model import Outcome, Status, as_dict, as_list, dicts, dig, failed, formatted, number, passed, reason_of, skipped, undecided, warned
from preflight.registry import check


def cluster_shape(status: Dict[str, Any]) -> Dict[str, Any]:
    """Nodes by type, pending and failed launches, and CPU usage from a cluster_status answer."""
    report = as_dict(dig(status, "clusterStatus", "autoscalerReport"))
    load = as_dict(dig(status, "clusterStatus", "loadMetricsReport"))
    cpu = dig(load, "usage", "CPU")
    return {
        "active_nodes": {str(k): v for k, v in as_dict(report.get("activeNodes")).items()},
        "pending_launches": as_dict(report.get("pendingLaunches")),
        "pending_nodes": list(as_list(report.get("pendingNodes"))),
        "failed_nodes": list(as_list(report.get("failedNodes"))),
        "cpus_used": cpu[0] if isinstance(cpu, list) and len(cpu) == 2 else None,
        "cpus_total": cpu[1] if isinstance(cpu, list) and len(cpu) == 2 else None,
        "pending_demand": list(as_list(load.get("resourceDemand"))),
    }


def _count_nodes(active: Dict[str, Any]) -> int:
    return sum(v if isinstance(v, int) else 1 for v in active.values())


def ray_side(dashboard: Dict[str, Any], profile: Any) -> Outcome:
    """Present with node types, absent (fixed-size cluster), or present but reporting an error."""
    if not dashboard.get("ok"):
        return skipped(f"needs the dashboard: {dashboard.get('error', 'no answer')}")
    status = dashboard.get("cluster_status")
    if not isinstance(status, dict):
        return skipped(f"the dashboard did not report the cluster status ({dashboard.get('cluster_status_error', 'no data')})")
    error = status.get("autoscalingError")
    shape = cluster_shape(status)
    if error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else str(error)
        ns = profile.namespace or "<namespace>"
        return failed(
            f"the autoscaler reports an error: {first}",
            f"read its log: `kubectl -n {ns} logs -l ray.io/node-type=head -c autoscaler --tail=100`",
            error=str(error)[:4000],
            **shape,
        )
    active = shape["active_nodes"]
    typed, types = node_types(active)
    cpus = shape["cpus_total"]
    size = f"{_count_nodes(active)} node(s)" + (f", {formatted(cpus)} CPUs" if number(cpus) is not None else "")
    expects = bool(profile.autoscaling)
    if not status.get("clusterStatus") and not status.get("autoscalingStatus"):
        summary = "no autoscaler is reporting: a fixed-size cluster"
        if expects:
            return warned(f"{summary}, but profile {profile.name} expects autoscaling",
                          "check the RayCluster's enableInTreeAutoscaling and the head pod's `autoscaler` container", **shape)
        return passed(summary, **shape)
    if not active and cpus is None:
        return skipped("the autoscaler has not reported the cluster's nodes yet (did the head just start?)", **shape)
    if not typed:
        summary = f"no autoscaling (read-only provider): fixed size, {size}"
        if expects:
            return warned(f"{summary}, but profile {profile.name} expects autoscaling",
                          "check the RayCluster's enableInTreeAutoscaling and the head pod's `autoscaler` container", **shape)
        return passed(summary, **shape)
    extra = []
    if shape["pending_launches"]:
        extra.append("launching " + ", ".join(f"{k}×{v}" for k, v in shape["pending_launches"].items()))
    if shape["pending_nodes"]:
        extra.append(f"{len(shape['pending_nodes'])} node(s) pending")
    summary = f"autoscaler active: {', '.join(types)}" + (f"; {'; '.join(extra)}" if extra else "")
    if shape["failed_nodes"]:
        return warned(
            f"{summary}; {len(shape['failed_nodes'])} node(s) failed to launch",
            "look for quota or scheduling errors: `kubectl get events --sort-by=.lastTimestamp`",
            **shape,
        )
    return passed(summary, **shape)


#: Ray's KubeRay autoscaler idles a worker out after this long when idleTimeoutSeconds is not set.
DEFAULT_IDLE_TIMEOUT_S = 60
_SEVERITY = {Status.FAIL: 4, Status.ERROR: 3, Status.WARN: 2, Status.PASS: 1, Status.SKIP: 0}


def kube_side(kuberay: Dict[str, Any], profile: Any) -> Optional[Outcome]:
    """What KubeRay's objects say about the autoscaler; None when the RayCluster could not be read."""
    entry = as_dict(kuberay.get("raycluster"))
    if not entry.get("ok"):
        return None
    cluster, ns = as_dict(entry.get("value")), kuberay.get("namespace")
    name = cluster.get("name")
    if not cluster.get("autoscaling"):
        summary = f"RayCluster {name} does not enable autoscaling (enableInTreeAutoscaling is not true)"
        if profile.autoscaling:
            return failed(summary + f", but profile {profile.name} expects it: jobs that need more than the cluster has will wait",
                          f"kubectl -n {ns} patch raycluster {name} --type merge -p '{{\"spec\":{{\"enableInTreeAutoscaling\":true}}}}'")
        return passed(summary + ": a fixed-size cluster")
    head = next((p for p in dicts(dig(kuberay, "pods", "value")) if p.get("node_type") == "head"), None)
    if head is None:
        return undecided(f"autoscaling is enabled on {name}, but its head pod was not found")
    pod = head.get("name")
    container = next((c for c in dicts(head.get("containers")) if c.get("name") == "autoscaler"), None)
    logs = f"kubectl -n {ns} logs {pod} -c autoscaler --previous --tail=100"
    if container is None:
        return failed(f"autoscaling is enabled on {name}, but the head pod {pod} has no autoscaler container",
                      f"`kubectl -n {ns} get pod {pod} -o jsonpath='{{.spec.containers[*].name}}'`; "
                      "recreate the head pod so the operator adds the sidecar")
    state = container.get("state") or ""
    if not container.get("ready") or restarting(container):
        last = f", last {container['last']}" if container.get("last") else ""
        return failed(f"the autoscaler container in {pod} is {state or 'not ready'}"
                      f" ({container.get('restarts')} restarts{last})", logs)
    idle = number(cluster.get("idle_timeout_s")) or DEFAULT_IDLE_TIMEOUT_S
    summary = f"autoscaler container ready in {pod}, idle timeout {idle} s"
    wanted = profile.autoscaler_idle_timeout_s
    if wanted and idle != wanted:
        return warned(f"{summary}, profile {profile.name} expects {wanted} s: idle workers leave "
                      f"{'later' if idle > wanted else 'sooner'} than the platform says",
                      f"set spec.autoscalerOptions.idleTimeoutSeconds: {wanted} on RayCluster {name}")
    return passed(summary)


@check("autoscaler", "Autoscaler is healthy")
def autoscaler(profile, dashboard=None, kuberay=None) -> Outcome:  # type: ignore[no-untyped-def]
    """One verdict from the Ray side (cluster status, autoscaler errors) and the KubeRay side (sidecar, settings)."""
    ray = ray_side(dashboard, profile) if isinstance(dashboard, dict) else skipped(reason_of(dashboard, "the dashboard was not read"))
    kube = kube_side(kuberay, profile) if isinstance(kuberay, dict) else None
    if kube is None:
        return ray
    if ray.status is Status.SKIP:
        unknown = ray.summary[len("skipped: "):] if ray.summary.startswith("skipped: ") else ray.summary
        kube.summary = f"{kube.summary} (Ray side unknown: {unknown})"
        return kube
    worst = max((ray, kube), key=lambda o: _SEVERITY.get(o.status, 0))
    return Outcome(worst.status, f"{kube.summary}; Ray side: {ray.summary}", worst.remedy or ray.remedy or kube.remedy,
                   {**ray.details, **kube.details})
