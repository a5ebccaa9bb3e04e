"""Validating the tool's JSON outputs against the schemas it ships (``preflight.schemas``), for the tests."""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from preflight import schemas
from preflight.model import SCHEMA_VERSION


@functools.lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schemas.load(name))


def problems(name: str, document: Any) -> str:
    """What makes ``document`` invalid under schema ``name`` (the most relevant error first), or ""."""
    errors = list(validator(name).iter_errors(document))
    if not errors:
        return ""
    first = best_match(errors)
    return f"{len(errors)} error(s); first at {first.json_path}: {first.message}"


def assert_valid(name: str, document: Any) -> Any:
    """``document`` (returned) is valid under schema ``name`` and carries this version of the JSON shape."""
    found = problems(name, document)
    assert not found, f"{name}: {found}"
    assert document["schema_version"] == SCHEMA_VERSION
    return document
