"""A Kubernetes API on loopback serving KubeRay objects, for the tests and the benchmarks.

There is no kube-apiserver where the tests run, so this serves real Kubernetes JSON over a real HTTP
(or HTTPS) socket, and the tool talks to it through the official ``kubernetes`` client. The objects are
shaped like what KubeRay creates for the Helm chart's ``ray-cluster-kuberay`` cluster: a head pod with
``ray-head`` and ``autoscaler`` containers, worker group ``smallgroup``, labels ``ray.io/cluster``,
``ray.io/node-type`` and ``ray.io/group``, in ``ray.io/v1`` or the ``ray.io/v1alpha1`` of KubeRay 0.4.
"""

from __future__ import annotations

import copy
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

TOKEN = "rpf-test-token-0123456789abcdef"
STARTED = "2026-11-25T08:00:00Z"


def status_body(code: int, reason: str, message: str) -> Dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": {}, "code": code}


def _container_status(name: str, image: str, ready: bool = True, restarts: int = 0,
                      waiting: Optional[str] = None, last: Optional[str] = None) -> Dict[str, Any]:
    state: Dict[str, Any] = {"waiting": {"reason": waiting, "message": f"back-off restarting failed container {name}"}} if waiting \
        else {"running": {"startedAt": STARTED}}
    status = {"name": name, "state": state, "lastState": {}, "ready": ready, "restartCount": restarts, "image": image,
              "imageID": f"docker.io/{image}@sha256:{'ab' * 32}", "containerID": f"containerd://{'cd' * 32}", "started": ready}
    if last:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": last, "startedAt": STARTED, "finishedAt": STARTED}}
    return status


def _conditions(ready: bool, scheduled: bool = True, unschedulable: str = "") -> List[Dict[str, Any]]:
    flag = "True" if ready else "False"
    conditions = [{"type": "Initialized", "status": "True", "lastTransitionTime": STARTED},
                  {"type": "Ready", "status": flag, "lastTransitionTime": STARTED},
                  {"type": "ContainersReady", "status": flag, "lastTransitionTime": STARTED},
                  {"type": "PodScheduled", "status": "True" if scheduled else "False", "lastTransitionTime": STARTED}]
    if not scheduled:
        conditions[-1].update(reason="Unschedulable", message=unschedulable)
    return conditions


@dataclass
class ClusterSpec:
    """The knobs of a generated KubeRay world; the defaults are a healthy fy23-q2 cluster."""

    api_version: str = "v1"
    namespace: str = "kuberay"
    name: str = "ray-cluster-kuberay"
    ray_version: str = "2.2.0"
    image: str = "rayproject/ray:2.2.0-py38"
    autoscaling: bool = True
    idle_timeout_s: Optional[int] = 60
    state: str = "ready"
    autoscaler_container: bool = True
    autoscaler_waiting: Optional[str] = None
    autoscaler_restarts: int = 0
    operator: bool = True
    operator_waiting: Optional[str] = None
    operator_restarts: int = 0
    workers: int = 1
    min_replicas: int = 0
    max_replicas: int = 2
    pending_workers: int = 0
    crashing_workers: int = 0
    service_ports: Tuple[Tuple[str, int], ...] = (("client", 10001), ("dashboard", 8265), ("gcs-server", 6379),
                                                  ("metrics", 8080), ("serve", 8000))
    #: A secret in the head pod's environment, to prove reports leave pod specs out.
    planted_secret: str = "rpf-planted-redis-password-5f3c"
    extra_groups: int = 0
    #: Token authentication: "authOptions" (KubeRay 1.5.1+, optionally with ``auth_secret``), "manual" (RAY_AUTH_MODE
    #: and a RAY_AUTH_TOKEN from a Secret in the head container), or None.
    auth: Optional[str] = None
    auth_secret: Optional[str] = None


def _labels(spec: ClusterSpec, node_type: str, group: str) -> Dict[str, str]:
    return {"ray.io/cluster": spec.name, "ray.io/node-type": node_type, "ray.io/group": group,
            "ray.io/identifier": f"{spec.name}-{node_type}", "ray.io/is-ray-node": "yes",
            "app.kubernetes.io/name": "kuberay", "app.kubernetes.io/created-by": "kuberay-operator"}


