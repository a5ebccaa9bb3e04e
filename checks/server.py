"""What the Ray server says about itself, read from the GCS internal KV with no side effect."""

from __future__ import annotations

import json
from typing import Any, Dict

from preflight.checks.reachability import require_head
from preflight.errors import Unavailable
from preflight.net import NetError
from preflight.ray_rpc import kv_get
from preflight.ray_security import channel, security_finding
from preflight.registry import probe


@probe()
def server(target, endpoint, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The server's Ray and Python versions from the GCS key CLUSTER_METADATA."""
    require_head(endpoint, target.gcs_host)
    where = target.gcs_address
    try:
        raw = kv_get(target.gcs_host, target.gcs_port, "CLUSTER_METADATA", "cluster", ctx.timeout(), channel(ctx))
    except NetError as exc:
        secured = security_finding(exc.kind, exc.message, f"the GCS at {where}")
        raise Unavailable(secured[0] if secured else f"GCS at {where} not readable: {exc.message}") from None
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
