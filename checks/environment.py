"""What this Python has installed, read from package metadata (never by importing Ray)."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict, List, Optional

try:  # Python 3.8 has importlib.metadata too; keep the fallback explicit for type checkers
    from importlib import metadata
except ImportError:  # pragma: no cover
    import importlib_metadata as metadata  # type: ignore[no-redef]

#: Packages whose versions matter to a Ray Client session.
WATCHED = ("ray", "grpcio", "protobuf", "cloudpickle", "pydantic", "numpy", "pandas", "pyarrow", "msgpack", "click")


def version_of(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a broken dist-info must not break the probe
        return None


def missing_client_extras() -> List[str]:
    """Requirements of ``ray[client]`` that are not installed (e.g. grpcio)."""
    try:
        requires = metadata.requires("ray") or []
    except metadata.PackageNotFoundError:
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or "extra" not in str(req.marker):
            continue
        try:
            wanted = req.marker.evaluate({"extra": "client"}) and not req.marker.evaluate({"extra": ""})
        except Exception:  # noqa: BLE001 - an odd marker is not our finding
            continue
        if wanted and version_of(req.name) is None and req.name not in missing:
            missing.append(req.name)
    return missing


def python_facts() -> Dict[str, Any]:
    info = sys.version_info
    return {
        "version": platform.python_version(),
        "major_minor": f"{info.major}.{info.minor}",
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def host_facts() -> Dict[str, Any]:
    facts: Dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        import psutil

        facts["memory_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
        facts["memory_available_gb"] = round(psutil.virtual_memory().available / 2**30, 2)
    except Exception as exc:  # noqa: BLE001 - host facts are informative only
        facts["psutil_error"] = f"{type(exc).__name__}: {exc}"
    return facts
