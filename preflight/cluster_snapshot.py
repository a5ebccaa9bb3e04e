"""What a support bundle's ``cluster/`` folder holds: what the Ray server and Kubernetes tell about the cluster.

It starts from a finished run's facts (the dashboard's version and cluster status, Kubernetes access and the
RayCluster's name) and reads a few more pieces, each with a timeout and a size cap: the dashboard's nodes
summary and jobs list; the RayCluster object, the cluster's pods, the namespace's recent events, and tails of
the ``autoscaler`` and operator container logs. A piece that cannot be read is listed with the reason,
never silently left out.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from preflight.model import Report, as_dict, as_list, dicts, dig

#: Caps that bound a bundle's size whatever the cluster's: lines and bytes per log tail, items per list.
LOG_TAIL_LINES = 1000
LOG_LIMIT_BYTES = 512 * 1024
MAX_EVENTS = 200
MAX_JOBS = 200
MAX_NODES = 500
MAX_PODS = 500
#: Object metadata that only repeats the spec (and may hold a whole copy of it, secrets included).
_NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

Piece = Union[Dict[str, Any], List[Any], str]


class NotCollected(Exception):
    """A piece that could not be read; the message says why (forbidden, unreachable, timed out, ...)."""


@dataclass
class Snapshot:
    """The pieces read (bundle path → JSON-like value or log text) and the ones that could not be, with reasons."""

    files: Dict[str, Piece] = field(default_factory=dict)
    missing: Dict[str, str] = field(default_factory=dict)
    took: Dict[str, float] = field(default_factory=dict)

    def manifest(self) -> List[Dict[str, Any]]:
        rows = [{"piece": p, "collected": True, "took_s": round(self.took.get(p, 0.0), 3)} for p in self.files]
        rows += [{"piece": p, "collected": False, "reason": why} for p, why in self.missing.items()]
        return rows


def collect(report: Report, budget_s: float, tls: Any = None, kube_access: Any = None,
            headers: Optional[Dict[str, str]] = None) -> Snapshot:
    """Read every piece concurrently; the whole collection ends within ``budget_s`` (a piece still reading by then
    is listed as timed out). ``kube_access`` is the Kubernetes client the run used (its ``Resources``), if any;
    ``headers`` go with every dashboard request, as the run's probe sent them (the Ray auth token, the user's basic auth
    and ``--dashboard-header`` headers)."""
    snapshot = Snapshot()
    tasks: Dict[str, Callable[[], Piece]] = {}
    _from_facts(report, snapshot)
    dashboard = as_dict(report.facts.get("dashboard"))
    if dashboard.get("ok"):
        base = str(dashboard.get("url"))
        tasks["cluster/nodes.json"] = lambda: _nodes(base, budget_s, tls, headers)
        tasks["cluster/jobs.json"] = lambda: _jobs(base, budget_s, tls, headers)
    else:
        why = _dashboard_reason(dashboard)
        snapshot.missing.update({"cluster/nodes.json": why, "cluster/jobs.json": why})
    _kubernetes_tasks(report, kube_access, snapshot, tasks)
    if not tasks:
        return snapshot
    pool = ThreadPoolExecutor(max_workers=min(8, len(tasks)), thread_name_prefix="bundle")
    started = time.monotonic()
    futures = {pool.submit(_timed, func): name for name, func in tasks.items()}
    done, _ = wait(futures, timeout=budget_s)
    pool.shutdown(wait=False)
    for future, name in futures.items():
        if future not in done:
            snapshot.missing[name] = f"timed out after {budget_s:g} s"
            continue
        try:
            value, took = future.result()
        except NotCollected as exc:
            snapshot.missing[name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a piece that breaks is listed, the bundle still gets written
            snapshot.missing[name] = f"could not be read: {type(exc).__name__}: {exc}"
        else:
            snapshot.files[name] = value
            snapshot.took[name] = took
    snapshot.took["total"] = time.monotonic() - started
    return snapshot


def _timed(func: Callable[[], Piece]) -> Tuple[Piece, float]:
    t0 = time.monotonic()
    value = func()
    return value, time.monotonic() - t0


# -- what the server tells -------------------------------------------------------------------------------------


def _dashboard_reason(dashboard: Dict[str, Any]) -> str:
    if "unavailable" in dashboard:
        return f"the dashboard was not read: {dashboard['unavailable']}"
    if dashboard.get("error"):
        return f"the dashboard did not answer usably: {dashboard['error']}"
    return "the dashboard was not checked in this run"


def _from_facts(report: Report, snapshot: Snapshot) -> None:
    """The dashboard's version and cluster status were read by the run itself."""
    dashboard = as_dict(report.facts.get("dashboard"))
    if dashboard.get("ok"):
        snapshot.files["cluster/dashboard.json"] = {k: dashboard.get(k) for k in ("url", "ray_version", "ray_commit", "tls")
                                                    if k in dashboard}
        if "cluster_status" in dashboard:
            snapshot.files["cluster/cluster_status.json"] = dashboard["cluster_status"]
        else:
            snapshot.missing["cluster/cluster_status.json"] = str(dashboard.get("cluster_status_error", "not reported"))
    else:
        why = _dashboard_reason(dashboard)
        snapshot.missing.update({"cluster/dashboard.json": why, "cluster/cluster_status.json": why})


