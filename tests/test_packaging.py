"""Installing the tool must not change the user's Ray: nothing we depend on, directly or
through our dependencies, may bring grpcio, protobuf or pydantic (pydantic 2 breaks Ray < 2.5;
typer 0.29 and kubernetes 37 both require it, so both are capped).
"""

from __future__ import annotations

from importlib import metadata
from typing import Set

from packaging.requirements import Requirement

FORBIDDEN = {"ray", "grpcio", "protobuf", "pydantic", "pydantic-core"}


def _closure(name: str, seen: Set[str]) -> Set[str]:
    for line in metadata.requires(name) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an optional extra, or not for this platform
        key = req.name.lower().replace("_", "-")
        if key not in seen:
            seen.add(key)
            try:
                _closure(req.name, seen)
            except metadata.PackageNotFoundError:
                pass
    return seen


def test_runtime_dependency_tree_leaves_rays_pins_alone() -> None:
    tree = _closure("ray-preflight", set())
    assert {"typer", "packaging", "psutil", "h2", "kubernetes"} <= tree
    assert not tree & FORBIDDEN, sorted(tree & FORBIDDEN)


def test_declared_caps_are_in_place() -> None:
    declared = {Requirement(r).name: Requirement(r) for r in metadata.requires("ray-preflight") or [] if "extra" not in r}
    assert not declared["kubernetes"].specifier.contains("37.0.0")
    assert not declared["typer"].specifier.contains("0.29.0")
