"""The fleet view: every RayCluster the Kubernetes credentials can see, one row each, and whether this Python and
Ray can use it (``ray-preflight clusters``, ``preflight.clusters()``).

Reading: credentials as every Kubernetes read of the tool finds them (``preflight.kube``: ``--kubeconfig``,
``KUBECONFIG``, ``~/.kube/config``, the in-cluster service account; ``--context``), then per namespace (or once
across all of them) two list calls, concurrently: the RayClusters (``ray.io/v1``, else ``ray.io/v1alpha1``) and the
pods that carry the ``ray.io/cluster`` label. Every request has the timeout, reads only, never retries.

Judging: the rules of the ``python-version`` and ``ray-version`` checks (``preflight.ray_pins``), the cluster's Python
and Ray read from its head image tag (``rayproject/ray:2.2.0-py38``) and ``spec.rayVersion``, this client's from
package metadata (Ray is never imported). A RayCluster whose object cannot be read is a row that says why.

Rendering: an aligned text table, JSON (``schema_version``; ``preflight/schemas/clusters.schema.json``) and HTML.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import escape
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from preflight.errors import Unavailable, UsageError
from preflight.kube import KubeAccess, KubeconfigProblem, KubeError, call, connect
from preflight.kuberay_objects import HEAD_SVC_SUFFIX, RAY_API_VERSIONS, _auth, image_versions
from preflight.ray_pins import minor, same_version, speaks_protocol_of

#: Each Kubernetes request's timeout, in seconds (``--timeout``).
DEFAULT_TIMEOUT_S = 10.0
#: What KubeRay's autoscaler waits for before it removes an idle worker, unless ``autoscalerOptions`` says otherwise.
DEFAULT_IDLE_TIMEOUT_S = 60
CLIENT_PORT, DASHBOARD_PORT = 10001, 8265
#: The pods of every RayCluster (KubeRay labels each head and worker pod with its cluster's name).
POD_SELECTOR = "ray.io/cluster"
USABLE, NOT_USABLE, UNKNOWN = "yes", "no", "unknown"
_RANK = {USABLE: 0, UNKNOWN: 1, NOT_USABLE: 2}
PROG = "ray-preflight"


# -- the rows ------------------------------------------------------------------------------------------------------


@dataclass
class WorkerGroup:
    """One worker group: its bounds from the RayCluster, its running (Running and ready) and pending pods (None when
    the pods could not be read)."""

    name: str
    min: Optional[int]
    max: Optional[int]
    desired: Optional[int]
    running: Optional[int] = None
    pending: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "running": self.running, "pending": self.pending, "min": self.min, "max": self.max,
                "desired": self.desired}

    def shown(self) -> str:
        """``smallgroup 1/0/2`` (running/min/max), ``+1 pending`` when some wait."""
        def num(value: Optional[int]) -> str:
            return "?" if value is None else str(value)

        return f"{self.name} {num(self.running)}/{num(self.min)}/{num(self.max)}" + (f" +{self.pending} pending" if self.pending else "")


@dataclass
class ClusterRow:
    """One RayCluster as the fleet view shows it. ``usable`` is ``yes``, ``no`` or ``unknown``; ``why`` says why (for
    ``yes``, a caveat or None); ``problem`` is set when the object itself could not be read."""

    name: str
    namespace: str
    api_version: Optional[str] = None
    ray_version: Optional[str] = None
    image: Optional[str] = None
    image_tag: Optional[str] = None
    ray: Optional[str] = None
    python: Optional[str] = None
    state: Optional[str] = None
    groups: List[WorkerGroup] = field(default_factory=list)
    workers_running: Optional[int] = None
    autoscaling: Optional[bool] = None
    idle_timeout_s: Optional[int] = None
    auth: Optional[Dict[str, Any]] = None
    address: Optional[str] = None
    dashboard: Optional[str] = None
    usable: str = UNKNOWN
    why: Optional[str] = None
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        """This Python and Ray can use the cluster."""
        return self.usable == USABLE

    @property
    def token_auth(self) -> bool:
        return bool(self.auth and str(self.auth.get("mode") or "").lower() == "token")

    def sort_key(self) -> Tuple[int, str, str]:
        return (3 if self.problem else _RANK.get(self.usable, 1), self.namespace, self.name)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name, "namespace": self.namespace, "api_version": self.api_version,
            "ray": self.ray, "ray_version": self.ray_version, "image": self.image, "image_tag": self.image_tag, "python": self.python,
            "state": self.state, "workers": [g.to_dict() for g in self.groups], "workers_running": self.workers_running,
            "autoscaling": self.autoscaling, "idle_timeout_s": self.idle_timeout_s,
            "token_auth": self.token_auth, "auth": self.auth, "address": self.address, "dashboard": self.dashboard,
            "usable": self.usable, "why": self.why, "problem": self.problem,
        }

    def cells(self) -> Dict[str, str]:
        """The text table's cells."""
        if self.problem:
            return dict({k: "-" for k in _COLUMNS}, namespace=self.namespace or "-", name=self.name or "?",
                        usable=f"{self.usable}: {self.why}" if self.why else self.usable)
        ray = self.ray_version or self.ray or "?"
        return {
            "namespace": self.namespace, "name": self.name,
            "ray": f"{ray} ({self.image_tag})" if self.image_tag else ray,
            "python": self.python or "unknown",
            "state": self.state or "-",
            "workers": ", ".join(g.shown() for g in self.groups) or "none",
            "autoscaling": (f"on, idle {self.idle_timeout_s} s" if self.idle_timeout_s is not None else "on") if self.autoscaling else "off",
            "auth": "token" if self.token_auth else "off",
            "address": self.address or "-", "dashboard": self.dashboard or "-",
            "usable": f"{self.usable}: {self.why}" if self.why and self.usable != USABLE else
            f"yes ({self.why})" if self.why else self.usable,
        }

    def __repr__(self) -> str:
        return f"<ClusterRow {self.namespace}/{self.name} usable={self.usable}" + (f" ({self.why})" if self.why else "") + ">"


