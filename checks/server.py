"""What the Ray server says about itself, read from the GCS internal KV with no side effect."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from checks.reachability import require_head
from preflight.errors import Unavailable
from preflight.net import GRPC_CODES, NetError, grpc_unary
from preflight.protowire import DecodeError, decode, field_bytes, first_bytes, first_int
from preflight.registry import probe

KV_GET = "/ray.rpc.InternalKVGcsService/InternalKVGet"


def kv_get(host: str, port: int, key: str, namespace: str, timeout: float) -> Optional[bytes]:
    """Read one key of the GCS internal KV; ``None`` when the key does not exist."""
    request = field_bytes(1, key) + field_bytes(2, namespace)
    reply = grpc_unary(host, port, KV_GET, request, timeout)
    if reply.status != 0:
        code = GRPC_CODES.get(reply.status, str(reply.status))
        raise NetError("not-gcs", f"{host}:{port} answers gRPC but not as a Ray GCS ({code})")
    try:
        fields = decode(reply.payload)
        status = decode(first_bytes(fields, 1))
    except DecodeError as exc:
        raise NetError("not-gcs", f"{host}:{port} sent an unreadable KV answer ({exc})") from None
    if first_int(status, 1) != 0:  # GcsStatus.code: NotFound and friends
        return None
    return first_bytes(fields, 2)


@probe()
def server(target, endpoint, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The server's Ray and Python versions from the GCS key CLUSTER_METADATA."""
    require_head(endpoint, target.gcs_host)
    where = target.gcs_address
    try:
        raw = kv_get(target.gcs_host, target.gcs_port, "CLUSTER_METADATA", "cluster", ctx.timeout())
    except NetError as exc:
        raise Unavailable(f"GCS at {where} not readable: {exc.message}") from None
    if raw is None:
        raise Unavailable(f"GCS at {where} holds no CLUSTER_METADATA")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Unavailable(f"GCS at {where} holds unreadable CLUSTER_METADATA") from None
    if not isinstance(meta, dict):
        raise Unavailable(f"GCS at {where} holds unexpected CLUSTER_METADATA")
    return {
        "ray_version": meta.get("ray_version"),
        "python_version": meta.get("python_version"),
        "source": f"GCS {where}",
        "metadata": meta,
    }
