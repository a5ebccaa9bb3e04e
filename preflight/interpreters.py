"""Python interpreters of a given minor version on this machine, each verified by running it.

Where a user's Pythons live: ``pythonX.Y`` on ``PATH``, pyenv's versions folder (``$PYENV_ROOT``, ``pyenv root``,
``~/.pyenv``), uv's managed Pythons (``uv python find X.Y`` when uv is installed, and uv's data folder), and conda's
environments (``conda env list --json`` when conda is installed, and ``~/.conda/environments.txt``). A candidate counts
only once it has run and said its version, and that it can make a virtual environment with pip in it (``venv`` and
``ensurepip``: some OS packages leave ``ensurepip`` out). Every command run here has a timeout.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

#: How long a candidate may take to say its version (a cold start on a slow disk), and a helper command to answer.
VERIFY_TIMEOUT_S = 15.0
HELPER_TIMEOUT_S = 10.0

#: Run with ``-I`` (no PYTHON* variables, no user site): what the interpreter itself is.
_PROBE = (
    "import importlib.util, json, platform, sys\n"
    "try:\n"
    "    import venv  # noqa: F401\n"
    "    has_venv = True\n"
    "except Exception:\n"
    "    has_venv = False\n"
    "print(json.dumps({'version': platform.python_version(), 'implementation': platform.python_implementation(),\n"
    "                  'executable': sys.executable, 'prefix': sys.prefix, 'base_prefix': getattr(sys, 'base_prefix', sys.prefix),\n"
    "                  'venv': has_venv, 'ensurepip': importlib.util.find_spec('ensurepip') is not None}))\n"
)


@dataclass
class Candidate:
    """A path that may be a Python of the wanted minor, where it was found, and what running it said."""

    path: str
    source: str
    version: Optional[str] = None
    #: The interpreter to make environments with: the candidate itself, symbolic links resolved (a pyenv shim runs
    #: the real one), or the base interpreter of a virtual environment.
    executable: Optional[str] = None
    #: Why it is not used (None: usable).
    problem: Optional[str] = None

    @property
    def usable(self) -> bool:
        return self.problem is None and self.executable is not None

    def to_dict(self) -> Dict[str, Optional[str]]:
        return {"path": self.path, "source": self.source, "version": self.version, "executable": self.executable,
                "problem": self.problem}


@dataclass
class Search:
    """What looking for Python ``minor`` found: every candidate in order of preference, and the one chosen."""

    minor: str
    candidates: List[Candidate] = field(default_factory=list)
    chosen: Optional[Candidate] = None
    #: The places looked in, as a person would name them ("PATH", "pyenv (~/.pyenv/versions)", ...).
    looked_in: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, object]:
        return {"minor": self.minor, "chosen": self.chosen.to_dict() if self.chosen else None,
                "candidates": [c.to_dict() for c in self.candidates], "looked_in": list(self.looked_in)}


def _run(cmd: List[str], environ: Mapping[str, str], timeout: float = HELPER_TIMEOUT_S) -> Optional[str]:
    """The command's stdout when it exits 0 within ``timeout``, else None."""
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, env=dict(environ))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def _which(name: str, environ: Mapping[str, str]) -> Optional[str]:
    return shutil.which(name, path=environ.get("PATH", os.defpath))


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _patch_key(version: str) -> Tuple[int, ...]:
    """``"3.8.18"`` → (3, 8, 18); anything else sorts first."""
    parts = re.findall(r"\d+", version)
    return tuple(int(p) for p in parts[:3]) if parts else (-1,)


def on_path(minor: str, environ: Mapping[str, str]) -> List[str]:
    """Every ``python<minor>`` on ``PATH``, in ``PATH`` order."""
    found = []
    for folder in environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder or ".", f"python{minor}")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            found.append(path)
    return found


def pyenv_roots(environ: Mapping[str, str], ask: bool = True) -> List[str]:
    """pyenv's root folders: ``$PYENV_ROOT``, what ``pyenv root`` says (when pyenv is installed), ``~/.pyenv``."""
    roots = [environ["PYENV_ROOT"]] if environ.get("PYENV_ROOT") else []
    pyenv = _which("pyenv", environ) if ask else None
    if pyenv:
        said = _run([pyenv, "root"], environ)
        if said and said.strip():
            roots.append(said.strip())
    roots.append(os.path.join(_home(environ), ".pyenv"))
    return list(dict.fromkeys(os.path.normpath(r) for r in roots))


