"""``notebook-image``: the notebook this runs in uses the release's notebook image.

The platform's prerequisite for Ray: notebooks run the release's ``…/kubeflow/notebooks/jupyter-data-science:<tag>``
image, which carries the cluster's Python and the modules Ray needs. Only in a pod (the in-cluster service account is
mounted: ``KUBERNETES_SERVICE_HOST`` and a token file, found where ``preflight.kube`` finds them), the probe
``notebook_pod`` reads this pod (a pod's host name is its name) in the service account's namespace, with that service
account whatever kubeconfig the other Kubernetes checks use (the pod lives in the cluster of its own service account),
and keeps each container's name and image: nothing else of the pod spec. Kubeflow's notebook controller labels a
notebook's pod ``notebook-name: <notebook>`` and names the notebook's container after the notebook (sidecars such as
``istio-proxy`` sit beside it), so that container is judged, else the first. The check matches its image against the
profile's ``notebook_image`` glob (``fnmatch.fnmatchcase`` on the whole image reference).
"""

from __future__ import annotations

import os
import socket
from fnmatch import fnmatchcase
from typing import Any, Dict, Mapping, Optional

from preflight.checks.kuberay import refused
from preflight.errors import Unavailable
from preflight.kube import SERVICE_ACCOUNT_DIR, SERVICE_ACCOUNT_ENV, KubeAccess, KubeError, call
from preflight.model import Outcome, as_dict, dicts, passed, said, skipped, undecided, unreadable, warned
from preflight.registry import check, probe

#: The label Kubeflow's notebook controller puts on a notebook's pod; its container of that name is the notebook's.
NOTEBOOK_LABEL = "notebook-name"
NOT_IN_A_POD = "not running in a pod: the notebook image is not checked"
IN_CLUSTER = "in-cluster service account"


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _in_cluster(sa_dir: str, environ: Mapping[str, str], timeout: Any) -> KubeAccess:
    """A client configured from the pod's service account alone (as ``preflight.kube.connect`` does in a pod), every
    request bounded by ``timeout``, no retries."""
    from kubernetes import client as k8s
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = k8s.Configuration()
    configuration.retries = False
    # The client reads proxies from the process environment; use the run's environment instead.
    configuration.proxy = environ.get("HTTPS_PROXY") or environ.get("https_proxy") or None
    configuration.no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or None
    InClusterConfigLoader(os.path.join(sa_dir, "token"), os.path.join(sa_dir, "ca.crt"), environ=dict(environ)).load_and_set(configuration)
    return KubeAccess(k8s.ApiClient(configuration), IN_CLUSTER, configuration.host, None, timeout)


def compact_notebook_pod(pod: Dict[str, Any]) -> Dict[str, Any]:
    """The few fields judged: the pod's name, its notebook label, each container's name and image (no env, no spec)."""
    meta, spec = as_dict(pod.get("metadata")), as_dict(pod.get("spec"))
    return {"name": meta.get("name"), "notebook": as_dict(meta.get("labels")).get(NOTEBOOK_LABEL),
            "containers": [{"name": c.get("name"), "image": c.get("image")} for c in dicts(spec.get("containers"))]}


