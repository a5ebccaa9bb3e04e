"""What a support bundle's ``environment.json`` holds: this machine, this Python, what is installed, the
environment variables (redacted later, like everything in a bundle), proxies, and how Kubernetes access
was configured. Read without importing Ray.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import tempfile
from typing import Any, Dict, List, Mapping

from preflight import __version__

#: Environment variables that decide where a Ray Client or the dashboard's HTTP goes through a proxy.
PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy", "no_grpc_proxy", "no_proxy", "HTTPS_PROXY", "HTTP_PROXY",
                   "NO_PROXY", "ALL_PROXY", "all_proxy", "RAY_grpc_enable_http_proxy")
#: A single environment value longer than this is cut (a bundle's size stays bounded).
MAX_VALUE_CHARS = 4096


def snapshot(environ: Mapping[str, str], kube_facts: Any, kubeconfigs: List[Dict[str, Any]]) -> Dict[str, Any]:
    from preflight.environment import python_facts, ray_client_protocol, version_of

    return {
        "os": _os(),
        "python": dict(python_facts(), prefix=sys.prefix, base_prefix=getattr(sys, "base_prefix", sys.prefix),
                       virtualenv=sys.prefix != getattr(sys, "base_prefix", sys.prefix)),
        "versions": {"ray-preflight": __version__, "ray": version_of("ray"), "ray_client_protocol": ray_client_protocol()},
        "distributions": distributions(),
        "host": host(),
        "environment": {k: _cut(v) for k, v in sorted(environ.items())},
        "proxy": {k: environ[k] for k in PROXY_VARIABLES if k in environ},
        "kubernetes": kubernetes_access(environ, kube_facts, kubeconfigs),
    }


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + f"… ({len(value)} characters in all)"


def _os() -> Dict[str, Any]:
    uname = platform.uname()
    return {"system": uname.system, "kernel": uname.release, "version": uname.version, "machine": uname.machine,
            "platform": platform.platform(), "hostname": socket.gethostname()}


def distributions() -> List[Dict[str, str]]:
    """Every installed distribution of this Python with its version (a list, not a mapping: package names such as
    ``google-auth`` or ``keyring`` are not secrets)."""
    from importlib import metadata

    found: Dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
        except Exception:  # noqa: BLE001 - a broken dist-info is listed as unreadable, not fatal
            name = None
        if name and name.lower() not in found:
            found[name.lower()] = f"{name}\0{dist.version}"
    return [{"name": v.split("\0")[0], "version": v.split("\0")[1]} for _, v in sorted(found.items())]


def host() -> Dict[str, Any]:
    """The client check's host facts (platform, CPUs, memory) plus disk, load and this process's limits."""
    from preflight.environment import host_facts

    facts = host_facts()
    try:
        facts["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        facts["load_average"] = None
    facts["limits"] = _limits()
    try:
        import psutil

        facts.update(cpus_physical=psutil.cpu_count(logical=False), boot_time=psutil.boot_time(), disk={})
        for label, path in (("working_directory", os.getcwd()), ("temp", tempfile.gettempdir())):
            usage = psutil.disk_usage(path)
            facts["disk"][label] = {"path": path, "total_gb": round(usage.total / 2**30, 2), "free_gb": round(usage.free / 2**30, 2)}
    except Exception as exc:  # noqa: BLE001 - host facts are informative: a missing psutil is said, not fatal
        facts["psutil_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def _limits() -> Dict[str, Any]:
    try:
        import resource
    except ImportError:  # Windows
        return {}
    out: Dict[str, Any] = {}
    for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_MEMLOCK"):
        if hasattr(resource, name):
            soft, hard = resource.getrlimit(getattr(resource, name))
            out[name.lower()[7:]] = {"soft": _limit(soft, resource.RLIM_INFINITY), "hard": _limit(hard, resource.RLIM_INFINITY)}
    return out


def _limit(value: int, infinity: int) -> Any:
    return "unlimited" if value == infinity else value


def kubernetes_access(environ: Mapping[str, str], kube_facts: Any, kubeconfigs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """How Kubernetes access was configured: what the run used (or why none), the variables that choose it, and the
    kubeconfig files as found (their credentials are redacted with everything else)."""
    facts = kube_facts if isinstance(kube_facts, dict) else {}
    used: Dict[str, Any] = {k: facts[k] for k in ("source", "server", "namespace", "namespace_from", "cluster", "broken",
                                                  "unavailable") if k in facts}
    return {
        "used": used,
        "in_cluster": bool(environ.get("KUBERNETES_SERVICE_HOST")),
        "KUBECONFIG": environ.get("KUBECONFIG"),
        "kubeconfigs": kubeconfigs,
    }


def read_kubeconfigs(paths: List[str]) -> List[Dict[str, Any]]:
    """Each kubeconfig file as parsed YAML (or why it could not be), to be redacted before it is written."""
    import yaml

    found: List[Dict[str, Any]] = []
    for path in paths:
        entry: Dict[str, Any] = {"path": path}
        try:
            with open(path, "rb") as handle:
                entry["content"] = yaml.safe_load(handle.read(1024 * 1024))
        except (OSError, yaml.YAMLError) as exc:
            entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        found.append(entry)
    return found

