"""Real Python environments ("worlds") for the fy23-q2 tests, provisioned with pip as a user would.

A world is a virtual environment on a given Python minor with a list of ``pip install`` steps run in
order (a user's Ray and whatever came after), plus, for client worlds, this tool installed from a
wheel built from the working tree. Worlds are cached in ``.cache/worlds/`` (ignored by git) under a
key of the interpreter's version and the steps, so a second run reuses them; the tool is reinstalled
into each cached world every run, so it is always the working tree's code.

Python minors come from ``pythonX.Y`` on PATH or from pyenv's versions folder.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "worlds"
#: Set (to anything) by CI: a world that cannot be provisioned is then a failure, never a skip.
REQUIRE_ENV = "RAY_PREFLIGHT_REQUIRE_WORLDS"
PIP_TIMEOUT_S = 1200


class WorldUnavailable(RuntimeError):
    """This machine cannot provide the world (no such Python); the message says why."""


def interpreter_version(python: str) -> Optional[str]:
    """``"3.8.18"`` for a working interpreter with ``venv``, else None."""
    try:
        out = subprocess.run([python, "-c", "import platform, venv; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _pyenv_roots() -> List[Path]:
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            roots.append(Path(out.stdout.strip()))
    except (OSError, subprocess.TimeoutExpired):
        pass
    roots.append(Path.home() / ".pyenv")
    return list(dict.fromkeys(roots))


def _patch(path: str) -> Tuple[int, ...]:
    name = Path(path).parent.parent.name  # <root>/versions/3.8.18/bin/python3.8
    try:
        return tuple(int(x) for x in name.split("."))
    except ValueError:
        return (-1,)


def find_python(minor: str) -> Optional[str]:
    """An interpreter of Python ``minor`` ("3.8"), or None. "default" is the Python running the tests."""
    if minor == "default":
        return sys.executable
    candidates: List[str] = []
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(on_path)
    for root in _pyenv_roots():
        found = glob.glob(str(root / "versions" / f"{minor}.*" / "bin" / f"python{minor}"))
        candidates.extend(sorted(found, key=_patch, reverse=True))
    for candidate in candidates:
        version = interpreter_version(candidate)
        if version and ".".join(version.split(".")[:2]) == minor:
            return candidate
    return None


@dataclass
class Env:
    """A provisioned world: its interpreter and what pip had installed before the tool went in."""

    name: str
    root: Path
    python: str
    python_version: str
    before_tool: Dict[str, str] = field(default_factory=dict)
    tool_log: str = ""

    def bin(self, command: str) -> str:
        return str(Path(self.python).parent / command)

    def pip(self, *args: str, timeout: float = PIP_TIMEOUT_S) -> "subprocess.CompletedProcess[str]":
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        return subprocess.run([self.python, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout, env=env)

    def freeze(self) -> Dict[str, str]:
        """``{normalised name: version}`` of what is installed, as ``pip list`` reports it."""
        out = self.pip("list", "--format=json", timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"pip list failed in {self.name}: {out.stderr[-2000:]}")
        return {_normal(p["name"]): p["version"] for p in json.loads(out.stdout)}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass(frozen=True)
class World:
    """``python``: "3.8", "3.10" or "default"; ``steps``: the ``pip install`` arguments, one list per call."""

    name: str
    python: str
    steps: Tuple[Tuple[str, ...], ...] = ()
    tool: bool = True

    def describe(self) -> str:
        installs = "; ".join("pip install " + " ".join(step) for step in self.steps) or "no Ray"
        return f"Python {self.python}: {installs}"


_LOCKS: Dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _check(proc: "subprocess.CompletedProcess[str]", what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def provision(world: World, wheel: Optional[Path]) -> Env:
    """The world's environment, from the cache or built now; with the tool (from ``wheel``) freshly installed."""
    python = find_python(world.python)
    if python is None:
        raise WorldUnavailable(f"no Python {world.python} on this machine (looked on PATH and in pyenv's versions)")
    version = interpreter_version(python) or "?"
    key = hashlib.sha1(json.dumps([version, world.steps]).encode()).hexdigest()[:10]
    root = CACHE / f"{world.name}-{key}"
    ready = root / "ready.json"
    with _lock(str(root)):
        env_python = str(root / "bin" / "python")
        if ready.exists() and Path(env_python).exists():
            state = json.loads(ready.read_text())
        else:
            shutil.rmtree(root, ignore_errors=True)
            root.parent.mkdir(parents=True, exist_ok=True)
            _check(subprocess.run([python, "-m", "venv", str(root)], capture_output=True, text=True, timeout=300),
                   f"python{world.python} -m venv")
            env = Env(world.name, root, env_python, version)
            for step in world.steps:
                _check(env.pip("install", *step), f"pip install {' '.join(step)} ({world.name})")
            state = {"before_tool": env.freeze(), "python_version": version}
            ready.write_text(json.dumps(state, indent=1))
        env = Env(world.name, root, env_python, version, before_tool=state["before_tool"])
        if world.tool and wheel is not None:
            first = env.pip("install", str(wheel))
            _check(first, f"pip install ray-preflight ({world.name})")
            again = env.pip("install", "--no-deps", "--force-reinstall", str(wheel))
            _check(again, f"pip install --force-reinstall ray-preflight ({world.name})")
            env.tool_log = first.stdout + first.stderr
        return env


