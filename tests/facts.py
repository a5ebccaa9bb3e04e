"""Plain fact dictionaries shaped like the probes' output, for unit tests of checks."""

from __future__ import annotations

from typing import Any, Dict, Optional


def client_facts(python: str = "3.8.18", ray: Optional[str] = "2.2.0", requirements: Optional[list] = None,
                 protocol: Optional[str] = None, **packages: Optional[str]) -> Dict[str, Any]:
    major_minor = ".".join(python.split(".")[:2])
    return {
        "python": {"version": python, "major_minor": major_minor, "implementation": "CPython", "executable": "/venv/bin/python"},
        "ray": {"version": ray, "requirements": requirements or [], "protocol": protocol},
        "packages": {"ray": ray, **packages},
        "host": {"cpus": 2},
    }


def server_facts(ray: str = "2.2.0", python: str = "3.8.18") -> Dict[str, Any]:
    return {"ray_version": ray, "python_version": python, "source": "GCS head:6379"}


def cluster_status(active: Dict[str, int], error: Optional[str] = None, pending: Optional[Dict[str, int]] = None,
                   failed: Optional[list] = None, cpus: float = 2.0) -> Dict[str, Any]:
    return {
        "autoscalingStatus": "Cluster status: ...",
        "autoscalingError": error,
        "clusterStatus": {
            "autoscalerReport": {
                "activeNodes": active,
                "pendingLaunches": pending or {},
                "pendingNodes": [],
                "failedNodes": failed or [],
            },
            "loadMetricsReport": {"usage": {"CPU": [0.0, cpus]}, "resourceDemand": []},
        },
    }


def dashboard_facts(status: Optional[Dict[str, Any]] = None, ok: bool = True, **extra: Any) -> Dict[str, Any]:
    facts: Dict[str, Any] = {"url": "http://head:8265/", "ok": ok}
    if ok:
        facts.update(ray_version="2.2.0", ray_commit="abc", version_ms=3.0)
        if status is not None:
            facts["cluster_status"] = status
    facts.update(extra)
    return facts


#: Every check in display order; the Kubernetes ones skip where the tests run without credentials.
KUBE_CHECKS = ["kubernetes", "kuberay-operator", "raycluster", "head-service", "worker-groups"]
#: The checks that judge the pod the tool runs in: they skip where the tests run, outside a pod.
POD_CHECKS = ["notebook-image"]
#: The Ray Jobs route's checks: shown skipped on the Ray Client route (the default).
JOBS_CHECKS = ["jobs-api", "job-fibonacci"]
ALL_CHECKS = ["reachability", "proxy", "auth", "tls", "ray-version", "python-version", "client-packages", "dashboard", *JOBS_CHECKS,
              *KUBE_CHECKS, *POD_CHECKS, "autoscaler", "capacity", "fibonacci", "package-parity"]
#: The checks the Ray Jobs route judges (the others are shown skipped there).
JOBS_ROUTE_CHECKS = ["dashboard", *JOBS_CHECKS, *KUBE_CHECKS, *POD_CHECKS, "autoscaler", "capacity"]
NO_KUBE = "skipped: no Kubernetes credentials: run inside the cluster or set KUBECONFIG"


def expected_on_a_healthy_head() -> dict:
    """``{id: status}`` for a healthy Ray head, no Kubernetes credentials and not in a pod, on the Ray Client route (the
    default)."""
    return {c: ("skip" if c in KUBE_CHECKS or c in JOBS_CHECKS or c in POD_CHECKS else "pass") for c in ALL_CHECKS}
