"""What Kubernetes says about the RayCluster behind the address: the probes ``kube`` (access and the
``ray.io`` API) and ``kuberay`` (operator pods, RayCluster, head service, the cluster's pods).

Objects are reduced by ``preflight.kuberay_objects`` to the few fields the checks judge. The facts are plain
data: the configured client itself travels in the run's ``Resources`` (``ctx.resources.kube_access``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

from preflight.errors import Unavailable
from preflight.kube import KubeAccess, KubeconfigProblem, KubeError, call, connect
from preflight.kuberay_objects import (
    HEAD_SVC_SUFFIX,
    OPERATOR_LABEL,
    RAY_API_VERSIONS,
    cluster_from_host,
    compact_pod,
    compact_raycluster,
    compact_service,
)
from preflight.registry import probe


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
    ctx.resources.kube_access = access
    cluster, host_namespace = cluster_from_host(target.host)
    candidates = ((config.namespace, "--namespace"), (host_namespace, "the address"), (profile.namespace, f"profile {profile.name}"),
                  (access.default_namespace, "the Kubernetes context"), ("default", "the default"))
    namespace, source = next((ns, why) for ns, why in candidates if ns)
    facts: Dict[str, Any] = {"source": access.source, "server": access.server, "namespace": namespace,
                             "namespace_from": source, "cluster": cluster,
                             "cluster_from": "the address" if cluster else None,
                             "operator_namespace": profile.operator_namespace or namespace}
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


@probe()
def kuberay(kube, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The operator's pods, the RayCluster, its head service and its pods, read concurrently."""
    from kubernetes import client as k8s

    if kube.get("broken"):
        raise Unavailable("the Kubernetes credentials cannot be used (see kubernetes)")
    if kube.get("access_error"):
        raise Unavailable(f"the Kubernetes API is not usable: {kube['access_error']['message']}")
    access: Optional[KubeAccess] = ctx.resources.kube_access
    if access is None:
        raise Unavailable("no Kubernetes client was configured (see kubernetes)")
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