_COLUMNS = {"namespace": "NAMESPACE", "name": "NAME", "ray": "RAY (IMAGE TAG)", "python": "PYTHON", "state": "STATE",
            "workers": "WORKERS (RUNNING/MIN/MAX)", "autoscaling": "AUTOSCALING", "auth": "AUTH", "address": "ADDRESS",
            "dashboard": "DASHBOARD", "usable": "USABLE HERE"}


@dataclass
class Problem:
    """A list call that gave no usable answer: what was asked, and the one line that says so."""

    namespace: Optional[str]
    verb: str
    resource: str
    status: Optional[int]
    message: str
    summary: str
    remedy: Optional[str] = None

    def line(self) -> str:
        return self.summary + (f"; {self.remedy}" if self.remedy else "")

    def to_dict(self) -> Dict[str, Any]:
        return {"namespace": self.namespace, "verb": self.verb, "resource": self.resource, "status": self.status,
                "message": self.message, "summary": self.summary, "remedy": self.remedy}


@dataclass
class Fleet:
    """What ``preflight.clusters()`` returns: ``.rows`` (usable ones first; iterate the fleet for them), ``.usable``,
    ``.problems``, ``.listed`` (at least one list of RayClusters was read), ``.to_dict()`` (``--format json``), and a
    table in a notebook (``_repr_html_``)."""

    rows: List[ClusterRow]
    client: Dict[str, Any]
    namespaces: List[str]
    all_namespaces: bool
    namespace_from: Optional[str]
    server: str
    source: str
    problems: List[Problem] = field(default_factory=list)
    listed: bool = True
    duration_s: float = 0.0

    @property
    def usable(self) -> List[ClusterRow]:
        return [r for r in self.rows if r.ok]

    def __iter__(self) -> Iterator[ClusterRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Union[int, str]) -> ClusterRow:
        """By position, by ``namespace/name``, or by name when one namespace holds it."""
        if isinstance(key, int):
            return self.rows[key]
        found = [r for r in self.rows if f"{r.namespace}/{r.name}" == key] or [r for r in self.rows if r.name == key]
        if len(found) != 1:
            raise KeyError(key if not found else f"{key} is in namespaces {', '.join(r.namespace for r in found)}: ask for namespace/name")
        return found[0]

    def scope(self) -> str:
        if self.all_namespaces:
            return "all namespaces"
        names = ", ".join(self.namespaces)
        return f"namespace{'s' if len(self.namespaces) > 1 else ''} {names}" + (f" (from {self.namespace_from})" if self.namespace_from else "")

    def here(self) -> str:
        ray = f"Ray {self.client.get('ray')}" if self.client.get("ray") else "no Ray installed"
        return f"Python {self.client.get('python')}, {ray}"

    def tally(self) -> str:
        """``4 RayClusters in 2 namespaces: 1 usable here, 2 not, 1 unknown``."""
        if not self.rows:
            return f"no RayClusters in {self.scope().split(' (from')[0]}" if self.listed else "no RayClusters could be listed"
        spaces = len({r.namespace for r in self.rows})
        counts = {k: sum(1 for r in self.rows if r.usable == k and not r.problem) for k in (USABLE, NOT_USABLE, UNKNOWN)}
        broken = sum(1 for r in self.rows if r.problem)
        parts = [f"{counts[USABLE]} usable here"] + [f"{n} {label}" for n, label in (
            (counts[NOT_USABLE], "not"), (counts[UNKNOWN], "unknown"), (broken, "unreadable")) if n]
        return (f"{len(self.rows)} RayCluster{'s' if len(self.rows) != 1 else ''} in {spaces} namespace{'s' if spaces != 1 else ''}: "
                + ", ".join(parts))

    def to_dict(self) -> Dict[str, Any]:
        from preflight import __version__
        from preflight.model import SCHEMA_VERSION

        return {
            "schema_version": SCHEMA_VERSION,
            "tool_version": __version__,
            "listed": self.listed,
            "server": self.server,
            "source": self.source,
            "scope": {"all_namespaces": self.all_namespaces, "namespaces": list(self.namespaces), "namespace_from": self.namespace_from},
            "client": dict(self.client),
            "clusters": [r.to_dict() for r in self.rows],
            "problems": [p.to_dict() for p in self.problems],
            "duration_s": round(self.duration_s, 4),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_text(self) -> str:
        return render_text(self)

    def _repr_html_(self) -> str:
        return render_html(self)

    def __repr__(self) -> str:
        return f"<Fleet {self.tally()} ({self.scope()}; here: {self.here()})>"


# -- judging -------------------------------------------------------------------------------------------------------


def client_versions() -> Dict[str, Any]:
    """This Python's version and its Ray's, and the Ray Client protocol that Ray speaks, read without importing Ray."""
    from preflight.environment import python_facts, ray_client_protocol, version_of

    ray = version_of("ray")
    return {"python": python_facts()["version"], "ray": ray, "ray_client_protocol": ray_client_protocol() if ray else None}


def usability(cluster_ray: Optional[str], cluster_python: Optional[str], client: Mapping[str, Any]) -> Tuple[str, Optional[str]]:
    """Whether a client (``client_versions()``) can use a cluster of Ray ``cluster_ray`` on Python ``cluster_python``
    (major.minor), by the rules of the ``python-version`` and ``ray-version`` checks: the Python major.minor must match,
    and the Ray version, except a client whose Ray speaks the server's Ray Client protocol. ``(usable, why)``."""
    mine_python, mine_ray, protocol = client.get("python"), client.get("ray"), client.get("ray_client_protocol")
    noes: List[str] = []
    unknowns: List[str] = []
    caveats: List[str] = []
    if cluster_python is None:
        unknowns.append("its Python is unknown (the head image tag names no -pyXY)")
    elif not mine_python or minor(mine_python) != minor(cluster_python):
        noes.append(f"Python {minor(mine_python) if mine_python else '?'} here, {cluster_python} there")
    if not mine_ray:
        noes.append("Ray is not installed here")
    elif cluster_ray is None:
        unknowns.append("its Ray is unknown (no spec.rayVersion, no version in the head image tag)")
    elif not same_version(mine_ray, cluster_ray):
        if speaks_protocol_of(cluster_ray, protocol):
            caveats.append(f"Ray {mine_ray} here, {cluster_ray} there: it connects (same Ray Client protocol, {protocol}), "
                           "but Ray supports only matching versions")
        else:
            noes.append(f"Ray {mine_ray} here, {cluster_ray} there")
    if noes:
        return NOT_USABLE, "; ".join(noes)
    if unknowns:
        return UNKNOWN, "; ".join(unknowns)
    return USABLE, "; ".join(caveats) or None


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _int(value: Any) -> Optional[int]:
    """A count from the object: a whole number, not negative (else None)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tag(image: Optional[str]) -> Optional[str]:
    """``rayproject/ray:2.2.0-py38`` → ``2.2.0-py38`` (None without a tag; a digest is not a tag)."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _state(status: Dict[str, Any]) -> Optional[str]:
    """``status.state``; from the HeadPodReady condition when KubeRay no longer sets it."""
    state = status.get("state")
    if isinstance(state, str) and state:
        return state
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)] if isinstance(status.get("conditions"), list) else []
    head = next((c for c in conditions if c.get("type") == "HeadPodReady"), None)
    if head is not None:
        return "ready" if head.get("status") == "True" else "head not ready"
    return None


