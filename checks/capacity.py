"""Capacity: the CPUs (and GPUs) the cluster has now and the most it can get, against what a job needs.

The Ray side is the dashboard's cluster status (the totals now, each node shape, the demand Ray cannot place, whether an
autoscaler with node types runs); with Kubernetes access, the RayCluster's worker groups say what each pod offers
(``rayStartParams``, else the Ray container's limits) and how many pods a group may have (``maxReplicas`` when
autoscaling, else ``replicas``). A cluster with no CPU that cannot get one fails in milliseconds: every task would wait
forever, and the live job is not started (``fibonacci_run`` stops on this check's failure).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from preflight.checks.autoscaler import node_types
from preflight.model import Outcome, as_dict, as_list, dicts, dig, failed, formatted, number, passed, reason_of, skipped, warned
from preflight.registry import check

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


def _count(amount: float, unit: str) -> str:
    return f"{formatted(amount)} {unit}{'' if amount == 1 else 's'}"


def describe_demand(demand: List[Dict[str, Any]]) -> str:
    """``{CPU: 1} × 4`` for what Ray could not place."""
    return ", ".join(f"{{{', '.join(f'{k}: {formatted(v)}' for k, v in sorted((str(k), v) for k, v in as_dict(d.get('resources')).items()))}}}"
                     f" × {formatted(d.get('count'))}" for d in dicts(demand))


@check("capacity", "Cluster has (or can get) CPUs for the job")
def capacity(dashboard, kuberay=None, profile=None) -> Outcome:  # type: ignore[no-untyped-def]
    """CPUs and GPUs now and at most (autoscaler, worker groups) against one CPU per Fibonacci task."""
    ray = ray_view(dashboard)
    if not ray["readable"]:
        return skipped(ray["why"])
    kube = kube_view(kuberay)
    details: Dict[str, Any] = {k: ray[k] for k in ("cpus", "gpus", "node_shapes", "pending_demand", "autoscaler")}
    if kube:
        details["worker_groups"] = kube["groups"]
    now = _count(ray["cpus"], "CPU") + (f", {_count(ray['gpus'], 'GPU')}" if ray["gpus"] else "")
    most, offering = obtainable(kube, "cpus") if kube else (None, [])
    details["cpus_at_most"] = most
    if ray["cpus"] >= 1:
        grows = f"; up to {formatted(most)} CPUs with {', '.join(offering)}" if most and most > ray["cpus"] else ""
        return passed(f"{now} now{grows}: the job's tasks (1 CPU each) can run", **details)
    if kube and most:
        return passed(f"no CPU now, and the autoscaler can add workers of {', '.join(offering)}: the job's first tasks wait for a "
                      "new pod (scheduling, image pull, Ray start)" if kube["autoscaling"] else
                      f"no CPU now; worker pods of {', '.join(offering)} are expected: the job waits until they join", **details)
    if kube and most is None:
        return warned("no CPU now, and the worker groups do not say how many CPUs a pod has (no num-cpus in rayStartParams, "
                      "no cpu limit): cannot tell whether tasks can ever run", "set rayStartParams num-cpus on the worker groups",
                      **details)
    if kube:
        name = kube["name"]
        why = "no worker group can add a pod with CPUs" if kube["autoscaling"] else "it does not autoscale and no worker pod is wanted"
        return failed(f"tasks would wait forever: the cluster has 0 CPUs and {why} (RayCluster {name})",
                      f"give a worker group CPUs and room (maxReplicas ≥ 1): `kubectl edit raycluster {name}`", **details)
    if ray["autoscaler"] == "node types":
        return warned("no CPU now; an autoscaler runs, but whether it can add a node with CPUs needs Kubernetes access "
                      "(the worker groups' maxReplicas and resources)",
                      "rerun where kubectl works, or ask the platform team for the RayCluster's worker groups", **details)
    scaling = "no autoscaler runs" if ray["autoscaler"] == "none" else "no autoscaler with node types runs (a fixed-size cluster)"
    return failed(f"tasks would wait forever: the cluster has 0 CPUs and cannot scale ({scaling})",
                  "give the head CPUs (rayStartParams num-cpus; `ray start --num-cpus`) or add a worker group with "
                  "autoscaling; if worker pods are still starting, wait for them and run again", **details)