def _read_json(url: str, timeout: float, tls: Any, headers: Optional[Dict[str, str]]) -> Any:
    from preflight.dashboard_api import read_api

    answer = read_api(url, timeout, tls, headers)
    if answer.get("kind") != "json":
        raise NotCollected(str(answer.get("error") or "no JSON answer"))
    return answer["json"]


def _nodes(base: str, timeout: float, tls: Any, headers: Optional[Dict[str, str]]) -> Piece:
    """``GET /nodes?view=summary`` (the dashboard's own nodes table), at most ``MAX_NODES`` nodes."""
    body = as_dict(_read_json(base + "nodes?view=summary", timeout, tls, headers))
    summary = as_list(dig(body, "data", "summary"))
    return {"count": len(summary), "shown": min(len(summary), MAX_NODES), "nodes": [_node(n) for n in dicts(summary)[:MAX_NODES]]}


def _node(node: Dict[str, Any]) -> Dict[str, Any]:
    raylet = as_dict(node.get("raylet"))
    keep = ("nodeId", "nodeManagerAddress", "state", "isHeadNode", "resourcesTotal", "labels", "startTimeMs", "endTimeMs",
            "stateMessage")
    return {"hostname": node.get("hostname"), "ip": node.get("ip"), "cpus": node.get("cpus"), "mem": node.get("mem"),
            "cpu": node.get("cpu"), "load_avg": node.get("loadAvg"),
            "raylet": {k: raylet[k] for k in keep if k in raylet}}


def _jobs(base: str, timeout: float, tls: Any, headers: Optional[Dict[str, str]]) -> Piece:
    """``GET /api/jobs/``: the newest ``MAX_JOBS`` jobs (their runtime environments go through redaction)."""
    body = _read_json(base + "api/jobs/", timeout, tls, headers)
    jobs = dicts(body if isinstance(body, list) else as_dict(body).get("jobs"))
    jobs.sort(key=lambda j: j.get("start_time") or 0, reverse=True)
    return {"count": len(jobs), "shown": min(len(jobs), MAX_JOBS), "jobs": jobs[:MAX_JOBS]}


# -- what Kubernetes tells -------------------------------------------------------------------------------------

KUBE_PIECES = ("cluster/raycluster.json", "cluster/pods.json", "cluster/events.json", "cluster/logs/")


