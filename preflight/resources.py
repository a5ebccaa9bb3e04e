"""Live handles a run opens once and shares: not facts (a report holds only plain data), so they travel
explicitly, from the probe that opens them to whoever asked for the run (the support bundle reads the cluster's
state through the same Kubernetes client the checks used).
"""

from __future__ import annotations

from typing import Any, Optional


class Resources:
    """The run's shared handles. ``kube_access`` is the configured Kubernetes client (``preflight.kube.KubeAccess``),
    set by the ``kube`` probe when credentials were found."""

    def __init__(self) -> None:
        self.kube_access: Optional[Any] = None
