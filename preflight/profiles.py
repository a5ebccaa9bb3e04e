"""Profiles: what a platform release expects. They are data (``profiles.json``), not code."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Dict, List, Optional

from preflight.errors import UsageError, shown

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles.json")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    ray_version: Optional[str] = None
    python_version: Optional[str] = None
    address: Optional[str] = None
    dashboard_url: Optional[str] = None
    namespace: Optional[str] = None
    operator_namespace: Optional[str] = None
    autoscaling: Optional[bool] = None
    autoscaler_idle_timeout_s: Optional[int] = None
    #: The image a notebook for Ray runs (``notebook-image``): a shell-style glob matched against the whole image
    #: reference with ``fnmatch.fnmatchcase``, where ``*`` matches any run of characters, ``/`` and ``:`` included
    #: (``*/kubeflow/notebooks/jupyter-data-science:*``: any registry prefix, any tag). None: no expectation.
    notebook_image: Optional[str] = None

    @property
    def pins(self) -> bool:
        return bool(self.ray_version or self.python_version)

    def to_dict(self) -> Dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _load() -> Dict[str, Profile]:
    with open(_DATA, encoding="utf-8") as handle:
        raw = json.load(handle)
    return {name: Profile(name=name, **values) for name, values in raw.items()}


def all_profiles() -> Dict[str, Profile]:
    return _load()


def names() -> List[str]:
    return list(_load())


def get(name: str) -> Profile:
    profiles = _load()
    key = name.strip() if isinstance(name, str) else ""
    if key not in profiles:
        raise UsageError(f"unknown profile {shown(name)}: choose one of {', '.join(profiles)}")
    return profiles[key]
