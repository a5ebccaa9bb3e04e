"""Where this copy of the tool came from, as a pip requirement that installs the same tool elsewhere.

Read from the installed distribution's ``direct_url.json`` (PEP 610): a local wheel or folder is installed from there,
a VCS checkout at the same commit, a downloaded archive from the same URL; a distribution without it came from an
index, so ``ray-preflight==<version>``. Running from a source tree that is not installed, that tree is the source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional
from urllib.parse import unquote, urlparse

from preflight import __version__

DIST = "ray-preflight"


@dataclass(frozen=True)
class ToolSource:
    #: What pip installs: a path, ``name @ url`` or ``ray-preflight==<version>``.
    requirement: str
    #: How a person would say it: "the wheel /tmp/x.whl", "the package index".
    described: str
    version: str = __version__


def _package_folder() -> str:
    import preflight

    return os.path.dirname(os.path.abspath(preflight.__file__))


def _direct_url(dist: Any) -> Optional[Dict[str, Any]]:
    try:
        text = dist.read_text("direct_url.json")
        loaded = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _local_path(url: str) -> Optional[str]:
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def from_direct_url(info: Optional[Dict[str, Any]], version: str = __version__) -> ToolSource:
    """The source a PEP 610 ``direct_url.json`` names (None: installed from an index)."""
    index = ToolSource(f"{DIST}=={version}", "the package index", version)
    if not info or not isinstance(info.get("url"), str):
        return index
    url = info["url"]
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        pinned = f"{vcs['vcs']}+{url}" + (f"@{commit}" if commit else "")
        return ToolSource(f"{DIST} @ {pinned}", f"{url}" + (f" at {str(commit)[:12]}" if commit else ""), version)
    path = _local_path(url)
    if path is None:
        return ToolSource(f"{DIST} @ {url}", url, version)
    if "dir_info" in info:
        if os.path.isfile(os.path.join(path, "pyproject.toml")) or os.path.isfile(os.path.join(path, "setup.py")):
            return ToolSource(path, f"the source folder {path}", version)
        return ToolSource(index.requirement, f"the package index (the source folder {path} is gone)", version)
    if os.path.isfile(path):
        return ToolSource(path, f"the {'wheel' if path.endswith('.whl') else 'archive'} {path}", version)
    return ToolSource(index.requirement, f"the package index (the file {path} is gone)", version)


def _named(dist: Any) -> bool:
    try:
        return str(dist.metadata["Name"]).lower().replace("_", "-") == DIST
    except Exception:  # noqa: BLE001 - unreadable metadata is not this tool's
        return False


def current() -> ToolSource:
    """Where the running tool came from: the source tree it runs from (an editable install, or a checkout on
    ``sys.path``), else the distribution installed beside it (its ``direct_url.json``), else the package index."""
    site = os.path.dirname(_package_folder())
    try:
        with open(os.path.join(site, "pyproject.toml"), encoding="utf-8") as handle:
            named = f'name = "{DIST}"' in handle.read()
    except OSError:
        named = False
    if named:
        return ToolSource(site, f"the source folder {site}")
    try:
        from importlib import metadata

        dist = next((d for d in metadata.distributions(path=[site]) if _named(d)), None)
    except Exception:  # noqa: BLE001 - unreadable metadata: the index is the source
        dist = None
    if dist is None:
        return from_direct_url(None)
    return from_direct_url(_direct_url(dist), dist.version or __version__)
