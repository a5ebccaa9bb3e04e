"""Can this machine reach what ``ray.init`` connects to: DNS, TCP, then the server's own answer.

For a Ray Client address (``ray://host:port``, or one derived from a Ray Jobs URL) that answer is a Ray Client
PING. For a GCS address (``host:port``, no scheme) ``ray.init`` joins the cluster as a driver instead: the answer
is a read of the GCS, and the probe also looks for a Ray node of that cluster on this machine, which a driver
needs (``ray.init`` attaches to the raylet running beside it: Ray 2.60's ``get_node_to_connect_for_driver``
finds it among this machine's processes, and without one waits ``RAY_gcs_server_request_timeout_seconds``, 60 s,
then fails with "Failed to connect to Ray cluster").
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from preflight.errors import Unavailable
from preflight.model import Missing, Outcome, as_list, failed, formatted, passed, said, unreadable, warned
from preflight.net import NetError, connect, resolve
from preflight.ray_rpc import kv_get, ping, ping_answer, status_name
from preflight.ray_security import channel, security_finding
from preflight.registry import CLIENT_ROUTE, check, probe
from preflight.target import CLIENT_PORT, GCS, GCS_PORT, JOBS, join_host_port


@probe()
def endpoint(target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Resolve the head's name and open a TCP connection to the port ray.init connects to."""
    facts: Dict[str, Any] = {"host": target.host, "port": target.port, "ok": False}
    t0 = time.monotonic()
    try:
        addresses = resolve(target.host, target.port, ctx.timeout())
        facts["addresses"] = [a for _, a in addresses]
        facts["dns_ms"] = round((time.monotonic() - t0) * 1000, 1)
        t1 = time.monotonic()
        connect(target.host, target.port, ctx.timeout(), addresses).close()
        facts["tcp_ms"] = round((time.monotonic() - t1) * 1000, 1)
        facts["ok"] = True
    except NetError as exc:
        facts.update(error_kind=exc.kind, error=exc.message)
    return facts


def unreachable(endpoint: Dict[str, Any]) -> str:
    """The reason other probes give when the head itself cannot be reached."""
    return f"cluster unreachable ({endpoint.get('error', 'no connection')})"


def require_head(endpoint: Dict[str, Any], host: str) -> None:
    """Probes of services on the head's own host stop here when the head is unreachable."""
    if not endpoint.get("ok") and host == endpoint.get("host"):
        raise Unavailable(unreachable(endpoint))


