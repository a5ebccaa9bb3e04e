"""ray-preflight: will my submission to this Ray cluster work, and if not, what do I type?

``import preflight`` stays light: it imports neither Ray nor kubernetes, and the engine
is loaded only when a check runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "check", "report", "fix", "clusters", "Report", "Result", "Status", "UsageError"]

if TYPE_CHECKING:  # pragma: no cover
    from preflight.api import check, fix, report
    from preflight.errors import UsageError
    from preflight.fleet import clusters
    from preflight.model import Report, Result, Status


def __getattr__(name: str) -> Any:
    if name in ("check", "report", "fix"):
        from preflight import api

        return getattr(api, name)
    if name == "clusters":
        from preflight.fleet import clusters

        return clusters
    if name in ("Report", "Result", "Status"):
        from preflight import model

        return getattr(model, name)
    if name == "UsageError":
        from preflight.errors import UsageError

        return UsageError
    raise AttributeError(f"module 'preflight' has no attribute {name!r}")
