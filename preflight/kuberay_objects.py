"""KubeRay's objects as the tool reads them: the names KubeRay gives (the head service, the operator's label,
the ray.io API versions) and RayClusters, pods and services reduced to the few fields the checks judge (no pod
specs, so no environment variables or secrets end up in a report). Works with ``ray.io/v1`` and ``ray.io/v1alpha1``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

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


_TAG = re.compile(r":(?P<ray>\d+\.\d+\.\d+)(?:-py(?P<py>\d)(?P<pyminor>\d+))?")


def image_versions(image: Optional[str]) -> Dict[str, Optional[str]]:
    """``rayproject/ray:2.2.0-py38`` → Ray 2.2.0, Python 3.8 (None where the tag does not say)."""
    found = _TAG.search(image if isinstance(image, str) else "")
    if not found:
        return {"ray": None, "python": None}
    py = f"{found.group('py')}.{found.group('pyminor')}" if found.group("py") else None
    return {"ray": found.group("ray"), "python": py}


def _auth(spec: Dict[str, Any], head_template: Dict[str, Any]) -> Dict[str, Any]:
    """Token authentication as the RayCluster sets it: ``spec.authOptions`` (KubeRay 1.5.1+: the operator keeps the
    token in a Secret named after the cluster, or ``authOptions.secretName``, key ``auth_token``), or by hand, the head
    container's ``RAY_AUTH_MODE`` and the Secret its ``RAY_AUTH_TOKEN`` refers to. Names only: never a value."""
    options = spec.get("authOptions") or {}
    containers = head_template.get("containers") or []
    env = {e.get("name"): e for e in (containers[0].get("env") or []) if isinstance(e, dict)} if containers else {}
    reference = ((env.get("RAY_AUTH_TOKEN") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    found: Dict[str, Any] = {}
    if options.get("mode"):
        found.update(mode=options.get("mode"), source="authOptions", secret=options.get("secretName"))
    elif (env.get("RAY_AUTH_MODE") or {}).get("value"):
        found.update(mode=env["RAY_AUTH_MODE"].get("value"), source="RAY_AUTH_MODE in the head container",
                     secret=reference.get("name"))
    return found


_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3}


def quantity(value: Any) -> Optional[float]:
    """A Kubernetes quantity (``"500m"``, ``"4Gi"``, ``2``) as a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value or "").strip().strip('"')
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            text, scale = text[: -len(suffix)], _SUFFIXES[suffix]
            break
    else:
        scale = 1
    try:
        return float(text) * scale
    except ValueError:
        return None


def _custom_resources(text: Any) -> Dict[str, float]:
    """``rayStartParams.resources`` (a JSON object in a string, often quoted once more) as name → amount."""
    import json

    raw = str(text or "").strip()
    for _ in range(2):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
        if isinstance(raw, dict):
            return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not isinstance(raw, str):
            return {}
    return {}


def pod_resources(group: Dict[str, Any]) -> Dict[str, Any]:
    """What Ray on one pod of a head or worker group offers, as KubeRay starts it: ``rayStartParams`` first (num-cpus,
    num-gpus, memory, resources), else the Ray container's limits (else its requests): CPUs rounded up, GPUs from any
    ``*gpu`` limit. None for what neither says."""
    params = group.get("rayStartParams") or {}
    containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or []
    resources = (containers[0].get("resources") or {}) if containers and isinstance(containers[0], dict) else {}
    limits = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
    cpus = quantity(params.get("num-cpus")) if params.get("num-cpus") is not None else quantity(limits.get("cpu"))
    gpu_limits = [quantity(v) for k, v in limits.items() if str(k).lower().endswith("gpu")]
    gpus = quantity(params.get("num-gpus")) if params.get("num-gpus") is not None else \
        (sum(g for g in gpu_limits if g) if gpu_limits else None)
    memory = quantity(params.get("memory")) if params.get("memory") is not None else quantity(limits.get("memory"))
    return {"cpus": None if cpus is None else float(-(-cpus // 1)), "gpus": gpus, "memory": memory,
            "custom": _custom_resources(params.get("resources"))}


def compact_raycluster(obj: Dict[str, Any]) -> Dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    head_template = ((spec.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
    return {
        "name": (obj.get("metadata") or {}).get("name"),
        "api_version": obj.get("apiVersion"),
        "ray_version": spec.get("rayVersion"),
        "head_image": _image_of(head_template),
        "autoscaling": spec.get("enableInTreeAutoscaling"),
        "auth": _auth(spec, head_template),
        "idle_timeout_s": (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds"),
        "head_resources": pod_resources(spec.get("headGroupSpec") or {}),
        "worker_groups": [{"name": g.get("groupName"), "replicas": g.get("replicas"), "min": g.get("minReplicas"),
                           "max": g.get("maxReplicas"), "resources": pod_resources(g)} for g in spec.get("workerGroupSpecs") or []],
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
