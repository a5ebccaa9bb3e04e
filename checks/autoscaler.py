"""The autoscaler, as the Ray side sees it (the dashboard's /api/cluster_status)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

from preflight.model import Outcome, failed, passed, skipped, warned
from preflight.registry import check

_NODE_ID = re.compile(r"(?i)^node_?[0-9a-f]{16,}$")


def cluster_shape(status: Dict[str, Any]) -> Dict[str, Any]:
    """Nodes by type, pending and failed launches, and CPU usage from a cluster_status answer."""
    cluster = status.get("clusterStatus") or {}
    report = cluster.get("autoscalerReport") or {}
    load = cluster.get("loadMetricsReport") or {}
    active = report.get("activeNodes") or {}
    usage = load.get("usage") or {}
    cpu = usage.get("CPU") or [None, None]
    pending_launches = report.get("pendingLaunches") or {}
    return {
        "active_nodes": {str(k): v for k, v in active.items()} if isinstance(active, dict) else {},
        "pending_launches": pending_launches if isinstance(pending_launches, dict) else {},
        "pending_nodes": list(report.get("pendingNodes") or []),
        "failed_nodes": list(report.get("failedNodes") or []),
        "cpus_used": cpu[0] if isinstance(cpu, list) and len(cpu) == 2 else None,
        "cpus_total": cpu[1] if isinstance(cpu, list) and len(cpu) == 2 else None,
        "pending_demand": list(load.get("resourceDemand") or []),
    }


def _node_types(active: Dict[str, Any]) -> Tuple[bool, List[str]]:
    """(are these real node types?, 'type×count' strings)."""
    typed = bool(active) and not all(_NODE_ID.match(k) for k in active)
    return typed, [f"{k}×{v}" for k, v in sorted(active.items())]


def _count_nodes(active: Dict[str, Any]) -> int:
    return sum(v if isinstance(v, int) else 1 for v in active.values())


@check("autoscaler", "Autoscaler is healthy")
def autoscaler(dashboard, profile) -> Outcome:  # type: ignore[no-untyped-def]
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
    typed, types = _node_types(active)
    cpus = shape["cpus_total"]
    size = f"{_count_nodes(active)} node(s)" + (f", {cpus:g} CPUs" if isinstance(cpus, (int, float)) else "")
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
