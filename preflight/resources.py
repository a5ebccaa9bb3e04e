"""Live handles a run opens once and shares: not facts (a report holds only plain data), so they travel
explicitly, from the probe that opens them to whoever asked for the run (the support bundle reads the cluster's
state through the same Kubernetes client the checks used).
"""

from __future__ import annotations

import threading
from typing import Any, Optional


class Resources:
    """The run's shared handles:

    - ``kube_access``: the configured Kubernetes client (``preflight.kube.KubeAccess``), set by the ``kube`` probe
      when credentials were found;
    - ``ray_channel``: what the gRPC probes send as Ray would (``preflight.ray_security.Channel``: the token's
      metadata, the TLS context), built on first use. It holds the token: never a fact, never printed.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kube_access: Optional[Any] = None
        self.ray_channel: Optional[Any] = None