def _kubernetes_tasks(report: Report, access: Any, snapshot: Snapshot, tasks: Dict[str, Callable[[], Piece]]) -> None:
    kube, kuberay = report.facts.get("kube"), as_dict(report.facts.get("kuberay"))
    reason = _kube_reason(kube, kuberay, access)
    if reason:
        snapshot.missing.update({piece: reason for piece in KUBE_PIECES})
        return
    ns, cluster = str(kuberay.get("namespace")), kuberay.get("cluster")
    served = as_dict(kube.get("ray_api")).get("served") or []  # type: ignore[union-attr]
    if cluster:
        name = str(cluster)
        tasks["cluster/raycluster.json"] = lambda: _raycluster(access, ns, name, served)
        tasks["cluster/pods.json"] = lambda: _pods(access, ns, name)
    else:
        why = f"no RayCluster was found: {_entry_error(kuberay.get('raycluster'), 'see the raycluster check')}"
        snapshot.missing.update({"cluster/raycluster.json": why, "cluster/pods.json": why})
    tasks["cluster/events.json"] = lambda: _events(access, ns)
    for pod, container, where in _log_sources(kuberay, as_dict(kube)):
        tasks[f"cluster/logs/{pod}.{container}.log"] = (
            lambda p=pod, c=container, n=where: _log_tail(access, n, p, c))  # type: ignore[misc]
    if not any(name.startswith("cluster/logs/") for name in tasks):
        errors = [f"{what}: {_entry_error(kuberay.get(key), '')}" for key, what in (("pods", "the cluster's pods"),
                                                                                  ("operator_pods", "the operator's pods"))
                  if isinstance(kuberay.get(key), dict) and not kuberay[key].get("ok")]
        snapshot.missing["cluster/logs/"] = ("no autoscaler or operator pod was found"
                                             + (f" ({'; '.join(errors)})" if errors else ""))


def _entry_error(entry: Any, fallback: str) -> str:
    """Why a kuberay probe entry (``{"ok": False, "error": {...}}``) failed, as "forbidden: <the API's message>"."""
    error = as_dict(as_dict(entry).get("error"))
    if not error:
        return fallback
    status = error.get("status")
    what = {401: "unauthorized", 403: "forbidden", 404: "not found"}.get(status, f"HTTP {status}" if status else "")  # type: ignore[arg-type]
    return f"{what + ': ' if what else ''}{error.get('message')}"


def _kube_reason(kube: Any, kuberay: Dict[str, Any], access: Any) -> Optional[str]:
    if not isinstance(kube, dict) or "unavailable" in kube:
        return f"Kubernetes was not read: {as_dict(kube).get('unavailable', 'the kubernetes check did not run')}"
    if kube.get("broken"):
        return f"Kubernetes was not read: {kube['broken']}"
    if kube.get("access_error"):
        return f"Kubernetes was not read: {as_dict(kube['access_error']).get('message')}"
    if access is None:
        return "Kubernetes was not read: no access"
    if "unavailable" in kuberay:
        return f"Kubernetes was not read: {kuberay['unavailable']}"
    return None