def head_pod(spec: ClusterSpec) -> Dict[str, Any]:
    containers = [{"name": "ray-head", "image": spec.image, "command": ["/bin/bash", "-lc", "--"],
                   "args": ["ulimit -n 65536; ray start --head --dashboard-host=0.0.0.0 --no-monitor --block"],
                   "env": [{"name": "RAY_CLUSTER_NAME", "value": spec.name}, {"name": "REDIS_PASSWORD", "value": spec.planted_secret}],
                   "ports": [{"containerPort": p, "name": n, "protocol": "TCP"} for n, p in spec.service_ports]}]
    statuses = [_container_status("ray-head", spec.image)]
    if spec.autoscaler_container:
        containers.append({"name": "autoscaler", "image": spec.image, "command": ["ray"],
                           "args": ["kuberay-autoscaler", "--cluster-name", spec.name, "--cluster-namespace", spec.namespace]})
        ok = spec.autoscaler_waiting is None
        statuses.append(_container_status("autoscaler", spec.image, ready=ok, restarts=spec.autoscaler_restarts,
                                          waiting=spec.autoscaler_waiting, last="Error" if spec.autoscaler_restarts else None))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{spec.name}-head-x7k2p", "namespace": spec.namespace, "labels": _labels(spec, "head", "headgroup"),
                         "ownerReferences": [{"apiVersion": f"ray.io/{spec.api_version}", "kind": "RayCluster", "name": spec.name,
                                              "uid": "0b1c2d3e-0000-4000-8000-000000000001", "controller": True}]},
            "spec": {"containers": containers, "serviceAccountName": spec.name},
            "status": {"phase": "Running", "conditions": _conditions(all(s["ready"] for s in statuses)),
                       "containerStatuses": statuses, "podIP": "10.244.0.12", "hostIP": "192.168.49.2", "startTime": STARTED}}


def worker_pod(spec: ClusterSpec, index: int, group: str = "smallgroup", pending: bool = False, crashing: bool = False) -> Dict[str, Any]:
    pod: Dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{spec.name}-worker-{group}-{index:05d}", "namespace": spec.namespace,
                        "labels": _labels(spec, "worker", group)},
           "spec": {"containers": [{"name": "ray-worker", "image": spec.image}]},
           "status": {"phase": "Running", "conditions": _conditions(True),
                      "containerStatuses": [_container_status("ray-worker", spec.image)], "podIP": f"10.244.1.{index % 250}",
                      "startTime": STARTED}}
    if pending:
        pod["status"] = {"phase": "Pending", "conditions": _conditions(
            False, scheduled=False, unschedulable="0/3 nodes are available: 3 Insufficient cpu.")}
    if crashing:
        pod["status"]["containerStatuses"] = [_container_status("ray-worker", spec.image, ready=False, restarts=5,
                                                                waiting="CrashLoopBackOff", last="Error")]
        pod["status"]["conditions"] = _conditions(False)
    return pod


def operator_pod(spec: ClusterSpec) -> Dict[str, Any]:
    ok = spec.operator_waiting is None
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kuberay-operator-7d9c8f6b5-qx2vz", "namespace": spec.namespace,
                         "labels": {"app.kubernetes.io/name": "kuberay-operator", "app.kubernetes.io/instance": "kuberay-operator"}},
            "spec": {"containers": [{"name": "kuberay-operator", "image": "kuberay/operator:v0.4.0"}]},
            "status": {"phase": "Running", "conditions": _conditions(ok),
                       "containerStatuses": [_container_status("kuberay-operator", "kuberay/operator:v0.4.0", ready=ok,
                                                               restarts=spec.operator_restarts, waiting=spec.operator_waiting,
                                                               last="Error" if spec.operator_restarts else None)]}}


