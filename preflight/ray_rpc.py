"""The two Ray gRPC calls the tool makes, neither of which opens a Ray Client session:
a PING to the Ray Client server and a read of one key of the GCS internal KV.
"""

from __future__ import annotations

from typing import Optional

from preflight.net import GRPC_CODES, GrpcReply, NetError, grpc_unary
from preflight.protowire import DecodeError, decode, field_bytes, field_varint, first_bytes, first_int

PING = 6  # ray.rpc.ClusterInfoType.TypeEnum.PING
CLUSTER_INFO = "/ray.rpc.RayletDriver/ClusterInfo"
KV_GET = "/ray.rpc.InternalKVGcsService/InternalKVGet"


def status_name(code: int) -> str:
    return GRPC_CODES.get(code, str(code))


def ping(host: str, port: int, timeout: float) -> GrpcReply:
    """``ClusterInfo(type=PING)``: the proxy answers it itself (``json: "{}"``)."""
    return grpc_unary(host, port, CLUSTER_INFO, field_varint(1, PING), timeout)


def ping_answer(reply: GrpcReply) -> bytes:
    """The ``json`` field of a ClusterInfoResponse."""
    return first_bytes(decode(reply.payload), 2)


def kv_get(host: str, port: int, key: str, namespace: str, timeout: float) -> Optional[bytes]:
    """Read one key of the GCS internal KV; ``None`` when the key does not exist."""
    reply = grpc_unary(host, port, KV_GET, field_bytes(1, key) + field_bytes(2, namespace), timeout)
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
