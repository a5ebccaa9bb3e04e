"""Kubernetes access the way kubectl finds it, through the official ``kubernetes`` client.

Order, as kubectl and ``kubernetes.config.load_config()``: ``--kubeconfig``; else ``KUBECONFIG``; else
``~/.kube/config``; and only when none of them exists, the in-cluster service account (a pod with
``KUBERNETES_SERVICE_HOST`` and a token file). ``--context`` picks a context of the kubeconfig. The client
is imported only here, only when a Kubernetes check runs. Every request carries a timeout and no
retries; errors become ``KubeError`` with the HTTP status, the verb and the resource, so a check can
say what was refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from preflight.errors import Unavailable

#: Where a pod's service account is mounted (overridable for tests and sidecars).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_ENV = "RAY_PREFLIGHT_SERVICEACCOUNT_DIR"
NO_CREDENTIALS = "no Kubernetes credentials: run inside the cluster or set KUBECONFIG"


class KubeError(Exception):
    """A Kubernetes request that did not give an answer we can use."""

    def __init__(self, status: Optional[int], verb: str, resource: str, namespace: Optional[str], message: str):
        super().__init__(message)
        self.status = status  # None: no HTTP answer (timeout, refused, TLS)
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.message = message

    def to_dict(self) -> Dict[str, Any]:
        return {"status": self.status, "verb": self.verb, "resource": self.resource, "namespace": self.namespace,
                "message": self.message}


class KubeconfigProblem(Exception):
    """Credentials are configured (a kubeconfig exists, or --context was given) but cannot be used.
    Unlike ``Unavailable`` (no credentials at all) this is a finding: kubectl would fail the same way."""


@dataclass
class KubeAccess:
    """A configured client plus where its settings came from (never the credentials themselves)."""

    api_client: Any
    source: str
    server: str
    default_namespace: Optional[str]
    timeout: Tuple[float, float]

    def to_dict(self) -> Dict[str, Any]:
        """What a report may show: where the settings came from, never the credentials."""
        return {"source": self.source, "server": self.server}


def _expand(path: str, environ: Mapping[str, str]) -> str:
    if path.startswith("~"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return path


def _kubeconfig_paths(environ: Mapping[str, str]) -> List[str]:
    value = environ.get("KUBECONFIG")
    paths = [p for p in value.split(os.pathsep) if p] if value else [_expand("~/.kube/config", environ)]
    return [_expand(p, environ) for p in paths]


def kubeconfig_files(kubeconfig: Optional[str], environ: Mapping[str, str]) -> List[str]:
    """The kubeconfig files a run reads (``--kubeconfig``'s, else KUBECONFIG's, else ~/.kube/config) that exist."""
    paths = [_expand(kubeconfig, environ)] if kubeconfig else _kubeconfig_paths(environ)
    return [p for p in paths if os.path.isfile(p)]


def service_account_token(environ: Mapping[str, str]) -> Optional[str]:
    """The mounted service-account token when this runs in a pod (for redaction: it must never reach a report)."""
    sa_dir = environ.get(SERVICE_ACCOUNT_ENV) or SERVICE_ACCOUNT_DIR
    return _read(os.path.join(sa_dir, "token")) if environ.get("KUBERNETES_SERVICE_HOST") else None


def _in_cluster(context: Optional[str], environ: Mapping[str, str]) -> Optional[str]:
    """The service account folder when this runs in a pod (and no --context asks for a kubeconfig's context)."""
    sa_dir = environ.get(SERVICE_ACCOUNT_ENV) or SERVICE_ACCOUNT_DIR
    if context is None and environ.get("KUBERNETES_SERVICE_HOST") and os.path.isfile(os.path.join(sa_dir, "token")):
        return sa_dir
    return None


def _kubeconfig_source(kubeconfig: Optional[str], environ: Mapping[str, str]) -> str:
    """Which rule of kubectl's order picked the kubeconfig: the flag, KUBECONFIG, or the default file."""
    if kubeconfig:
        return "--kubeconfig"
    return "KUBECONFIG" if environ.get("KUBECONFIG") else "the default ~/.kube/config"


def connect(kubeconfig: Optional[str], context: Optional[str], environ: Mapping[str, str],
            timeout: Tuple[float, float]) -> KubeAccess:
    """Configure the client in kubectl's order: ``--kubeconfig``, else ``KUBECONFIG``, else ``~/.kube/config``, and
    the in-cluster service account only when none of them exists. ``Unavailable`` when there are no credentials
    (decided before importing the client)."""
    existing = kubeconfig_files(kubeconfig, environ)
    sa_dir = None if existing or kubeconfig else _in_cluster(context, environ)
    if not existing and sa_dir is None:
        raise Unavailable(f"kubeconfig {kubeconfig} does not exist" if kubeconfig else NO_CREDENTIALS)
    from kubernetes import client as k8s
    from kubernetes.config.config_exception import ConfigException

    configuration = k8s.Configuration()
    configuration.retries = False
    # The client reads proxies from the process environment; use the run's environment instead.
    configuration.proxy = environ.get("HTTPS_PROXY") or environ.get("https_proxy") or None
    configuration.no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or None
    try:
        if sa_dir is not None:
            from kubernetes.config.incluster_config import InClusterConfigLoader

            InClusterConfigLoader(os.path.join(sa_dir, "token"), os.path.join(sa_dir, "ca.crt"),
                                  environ=dict(environ)).load_and_set(configuration)
            namespace = _read(os.path.join(sa_dir, "namespace"))
            source = "in-cluster service account"
        else:
            _readable_kubeconfigs(existing)
            namespace, used_context = _context_namespace(existing, context)
            from kubernetes.config.kube_config import load_kube_config

            load_kube_config(config_file=os.pathsep.join(existing), context=context, client_configuration=configuration,
                             persist_config=False)
            source = (f"kubeconfig {os.pathsep.join(existing)} (from {_kubeconfig_source(kubeconfig, environ)})"
                      + (f", context {used_context}" if used_context else ""))
    except KubeconfigProblem:
        raise
    except ConfigException as exc:
        raise KubeconfigProblem(f"cannot use the Kubernetes credentials: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a malformed kubeconfig surfaces as YAML, OS, type or key errors
        raise KubeconfigProblem(f"cannot read the kubeconfig: {type(exc).__name__}: {_one_line(exc)}") from None
    return KubeAccess(k8s.ApiClient(configuration), source, configuration.host, namespace, timeout)


def _readable_kubeconfigs(paths: List[str]) -> None:
    """Each kubeconfig file must be readable YAML with a mapping at the top, or the run says which and where."""
    import yaml

    for path in paths:
        try:
            with open(path, "rb") as handle:
                text = handle.read()
        except OSError as exc:
            raise KubeconfigProblem(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or _one_line(exc)
            raise KubeconfigProblem(f"kubeconfig {path} is not valid YAML{where}: {problem}") from None
        if document is not None and not isinstance(document, dict):
            raise KubeconfigProblem(f"kubeconfig {path} is not a kubeconfig: its top level is a {type(document).__name__}, "
                                    "not a mapping") from None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _context_namespace(paths: List[str], context: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """The namespace and name of the context in use, read the way kubectl reads them."""
    from kubernetes.config.kube_config import list_kube_config_contexts

    contexts, active = list_kube_config_contexts(config_file=os.pathsep.join(paths))
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    if context and chosen is None:
        raise KubeconfigProblem(f"--context {context}: no such context in {os.pathsep.join(paths)}")
    if not chosen:
        return None, None
    return (chosen.get("context") or {}).get("namespace"), chosen.get("name")


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def call(access: KubeAccess, verb: str, resource: str, namespace: Optional[str], func: Callable[..., Any],
         *args: Any, **kwargs: Any) -> Dict[str, Any]:
    """One request through a generated API method, parsed as plain JSON (no model classes); ``KubeError`` when it fails."""
    import json

    body = call_raw(access, verb, resource, namespace, func, *args, **kwargs)
    try:
        parsed = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        parsed = None
    if not isinstance(parsed, dict):
        start = bytes(body or b"")[:60].decode("utf-8", "replace").strip() if isinstance(body, bytes) else ""
        raise KubeError(200, verb, resource, namespace,
                        f"the answer from {access.server} was not Kubernetes JSON (it starts {start!r}); a proxy or login page?")
    return parsed


def call_raw(access: KubeAccess, verb: str, resource: str, namespace: Optional[str], func: Callable[..., Any],
             *args: Any, **kwargs: Any) -> bytes:
    """One request, its body unparsed (a container log is text); ``KubeError`` when it fails."""
    from kubernetes.client.exceptions import ApiException

    try:
        answer = func(*args, _request_timeout=access.timeout, _preload_content=False, **kwargs)
        body = answer.data
    except ApiException as exc:
        raise KubeError(exc.status, verb, resource, namespace, _api_message(exc)) from None
    except Exception as exc:  # noqa: BLE001 - urllib3 raises many kinds; all mean "no usable answer"
        raise KubeError(None, verb, resource, namespace, _transport_message(exc, access)) from None
    return body if isinstance(body, bytes) else str(body or "").encode("utf-8", "replace")


def _api_message(exc: Any) -> str:
    import json

    try:
        body = json.loads(exc.body) if exc.body else {}
        message = body.get("message") if isinstance(body, dict) else None
    except (ValueError, TypeError):
        message = None
    if not message:
        message = f"{exc.status} {exc.reason}".strip()
        if exc.body and not str(exc.body).lstrip().startswith("{"):
            message += " (the answer was not Kubernetes JSON)"
    return _one_line(message)


def _transport_message(exc: BaseException, access: KubeAccess) -> str:
    text = _one_line(exc)
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return f"the Kubernetes API at {access.server} did not answer within {access.timeout[1]:.1f} s"
    if "refused" in lowered:
        return f"the Kubernetes API at {access.server} refused the connection"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS with the Kubernetes API at {access.server} failed: {text[:200]}"
    return f"the Kubernetes API at {access.server} could not be reached: {text[:200]}"
