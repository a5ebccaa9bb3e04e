"""The JSON Schemas (draft 2020-12) of every JSON the tool writes, shipped inside the package.

``report`` is ``--format json`` (and ``Report.to_dict()``), ``list``, ``profiles`` and ``clusters`` are those commands'
``--format json``, ``bundle-report`` is a support bundle's ``report.json`` (it embeds ``report``, so it validates on
its own). Each output carries ``"schema_version"`` (``preflight.model.SCHEMA_VERSION``), which changes when a field
is removed or changes meaning; added fields do not change it, so the schemas accept keys they do not name.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

#: Schema name → its file in this folder.
FILES = {
    "report": "report.schema.json",
    "list": "list.schema.json",
    "profiles": "profiles.schema.json",
    "bundle-report": "bundle-report.schema.json",
    "clusters": "clusters.schema.json",
}


def path(name: str) -> str:
    """The file of schema ``name`` (one of ``FILES``)."""
    if name not in FILES:
        raise ValueError(f"unknown schema {name!r}: choose one of {', '.join(FILES)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), FILES[name])


def load(name: str) -> Dict[str, Any]:
    """Schema ``name`` as a dict, e.g. ``jsonschema.validate(report, load("report"))``."""
    with open(path(name), encoding="utf-8") as handle:
        loaded: Dict[str, Any] = json.load(handle)
    return loaded
