"""The two Ray gRPC calls the tool makes, neither of which opens a Ray Client session:
a PING to the Ray Client server and a read of one key of the GCS internal KV.
"""

from __future__ import annotations

from typing import Any, Optional

from preflight.net import GRPC_CODES, GrpcReply, NetError, grpc_unary
from preflight.protowire import DecodeError, decode, field_bytes, field_varint, first_bytes, first_int

PING = 6  # ray.rpc.ClusterInfoType.TypeEnum.PING
CLUSTER_INFO = "/ray.rpc.RayletDriver/ClusterInfo"
KV_GET = "/ray.rpc.InternalKVGcsService/InternalKVGet"


def status_name(code: int) -> str:
    return GRPC_CODES.get(code, str(code))


def _call(host: str, port: int, path: str, request: bytes, timeout: float, channel: Any) -> GrpcReply:
    """One call, with what the run's ``preflight.ray_security.Channel`` says Ray would send (token, TLS)."""
    if channel is None:
        return grpc_unary(host, port, path, request, timeout)
    return grpc_unary(host, port, path, request, timeout, metadata=channel.metadata, tls=channel.tls)


def ping(host: str, port: int, timeout: float, channel: Any = None) -> GrpcReply:
    """``ClusterInfo(type=PING)``: the proxy answers it itself (``json: "{}"``)."""
    return _call(host, port, CLUSTER_INFO, field_varint(1, PING), timeout, channel)


def ping_answer(reply: GrpcReply) -> bytes:
    """The ``json`` field of a ClusterInfoResponse."""
    return first_bytes(decode(reply.payload), 2)


def kv_get(host: str, port: int, key: str, namespace: str, timeout: float, channel: Any = None) -> Optional[bytes]:
    """Read one key of the GCS internal KV; ``None`` when the key does not exist."""
    reply = _call(host, port, KV_GET, field_bytes(1, key) + field_bytes(2, namespace), timeout, channel)
    if reply.status == 16:  # UNAUTHENTICATED: the GCS demands a token (Ray 2.52+)
        raise NetError("unauthenticated", f"{host}:{port} refused the call: {reply.message or 'UNAUTHENTICATED'}")
    if reply.status != 0:
        raise NetError("not-gcs", f"{host}:{port} answers gRPC but not as a Ray GCS ({status_name(reply.status)})")
    try:
        fields = decode(reply.payload)
        status = decode(first_bytes(fields, 1))
    except DecodeError as exc:
        raise NetError("not-gcs", f"{host}:{port} sent an unreadable KV answer ({exc})") from None
    if first_int(status, 1) != 0:  # GcsStatus.code: NotFound and friends
        return None
    return first_bytes(fields, 2)
