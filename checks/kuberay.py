"""The KubeRay view: Kubernetes access, the operator, the RayCluster, its head service and worker groups.

Every check here judges the facts of ``checks.kube_facts``. A refused read (403) is "cannot verify": a
warning naming the verb and resource, with the ``kubectl auth can-i`` line that confirms it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from preflight.checks import kube_facts  # noqa: F401 - registers the probes
from preflight.kuberay_objects import image_versions
from preflight.model import Outcome, as_dict, as_list, dicts, dig, failed, number, passed, reason_of, said, skipped, undecided, unreadable, warned
from preflight.registry import check

#: Restarts from which a container counts as "restarting".
RESTARTS = 3
_BAD_WAIT = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "RunContainerError")


def refused(entry: Dict[str, Any], what: str) -> Optional[Outcome]:
    """The outcome for a read that failed (403: cannot verify; 401: rejected; other: undecided); None if it worked."""
    if dig(entry, "ok"):
        return None
    error = as_dict(dig(entry, "error"))
    status, verb, resource, ns = error.get("status"), error.get("verb"), error.get("resource"), error.get("namespace")
    where = f" -n {ns}" if ns else ""
    if status == 403:
        return warned(f"cannot verify {what}: Kubernetes refused `{verb} {resource}`{f' in namespace {ns}' if ns else ''} (403)",
                      f"confirm with `kubectl auth can-i {verb} {resource}{where}`; ask for that permission to let this check see",
                      error=error)
    if status == 401:
        return failed(f"Kubernetes rejected the credentials (401): {error.get('message')}",
                      "refresh your kubeconfig (log in again); `kubectl get pods" + where + "` shows the same", error=error)
    code = f" (HTTP {status})" if isinstance(status, int) else ""
    return undecided(f"could not read {what}{code}: {error.get('message')}", error=error)


def _kubectl(kube: Dict[str, Any]) -> str:
    return f"kubectl -n {dig(kube, 'namespace') or '<namespace>'}"


@check("kubernetes", "Kubernetes API answers")
def kubernetes(kube) -> Outcome:  # type: ignore[no-untyped-def]
    """Where the credentials came from, that the API server accepts them, and which ray.io versions it serves."""
    problem = unreadable(kube=kube)
    if problem:
        return problem
    if kube.get("broken"):
        # Asked for with --kubeconfig/--context: a failure. Found in the environment: the Kubernetes checks cannot
        # run, but Ray itself does not need the kubeconfig, so a warning.
        judge = failed if kube.get("asked") else warned
        return judge(said(kube["broken"], "the Kubernetes credentials cannot be used"),
                     "`kubectl config view` shows what kubectl makes of the kubeconfig; fix it, or point "
                     "--kubeconfig/KUBECONFIG at a working one (or unset KUBECONFIG to leave Kubernetes out)",
                     kubeconfig=kube.get("kubeconfig"))
    details = {key: kube.get(key) for key in ("source", "server", "namespace", "namespace_from")}
    if kube.get("access_error"):
        return refused({"ok": False, "error": kube["access_error"]}, "the API server") or undecided("no answer")
    api = kube.get("ray_api")
    if not isinstance(api, dict):
        return undecided("the Kubernetes facts do not say which ray.io versions the API server serves", **details)
    served = ", ".join(map(str, as_list(api.get("served")))) or "none"
    summary = (f"{kube.get('server')} via {kube.get('source')}; namespace {kube.get('namespace')} "
               f"(from {kube.get('namespace_from')}); ray.io versions: {served}")
    if api.get("discovery_error"):
        return warned(summary + " (API discovery refused: 403)", "`kubectl auth can-i get /apis` should say yes", **details)
    return passed(summary, **details)


def restarting(container: Dict[str, Any]) -> Optional[str]:
    state = str(container.get("state") or "")
    if state.startswith("waiting:") and state.split(":", 1)[1] in _BAD_WAIT:
        return f"{container.get('name')} is {state.split(':', 1)[1]}"
    if (number(container.get("restarts")) or 0) >= RESTARTS:
        last = f", last {container['last']}" if container.get("last") else ""
        return f"{container.get('name')} restarted {container['restarts']} times{last}"
    return None


@check("kuberay-operator", "KubeRay operator is running")
def kuberay_operator(kuberay, kube, profile) -> Outcome:  # type: ignore[no-untyped-def]
    """The operator pod exists, is Running and ready, and has not been restarting."""
    problem = unreadable(kuberay=kuberay, kube=kube)
    if problem:
        return problem
    ns = kube.get("operator_namespace") or "<namespace>"
    problem = refused(kuberay.get("operator_pods"), f"the kuberay-operator pod in namespace {ns}")
    if problem:
        return problem
    pods = dicts(dig(kuberay, "operator_pods", "value"))
    if not pods:
        summary = f"no kuberay-operator pod in namespace {ns}"
        remedy = f"`kubectl -n {ns} get deploy,pods -l app.kubernetes.io/name=kuberay-operator`; reinstall the operator if it is gone"
        if profile.operator_namespace:
            return failed(summary, remedy)
        return warned(summary + " (it may run in another namespace)", remedy)
    problems = []
    for pod in pods:
        issues = [p for p in (restarting(c) for c in dicts(pod.get("containers"))) if p]
        if pod.get("phase") != "Running" or not pod.get("ready"):
            issues.insert(0, f"{pod.get('phase') or 'unknown'}{'' if pod.get('ready') else ', not ready'}")
        if issues:
            problems.append(f"{pod.get('name')}: {'; '.join(issues)}")
    healthy = len(pods) - len(problems)
    if healthy == 0:
        return failed(f"kuberay-operator is not healthy: {' | '.join(problems)}",
                      f"`kubectl -n {ns} logs deploy/kuberay-operator --previous` tells why", pods=pods)
    if problems:
        return warned(f"{healthy} of {len(pods)} kuberay-operator pods healthy; {' | '.join(problems)}",
                      f"`kubectl -n {ns} describe pod -l app.kubernetes.io/name=kuberay-operator`", pods=pods)
    return passed(f"kuberay-operator running and ready in namespace {ns} ({pods[0].get('name')})", pods=pods)


def _ready(cluster: Dict[str, Any]) -> bool:
    if str(cluster.get("state") or "").lower() == "ready":
        return True
    return any(c.get("type") in ("HeadPodReady", "Ready") and c.get("status") == "True" for c in dicts(cluster.get("conditions")))


@check("raycluster", "RayCluster exists and is ready")
def raycluster(kuberay, kube, profile, server=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The RayCluster behind the address; its rayVersion and head image agree with the profile and the server."""
    problem = unreadable(kuberay=kuberay, kube=kube)
    if problem:
        return problem
    ns = kube.get("namespace")
    if kuberay.get("crds_installed") is False:
        return failed("KubeRay CRDs are not installed: the API server serves no ray.io API",
                      "install the KubeRay operator with its CRDs; `kubectl get crd rayclusters.ray.io` should list it")
    entry = as_dict(kuberay.get("raycluster"))
    error = as_dict(entry.get("error"))
    if not entry.get("ok") and error.get("status") == 404:
        name = kube.get("cluster")
        return failed(f"no RayCluster {name} in namespace {ns}" if name else said(error.get("message"), "no RayCluster"),
                      f"`{_kubectl(kube)} get rayclusters` lists the clusters there", error=error)
    if not entry.get("ok") and error.get("status") is None and "RayClusters in namespace" in str(error.get("message")):
        return skipped(str(error.get("message")), error=error)
    problem = refused(entry, f"RayCluster {kube.get('cluster') or ''} in namespace {ns}".replace("  ", " "))
    if problem:
        return problem
    cluster = as_dict(entry.get("value"))
    image = image_versions(cluster.get("head_image"))
    details = {key: cluster.get(key) for key in ("name", "api_version", "ray_version", "head_image", "state", "status")}
    if not _ready(cluster):
        why = cluster.get("reason") or next((c.get("message") for c in dicts(cluster.get("conditions")) if c.get("status") == "False"), None)
        return failed(f"RayCluster {cluster.get('name')} is {cluster.get('state') or 'not ready'}" + (f": {why}" if why else ""),
                      f"`{_kubectl(kube)} describe raycluster {cluster.get('name')}` and the head pod's events tell why", **details)
    server_ray = dig(server, "ray_version")
    disagree = []
    for source, version in (("rayVersion", cluster.get("ray_version")), ("the head image", image["ray"])):
        if version and profile.ray_version and version != profile.ray_version:
            disagree.append(f"{source} is {version}, profile {profile.name} expects {profile.ray_version}")
        elif version and server_ray and version != server_ray:
            disagree.append(f"{source} is {version}, the server reports {server_ray}")
    if image["python"] and profile.python_version and image["python"] != profile.python_version:
        disagree.append(f"the head image is for Python {image['python']}, profile {profile.name} expects {profile.python_version}")
    auth = as_dict(cluster.get("auth"))
    details["auth"] = auth or None
    summary = (f"RayCluster {cluster.get('name')} ({cluster.get('api_version')}) is ready: Ray {cluster.get('ray_version') or '?'}, "
               f"image {cluster.get('head_image')}" + (f", token authentication on ({auth.get('source')})" if auth.get("mode") == "token" else ""))
    if disagree:
        return warned(f"{summary}; but {'; '.join(disagree)}",
                      "check that the profile matches this cluster's release (or use --profile auto)", **details)
    return passed(summary, **details)