def local_raylets() -> Optional[List[str]]:
    """The GCS addresses of the raylets running on this machine, read from their command lines the way Ray's own
    ``ray.init`` looks for the node a driver attaches to; None when the process table cannot be read."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None
    found: List[str] = []
    try:
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline")
            if not cmdline or "raylet" not in os.path.basename(str(cmdline[0])):
                continue
            for arg in " ".join(str(a) for a in cmdline).split(" "):
                value = arg.split("=", 1)[1] if arg.startswith("--gcs-address=") else ""
                if value and value != "None" and value not in found:
                    found.append(value)
    except (psutil.Error, OSError):
        return None
    return found


@probe()
def ray_client(endpoint, target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Ask the server behind the address for an answer that opens no session: a Ray Client PING, or for a GCS
    address a read of the GCS (and which Ray nodes run on this machine)."""
    if not endpoint.get("ok"):
        raise Unavailable(unreachable(endpoint))
    if target.form == GCS:
        return _gcs_answer(target, ctx)
    try:
        reply = ping(target.host, target.port, ctx.timeout(), channel(ctx))
    except NetError as exc:
        return {"ok": False, "error_kind": exc.kind, "error": exc.message}
    facts: Dict[str, Any] = {"ping_ms": round(reply.elapsed_s * 1000, 1), "grpc_status": reply.status}
    if reply.status == 16:  # UNAUTHENTICATED: token authentication (Ray 2.52+) and no (or a wrong) token
        facts.update(ok=False, error_kind="unauthenticated", error=reply.message or "UNAUTHENTICATED")
        return facts
    if reply.status != 0:
        code = status_name(reply.status)
        facts.update(
            ok=False,
            error_kind="not-ray-client",
            error=f"{target.host}:{target.port} answers gRPC but not as a Ray Client server ({code}"
            + (f": {reply.message}" if reply.message else "")
            + ")",
        )
        return facts
    try:
        answer = json.loads(ping_answer(reply).decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        answer = None
    facts.update(ok=True, answer=answer)
    return facts


def _gcs_answer(target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    facts: Dict[str, Any] = {"service": "gcs", "ok": False}
    t0 = time.monotonic()
    try:
        metadata = kv_get(target.host, target.port, "CLUSTER_METADATA", "cluster", ctx.timeout(), channel(ctx))
    except NetError as exc:
        facts.update(error_kind=exc.kind, error=exc.message)
        return facts
    facts.update(ok=True, gcs_ms=round((time.monotonic() - t0) * 1000, 1), cluster_metadata=metadata is not None,
                 local_raylets=local_raylets())
    return facts


def node_here(ray_client: Any, target: Any) -> Optional[bool]:
    """For a GCS address: does a Ray node of that cluster (a raylet of a GCS on the same port) run on this machine?
    None when the probe could not tell."""
    raylets = ray_client.get("local_raylets") if isinstance(ray_client, dict) else None
    if not isinstance(raylets, list):
        return None
    return any(isinstance(a, str) and a.rpartition(":")[2] == str(target.gcs_port) for a in raylets)


def client_suggestion(target: Any, port: int = CLIENT_PORT) -> str:
    """What to type instead of a GCS address: the Ray Client address on the same host."""
    address = f"ray://{join_host_port(target.host, port)}"
    return f"--address {address}, or export RAY_ADDRESS={address} (in a notebook: ray.init(\"{address}\"))"


def _remedy(kind: str, host: str, port: int, namespace: str) -> str:
    service = "ray-cluster-kuberay-head-svc"
    if kind == "dns":
        return (
            f"check the host name (`nslookup {host}`); from outside the cluster, forward the port: "
            f"`kubectl -n {namespace} port-forward svc/{service} 10001:10001` and use --address ray://127.0.0.1:10001"
        )
    if kind == "refused":
        return f"is the head pod running? `kubectl -n {namespace} get pods -l ray.io/node-type=head` (Ray Client port: 10001)"
    if kind in ("connect-timeout", "unreachable"):
        return f"a firewall or network policy drops traffic to {host}:{port}; check the route, or use `kubectl port-forward`"
    if kind == "silent":
        return "the port accepts connections but does not answer: is the head overloaded, or a proxy in the way? Raise --connect-timeout"
    return f"{host}:{port} is not the Ray Client port: use the head service's `client` port (10001); the dashboard goes in --dashboard-url"


def _derived(target: Any) -> str:
    """What a failure's summary adds for a Ray Client address derived from a Ray Jobs URL."""
    return f" (ray://{join_host_port(target.host, target.port)}, derived from the Ray Jobs address {target.dashboard_url})"


#: What a failure's remedy adds for a derived Ray Client address.
_DERIVED_REMEDY = "; if the Ray Client is served elsewhere, give it with --address ray://host:port"


def _details(target: Any) -> Dict[str, Any]:
    details: Dict[str, Any] = {"address": target.address, "address_form": target.form, "address_source": target.address_source}
    if target.form == JOBS:
        details["client_address"] = target.client_address
    return details


@check("reachability", "The cluster answers at the address", routes=CLIENT_ROUTE)
def reachability(endpoint, target, profile, ray_client=None) -> Outcome:  # type: ignore[no-untyped-def]
    """DNS, TCP and the server's answer (a Ray Client PING; a GCS read for a GCS address), each bounded by the connect timeout."""
    namespace = profile.namespace or "<namespace>"
    where = join_host_port(target.host, target.port)
    problem = unreadable(endpoint=endpoint)
    if problem:
        return problem
    details = _details(target)
    if target.form == GCS:
        return _gcs_reachability(endpoint, target, namespace, ray_client, details)
    said_more, tail = (_derived(target), _DERIVED_REMEDY) if target.form == JOBS else ("", "")
    if not endpoint.get("ok"):
        kind = endpoint.get("error_kind", "")
        return failed(said(endpoint.get("error"), f"cannot reach {where}") + said_more,
                      _remedy(kind, target.host, target.port, namespace) + tail, error_kind=kind, **details)
    client: Optional[Dict[str, Any]] = ray_client
    if not isinstance(client, dict):
        return failed(f"no Ray Client answer from {where}" + (f" ({client.reason})" if isinstance(client, Missing) else "") + said_more,
                      _remedy("silent", target.host, target.port, namespace) + tail, **details)
    if not client.get("ok"):
        kind = client.get("error_kind", "")
        summary = said(client.get("error"), f"no Ray Client answer from {where}")
        secured = security_finding(kind, summary, where)
        if secured:
            return failed(secured[0] + said_more, secured[1], error_kind=kind, **details)
        if kind == "silent":
            summary = summary.replace("sent no answer", "sent no Ray Client answer")
        elif kind in ("http1", "not-grpc", "tls"):
            summary = f"answers, but is not a Ray Client server: {summary}"
        return failed(summary + said_more, _remedy(kind, target.host, target.port, namespace) + tail, error_kind=kind, **details)
    timings = {"addresses": ", ".join(map(str, as_list(endpoint.get("addresses")))), "dns_ms": endpoint.get("dns_ms"),
               "tcp_ms": endpoint.get("tcp_ms"), "ping_ms": client.get("ping_ms")}
    summary = f"Ray Client server answers at {where} (PING {formatted(client.get('ping_ms'))} ms)"
    if target.form != JOBS:
        return passed(summary, **details, **timings)
    summary += f"; ray://{where} was derived from the Ray Jobs address {target.dashboard_url}"
    if target.address_source.endswith("(RAY_ADDRESS)"):
        return warned(f"{summary}, but ray.init() without an address reads RAY_ADDRESS and refuses an http:// one",
                      f"pass the Ray Client address to ray.init: ray.init(\"ray://{where}\"), or export RAY_ADDRESS=ray://{where} "
                      f"(ray job submit then takes --address {target.dashboard_url})", **details, **timings)
    return passed(summary, **details, **timings)


def _gcs_remedy(kind: str, target: Any, namespace: str) -> str:
    where = join_host_port(target.host, target.port)
    instead = f"; to connect from outside the cluster use the Ray Client instead: {client_suggestion(target)}"
    if kind == "dns":
        return f"check the host name (`nslookup {target.host}`)" + instead
    if kind == "refused":
        return (f"nothing listens at {where}: is the head pod running (`kubectl -n {namespace} get pods -l ray.io/node-type=head`), "
                f"and is {target.port} its GCS port (6379 on KubeRay)?" + instead)
    if kind in ("connect-timeout", "unreachable"):
        return f"a firewall or network policy drops traffic to {where}; check the route" + instead
    if kind == "silent":
        return "the port accepts connections but does not answer: is the head overloaded, or a proxy in the way? Raise --connect-timeout" + instead
    port = target.port if target.port != GCS_PORT else CLIENT_PORT  # a Ray Client port written without ray://
    return f"{where} is not the GCS port (6379 on KubeRay); if it is the Ray Client's, write {client_suggestion(target, port)}"


def _gcs_reachability(endpoint: Dict[str, Any], target: Any, namespace: str, answer: Any, details: Dict[str, Any]) -> Outcome:
    where = target.address
    if not endpoint.get("ok"):
        kind = endpoint.get("error_kind", "")
        return failed(said(endpoint.get("error"), f"cannot reach the GCS at {where}"), _gcs_remedy(kind, target, namespace),
                      error_kind=kind, **details)
    if not isinstance(answer, dict):
        return failed(f"no answer from the GCS at {where}" + (f" ({answer.reason})" if isinstance(answer, Missing) else ""),
                      _gcs_remedy("silent", target, namespace), **details)
    if not answer.get("ok"):
        kind = answer.get("error_kind", "")
        summary = said(answer.get("error"), f"no answer from the GCS at {where}")
        secured = security_finding(kind, summary, where)
        if secured:
            return failed(secured[0], secured[1], error_kind=kind, **details)
        if kind in ("http1", "not-grpc", "tls", "not-gcs"):
            summary = f"answers, but is not a Ray GCS: {summary}"
        return failed(summary, _gcs_remedy(kind, target, namespace), error_kind=kind, **details)
    details.update(addresses=", ".join(map(str, as_list(endpoint.get("addresses")))), dns_ms=endpoint.get("dns_ms"),
                   tcp_ms=endpoint.get("tcp_ms"), gcs_ms=answer.get("gcs_ms"), local_raylets=answer.get("local_raylets"))
    gcs = f"GCS answered in {formatted(answer.get('gcs_ms'))} ms"
    remedy = f"from outside the cluster use the Ray Client: {client_suggestion(target)}"
    here = node_here(answer, target)
    if here is False:
        return failed(f"{where} is a GCS address: ray.init({target.init_address!r}) would join the cluster as a driver, and no Ray node "
                      f"of that cluster runs on this machine: it would wait (60 s with Ray 2.60) and fail with \"Failed to connect to "
                      f"Ray cluster\" ({gcs})", remedy, **details)
    node = "a Ray node of that cluster on its machine" + (" (one runs here)" if here else "")
    return warned(f"{where} is a GCS address: ray.init({target.init_address!r}) joins the cluster as a driver, not through the Ray Client "
                  f"({gcs}); a driver needs {node}, every node able to reach this machine, and the cluster's exact Ray and Python",
                  remedy, **details)
