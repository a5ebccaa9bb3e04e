"""What Kubernetes says about the RayCluster behind the address: the probes ``kube`` (access and the
``ray.io`` API) and ``kuberay`` (operator pods, RayCluster, head service, the cluster's pods).

Objects are reduced to the few fields the checks judge (no pod specs, so no environment variables
or secrets end up in a report). Works with ``ray.io/v1`` and ``ray.io/v1alpha1``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

from preflight.errors import Unavailable
from preflight.kube import KubeAccess, KubeconfigProblem, KubeError, call, connect
from preflight.registry import probe

HEAD_SVC_SUFFIX = "-head-svc"
OPERATOR_LABEL = "app.kubernetes.io/name=kuberay-operator"
#: Preferred first: KubeRay v1 serves ray.io/v1; v0.4 (the generation of Ray 2.2) serves only v1alpha1.
RAY_API_VERSIONS = ("v1", "v1alpha1")


def cluster_from_host(host: str) -> Tuple[Optional[str], Optional[str]]:
    """``ray-cluster-kuberay-head-svc.kuberay[.svc...]`` → (``ray-cluster-kuberay``, ``kuberay``)."""
    labels = host.lower().split(".")
    if not labels[0].endswith(HEAD_SVC_SUFFIX) or labels[0] == HEAD_SVC_SUFFIX:
        return None, None
    namespace = labels[1] if len(labels) > 1 and labels[1] not in ("svc", "") else None
    return labels[0][: -len(HEAD_SVC_SUFFIX)], namespace


def _timeout(ctx: Any, config: Any) -> Tuple[float, float]:
    read = max(1.0, min(2 * config.connect_timeout_s, ctx.remaining() - 0.5))
    return (config.connect_timeout_s, read)


def _versions(access: KubeAccess) -> Dict[str, Any]:
    """The ``ray.io`` versions the API server serves (``served: []`` when KubeRay's CRDs are not installed)."""
    from kubernetes import client as k8s

    try:
        groups = call(access, "get", "API groups (/apis)", None, k8s.ApisApi(access.api_client).get_api_versions)
    except KubeError as exc:
        if exc.status == 403:  # discovery refused: try both versions later
            return {"served": list(RAY_API_VERSIONS), "discovery_error": exc.to_dict()}
        raise
    for group in groups.get("groups") or []:
        if group.get("name") == "ray.io":
            served = [v.get("version") for v in group.get("versions") or [] if v.get("version")]
            return {"served": served, "preferred": (group.get("preferredVersion") or {}).get("version")}
    return {"served": []}


@probe()
def kube(config, target, profile, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Kubernetes credentials (kubectl's order), the namespace and RayCluster to look at, and the ray.io API."""
    try:
        access = connect(config.kubeconfig, config.kube_context, config.environ, _timeout(ctx, config))
    except KubeconfigProblem as exc:
        return {"broken": str(exc), "kubeconfig": config.kubeconfig or config.environ.get("KUBECONFIG") or "~/.kube/config",
                "asked": bool(config.kubeconfig or config.kube_context)}
    cluster, host_namespace = cluster_from_host(target.host)
    candidates = ((config.namespace, "--namespace"), (host_namespace, "the address"), (profile.namespace, f"profile {profile.name}"),
                  (access.default_namespace, "the Kubernetes context"), ("default", "the default"))
    namespace, source = next((ns, why) for ns, why in candidates if ns)
    facts: Dict[str, Any] = {"source": access.source, "server": access.server, "namespace": namespace,
                             "namespace_from": source, "cluster": cluster,
                             "cluster_from": "the address" if cluster else None,
                             "operator_namespace": profile.operator_namespace or namespace, "access": access}
    try:
        facts["ray_api"] = _versions(access)
    except KubeError as exc:
        facts["access_error"] = exc.to_dict()
    return facts


def _entry(read: Callable[[], Any]) -> Dict[str, Any]:
    try:
        return {"ok": True, "value": read()}
    except KubeError as exc:
        return {"ok": False, "error": exc.to_dict()}


def _conditions(obj: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{k: c.get(k) for k in ("type", "status", "reason", "message")} for c in (obj.get("status") or {}).get("conditions") or []]


def _container(status: Dict[str, Any]) -> Dict[str, Any]:
    def describe(state: Optional[Dict[str, Any]]) -> Optional[str]:
        for kind in ("waiting", "terminated", "running"):
            if state and state.get(kind) is not None:
                reason = (state.get(kind) or {}).get("reason")
                return kind + (f":{reason}" if reason else "")
        return None

    return {"name": status.get("name"), "ready": bool(status.get("ready")), "restarts": int(status.get("restartCount") or 0),
            "state": describe(status.get("state")), "last": describe(status.get("lastState"))}


def compact_pod(pod: Dict[str, Any]) -> Dict[str, Any]:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    labels = meta.get("labels") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    return {
        "name": meta.get("name"),
        "node_type": labels.get("ray.io/node-type"),
        "group": labels.get("ray.io/group"),
        "phase": status.get("phase"),
        "ready": (conditions.get("Ready") or {}).get("status") == "True",
        "containers": [_container(c) for c in status.get("containerStatuses") or []],
        "unschedulable": scheduled.get("message") if scheduled.get("status") == "False" else None,
    }


def _image_of(pod_spec: Dict[str, Any]) -> Optional[str]:
    containers = pod_spec.get("containers") or []
    head = next((c for c in containers if c.get("name") == "ray-head"), containers[0] if containers else {})
    return head.get("image")


def compact_raycluster(obj: Dict[str, Any]) -> Dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    head_template = ((spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
    return {
        "name": (obj.get("metadata") or {}).get("name"),
        "api_version": obj.get("apiVersion"),
        "ray_version": spec.get("rayVersion"),
        "head_image": _image_of(head_template),
        "autoscaling": spec.get("enableInTreeAutoscaling"),
        "idle_timeout_s": (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds"),
        "worker_groups": [{"name": g.get("groupName"), "replicas": g.get("replicas"), "min": g.get("minReplicas"),
                           "max": g.get("maxReplicas")} for g in spec.get("workerGroupSpecs") or []],
        "state": status.get("state"),
        "reason": status.get("reason"),
        "conditions": _conditions(obj),
        "status": {k: status.get(k) for k in ("availableWorkerReplicas", "readyWorkerReplicas", "desiredWorkerReplicas",
                                              "minWorkerReplicas", "maxWorkerReplicas") if k in status},
    }


def compact_service(obj: Dict[str, Any]) -> Dict[str, Any]:
    spec = obj.get("spec") or {}
    return {"name": (obj.get("metadata") or {}).get("name"), "type": spec.get("type"),
            "ports": [{"name": p.get("name"), "port": p.get("port"), "target_port": p.get("targetPort")} for p in spec.get("ports") or []]}


@probe()
def kuberay(kube) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The operator's pods, the RayCluster, its head service and its pods, read concurrently."""
    from kubernetes import client as k8s

    if kube.get("broken"):
        raise Unavailable("the Kubernetes credentials cannot be used (see kubernetes)")
    if kube.get("access_error"):
        raise Unavailable(f"the Kubernetes API is not usable: {kube['access_error']['message']}")
    access: KubeAccess = kube["access"]
    ns, served = kube["namespace"], kube["ray_api"]["served"]
    core, custom = k8s.CoreV1Api(access.api_client), k8s.CustomObjectsApi(access.api_client)
    facts: Dict[str, Any] = {"namespace": ns, "crds_installed": bool(served)}
    version = next((v for v in RAY_API_VERSIONS if v in served), None)

    def operator_pods() -> List[Dict[str, Any]]:
        pods = call(access, "list", "pods", kube["operator_namespace"], core.list_namespaced_pod, kube["operator_namespace"],
                    label_selector=OPERATOR_LABEL)
        return [compact_pod(p) for p in pods.get("items") or []]

    def raycluster() -> Dict[str, Any]:
        return _get_raycluster(access, custom, ns, kube["cluster"], served)

    with ThreadPoolExecutor(max_workers=2) as pool:
        operator = pool.submit(_entry, operator_pods)
        facts["raycluster"] = _entry(raycluster) if version else {"ok": False, "error": None}
        facts["operator_pods"] = operator.result()
    cluster = (facts["raycluster"].get("value") or {}).get("name") if facts["raycluster"]["ok"] else kube["cluster"]
    facts["cluster"] = cluster
    if cluster:
        service = f"{cluster}{HEAD_SVC_SUFFIX}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            svc = pool.submit(_entry, lambda: compact_service(call(access, "get", "services", ns, core.read_namespaced_service,
                                                                   service, ns)))
            pods = pool.submit(_entry, lambda: [compact_pod(p) for p in call(
                access, "list", "pods", ns, core.list_namespaced_pod, ns, label_selector=f"ray.io/cluster={cluster}").get("items") or []])
            facts["service"], facts["pods"] = svc.result(), pods.result()
    return facts


def _get_raycluster(access: KubeAccess, custom: Any, ns: str, name: Optional[str], served: List[str]) -> Dict[str, Any]:
    """The named RayCluster (or the only one in the namespace), trying the served versions in order."""
    versions = [v for v in RAY_API_VERSIONS if v in served]
    for version in versions:
        try:
            if name:
                obj = call(access, "get", "rayclusters.ray.io", ns, custom.get_namespaced_custom_object,
                           "ray.io", version, ns, "rayclusters", name)
                return compact_raycluster(obj)
            listed = call(access, "list", "rayclusters.ray.io", ns, custom.list_namespaced_custom_object,
                          "ray.io", version, ns, "rayclusters")
        except KubeError as exc:
            if exc.status == 404 and version != versions[-1]:
                continue  # an older API version may still serve it
            raise
        items = listed.get("items") or []
        if len(items) == 1:
            return compact_raycluster(items[0])
        names = [(i.get("metadata") or {}).get("name") for i in items]
        raise KubeError(None if items else 404, "list", "rayclusters.ray.io", ns,
                        f"{len(items)} RayClusters in namespace {ns}" + (f" ({', '.join(map(str, names))})" if names else "")
                        + ": name one with an address of its head service (<cluster>-head-svc.<namespace>)")
    raise KubeError(404, "get", "rayclusters.ray.io", ns, "no ray.io version to read RayClusters with")
