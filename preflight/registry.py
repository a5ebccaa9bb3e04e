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
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

#: Facts every run provides without a probe.
GIVEN = ("config", "profile", "target", "ctx")
#: The origin of the checks and probes that come with the tool.
BUILT_IN = "built-in"
#: How work is submitted: ``ray.init("ray://...")`` (the Ray Client) or the Ray Jobs API.
ROUTES = ("client", "jobs")
#: For checks of the Ray Client alone: the client's Ray, Python and packages, its gRPC path to the head, the job it runs.
CLIENT_ROUTE = ("client",)


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
    origin: str = BUILT_IN
    #: Checks whose failure (only a failure: a skip or an error leaves the way open) stops this probe: ``capacity``
    #: stops the live job on a cluster where its tasks would wait forever.
    stop_on: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    func: Callable[..., Any]
    needs: Tuple[str, ...]
    optional: Tuple[str, ...]
    description: str = ""
    origin: str = BUILT_IN
    #: Runs only when asked for (``--only`` or its own flag), e.g. the scale test that adds a node.
    opt_in: bool = False
    #: The submission routes this check judges (``--route``): on another route it is shown skipped, its probes unrun.
    routes: Tuple[str, ...] = ROUTES


#: Plugins: other distributions' modules named in this entry-point group register checks and probes on import.
PLUGIN_GROUP = "ray_preflight.checks"
#: The package of the built-in checks (the repository's checks/ folder, installed under the tool's own name).
BUILTIN_PACKAGE = "preflight.checks"
#: The id of the one result that says the built-in checks could not be loaded.
BUILTIN_LOAD_ID = "builtin-checks"


@dataclass
class _Staged:
    """What one plugin registers while it imports; it joins the registry only when nothing in it clashes."""

    origin: str
    probes: "OrderedDict[str, Probe]" = field(default_factory=OrderedDict)
    checks: "OrderedDict[str, Check]" = field(default_factory=OrderedDict)


_BUILTIN_LOADED = False
_PLUGINS_LOADED = False
#: Set while a plugin's module imports: its registrations are staged here.
_STAGING: Optional[_Staged] = None

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


def _origin() -> str:
    return _STAGING.origin if _STAGING is not None else BUILT_IN


def probe(name: Optional[str] = None, *, gate: Tuple[str, ...] = (), owner: Optional[str] = None,
          stop_on: Tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a probe: a function that gathers one kind of fact (all the I/O lives here)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        made = make_probe(func, name, gate, owner, _origin(), stop_on)
        (_STAGING.probes if _STAGING is not None else _PROBES)[made.name] = made
        return func

    return register


def check(check_id: str, title: str, *, origin: Optional[str] = None, opt_in: bool = False,
          routes: Tuple[str, ...] = ROUTES) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check: a pure function of facts that returns an ``Outcome``; ``routes``: the submission routes it
    judges (default: both)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        made = make_check(check_id, title, func, origin or _origin(), opt_in, tuple(routes))
        (_STAGING.checks if _STAGING is not None else _CHECKS)[check_id] = made
        return func

    return register


def make_probe(func: Callable[..., Any], name: Optional[str] = None, gate: Tuple[str, ...] = (),
               owner: Optional[str] = None, origin: str = BUILT_IN, stop_on: Tuple[str, ...] = ()) -> Probe:
    needs, optional = _parameters(func)
    return Probe(name or func.__name__, func, needs, optional, tuple(gate), _first_line(func), owner, origin, tuple(stop_on))


def make_check(check_id: str, title: str, func: Callable[..., Any], origin: str = BUILT_IN, opt_in: bool = False,
               routes: Tuple[str, ...] = ROUTES) -> Check:
    needs, optional = _parameters(func)
    return Check(check_id, title, func, needs, optional, _first_line(func), origin, opt_in, routes)


def load_builtin() -> None:
    """Import the built-in checks (they register themselves on import), then the plugins'. Built-in checks that
    cannot be loaded become one ``error`` result, so a run can never be GO with nothing checked."""
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        problem = _import_builtin()
        if problem:
            _register_error(BUILTIN_LOAD_ID, "The built-in checks load", problem,
                            "reinstall the tool: pip install --force-reinstall --no-deps ray-preflight", BUILT_IN)
    load_plugins()


def _import_builtin() -> Optional[str]:
    """None when the built-in package imported and registered its checks; else what went wrong, naming the file."""
    import importlib

    try:
        module = importlib.import_module(BUILTIN_PACKAGE)
    except Exception as exc:  # noqa: BLE001 - a broken install is a finding, not a crash
        return f"the built-in checks ({BUILTIN_PACKAGE}) failed to load: {type(exc).__name__}: {exc}"
    if not any(c.origin == BUILT_IN for c in _CHECKS.values()):
        where = getattr(module, "__file__", None) or "a module with no file"
        return f"{BUILTIN_PACKAGE} was loaded from {where}, which registers no built-in check"
    return None


def load_plugins() -> None:
    """Import every module of the ``ray_preflight.checks`` entry-point group once (in distribution-name order).
    A plugin adds, never replaces: one that fails to import, or registers a check id or probe name that already
    exists, is refused whole and becomes one ``error`` result ``plugin:<distribution>`` saying why."""
    global _PLUGINS_LOADED, _STAGING
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib import metadata

    found = []
    for dist in metadata.distributions():
        for entry in getattr(dist, "entry_points", []):
            if entry.group == PLUGIN_GROUP:
                found.append((str(dist.metadata["Name"] or entry.name), entry))
    for dist_name, entry in sorted(found, key=lambda pair: (pair[0].lower(), pair[1].name)):
        staged = _STAGING = _Staged(f"plugin {dist_name}")
        try:
            loaded = entry.load()
            if callable(loaded):
                loaded()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is a finding, not a crash
            _refuse(dist_name, f"plugin {dist_name} ({PLUGIN_GROUP}: {entry.name}) failed to load: {type(exc).__name__}: {exc}")
            continue
        finally:
            _STAGING = None
        clashes = _clashes(staged)
        if clashes:
            _refuse(dist_name, f"plugin {dist_name} refused: it registers {'; '.join(clashes)}; a plugin adds checks, "
                               "it never replaces one")
            continue
        _PROBES.update(staged.probes)
        _CHECKS.update(staged.checks)


def _clashes(staged: _Staged) -> List[str]:
    """What a plugin registers that already exists, with both owners."""
    found = [f"check id {cid!r}, which {_CHECKS[cid].origin} already has" for cid in staged.checks if cid in _CHECKS]
    found += [f"probe {name!r}, which {_PROBES[name].origin} already has" for name in staged.probes if name in _PROBES]
    found += [f"probe {name!r}, a fact every run provides" for name in staged.probes if name in GIVEN]
    return found


def _refuse(dist_name: str, why: str) -> None:
    cid = f"plugin:{dist_name}"
    if cid in _CHECKS:  # a second entry point of the same distribution
        why = f"{_CHECKS[cid].description}; {why}"
    _register_error(cid, f"Plugin {dist_name} loads", why, f"fix or uninstall it: pip uninstall {dist_name}", f"plugin {dist_name}")


def _register_error(cid: str, title: str, why: str, remedy: str, origin: str) -> None:
    """A check that reports ``why`` as an ``error`` (the registry's own findings: what could not be loaded)."""
    from preflight.model import undecided

    def cannot_load() -> Any:
        return undecided(why, remedy)

    cannot_load.__doc__ = why
    _CHECKS[cid] = make_check(cid, title, cannot_load, origin)


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
               "opt_in": c.opt_in, "routes": list(c.routes)}
        for c in checks().values()
    }
