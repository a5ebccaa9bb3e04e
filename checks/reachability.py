"""Can this machine reach the Ray Client server: DNS, TCP, then a Ray Client PING."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Optional

from preflight.errors import Unavailable
from preflight.model import Missing, Outcome, as_list, failed, formatted, passed, said, unreadable
from preflight.net import NetError, connect, resolve
from preflight.ray_rpc import ping, ping_answer, status_name
from preflight.registry import check, probe


@probe()
def endpoint(target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Resolve the head's name and open a TCP connection to the Ray Client port."""
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


@probe()
def ray_client(endpoint, target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Ask the Ray Client server for a PING (no session, no side effect on the cluster)."""
    if not endpoint.get("ok"):
        raise Unavailable(unreachable(endpoint))
    try:
        reply = ping(target.host, target.port, ctx.timeout())
    except NetError as exc:
        return {"ok": False, "error_kind": exc.kind, "error": exc.message}
    facts: Dict[str, Any] = {"ping_ms": round(reply.elapsed_s * 1000, 1), "grpc_status": reply.status}
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


@check("reachability", "Ray Client server is reachable")
def reachability(endpoint, target, profile, ray_client=None) -> Outcome:  # type: ignore[no-untyped-def]
    """DNS, TCP and a Ray Client PING to the address, each bounded by the connect timeout."""
    namespace = profile.namespace or "<namespace>"
    where = f"{target.host}:{target.port}"
    problem = unreadable(endpoint=endpoint)
    if problem:
        return problem
    if not endpoint.get("ok"):
        kind = endpoint.get("error_kind", "")
        return failed(said(endpoint.get("error"), f"cannot reach {where}"), _remedy(kind, target.host, target.port, namespace),
                      address=target.address, error_kind=kind)
    client: Optional[Dict[str, Any]] = ray_client
    if not isinstance(client, dict):
        return failed(f"no Ray Client answer from {where}" + (f" ({client.reason})" if isinstance(client, Missing) else ""),
                      _remedy("silent", target.host, target.port, namespace))
    if not client.get("ok"):
        kind = client.get("error_kind", "")
        summary = said(client.get("error"), f"no Ray Client answer from {where}")
        if kind == "silent":
            summary = summary.replace("sent no answer", "sent no Ray Client answer")
        elif kind in ("http1", "not-grpc", "tls"):
            summary = f"answers, but is not a Ray Client server: {summary}"
        return failed(summary, _remedy(kind, target.host, target.port, namespace), address=target.address, error_kind=kind)
    return passed(
        f"Ray Client server answers at {where} (PING {formatted(client.get('ping_ms'))} ms)",
        addresses=", ".join(map(str, as_list(endpoint.get("addresses")))),
        dns_ms=endpoint.get("dns_ms"),
        tcp_ms=endpoint.get("tcp_ms"),
        ping_ms=client.get("ping_ms"),
    )