_PORTS = {"client": (("client",), 10001), "dashboard": (("dashboard",), 8265), "gcs": (("gcs-server", "gcs", "redis"), 6379)}


def _find_port(ports: List[Dict[str, Any]], names: tuple, number: int) -> Optional[Dict[str, Any]]:
    return next((p for p in ports if p.get("name") in names), None) or next((p for p in ports if p.get("port") == number), None)


@check("head-service", "Head service exposes the Ray ports")
def head_service(kuberay, kube, target) -> Outcome:  # type: ignore[no-untyped-def]
    """The head service exists and exposes the ports the address and the dashboard use (by name or number)."""
    problem = unreadable(kuberay=kuberay, kube=kube)
    if problem:
        return problem
    if "service" not in kuberay:
        return skipped(reason_of(None, "the RayCluster is unknown, so is its head service"))
    name = f"{kuberay.get('cluster')}-head-svc"
    entry = as_dict(kuberay["service"])
    if not entry.get("ok") and dig(entry, "error", "status") == 404:
        return failed(f"no service {name} in namespace {kube.get('namespace')}",
                      f"the operator creates it with the RayCluster: `{_kubectl(kube)} get svc -l ray.io/cluster={kuberay.get('cluster')}`")
    problem = refused(entry, f"service {name}")
    if problem:
        return problem
    ports = dicts(dig(entry, "value", "ports"))
    found = {role: _find_port(ports, names, number) for role, (names, number) in _PORTS.items()}
    shown = ", ".join(f"{p.get('name') or '?'} {p.get('port')}" for p in ports)
    details = {"service": name, "ports": ports}
    addressed = target.host.split(".")[0] == name
    if addressed and not any(p.get("port") == target.port for p in ports):
        return failed(f"{name} does not expose port {target.port}, which the address uses (it has {shown})",
                      f"use the client port: ray://{target.host}:{(found['client'] or {}).get('port', 10001)}", **details)
    if not found["client"]:
        return failed(f"{name} has no Ray Client port (it has {shown})",
                      "add a port named client (10001) to the head group's service in the RayCluster", **details)
    missing = [role for role in ("dashboard", "gcs") if not found[role]]
    if missing:
        return warned(f"{name} has no {' and no '.join(missing)} port ({shown})",
                      "add the missing ports to the head service; the dashboard and the GCS are read by this tool and by Ray",
                      **details)
    numbers = {role: (port or {}).get("port") for role, port in found.items()}
    return passed(f"{name} exposes client {numbers['client']}, dashboard {numbers['dashboard']}, GCS {numbers['gcs']}", **details)