def _pod_key(pod: Any) -> Optional[Tuple[str, str, str, str, str]]:
    """(namespace, cluster, group, node type, running|pending|other) of a Ray pod; None for anything else."""
    if not isinstance(pod, dict) or not isinstance(pod.get("metadata"), dict):
        return None
    meta: Dict[str, Any] = pod["metadata"]
    labels: Dict[str, Any] = meta["labels"] if isinstance(meta.get("labels"), dict) else {}
    status: Dict[str, Any] = pod["status"] if isinstance(pod.get("status"), dict) else {}
    cluster = labels.get("ray.io/cluster")
    if not isinstance(cluster, str):
        return None
    conditions: List[Any] = status["conditions"] if isinstance(status.get("conditions"), list) else []
    ready = any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    phase = status.get("phase")
    condition = "running" if phase == "Running" and ready else "pending" if phase == "Pending" else "other"
    return (str(meta.get("namespace") or ""), cluster, str(labels.get("ray.io/group") or ""), str(labels.get("ray.io/node-type") or ""),
            condition)


def count_pods(pods: Iterable[Any], namespace: Optional[str] = None) -> Dict[Tuple[str, str, str], Dict[str, int]]:
    """(namespace, cluster, group) → counts of its worker pods by condition (``running``: Running and ready); a pod that
    does not name its namespace is in ``namespace`` (the one listed)."""
    counts: Dict[Tuple[str, str, str], Dict[str, int]] = {}
    for pod in pods:
        key = _pod_key(pod)
        if key is None or key[3] == "head":
            continue
        slot = counts.setdefault((key[0] or namespace or "", key[1], key[2]), {"running": 0, "pending": 0, "other": 0})
        slot[key[4]] += 1
    return counts


