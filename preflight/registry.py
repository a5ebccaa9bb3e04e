"""The registry of probes and checks: ordered dicts, decorators that add to them, and
``get()`` functions that hand out copies (the shape of nox's session registry).

A check names the facts it needs by parameter name, the way a pytest test names its
fixtures: ``def python_version(client, server): ...`` needs the facts of the probes
``client`` and ``server``. A parameter with a default (``dashboard=None``) is optional:
when that probe could not gather its facts the check still runs and receives the default.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

#: Facts every run provides without a probe.
GIVEN = ("config", "profile", "target", "ctx")


@dataclass(frozen=True)
class Probe:
    name: str
    func: Callable[..., Any]
    needs: Tuple[str, ...]
    optional: Tuple[str, ...]
    #: Checks that must pass (or warn) before this probe may run (e.g. the live job).
    gate: Tuple[str, ...] = ()
    description: str = ""
    #: The check this probe's work belongs to (the live job belongs to ``fibonacci``): when a run leaves that
    #: check out, the probe does not run, and the checks that need its facts are skipped.
    owner: Optional[str] = None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    func: Callable[..., Any]
    needs: Tuple[str, ...]
    optional: Tuple[str, ...]
    description: str = ""
    origin: str = "built-in"
    #: Runs only when asked for (``--only`` or its own flag), e.g. the scale test that adds a node.
    opt_in: bool = False


#: Plugins: other distributions' modules named in this entry-point group register checks and probes on import.
PLUGIN_GROUP = "ray_preflight.checks"
_ORIGIN = "built-in"
_PLUGINS_LOADED = False

_PROBES: "OrderedDict[str, Probe]" = OrderedDict()
_CHECKS: "OrderedDict[str, Check]" = OrderedDict()


def _parameters(func: Callable[..., Any]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    needs: List[str] = []
    optional: List[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{func.__qualname__}: facts are named parameters, not *args/**kwargs")
        (needs if param.default is param.empty else optional).append(param.name)
    return tuple(needs), tuple(optional)


def _first_line(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def probe(name: Optional[str] = None, *, gate: Tuple[str, ...] = (),
          owner: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a probe: a function that gathers one kind of fact (all the I/O lives here)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        made = make_probe(func, name, gate, owner)
        _PROBES[made.name] = made
        return func

    return register


def check(check_id: str, title: str, *, origin: Optional[str] = None,
          opt_in: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check: a pure function of facts that returns an ``Outcome``."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _CHECKS[check_id] = make_check(check_id, title, func, origin or _ORIGIN, opt_in)
        return func

    return register


def make_probe(func: Callable[..., Any], name: Optional[str] = None, gate: Tuple[str, ...] = (),
               owner: Optional[str] = None) -> Probe:
    needs, optional = _parameters(func)
    return Probe(name or func.__name__, func, needs, optional, tuple(gate), _first_line(func), owner)


def make_check(check_id: str, title: str, func: Callable[..., Any], origin: str = "built-in", opt_in: bool = False) -> Check:
    needs, optional = _parameters(func)
    return Check(check_id, title, func, needs, optional, _first_line(func), origin, opt_in)


def load_builtin() -> None:
    """Import the built-in checks (they register themselves on import), then the plugins'."""
    import preflight.checks  # noqa: F401

    load_plugins()


def load_plugins() -> None:
    """Import every module of the ``ray_preflight.checks`` entry-point group once; one that fails to import
    becomes a check that reports the failure as an ``error`` naming the plugin."""
    global _ORIGIN, _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib import metadata

    for dist in metadata.distributions():
        for entry in getattr(dist, "entry_points", []):
            if entry.group != PLUGIN_GROUP:
                continue
            name = dist.metadata["Name"] or entry.name
            _ORIGIN = f"plugin {name}"
            try:
                loaded = entry.load()
                if callable(loaded):
                    loaded()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a finding, not a crash
                _register_broken(entry.name, name, f"{type(exc).__name__}: {exc}")
            finally:
                _ORIGIN = "built-in"


def _register_broken(entry_name: str, dist_name: str, error: str) -> None:
    from preflight.model import undecided

    def broken() -> Any:
        return undecided(f"plugin {dist_name} ({PLUGIN_GROUP}: {entry_name}) failed to load: {error}",
                         f"fix or uninstall it: pip uninstall {dist_name}")

    cid = f"plugin:{entry_name}"
    _CHECKS[cid] = make_check(cid, f"Plugin {dist_name} loads", broken, f"plugin {dist_name}")


def probes() -> "OrderedDict[str, Probe]":
    load_builtin()
    return OrderedDict(_PROBES)


def checks() -> "OrderedDict[str, Check]":
    load_builtin()
    return OrderedDict(_CHECKS)


def describe() -> Dict[str, Dict[str, Any]]:
    """What ``ray-preflight list`` shows."""
    return {
        c.id: {"title": c.title, "description": c.description, "facts": list(c.needs + c.optional), "origin": c.origin,
               "opt_in": c.opt_in}
        for c in checks().values()
    }