def _failing(pod: Dict[str, Any]) -> Optional[str]:
    if pod.get("phase") == "Failed":
        return f"{pod.get('name')} failed"
    bad = [p for p in (restarting(c) for c in dicts(pod.get("containers"))) if p]
    return f"{pod.get('name')}: {'; '.join(bad)}" if bad else None


@check("worker-groups", "Worker groups can run and scale")
def worker_groups(kuberay, kube) -> Outcome:  # type: ignore[no-untyped-def]
    """Each group's running, min, desired and max replicas; Pending or failing pods; groups with no room to scale."""
    problem = unreadable(kuberay=kuberay, kube=kube)
    if problem:
        return problem
    cluster = dig(kuberay, "raycluster", "value") if dig(kuberay, "raycluster", "ok") else None
    if not isinstance(cluster, dict):
        return skipped("the RayCluster could not be read (see raycluster)")
    pods_entry = as_dict(kuberay.get("pods")) or {"ok": False, "error": None}
    problem = refused(pods_entry, f"the pods of RayCluster {cluster.get('name')}")
    if problem:
        return problem
    pods = dicts(pods_entry.get("value"))
    groups, fails, warns = [], [], []
    for group in dicts(cluster.get("worker_groups")):
        mine = [p for p in pods if p.get("group") == group.get("name") and p.get("node_type") != "head"]
        running = sum(1 for p in mine if p.get("phase") == "Running" and p.get("ready"))
        pending = [p for p in mine if p.get("phase") == "Pending"]
        broken = [f for f in (_failing(p) for p in mine) if f]
        shape = {"name": group.get("name"), "running": running, "pending": len(pending), "min": group.get("min"),
                 "desired": group.get("replicas"), "max": group.get("max")}
        groups.append(shape)
        for pod in pending:
            fails.append(f"{pod.get('name')} is Pending" + (f": {pod['unschedulable']}" if pod.get("unschedulable") else ""))
        fails.extend(broken)
        top, low = number(group.get("max")), number(group.get("min"))
        if top is not None and (top == low or (number(group.get("replicas")) or 0) >= top or running >= top):
            why = "maxReplicas equals minReplicas" if top == low else f"at maxReplicas ({top})"
            warns.append(f"{group.get('name')} has no room to scale ({why})")
    described = "; ".join(f"{g['name']}: {g['running']} running (min {g['min']}, desired {g['desired']}, max {g['max']})"
                          for g in groups) or "no worker groups"
    details = {"groups": groups}
    if fails:
        return failed(f"{'; '.join(fails)} [{described}]",
                      f"`{_kubectl(kube)} describe pod <name>` shows why (quota, node selectors, image)", **details)
    if not groups:
        return warned("the RayCluster has no worker groups: the head does all the work",
                      "add a workerGroupSpec if jobs need more than the head", **details)
    if warns:
        return warned(f"{'; '.join(warns)} [{described}]",
                      f"raise maxReplicas: `{_kubectl(kube)} edit raycluster {cluster.get('name')}`", **details)
    return passed(described, **details)