def read_cluster(obj: Any, namespace: Optional[str], pods: Optional[Dict[Tuple[str, str, str], Dict[str, int]]],
                 client: Mapping[str, Any]) -> ClusterRow:
    """One RayCluster object (as the API sent it) as a row, judged for ``client``; never raises: what cannot be read
    makes the row say so. ``pods``: ``count_pods`` of the namespace's Ray pods, None when they could not be listed."""
    try:
        return _read_cluster(obj, namespace, pods, client)
    except Exception as exc:  # noqa: BLE001 - an object of a shape nobody foresaw is a row that says so, not a crash
        name = (obj.get("metadata") or {}).get("name") if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) else None
        return ClusterRow(name=str(name or "?"), namespace=namespace or "?", usable=UNKNOWN,
                          why=f"cannot read it: {type(exc).__name__}: {exc}", problem=f"{type(exc).__name__}: {exc}")


def _read_cluster(obj: Any, namespace: Optional[str], pods: Optional[Dict[Tuple[str, str, str], Dict[str, int]]],
                  client: Mapping[str, Any]) -> ClusterRow:
    problems: List[str] = []
    if not isinstance(obj, dict):
        return _broken("?", namespace or "?", f"the list holds {_kind(obj)}, not a RayCluster object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return _broken("?", namespace or "?", f"metadata is {_kind(meta)}, not a mapping")
    name, ns = meta.get("name"), meta.get("namespace") or namespace
    if not isinstance(name, str) or not name:
        return _broken("?", str(ns or "?"), "metadata.name is " + ("missing" if name in (None, "") else _kind(name)))
    ns = str(ns or "?")
    row = ClusterRow(name=name, namespace=ns, api_version=obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else None,
                     address=f"ray://{name}{HEAD_SVC_SUFFIX}.{ns}:{CLIENT_PORT}", dashboard=f"http://{name}{HEAD_SVC_SUFFIX}.{ns}:{DASHBOARD_PORT}")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return _broken(name, ns, f"spec is {_kind(spec)}, not a mapping", row)
    status = obj.get("status")
    if status is not None and not isinstance(status, dict):
        problems.append(f"status is {_kind(status)}, not a mapping")
        status = None
    status = status or {}
    row.state = _state(status)

    ray_version = spec.get("rayVersion")
    if ray_version is not None and not isinstance(ray_version, str):
        problems.append(f"spec.rayVersion is {_kind(ray_version)}, not a string")
        ray_version = None
    row.ray_version = ray_version or None

    head = spec.get("headGroupSpec")
    template = head.get("template") if isinstance(head, dict) else None
    pod_spec = template.get("spec") if isinstance(template, dict) else None
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not isinstance(head, dict):
        problems.append(f"spec.headGroupSpec is {_kind(head)}, not a mapping")
    elif not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        problems.append("spec.headGroupSpec.template.spec.containers is " + (
            "empty" if containers == [] else "not a list of containers" if isinstance(containers, list) else _kind(containers)))
    else:
        container = next((c for c in containers if c.get("name") == "ray-head"), containers[0])
        image = container.get("image")
        if not isinstance(image, str) or not image:
            problems.append(f"the head container's image is {_kind(image) if image != '' else 'empty'}")
        else:
            row.image, row.image_tag = image, _tag(image)
        options = spec.get("authOptions")
        if options is not None and not isinstance(options, dict):
            problems.append(f"spec.authOptions is {_kind(options)}, not a mapping")
        else:
            row.auth = _auth(spec, pod_spec) or None  # type: ignore[arg-type]

    from_image = image_versions(row.image)
    row.python = from_image["python"]
    row.ray = from_image["ray"] or row.ray_version

    autoscaling = spec.get("enableInTreeAutoscaling")
    if autoscaling is not None and not isinstance(autoscaling, bool):
        problems.append(f"spec.enableInTreeAutoscaling is {_kind(autoscaling)}, not true or false")
    row.autoscaling = autoscaling if isinstance(autoscaling, bool) else None
    if row.autoscaling:
        options = spec.get("autoscalerOptions")
        idle = options.get("idleTimeoutSeconds") if isinstance(options, dict) else None
        row.idle_timeout_s = _int(idle) if idle is not None else DEFAULT_IDLE_TIMEOUT_S

    groups = spec.get("workerGroupSpecs")
    if groups is not None and not isinstance(groups, list):
        problems.append(f"spec.workerGroupSpecs is {_kind(groups)}, not a list")
        groups = []
    for index, group in enumerate(groups or []):
        if not isinstance(group, dict) or not isinstance(group.get("groupName"), str):
            problems.append(f"spec.workerGroupSpecs[{index}] " + ("has no groupName" if isinstance(group, dict) else f"is {_kind(group)}"))
            continue
        shape = WorkerGroup(group["groupName"], _int(group.get("minReplicas")), _int(group.get("maxReplicas")), _int(group.get("replicas")))
        if pods is not None:
            counted = pods.get((ns, name, shape.name)) or {}
            shape.running, shape.pending = counted.get("running", 0), counted.get("pending", 0)
        row.groups.append(shape)
    if pods is not None:
        row.workers_running = sum(g.running or 0 for g in row.groups)
    else:  # the pods could not be listed: the RayCluster's own count, for all its groups together
        totals = [_int(status.get(k)) for k in ("readyWorkerReplicas", "availableWorkerReplicas")]
        row.workers_running = next((n for n in totals if n is not None), None)

    if problems:
        row.problem = "; ".join(problems)
        row.usable, row.why = UNKNOWN, f"cannot read it: {row.problem}"
        return row
    row.usable, row.why = usability(row.ray, row.python, client)
    if row.usable == USABLE and row.state and row.state.lower() != "ready":
        row.why = "; ".join(x for x in (row.why, f"but its state is {row.state}") if x)
    return row


def _broken(name: str, namespace: str, reason: str, row: Optional[ClusterRow] = None) -> ClusterRow:
    row = row or ClusterRow(name=name, namespace=namespace)
    row.problem, row.usable, row.why = reason, UNKNOWN, f"cannot read it: {reason}"
    return row


# -- reading -------------------------------------------------------------------------------------------------------


def _namespaces(value: Union[None, str, Iterable[str]]) -> List[str]:
    from preflight.config import _namespace

    items = [value] if isinstance(value, str) else list(value or [])
    names: List[str] = []
    for item in items:
        for part in str(item).split(","):
            checked = _namespace(part.strip() or part)
            if checked and checked not in names:
                names.append(checked)
    return names


def _problem(exc: KubeError, namespace: Optional[str], all_namespaces: bool) -> Problem:
    """The one line for a list call that failed: what was refused and the line that confirms it, or why there was no answer."""
    where = "across all namespaces" if all_namespaces else f"in namespace {namespace}"
    scope = "-A" if all_namespaces else f"-n {namespace}"
    status, verb, resource = exc.status, exc.verb, exc.resource
    remedy: Optional[str] = None
    if status == 403:
        summary = f"Kubernetes refused `{verb} {resource}` {where} (403)"
        remedy = f"confirm with `kubectl auth can-i {verb} {resource} {scope}`; ask for that permission to see them"
    elif status == 401:
        summary = f"Kubernetes rejected the credentials (401): {exc.message}"
        remedy = "refresh your kubeconfig (log in again); `kubectl get rayclusters` fails the same way"
    elif status == 404 and resource == "rayclusters.ray.io":
        summary = f"the API server serves no RayClusters (neither ray.io/{' nor ray.io/'.join(RAY_API_VERSIONS)}): KubeRay's CRDs are not installed"
        remedy = "`kubectl get crd rayclusters.ray.io` confirms it"
    elif status is None:
        summary = exc.message
    else:
        summary = f"could not {verb} {resource} {where} (HTTP {status}): {exc.message}"
    if resource == "pods":  # the RayClusters were listed: only the counts per group are missing
        if status is None:
            summary = f"could not {verb} {resource} {where}: {exc.message}"
        summary += ": running workers per group are unknown (each RayCluster's status gives its total)"
    return Problem(namespace, verb, resource, status, exc.message, summary, remedy)


def _list_rayclusters(access: KubeAccess, namespace: Optional[str]) -> Tuple[str, List[Any]]:
    """The RayClusters of a namespace (None: of all), in the first API version the server serves."""
    from kubernetes import client as k8s

    custom = k8s.CustomObjectsApi(access.api_client)
    for version in RAY_API_VERSIONS:
        try:
            if namespace is None:
                body = call(access, "list", "rayclusters.ray.io", None, custom.list_cluster_custom_object, "ray.io", version, "rayclusters")
            else:
                body = call(access, "list", "rayclusters.ray.io", namespace, custom.list_namespaced_custom_object,
                            "ray.io", version, namespace, "rayclusters")
        except KubeError as exc:
            if exc.status == 404 and version != RAY_API_VERSIONS[-1]:
                continue  # KubeRay 0.4 serves only ray.io/v1alpha1
            raise
        items = body.get("items")
        if not isinstance(items, list):
            raise KubeError(200, "list", "rayclusters.ray.io", namespace, f"the RayClusterList holds {_kind(items)} as items, not a list")
        return version, items
    raise AssertionError("unreachable")  # pragma: no cover - the last version raises or returns


def _list_pods(access: KubeAccess, namespace: Optional[str]) -> List[Any]:
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(access.api_client)
    if namespace is None:
        body = call(access, "list", "pods", None, core.list_pod_for_all_namespaces, label_selector=POD_SELECTOR)
    else:
        body = call(access, "list", "pods", namespace, core.list_namespaced_pod, namespace, label_selector=POD_SELECTOR)
    items = body.get("items")
    if not isinstance(items, list):
        raise KubeError(200, "list", "pods", namespace, f"the PodList holds {_kind(items)} as items, not a list")
    return items


#: At most this many requests at once (two per namespace: its RayClusters and its pods).
MAX_CONCURRENT = 8


def _workers(access: KubeAccess, scopes: int) -> int:
    """Requests side by side: two per namespace, at most ``MAX_CONCURRENT`` and never more than the client's connection pool
    keeps (beyond it, urllib3 opens and discards connections, and says so on stderr)."""
    pool = getattr(access.api_client.configuration, "connection_pool_maxsize", None)
    return max(1, min(MAX_CONCURRENT, 2 * scopes, pool if isinstance(pool, int) and pool > 0 else MAX_CONCURRENT))


def _outcome(read: Any) -> Tuple[Any, Optional[KubeError]]:
    try:
        return read(), None
    except KubeError as exc:
        return None, exc


def clusters(
    namespace: Union[None, str, Iterable[str]] = None,
    *,
    all_namespaces: bool = False,
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    timeout: Union[float, str] = DEFAULT_TIMEOUT_S,
    environ: Optional[Mapping[str, str]] = None,
) -> Fleet:
    """Every RayCluster these Kubernetes credentials can see in ``namespace`` (a name, several, or None: the kubeconfig
    context's) or in ``all_namespaces``, one row each, with whether this Python and Ray can use it (usable ones first).

    Credentials as kubectl finds them (``kubeconfig``, else ``KUBECONFIG``, else ``~/.kube/config``, else the in-cluster
    service account; ``context`` picks a context). Each request waits at most ``timeout`` seconds. A refused or failed
    list is in ``.problems`` (``.listed`` is False when nothing could be listed), never raised; unusable input (a
    kubeconfig that does not exist or cannot be used, an unknown context, a bad namespace name) raises ``ValueError``
    (``preflight.UsageError``).
    """
    from preflight.config import _kubeconfig, _seconds, _text

    started = time.monotonic()
    names = _namespaces(namespace)
    if all_namespaces and names:
        raise UsageError("--all-namespaces and --namespace exclude each other: list one namespace, several, or all")
    seconds = _seconds(timeout, "--timeout")
    kubeconfig, context = _kubeconfig(kubeconfig), _text(context, "--context")
    env = os.environ if environ is None else environ
    try:
        access = connect(kubeconfig, context, env, (seconds, seconds))
    except (Unavailable, KubeconfigProblem) as exc:
        raise UsageError(str(exc)) from None
    try:
        namespace_from: Optional[str] = "--namespace" if names else None
        if not names and not all_namespaces:
            from_context = access.default_namespace
            names = [from_context or "default"]
            namespace_from = ("the service account" if access.source.startswith("in-cluster") else "the Kubernetes context") \
                if from_context else "the default"
        scopes: List[Optional[str]] = [None] if all_namespaces else list(names)
        with ThreadPoolExecutor(max_workers=_workers(access, len(scopes))) as pool:
            lists = {ns: pool.submit(_outcome, lambda ns=ns: _list_rayclusters(access, ns)) for ns in scopes}
            pods = {ns: pool.submit(_outcome, lambda ns=ns: _list_pods(access, ns)) for ns in scopes}
            listed = {ns: lists[ns].result() for ns in scopes}
            podded = {ns: pods[ns].result() for ns in scopes}
    finally:
        access.api_client.close()
    return judge(listed, podded, client_versions(), names, all_namespaces, namespace_from, access.server, access.source,
                 time.monotonic() - started)


def judge(listed: Mapping[Optional[str], Tuple[Any, Optional[KubeError]]], podded: Mapping[Optional[str], Tuple[Any, Optional[KubeError]]],
          client: Mapping[str, Any], namespaces: List[str], all_namespaces: bool, namespace_from: Optional[str], server: str,
          source: str, duration_s: float = 0.0) -> Fleet:
    """The fleet from what the list calls answered (per scope: ``((api version, items), None)`` or ``(None, KubeError)``;
    the pods: ``(items, None)`` or ``(None, KubeError)``), judged for ``client``. No I/O."""
    rows: List[ClusterRow] = []
    problems: List[Problem] = []
    for scope, (answer, error) in listed.items():
        if error is not None:
            problems.append(_problem(error, scope, all_namespaces))
            continue
        pods, pod_error = podded.get(scope, (None, None))
        if pod_error is not None:
            problems.append(_problem(pod_error, scope, all_namespaces))
        counted = count_pods(pods, scope) if pod_error is None and pods is not None else None
        _, items = answer
        rows.extend(read_cluster(item, scope, counted, client) for item in items)
    rows.sort(key=ClusterRow.sort_key)
    unique: List[Problem] = []
    for problem in problems:  # the same refusal or silence for every namespace is one line
        if problem.line() not in [p.line() for p in unique]:
            unique.append(problem)
    ok = any(error is None for _, error in listed.values())
    return Fleet(rows, dict(client), list(namespaces), all_namespaces, namespace_from, server, source, unique, ok, duration_s)


# -- rendering -----------------------------------------------------------------------------------------------------


def render_text(fleet: Fleet) -> str:
    """The header, an aligned table (one row per RayCluster), the problems (one line each) and the tally."""
    from preflight import __version__

    lines = [f"{PROG} {__version__} · RayClusters in {fleet.scope()} · {fleet.server} via {fleet.source}",
             f"here: {fleet.here()}"]
    if fleet.rows:
        table = [dict(_COLUMNS)] + [r.cells() for r in fleet.rows]
        keys = list(_COLUMNS)
        widths = {k: max(len(t[k]) for t in table) for k in keys[:-1]}
        lines += ["  ".join([t[k].ljust(widths[k]) for k in keys[:-1]] + [t[keys[-1]]]).rstrip() for t in table]
    lines += [f" ! {p.line()}" for p in fleet.problems]
    lines.append(f"{fleet.tally()} ({fleet.duration_s:.1f} s)")
    return "\n".join(lines) + "\n"


_HTML_COLORS = {USABLE: "#1a7f37", NOT_USABLE: "#cf222e", UNKNOWN: "#6e7781"}


def render_html(fleet: Fleet) -> str:
    """The table for a notebook: every value escaped, the usable column coloured."""
    head = "".join(f"<th>{escape(title)}</th>" for title in _COLUMNS.values())
    body = []
    for row in fleet.rows:
        cells = row.cells()
        color = _HTML_COLORS.get(row.usable, _HTML_COLORS[UNKNOWN])
        tds = [f"<td style='text-align:left'>{'<code>' + escape(cells[k]) + '</code>' if k in ('address', 'dashboard') else escape(cells[k])}</td>"
               for k in list(_COLUMNS)[:-1]]
        tds.append(f"<td style='text-align:left'><span style='color:#fff;background:{color};padding:1px 6px;border-radius:3px'>"
                   f"{escape(row.usable)}</span> {escape(row.why or '')}</td>")
        body.append(f"<tr>{''.join(tds)}</tr>")
    problems = "".join(f"<li>{escape(p.line())}</li>" for p in fleet.problems)
    return (f"<div class='ray-preflight-clusters'><p><b>RayClusters in {escape(fleet.scope())}</b> &middot; "
            f"<code>{escape(fleet.server)}</code> &middot; here: {escape(fleet.here())}</p>"
            + (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>" if body else "")
            + (f"<ul>{problems}</ul>" if problems else "")
            + f"<p>{escape(fleet.tally())} ({fleet.duration_s:.1f} s)</p></div>")


# -- the command ---------------------------------------------------------------------------------------------------


def command(namespaces: List[str], all_namespaces: bool, kubeconfig: Optional[str], context: Optional[str], timeout: Optional[str],
            output_format: str) -> int:
    """``ray-preflight clusters``: print the fleet; the exit code (0 listed, 1 nothing could be listed; unusable input
    raises ``UsageError``, which the CLI turns into one line and exit 2)."""
    import sys

    if output_format not in ("text", "json", "html"):
        raise UsageError(f"--format must be text, json or html, not {output_format!r}")
    fleet = clusters(namespaces, all_namespaces=all_namespaces, kubeconfig=kubeconfig, context=context,
                     timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)
    out = fleet.to_json() if output_format == "json" else render_html(fleet) + "\n" if output_format == "html" else render_text(fleet)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0 if fleet.listed else 1
