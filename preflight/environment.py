"""What this Python has installed, read from package metadata (never by importing Ray)."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple


def _metadata():  # type: ignore[no-untyped-def]
    """importlib.metadata, imported when first needed: it costs ~25 ms, which a probe thread pays during the
    network waits instead of the command's start-up."""
    from importlib import metadata

    return metadata

#: Packages whose versions matter to a Ray Client session.
WATCHED = ("ray", "grpcio", "protobuf", "cloudpickle", "pydantic", "numpy", "pandas", "pyarrow", "msgpack", "click")


def version_of(name: str) -> Optional[str]:
    try:
        return _metadata().version(name)
    except Exception:  # noqa: BLE001 - not installed, or a broken dist-info: neither may break the probe
        return None


def ray_requirements(extras: Tuple[str, ...] = ("client",)) -> List[Dict[str, Any]]:
    """What the installed Ray declares it needs here (its base requirements and ``extras``), each with
    the version this Python has: ``[{"name", "specifier", "installed", "extra"}]`` (``installed`` is None when absent).

    Markers are evaluated for this interpreter, so ``grpcio>=1.42.0; python_version >= "3.10"`` only counts on 3.10+.
    """
    try:
        requires = _metadata().requires("ray") or []
    except _metadata().PackageNotFoundError:
        return []
    except Exception:  # noqa: BLE001 - a broken dist-info must not break the probe
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    found: List[Dict[str, Any]] = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        extra = ""
        if req.marker is not None:
            try:
                if req.marker.evaluate({"extra": ""}):
                    extra = ""
                else:
                    extra = next((e for e in extras if req.marker.evaluate({"extra": e})), "-")
            except Exception:  # noqa: BLE001 - an odd marker is not our finding
                continue
        if extra == "-":
            continue
        found.append({"name": req.name, "specifier": str(req.specifier), "installed": version_of(req.name), "extra": extra})
    return found


def ray_client_protocol() -> Optional[str]:
    """The Ray Client protocol date the installed Ray compares with the server's (Ray 2.x before exact-version
    checks: ``CURRENT_PROTOCOL_VERSION`` in ``ray/util/client/__init__.py``), read from the file, never imported."""
    try:
        spec = importlib.util.find_spec("ray")  # finds the package without running it
        if spec is None or not spec.origin:
            return None
        source = Path(spec.origin).parent / "util" / "client" / "__init__.py"
        found = re.search(r"""^CURRENT_PROTOCOL_VERSION\s*=\s*["']([^"']+)["']""", source.read_text("utf-8", "replace"), re.M)
    except Exception:  # noqa: BLE001 - unreadable: unknown
        return None
    return found.group(1) if found else None


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