def raycluster(spec: ClusterSpec) -> Dict[str, Any]:
    groups = [{"groupName": g, "replicas": spec.workers + spec.pending_workers + spec.crashing_workers if g == "smallgroup" else 1,
               "minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas,
               "rayStartParams": {"block": "true"},
               "template": {"spec": {"containers": [{"name": "ray-worker", "image": spec.image}]}}}
              for g in ["smallgroup"] + [f"group{i}" for i in range(spec.extra_groups)]]
    body: Dict[str, Any] = {
        "apiVersion": f"ray.io/{spec.api_version}", "kind": "RayCluster",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "generation": 1,
                     "labels": {"app.kubernetes.io/instance": spec.name, "app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"rayVersion": spec.ray_version, "enableInTreeAutoscaling": spec.autoscaling,
                 "headGroupSpec": {"serviceType": "ClusterIP", "rayStartParams": {"dashboard-host": "0.0.0.0", "block": "true"},
                                   "template": {"spec": {"containers": [{"name": "ray-head", "image": spec.image, "env": [
                                       {"name": "RAY_CLUSTER_NAME", "value": spec.name},
                                       {"name": "REDIS_PASSWORD", "value": spec.planted_secret}]}]}}},
                 "workerGroupSpecs": groups},
        "status": {"state": spec.state, "availableWorkerReplicas": spec.workers, "desiredWorkerReplicas": groups[0]["replicas"],
                   "minWorkerReplicas": spec.min_replicas, "maxWorkerReplicas": spec.max_replicas, "lastUpdateTime": STARTED,
                   "endpoints": {n: str(p) for n, p in spec.service_ports},
                   "head": {"podIP": "10.244.0.12", "serviceIP": "10.96.10.20"}},
    }
    if spec.auth == "authOptions":
        body["spec"]["authOptions"] = dict({"mode": "token"}, **({"secretName": spec.auth_secret} if spec.auth_secret else {}))
    elif spec.auth == "manual":
        body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] += [
            {"name": "RAY_AUTH_MODE", "value": "token"},
            {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": spec.auth_secret or spec.name, "key": "auth_token"}}}]
    if spec.idle_timeout_s is not None:
        body["spec"]["autoscalerOptions"] = {"idleTimeoutSeconds": spec.idle_timeout_s, "upscalingMode": "Default"}
    if spec.api_version == "v1":
        ready = "True" if spec.state == "ready" else "False"
        body["status"]["readyWorkerReplicas"] = spec.workers
        body["status"]["conditions"] = [
            {"type": "RayClusterProvisioned", "status": "True", "reason": "AllPodRunningAndReadyFirstTime", "lastTransitionTime": STARTED},
            {"type": "HeadPodReady", "status": ready, "reason": "HeadPodRunningAndReady" if ready == "True" else "HeadPodNotReady",
             "lastTransitionTime": STARTED}]
    if spec.state != "ready":
        body["status"]["reason"] = "head pod is not ready: containers with unready status: [ray-head]"
    return body


def service(spec: ClusterSpec) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{spec.name}-head-svc", "namespace": spec.namespace, "labels": _labels(spec, "head", "headgroup")},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.10.20",
                     "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in spec.service_ports],
                     "selector": {"ray.io/cluster": spec.name, "ray.io/node-type": "head"}}}