@probe()
def notebook_pod(config, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """This pod's containers and images, read with its own service account (in a pod only; a pod's host name is its name)."""
    environ = config.environ
    if not environ.get("KUBERNETES_SERVICE_HOST"):
        raise Unavailable(NOT_IN_A_POD)
    sa_dir = environ.get(SERVICE_ACCOUNT_ENV) or SERVICE_ACCOUNT_DIR
    if not os.path.isfile(os.path.join(sa_dir, "token")):
        raise Unavailable(f"no service-account token in {sa_dir} (not a pod, or one that mounts none): the notebook image is not checked")
    namespace = _read(os.path.join(sa_dir, "namespace"))
    if not namespace:
        raise Unavailable(f"the service account in {sa_dir} names no namespace: the notebook image is not checked")
    pod = socket.gethostname()
    facts: Dict[str, Any] = {"pod": pod, "namespace": namespace, "namespace_from": "the service account", "source": IN_CLUSTER}
    timeout = (config.connect_timeout_s, max(1.0, min(2 * config.connect_timeout_s, ctx.remaining() - 0.5)))
    try:
        access = _in_cluster(sa_dir, environ, timeout)
    except Exception as exc:  # noqa: BLE001 - a service account the client cannot use (no CA file, bad host) is a finding
        facts["broken"] = f"the pod's service account cannot be used: {' '.join(str(exc).split())[:300]}"
        return facts
    facts["server"] = access.server
    from kubernetes import client as k8s

    try:
        read = call(access, "get", "pods", namespace, k8s.CoreV1Api(access.api_client).read_namespaced_pod, pod, namespace)
        facts["read"] = {"ok": True, "value": compact_notebook_pod(read)}
    except KubeError as exc:
        facts["read"] = {"ok": False, "error": exc.to_dict()}
    finally:
        access.api_client.close()
    return facts


def shown_image(pattern: str) -> str:
    """The profile's glob as a person reads it: ``*/x/y:*`` → ``…/x/y:<tag>``."""
    text = pattern.strip()
    if text.startswith("*/"):
        text = "…/" + text[2:]
    if text.endswith(":*"):
        text = text[:-2] + ":<tag>"
    return text


@check("notebook-image", "Notebook runs the release's image")
def notebook_image(notebook_pod, profile) -> Outcome:  # type: ignore[no-untyped-def]
    """In a notebook's pod, the notebook container's image against the profile's notebook image (the release's)."""
    problem = unreadable(notebook_pod=notebook_pod)
    if problem:
        return problem
    pattern = profile.notebook_image
    if not isinstance(pattern, str) or not pattern.strip():
        return skipped(f"profile {profile.name} expects no particular notebook image")
    pod, ns = said(notebook_pod.get("pod"), "?"), said(notebook_pod.get("namespace"), "?")
    expected = shown_image(pattern)
    if notebook_pod.get("broken"):
        return warned(f"cannot verify the notebook's image: {said(notebook_pod['broken'], 'the service account cannot be used')}",
                      f"the pod's service account (token, ca.crt, namespace) is not usable; check by hand that its image is {expected}")
    entry = as_dict(notebook_pod.get("read")) or {"ok": False, "error": None}
    error = as_dict(entry.get("error"))
    if not entry.get("ok"):
        if error.get("status") == 404:
            return skipped(f"no pod {pod} in namespace {ns} (this host name is not the pod's name: hostNetwork or spec.hostname?), "
                           "so the notebook's image is unknown", error=error)
        if error.get("status") == 401:
            return warned(f"cannot verify the image of pod {pod}: Kubernetes rejected this pod's service-account token (401)",
                          f"check by hand that the notebook's image is {expected}", error=error)
        return refused(entry, f"the image of pod {pod}") or undecided(f"could not read pod {pod}")
    value = as_dict(entry.get("value"))
    containers = dicts(value.get("containers"))
    if not containers:
        return undecided(f"pod {pod} lists no containers, so its image is unknown")
    notebook = value.get("notebook") if isinstance(value.get("notebook"), str) and value.get("notebook") else None
    chosen = next((c for c in containers if notebook and c.get("name") == notebook), containers[0])
    image = chosen.get("image")
    if not isinstance(image, str) or not image.strip():
        return undecided(f"container {said(chosen.get('name'), '?')} of pod {pod} names no image")
    who = f"notebook {notebook}" if notebook else f"pod {pod} (no {NOTEBOOK_LABEL} label: not a Kubeflow notebook's pod?)"
    details = {"pod": pod, "namespace": ns, "notebook": notebook, "container": chosen.get("name"), "image": image,
               "expected": pattern}
    if fnmatchcase(image, pattern.strip()):
        return passed(f"{who} runs {image}, the release's image (profile {profile.name}: {expected})", **details)
    python = f" (Python {profile.python_version}, as on the cluster)" if profile.python_version else ""
    return warned(f"{who} runs {image}, not the release's notebook image {expected} (profile {profile.name})",
                  f"open the notebook server with the release's image: in the Kubeflow dashboard, Notebooks → New Notebook → Image, "
                  f"choose {expected}{python}, then work in that notebook server (attach this one's workspace volume to keep its files)",
                  **details)