def _log_sources(kuberay: Dict[str, Any], kube: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    """(pod, container, namespace) of the head pod's ``autoscaler`` container and of the operator's container."""
    found = []
    pods = dicts(as_dict(kuberay.get("pods")).get("value"))
    for pod in pods:
        if pod.get("node_type") == "head":
            for container in dicts(pod.get("containers")):
                if container.get("name") == "autoscaler":
                    found.append((str(pod.get("name")), "autoscaler", str(kuberay.get("namespace"))))
    for pod in dicts(as_dict(kuberay.get("operator_pods")).get("value")):
        containers = dicts(pod.get("containers"))
        name = next((c.get("name") for c in containers if c.get("name") == "kuberay-operator"),
                    containers[0].get("name") if containers else None)
        if name:
            found.append((str(pod.get("name")), str(name), str(kube.get("operator_namespace"))))
    return found


def _call(access: Any, verb: str, resource: str, ns: str, func: Callable[..., Any], *args: Any, raw: bool = False,
          **kwargs: Any) -> Any:
    """One Kubernetes request (``kube.call``, or ``kube.call_raw`` for text); ``NotCollected`` with the reason."""
    from preflight.kube import KubeError, call, call_raw

    try:
        return (call_raw if raw else call)(access, verb, resource, ns, func, *args, **kwargs)
    except KubeError as exc:
        raise NotCollected(_kube_error(exc)) from None


def _kube_error(exc: Any) -> str:
    return _entry_error({"error": exc.to_dict()}, str(exc.message))


def _raycluster(access: Any, ns: str, name: str, served: List[str]) -> Piece:
    from kubernetes import client as k8s

    from preflight.kuberay_objects import RAY_API_VERSIONS

    custom = k8s.CustomObjectsApi(access.api_client)
    version = next((v for v in RAY_API_VERSIONS if v in served), RAY_API_VERSIONS[0])
    obj = _call(access, "get", "rayclusters.ray.io", ns, custom.get_namespaced_custom_object, "ray.io", version, ns, "rayclusters", name)
    metadata = as_dict(obj.get("metadata"))
    metadata.pop("managedFields", None)
    annotations = as_dict(metadata.get("annotations"))
    for key in _NOISE_ANNOTATIONS:
        if key in annotations:
            annotations[key] = "(left out: a copy of the object's spec)"
    return obj


def _pods(access: Any, ns: str, cluster: str) -> Piece:
    from kubernetes import client as k8s

    from preflight.kuberay_objects import compact_pod

    listed = _call(access, "list", "pods", ns, k8s.CoreV1Api(access.api_client).list_namespaced_pod, ns,
                   label_selector=f"ray.io/cluster={cluster}")
    items = dicts(listed.get("items"))
    pods = []
    for pod in items[:MAX_PODS]:
        spec, status = as_dict(pod.get("spec")), as_dict(pod.get("status"))
        pods.append(dict(compact_pod(pod), node=spec.get("nodeName"), started=status.get("startTime"),
                         pod_ip=status.get("podIP"), images=[c.get("image") for c in dicts(spec.get("containers"))]))
    return {"count": len(items), "shown": len(pods), "pods": pods}


def _events(access: Any, ns: str) -> Piece:
    """The namespace's newest ``MAX_EVENTS`` events, oldest first (as ``kubectl get events --sort-by``)."""
    from kubernetes import client as k8s

    listed = _call(access, "list", "events", ns, k8s.CoreV1Api(access.api_client).list_namespaced_event, ns, limit=5 * MAX_EVENTS)
    items = [_event(e) for e in dicts(listed.get("items"))]
    items.sort(key=lambda e: str(e.get("last") or e.get("first") or ""))
    return {"count": len(items), "shown": min(len(items), MAX_EVENTS), "events": items[-MAX_EVENTS:]}


def _event(event: Dict[str, Any]) -> Dict[str, Any]:
    involved = as_dict(event.get("involvedObject"))
    return {"type": event.get("type"), "reason": event.get("reason"), "object": f"{involved.get('kind')}/{involved.get('name')}",
            "message": event.get("message"), "count": event.get("count"),
            "first": event.get("firstTimestamp") or event.get("eventTime"),
            "last": event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp"),
            "source": as_dict(event.get("source")).get("component") or event.get("reportingComponent")}


def _log_tail(access: Any, ns: str, pod: str, container: str) -> Piece:
    from kubernetes import client as k8s

    data = _call(access, "get", "pods/log", ns, k8s.CoreV1Api(access.api_client).read_namespaced_pod_log, pod, ns, container=container,
                 tail_lines=LOG_TAIL_LINES, limit_bytes=LOG_LIMIT_BYTES, raw=True)
    return bytes(data[:LOG_LIMIT_BYTES]).decode("utf-8", "replace")