def api_groups(versions: List[str]) -> Dict[str, Any]:
    listed = [{"groupVersion": f"ray.io/{v}", "version": v} for v in versions]
    groups = [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
               "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]
    if versions:
        groups.append({"name": "ray.io", "versions": listed, "preferredVersion": listed[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def routes(spec: ClusterSpec, crds: bool = True) -> Dict[str, Tuple[int, Dict[str, Any]]]:
    """The GET paths of a KubeRay world and their answers (pods filtered by label selector at request time)."""
    ns, served = spec.namespace, (["v1", "v1alpha1"] if spec.api_version == "v1" else ["v1alpha1"])
    pods = [head_pod(spec)] + [worker_pod(spec, i) for i in range(spec.workers)]
    pods += [worker_pod(spec, spec.workers + i, pending=True) for i in range(spec.pending_workers)]
    pods += [worker_pod(spec, 100 + i, crashing=True) for i in range(spec.crashing_workers)]
    pods += [worker_pod(spec, i, group=f"group{g}") for g in range(spec.extra_groups) for i in range(1)]
    if spec.operator:
        pods.append(operator_pod(spec))
    table: Dict[str, Tuple[int, Dict[str, Any]]] = {
        "/apis": (200, api_groups(served if crds else [])),
        f"/api/v1/namespaces/{ns}/pods": (200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}),
        f"/api/v1/namespaces/{ns}/services/{spec.name}-head-svc": (200, service(spec)),
        f"/api/v1/namespaces/{ns}/events": (200, {"kind": "EventList", "apiVersion": "v1", "metadata": {},
                                                  "items": [event(spec, i) for i in range(3)]}),
    }
    if crds:
        for version in served:
            obj = raycluster(ClusterSpec(**{**spec.__dict__, "api_version": version})) if version != spec.api_version else raycluster(spec)
            base = f"/apis/ray.io/{version}/namespaces/{ns}/rayclusters"
            table[f"{base}/{spec.name}"] = (200, obj)
            table[base] = (200, {"kind": "RayClusterList", "apiVersion": f"ray.io/{version}", "metadata": {}, "items": [obj]})
    return table


def event(spec: ClusterSpec, index: int, reason: str = "Created", message: str = "", kind: str = "Pod",
          name: str = "", type_: str = "Normal") -> Dict[str, Any]:
    obj = name or f"{spec.name}-head-x7k2p"
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{obj}.{index:016x}", "namespace": spec.namespace},
            "involvedObject": {"kind": kind, "name": obj, "namespace": spec.namespace},
            "reason": reason, "message": message or f"{reason} {kind.lower()} {obj}", "type": type_, "count": 1,
            "firstTimestamp": f"2026-11-25T08:{index // 60 % 60:02d}:{index % 60:02d}Z",
            "lastTimestamp": f"2026-11-25T08:{index // 60 % 60:02d}:{index % 60:02d}Z",
            "source": {"component": "kubelet"}}


def pod_log(path: str, query: Dict[str, List[str]], logs: Dict[Tuple[str, str], str]) -> Optional[bytes]:
    """``GET .../pods/<name>/log?container=&tailLines=&limitBytes=`` as the API server answers it, or None for no such
    container's log."""
    name = path.rsplit("/", 2)[-2]
    container = query.get("container", [""])[0]
    text = logs.get((name, container))
    if text is None:
        return None
    lines = text.splitlines(True)
    if query.get("tailLines"):
        lines = lines[-int(query["tailLines"][0]):]
    data = "".join(lines).encode()
    if query.get("limitBytes"):
        data = data[: int(query["limitBytes"][0])]
    return data


def forbidden(verb: str, resource: str, group: str, ns: str) -> Tuple[int, Dict[str, Any]]:
    user = f"system:serviceaccount:{ns}:default"
    return 403, status_body(403, "Forbidden", f'{resource} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
                                              f'in API group "{group}" in the namespace "{ns}"')


def _matches(obj: Dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


@dataclass
class FakeKubeAPI:
    """``with FakeKubeAPI(routes(ClusterSpec())) as api: ...`` serves until the block ends."""

    table: Dict[str, Tuple[int, Any]]
    token: str = TOKEN
    tls: Optional[Tuple[str, str]] = None  # (certfile, keyfile)
    silent: bool = False
    #: Raw answers for a path: (status, content type, body bytes), e.g. an HTML login page.
    raw: Dict[str, Tuple[int, str, bytes]] = field(default_factory=dict)
    requests: List[str] = field(default_factory=list)
    #: Paths ending with one of these never get an answer (a log that hangs while the rest answers).
    hang: Tuple[str, ...] = ()
    #: Container logs by (pod, container), served at .../pods/<pod>/log honouring tailLines and limitBytes.
    logs: Dict[Tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                api.requests.append(self.path)
                parts = urlsplit(self.path)
                if api.silent or (api.hang and parts.path.endswith(api.hang)):
                    api._release.wait(120)
                    return
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or token != api.token:  # the scheme is case-insensitive, as in kube-apiserver
                    return self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
                path = parts.path.rstrip("/") or "/"
                if path in api.raw:
                    code, ctype, data = api.raw[path]
                    return self._raw(code, ctype, data)
                if path.endswith("/log") and path not in api.table:
                    text = pod_log(path, parse_qs(parts.query), api.logs)
                    if text is not None:
                        return self._raw(200, "text/plain", text)
                code, body = api.table.get(path, (404, status_body(
                    404, "NotFound", "the server could not find the requested resource")))
                selector = parse_qs(parts.query).get("labelSelector", [""])[0]
                if selector and isinstance(body, dict) and "items" in body:
                    body = dict(body, items=[i for i in body["items"] if _matches(i, selector)])
                self._send(code, body)

            def _send(self, code: int, body: Any) -> None:
                self._raw(code, "application/json", json.dumps(body).encode())

            def _raw(self, code: int, ctype: str, data: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeKubeAPI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def kubeconfig(server: str, namespace: Optional[str] = "kuberay", token: str = TOKEN, ca_file: Optional[str] = None) -> str:
    """A kubeconfig (YAML is a superset of JSON) with one context pointing at ``server``."""
    cluster: Dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = ca_file
    context: Dict[str, Any] = {"cluster": "loopback", "user": "preflight"}
    if namespace:
        context["namespace"] = namespace
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "loopback",
                       "clusters": [{"name": "loopback", "cluster": cluster}],
                       "contexts": [{"name": "loopback", "context": context}],
                       "users": [{"name": "preflight", "user": {"token": token}}]}, indent=1)


def variant(table: Dict[str, Tuple[int, Any]], **changes: Tuple[int, Any]) -> Dict[str, Tuple[int, Any]]:
    """A copy of ``table`` with some paths answering differently."""
    out = copy.deepcopy(table)
    out.update(changes)
    return out


#: The release's notebook image as the platform's registry names it (the docs name no tag; this one stands in for it).
NOTEBOOK_IMAGE = "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-data-science:ezaf-fy23-q2"


def notebook_pod(name: str, namespace: str, image: str = NOTEBOOK_IMAGE, notebook: Optional[str] = "ray-notebook",
                 sidecar: bool = True) -> Dict[str, Any]:
    """A Kubeflow notebook server's pod, as the notebook controller's StatefulSet makes it: labels ``statefulset`` and
    ``notebook-name``, the notebook's container named after the notebook (``notebook=None``: a pod without the label,
    whose only container is ``main``), and an ``istio-proxy`` sidecar placed first, so that the first container is not
    the notebook's."""
    container = notebook or "main"
    containers = [{"name": container, "image": image, "workingDir": "/home/jovyan",
                   "env": [{"name": "NB_PREFIX", "value": f"/notebook/{namespace}/{container}"}],
                   "ports": [{"containerPort": 8888, "name": "notebook-port", "protocol": "TCP"}]}]
    statuses = [_container_status(container, image)]
    if sidecar:
        containers.insert(0, {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.14.1"})
        statuses.insert(0, _container_status("istio-proxy", "docker.io/istio/proxyv2:1.14.1"))
    labels = {"statefulset": notebook, "notebook-name": notebook} if notebook else {"app": container}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": container,
                                              "uid": "0b1c2d3e-0000-4000-8000-000000000002", "controller": True}]},
            "spec": {"containers": containers, "serviceAccountName": "default-editor", "hostname": name},
            "status": {"phase": "Running", "conditions": _conditions(True), "containerStatuses": statuses,
                       "podIP": "10.244.2.7", "startTime": STARTED}}


def notebook_routes(name: str, namespace: str, **pod: Any) -> Dict[str, Tuple[int, Dict[str, Any]]]:
    """The GET path of a notebook server's pod ``name`` in ``namespace`` and its answer (``pod``: ``notebook_pod``'s knobs)."""
    return {f"/api/v1/namespaces/{namespace}/pods/{name}": (200, notebook_pod(name, namespace, **pod))}


# -- many RayClusters at once: what ``ray-preflight clusters`` reads -----------------------------------------------


def _selector_terms(selector: str) -> List[str]:
    """A label selector's terms: split at the commas outside ``in (a,b)`` lists."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return [t for t in terms if t]


def selected(obj: Dict[str, Any], selector: str) -> bool:
    """Whether ``obj``'s labels match a label selector as kube-apiserver reads it: ``key`` (exists), ``!key``,
    ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in _selector_terms(selector):
        words = term.split(None, 1)
        if len(words) == 2 and words[1].split("(", 1)[0].strip() in ("in", "notin"):
            op, _, rest = words[1].partition("(")
            values = {v.strip() for v in rest.rstrip(")").split(",")}
            if (labels.get(words[0]) in values) != (op.strip() == "in"):
                return False
        elif "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class SelectorKubeAPI(FakeKubeAPI):
    """``FakeKubeAPI`` that filters lists by every form of label selector kube-apiserver reads (``ray.io/cluster`` alone
    asks for the objects that carry the label at all), not only ``key=value``. ``asked`` holds each request's path as
    the client sent it (``requests`` holds it without the selector)."""

    asked: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._server.socket.listen(128)  # a backlog like kube-apiserver's: a burst of connections waits, none is dropped
        api = self
        base: Any = self._server.RequestHandlerClass

        class Handler(base):  # type: ignore[misc,valid-type]
            selector = ""
            path: str

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                api.asked.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                self.selector = query.pop("labelSelector", [""])[0]
                if self.selector:  # filtered here, in _send: the base class reads key=value terms only
                    self.path = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
                super().do_GET()

            def _send(self, code: int, body: Any) -> None:
                if self.selector and isinstance(body, dict) and isinstance(body.get("items"), list):
                    body = dict(body, items=[i for i in body["items"] if not isinstance(i, dict) or selected(i, self.selector)])
                super()._send(code, body)

        self._server.RequestHandlerClass = Handler


def cluster_pods(spec: ClusterSpec) -> List[Dict[str, Any]]:
    """A RayCluster's pods as ``routes`` makes them: the head, the running, pending and crashing workers, one per extra group."""
    pods = [head_pod(spec)] + [worker_pod(spec, i) for i in range(spec.workers)]
    pods += [worker_pod(spec, spec.workers + i, pending=True) for i in range(spec.pending_workers)]
    pods += [worker_pod(spec, 100 + i, crashing=True) for i in range(spec.crashing_workers)]
    pods += [worker_pod(spec, 0, group=f"group{g}") for g in range(spec.extra_groups)]
    return pods


def fleet_routes(specs: List[ClusterSpec], served: Tuple[str, ...] = ("v1", "v1alpha1"), refused: Tuple[str, ...] = (),
                 extra: Optional[Dict[str, List[Any]]] = None, cluster_scope_refused: bool = False) -> Dict[str, Tuple[int, Any]]:
    """The list paths of a Kubernetes API holding many RayClusters in several namespaces (serve with ``SelectorKubeAPI``).

    For each ``served`` ray.io version, the RayClusterList of each namespace and across namespaces holds every cluster
    of ``specs`` in that version (the API server converts one stored object to each version it serves; a spec's
    ``api_version`` is not used). The PodLists (per namespace and across namespaces) hold each cluster's pods and, in
    each namespace, a KubeRay operator pod, which carries no ``ray.io/cluster`` label. Namespaces in ``refused`` answer
    403 to both lists. ``extra`` adds items as they are (malformed RayClusters) to a namespace's lists.
    ``cluster_scope_refused``: the lists across namespaces answer 403 (a user with namespaced roles only)."""
    extra = extra or {}
    namespaces = sorted({s.namespace for s in specs} | set(extra) | set(refused))
    table: Dict[str, Tuple[int, Any]] = {"/apis": (200, api_groups(list(served)))}
    everything: Dict[str, List[Any]] = {v: [] for v in served}
    all_pods: List[Any] = []
    for ns in namespaces:
        mine = [s for s in specs if s.namespace == ns]
        pods = [p for s in mine for p in cluster_pods(s)]
        if mine:
            pods.append(operator_pod(mine[0]))
        all_pods += pods
        for version in served:
            items = [raycluster(ClusterSpec(**{**s.__dict__, "api_version": version})) for s in mine] + list(extra.get(ns, []))
            everything[version] += items
            table[f"/apis/ray.io/{version}/namespaces/{ns}/rayclusters"] = (
                forbidden("list", "rayclusters", "ray.io", ns) if ns in refused else
                (200, {"kind": "RayClusterList", "apiVersion": f"ray.io/{version}", "metadata": {"resourceVersion": "4711"}, "items": items}))
        table[f"/api/v1/namespaces/{ns}/pods"] = (forbidden("list", "pods", "", ns) if ns in refused else
                                                  (200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}))
    user = 'User "system:serviceaccount:ml-team:notebook"'
    for version in served:
        table[f"/apis/ray.io/{version}/rayclusters"] = (403, status_body(403, "Forbidden", (
            f'rayclusters.ray.io is forbidden: {user} cannot list resource "rayclusters" in API group "ray.io" at the cluster scope'))) \
            if cluster_scope_refused else (200, {"kind": "RayClusterList", "apiVersion": f"ray.io/{version}", "metadata": {},
                                                 "items": everything[version]})
    table["/api/v1/pods"] = (403, status_body(403, "Forbidden", f'pods is forbidden: {user} cannot list resource "pods" in API group "" '
                                                                 "at the cluster scope")) if cluster_scope_refused else \
        (200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": all_pods})
    return table