def in_pyenv(minor: str, roots: List[str]) -> List[str]:
    """``<root>/versions/<minor>.*/bin/python<minor>``, newest patch first."""
    found: List[Tuple[Tuple[int, ...], str]] = []
    for root in roots:
        for path in glob.glob(os.path.join(glob.escape(root), "versions", f"{minor}.*", "bin", f"python{minor}")):
            name = os.path.basename(os.path.dirname(os.path.dirname(path)))
            if re.fullmatch(re.escape(minor) + r"\.\d+", name):  # 3.8.18, not 3.8.18/envs/x or 3.8-dev
                found.append((_patch_key(name), path))
    return [path for _, path in sorted(found, key=lambda item: item[0], reverse=True)]


def uv_python_dirs(environ: Mapping[str, str]) -> List[str]:
    """Where uv keeps the Pythons it installs: ``$UV_PYTHON_INSTALL_DIR``, else ``$XDG_DATA_HOME/uv/python``, else
    ``~/.local/share/uv/python``."""
    if environ.get("UV_PYTHON_INSTALL_DIR"):
        return [environ["UV_PYTHON_INSTALL_DIR"]]
    data = environ.get("XDG_DATA_HOME") or os.path.join(_home(environ), ".local", "share")
    return [os.path.join(data, "uv", "python")]


def in_uv(minor: str, environ: Mapping[str, str], ask: bool = True) -> List[str]:
    """What ``uv python find <minor>`` says (uv installed), then uv's own ``cpython-<minor>.*`` folders, newest first."""
    found: List[str] = []
    uv = _which("uv", environ) if ask else None
    if uv:
        said = _run([uv, "python", "find", "--no-project", minor], environ)
        if said is None:  # an older uv without --no-project
            said = _run([uv, "python", "find", minor], environ)
        if said and said.strip():
            found.append(said.strip().splitlines()[-1])
    managed: List[Tuple[Tuple[int, ...], str]] = []
    for folder in uv_python_dirs(environ):
        for path in glob.glob(os.path.join(glob.escape(folder), f"cpython-{minor}.*", "bin", f"python{minor}")):
            name = os.path.basename(os.path.dirname(os.path.dirname(path)))
            managed.append((_patch_key(name.split("-")[1] if "-" in name else name), path))
    found.extend(path for _, path in sorted(managed, key=lambda item: item[0], reverse=True))
    return found


def conda_envs(environ: Mapping[str, str], ask: bool = True) -> List[str]:
    """conda's environments: ``conda env list --json`` (conda installed), then ``~/.conda/environments.txt``."""
    envs: List[str] = []
    conda = (environ.get("CONDA_EXE") or _which("conda", environ)) if ask else None
    if conda:
        said = _run([conda, "env", "list", "--json"], environ, timeout=30.0)
        try:
            listed = json.loads(said or "{}").get("envs") or []
        except (ValueError, AttributeError):
            listed = []
        envs.extend(str(e) for e in listed if isinstance(e, str))
    try:
        with open(os.path.join(_home(environ), ".conda", "environments.txt"), encoding="utf-8") as handle:
            envs.extend(line.strip() for line in handle if line.strip() and not line.startswith("#"))
    except OSError:
        pass
    return list(dict.fromkeys(envs))


def in_conda(minor: str, environ: Mapping[str, str], ask: bool = True) -> List[str]:
    found = []
    for env in conda_envs(environ, ask):
        for name in (f"python{minor}", "python"):
            path = os.path.join(env, "bin", name)
            if os.path.isfile(path):
                found.append(path)
                break
    return found


def verify(path: str, environ: Mapping[str, str], timeout: float = VERIFY_TIMEOUT_S) -> Dict[str, object]:
    """Run the candidate: its version and what it can do, or ``{"problem": why}``."""
    env = {k: v for k, v in environ.items() if not k.startswith("PYTHON")}
    try:
        done = subprocess.run([path, "-I", "-c", _PROBE], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"problem": f"did not answer within {timeout:g} s"}
    except (OSError, ValueError) as exc:
        return {"problem": f"does not run ({getattr(exc, 'strerror', None) or exc})"}
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit code {done.returncode}"])[0]
        return {"problem": f"does not run: {last[:200]}"}
    try:
        said = json.loads(done.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"problem": "did not say its version"}
    return said if isinstance(said, dict) else {"problem": "did not say its version"}


def _base_of(said: Dict[str, object], minor: str) -> Optional[str]:
    """The interpreter to build environments from: a virtual environment's base Python, else the one that ran."""
    executable = str(said.get("executable") or "")
    prefix, base = str(said.get("prefix") or ""), str(said.get("base_prefix") or "")
    if prefix and base and os.path.normpath(prefix) != os.path.normpath(base):
        for name in (f"python{minor}", "python3", "python"):
            path = os.path.join(base, "bin", name)
            if os.path.isfile(path):
                return os.path.realpath(path)
        return None
    return os.path.realpath(executable) if executable else None


