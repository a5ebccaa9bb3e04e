"""Layers that point one way, read from the source: the engine (``preflight/``) never imports the built-in checks
(the registry loads them by name, in one place), nor the tests; no two engine modules import each other, lazily
or not; and a run's facts are plain data (live handles travel in ``Resources``)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Dict, List, Set

from preflight import config, registry
from preflight.runner import run
from preflight.testing import closed_port

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "preflight"
CHECKS = ROOT / "checks"


def _module(path: Path, package_root: Path, package: str) -> str:
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _engine_files() -> Dict[str, Path]:
    """The engine's modules (preflight/checks is the link to the built-in checks, not the engine)."""
    return {_module(p, ENGINE, "preflight"): p for p in ENGINE.rglob("*.py") if "checks" not in p.relative_to(ENGINE).parts}


def _imports(path: Path) -> Set[str]:
    """Every module ``path`` imports, at the top or inside a function, but not for type checking only."""
    tree = ast.parse(path.read_text("utf-8"))
    typing_only: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_engine_imports_neither_the_built_in_checks_nor_the_tests() -> None:
    offenders = {name: sorted(i for i in _imports(path) if i.split(".")[0] in ("checks", "tests") or i.startswith("preflight.checks"))
                 for name, path in _engine_files().items()}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert registry.BUILTIN_PACKAGE == "preflight.checks"  # loaded by name in registry.load_builtin, nowhere else


def test_the_built_in_checks_import_the_engine_and_each_other_only_under_the_tools_name() -> None:
    for path in CHECKS.glob("*.py"):
        bad = sorted(i for i in _imports(path) if i.split(".")[0] in ("checks", "tests"))
        assert not bad, f"{path.name} imports {bad}: write preflight.checks.<module>"


def test_no_engine_modules_import_each_other() -> None:
    files = _engine_files()
    edges = {name: {i for i in _imports(path) if i in files and i != "preflight" and i != name} for name, path in files.items()}
    cycles: List[List[str]] = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    cycles.append(path)
                elif nxt not in path:
                    stack.append((nxt, path + [nxt]))
    assert cycles == [], " ; ".join(" -> ".join(c + [c[0]]) for c in cycles[:5])


def test_a_runs_facts_are_plain_data() -> None:
    """Every fact of a run (Kubernetes access included, here without credentials) serialises as plain JSON."""
    report = run(config.build(f"ray://127.0.0.1:{closed_port()}", environ={"KUBECONFIG": "/nonexistent"}, timeout=20,
                              dashboard_url=f"http://127.0.0.1:{closed_port()}/", gcs_address=f"127.0.0.1:{closed_port()}"))
    json.dumps(report.facts)  # no default=: a live object would raise TypeError here
    assert "kube" in report.facts