def build_wheel() -> Path:
    """A wheel of the working tree, built the way pip builds one for a user."""
    out_dir = Path(tempfile.mkdtemp(prefix="rpf-wheel-"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    _check(proc, "pip wheel .")
    wheels = list(out_dir.glob("ray_preflight-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {out_dir}, found {wheels}")
    return wheels[0]


def current_env() -> Env:
    """The Python running the tests, as a world (it has the tool installed from the working tree and the latest Ray)."""
    version = interpreter_version(sys.executable) or "?"
    return Env("default-latest-ray", Path(sys.prefix), sys.executable, version)


#: The fy23-q2 server: what the platform's head runs (without this tool, like a real cluster), with Ray Tune and
#: scikit-learn as the platform's second example needs them (scikit-learn 1.3.2: the last release for Python 3.8).
#: What the server's Ray itself needs: a client that installs the server's own set installs this.
SERVER_CORE = ("ray[default]==2.2.0", "protobuf==3.20.3", "pydantic<2")
SERVER = World("server-ray2.2.0", "3.8", ((*SERVER_CORE[:1], "ray[tune]==2.2.0", *SERVER_CORE[1:], "scikit-learn==1.3.2"),), tool=False)

#: A client for the Ray Tune proof (``--tune-test``): Python 3.8 with ``ray[tune]==2.2.0`` and the pin a Ray 2.2.0 client
#: needs. No scikit-learn: which objective the proof uses is the cluster's business.
TUNE_CLIENT = World("py38-ray2.2.0-tune", "3.8", (("ray[tune]==2.2.0", "pydantic<2"),))


@dataclass(frozen=True)
class Scenario:
    label: str
    world: Optional[World]  # None: the Python running the tests (latest Ray, tool installed)
    go: bool
    failing: Tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.world.name if self.world else "default-latest-ray"


SCENARIOS = [
    Scenario("Python 3.8 + `pip install ray==2.2.0` (the recommended fix)",
             World("py38-ray2.2.0", "3.8", (("ray==2.2.0",),)), go=True),
    Scenario("Python 3.8 + the server's own set (`ray[default]==2.2.0 protobuf==3.20.3 pydantic<2`)",
             World("py38-ray2.2.0-pinned", "3.8", (SERVER_CORE,)), go=True),
    Scenario("Python 3.8 + Ray 2.2.0, then `pip install 'pydantic>=2'`",
             World("py38-ray2.2.0-pydantic2", "3.8", (("ray==2.2.0",), ("pydantic>=2",))), go=False,
             failing=("client-packages",)),
    Scenario("Python 3.10 + `pip install ray==2.2.0`",
             World("py310-ray2.2.0", "3.10", (("ray==2.2.0",),)), go=False, failing=("python-version",)),
    Scenario("the CI's Python + the latest Ray (the test environment)", None, go=False,
             failing=("ray-version", "python-version")),
    Scenario("the CI's Python, no Ray installed", World("default-no-ray", "default", ()), go=False,
             failing=("ray-version", "python-version")),
    Scenario("Python 3.8 + `pip install ray==2.1.0` (same client protocol as 2.2.0, so Ray's own check lets it through)",
             World("py38-ray2.1.0", "3.8", (("ray==2.1.0",),)), go=True),
]
BY_ID = {s.id: s for s in SCENARIOS}


def provision_each(worlds: Sequence[World], wheel: Optional[Path]) -> Dict[str, Env]:
    """Each world by name, provisioned or reused from the cache; one this machine cannot provide is ``unavailable``."""
    made: Dict[str, Env] = {}
    for world in worlds:
        try:
            made[world.name] = provision(world, wheel)
        except WorldUnavailable as exc:
            unavailable(f"world {world.name}: {exc}")
    return made


def unavailable(reason: str) -> None:
    """Skip with the reason; a failure when CI asks for every world."""
    import pytest

    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set, so this is a failure)")
    pytest.skip(reason)


def world_env(worlds: Dict[str, Any], name: str) -> Env:
    """The provisioned world ``name`` from the ``worlds`` fixture (skips or fails when it could not be made)."""
    env = worlds[name]
    if isinstance(env, WorldUnavailable):
        unavailable(f"world {name}: {env}")
    assert isinstance(env, Env)
    return env


def child_env() -> Dict[str, str]:
    """This environment for a child run in another world: without RAY_ADDRESS, PYTHONPATH or VIRTUAL_ENV."""
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env