def _judge(candidate: Candidate, said: Dict[str, object], minor: str) -> None:
    if said.get("problem"):
        candidate.problem = str(said["problem"])
        return
    version = str(said.get("version") or "")
    candidate.version = version or None
    if ".".join(version.split(".")[:2]) != minor:
        candidate.problem = f"is Python {version or '?'}, not {minor}"
        return
    if said.get("implementation") not in (None, "CPython"):
        candidate.problem = f"is {said.get('implementation')}, not CPython (Ray's wheels are built for CPython)"
        return
    if not said.get("venv") or not said.get("ensurepip"):
        candidate.problem = (f"cannot make a virtual environment with pip (no {'venv' if not said.get('venv') else 'ensurepip'}"
                             f" module; on Debian and Ubuntu it comes with the python{minor}-venv package)")
        return
    candidate.executable = _base_of(said, minor)
    if candidate.executable is None:
        candidate.problem = "is a virtual environment whose base Python is gone"


def find(minor: str, environ: Optional[Mapping[str, str]] = None, prefer: Optional[str] = None, ask: bool = True) -> Search:
    """Look for Python ``minor`` ("3.8") everywhere above; choose the candidate of patch ``prefer`` ("3.8.18", the
    server's) if there is one, else the first usable one in the order: PATH, pyenv, uv, conda. ``ask=False`` runs no
    helper command (pyenv, uv, conda): only folders are read, and candidates are still run to verify them."""
    env = dict(os.environ if environ is None else environ)
    search = Search(minor)
    home = _home(env)

    def shown(path: str) -> str:
        return "~" + path[len(home):] if home and path.startswith(home + os.sep) else path

    roots = pyenv_roots(env, ask)
    places: List[Tuple[str, List[str]]] = [("PATH", on_path(minor, env)), ("pyenv", in_pyenv(minor, roots)),
                                           ("uv", in_uv(minor, env, ask)), ("conda", in_conda(minor, env, ask))]
    search.looked_in = [
        f"PATH (python{minor})",
        "pyenv's versions (" + ", ".join(shown(os.path.join(r, "versions")) for r in roots) + ")",
        "uv's Pythons (" + ", ".join(["uv python find"] * bool(ask and _which("uv", env)) + [shown(d) for d in uv_python_dirs(env)]) + ")",
        "conda's environments (" + ", ".join(["conda env list"] * bool(ask and (env.get("CONDA_EXE") or _which("conda", env)))
                                             + ["~/.conda/environments.txt"]) + ")",
    ]
    seen = set()
    for source, paths in places:
        for path in paths:
            key = os.path.realpath(path)  # a link to an interpreter found elsewhere too is one candidate
            if key not in seen:
                seen.add(key)
                search.candidates.append(Candidate(path, source))
    if search.candidates:
        with ThreadPoolExecutor(max_workers=min(8, len(search.candidates))) as pool:
            answers = list(pool.map(lambda c: verify(c.path, env), search.candidates))
        for candidate, said in zip(search.candidates, answers):
            _judge(candidate, said, minor)
    usable: List[Candidate] = []
    for candidate in search.candidates:  # the same interpreter reached twice (a shim and its target) counts once
        if candidate.usable and all(candidate.executable != other.executable for other in usable):
            usable.append(candidate)
        elif candidate.usable:
            candidate.problem = f"the same interpreter as {next(o.path for o in usable if o.executable == candidate.executable)}"
    exact = [c for c in usable if prefer and c.version == prefer]
    search.chosen = exact[0] if exact else usable[0] if usable else None
    return search


def install_lines(minor: str, environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The lines that would install Python ``minor`` here: uv's, pyenv's, and the OS package where the OS has one."""
    env = dict(os.environ if environ is None else environ)
    lines = [f"uv python install {minor}" + ("" if _which("uv", env) else "    (uv is not installed here)"),
             f"pyenv install {minor}" + ("" if _which("pyenv", env) else "        (pyenv is not installed here)")]
    apt = _which("apt-cache", env)
    if apt:
        said = _run([apt, "policy", f"python{minor}"], env)
        if said and re.search(r"Candidate:\s*(?!\(none\))\S", said):
            lines.append(f"sudo apt install python{minor} python{minor}-venv")
    if _which("brew", env):
        lines.append(f"brew install python@{minor}")
    return lines
