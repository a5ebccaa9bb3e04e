"""What the cluster has and can get, read from the facts: the cluster status's totals, node shapes, pending demand
and autoscaler kind (Ray side), and the RayCluster's head and worker-group pods (KubeRay side). Helpers of the
``capacity``, ``script-resources``, ``autoscaler`` and job checks; this module registers no check.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from preflight.model import as_dict, as_list, dicts, dig, formatted, number, reason_of

_NODE_ID = re.compile(r"(?i)^node_?[0-9a-f]{16,}$")


def node_types(active: Dict[str, Any]) -> Tuple[bool, List[str]]:
    """(are these real node types?, 'type×count' strings)."""
    typed = bool(active) and not all(_NODE_ID.match(k) for k in active)
    return typed, [f"{k}×{v}" for k, v in sorted(active.items())]


#: Resource names as the cluster status spells them (Ray camel-cases some keys of ``usage``, never CPU or GPU).
_MEMORY_KEYS = ("memory",)


def _pairs(value: Any) -> List[Tuple[Dict[str, Any], int]]:
    """``[[{"CPU": 1.0}, 4], ...]`` (Ray's demand and node-type lists) as (shape, count) pairs; anything else dropped."""
    found = []
    for item in as_list(value):
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], dict):
            count = number(item[1])
            found.append(({str(k): v for k, v in item[0].items()}, int(count) if count is not None else 1))
        elif isinstance(item, dict):
            found.append(({str(k): v for k, v in item.items()}, 1))
    return found


def ray_view(dashboard: Any) -> Dict[str, Any]:
    """What the cluster status says: ``readable`` False (with ``why``) when there is none."""
    if not isinstance(dashboard, dict) or not dashboard.get("ok"):
        why = dashboard.get("error", "no answer") if isinstance(dashboard, dict) else reason_of(dashboard, "no answer")
        return {"readable": False, "why": f"needs the dashboard: {why}"}
    status = dashboard.get("cluster_status")
    load = as_dict(dig(status, "clusterStatus", "loadMetricsReport"))
    usage = load.get("usage")
    if not isinstance(usage, dict):
        why = dashboard.get("cluster_status_error") or "the cluster status has no resource usage yet (did the head just start?)"
        return {"readable": False, "why": f"the dashboard did not report the cluster's resources ({why})"}

    def total(name: str) -> float:
        pair = usage.get(name)
        return float(pair[1]) if isinstance(pair, list) and len(pair) == 2 and number(pair[1]) is not None else 0.0

    shapes = _pairs(load.get("nodeTypes"))
    demand = _pairs(load.get("resourceDemand")) + _pairs(load.get("pgDemand"))
    active = as_dict(dig(status, "clusterStatus", "autoscalerReport", "activeNodes"))
    typed, _ = node_types(active)
    return {
        "readable": True,
        "cpus": total("CPU"),
        "gpus": total("GPU"),
        "node_shapes": [{"resources": {k: v for k, v in shape.items() if not k.startswith("node:")}, "count": count}
                        for shape, count in shapes],
        "pending_demand": [{"resources": shape, "count": count} for shape, count in demand],
        "autoscaler": "node types" if typed else ("none" if not as_dict(status).get("clusterStatus") else "read-only"),
    }


def kube_view(kuberay: Any) -> Optional[Dict[str, Any]]:
    """What the RayCluster offers: the head's pod and, per worker group, one pod's resources and how many pods it may
    have. None without a readable RayCluster."""
    if not isinstance(kuberay, dict) or not dig(kuberay, "raycluster", "ok"):
        return None
    cluster = as_dict(dig(kuberay, "raycluster", "value"))
    scaling = bool(cluster.get("autoscaling"))
    groups = []
    for group in dicts(cluster.get("worker_groups")):
        most = number(group.get("max")) if scaling else number(group.get("replicas"))
        groups.append({"name": group.get("name"), "pods_at_most": int(most) if most is not None else None,
                       **{k: v for k, v in as_dict(group.get("resources")).items()}})
    return {"name": cluster.get("name"), "autoscaling": scaling, "head": as_dict(cluster.get("head_resources")), "groups": groups}


def obtainable(kube: Dict[str, Any], resource: str) -> Tuple[Optional[float], List[str]]:
    """The most of ``resource`` ("cpus" or "gpus") the cluster can have at once, and the groups that offer it;
    None when a group that may run pods does not say what it offers."""
    total = number(dig(kube, "head", resource)) or 0.0
    offering, unknown = [], False
    for group in kube["groups"]:
        pods, each = group.get("pods_at_most"), number(group.get(resource))
        if not pods:
            continue
        if each is None:
            unknown = True
            continue
        if each > 0:
            total += pods * each
            offering.append(f"{group['name']} ({pods} × {formatted(each)})")
    return (None if unknown and not offering else total), offering


def largest_node(ray: Dict[str, Any], kube: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """The most of each resource one node has now or can get (node shapes from Ray, group pods from KubeRay)."""
    best: Dict[str, float] = {}

    def offer(resources: Dict[str, Any]) -> None:
        for name, amount in resources.items():
            value = number(amount)
            if value is not None:
                best[name] = max(best.get(name, 0.0), value)

    for shape in ray.get("node_shapes") or []:
        offer(shape["resources"])
    if kube:
        pods = [kube["head"]] + [g for g in kube["groups"] if g.get("pods_at_most")]
        for pod in pods:
            offer({"CPU": pod.get("cpus"), "GPU": pod.get("gpus"), "memory": pod.get("memory"), **as_dict(pod.get("custom"))})
    return best


def read_demand(target: Any, ctx: Any, timeout: float) -> List[Dict[str, Any]]:
    """The demand Ray cannot place now (the cluster status, read again): what a job that has not finished waits for."""
    from preflight.dashboard_api import Credentials, read_api
    from preflight.net import TlsOptions
    from preflight.ray_security import channel

    credentials = getattr(ctx.config, "dashboard_credentials", None) or Credentials()
    answer = read_api(target.dashboard_url + "api/cluster_status", timeout, TlsOptions(ctx.config.ca_bundle, ctx.config.insecure),
                      credentials.http_headers(channel(ctx).http_headers()))
    if answer["kind"] != "json" or not isinstance(answer["json"], dict):
        return []
    view = ray_view({"ok": True, "cluster_status": answer["json"].get("data", answer["json"])})
    return list(view.get("pending_demand") or []) if view["readable"] else []


def count_of(amount: float, unit: str) -> str:
    return f"{formatted(amount)} {unit}{'' if amount == 1 else 's'}"


def describe_demand(demand: List[Dict[str, Any]]) -> str:
    """``{CPU: 1} × 4`` for what Ray could not place."""
    return ", ".join(f"{{{', '.join(f'{k}: {formatted(v)}' for k, v in sorted((str(k), v) for k, v in as_dict(d.get('resources')).items()))}}}"
                     f" × {formatted(d.get('count'))}" for d in dicts(demand))


