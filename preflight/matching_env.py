"""``ray-preflight fix``: build a Python environment that matches the cluster, and prove it with the tool itself.

The steps: learn what the server runs (its Ray and Python, read from the live server, else the profile's pins); find an
interpreter of that Python minor on this machine (``preflight.interpreters``); make a virtual environment and install,
with that environment's pip, the Ray Client of the server's Ray, the pins that Ray needs (``preflight.ray_pins``) and
this tool (from where the running copy came from: ``preflight.tool_source``); register a Jupyter kernel for it; run
the preflight inside it. An environment made before is reused: what is off in it is reinstalled, nothing else.

Nothing here touches the current environment: every pip runs as the new environment's own ``python -m pip``, and every
command has a timeout. Progress goes to a ``say`` callback (one line each), never straight to a terminal. (The module
is not called ``preflight.fix``: that name is the notebook's function, which a submodule of that name would shadow.)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from preflight import __version__, interpreters, ray_pins
from preflight.errors import UsageError
from preflight.interpreters import Candidate, Search
from preflight.tool_source import ToolSource

Say = Callable[[str], None]

#: Written into every environment ``fix`` makes: it may be reused (and repaired, or made again) only when this is there.
MARKER = "ray-preflight-fix.json"
VENV_TIMEOUT_S = 300.0
PIP_TIMEOUT_S = 1800.0
KERNEL_TIMEOUT_S = 120.0
INSPECT_TIMEOUT_S = 60.0
#: The preflight in the new environment gets its own deadline plus this, for its interpreter to start and stop.
PREFLIGHT_MARGIN_S = 60.0
#: Lines of pip's output kept to say why an install failed.
PIP_TAIL = 12

#: check()'s keywords → the command's flags, for the preflight that runs inside the new environment.
FLAGS = {
    "address": "--address", "profile": "--profile", "dashboard_url": "--dashboard-url", "dashboard_headers": "--dashboard-header",
    "domain": "--domain", "gcs_address": "--gcs-address", "only": "--only", "skip": "--skip", "timeout": "--timeout",
    "connect_timeout": "--connect-timeout", "fib_size": "--fib-size", "fib_tasks": "--fib-tasks", "kubeconfig": "--kubeconfig",
    "context": "--context", "namespace": "--namespace", "scale_test": "--scale-test", "ignore": "--ignore", "strict": "--strict",
    "ca_bundle": "--ca-bundle", "insecure": "--insecure", "route": "--route", "script": "--script",
    "runtime_env": "--runtime-env", "tune_test": "--tune-test",
}

#: Run with the new environment's Python (``-I``): what is installed there, and where its Jupyter keeps kernels.
_INSPECT = (
    "import json, platform, sys\n"
    "from importlib import metadata\n"
    "def version(name):\n"
    "    try:\n"
    "        return metadata.version(name)\n"
    "    except Exception:\n"
    "        return None\n"
    "names = json.loads(sys.argv[1])\n"
    "out = {'python': platform.python_version(), 'executable': sys.executable,\n"
    "       'packages': {name: version(name) for name in names}, 'jupyter_data_dir': None}\n"
    "try:\n"
    "    from jupyter_core.paths import jupyter_data_dir\n"
    "    out['jupyter_data_dir'] = jupyter_data_dir()\n"
    "except Exception:\n"
    "    pass\n"
    "print(json.dumps(out))\n"
)


class FixError(Exception):
    """A step could not be done: the message, and the lines that say what to do (exit 1)."""

    def __init__(self, message: str, hints: Iterable[str] = ()):
        super().__init__(message)
        self.hints = list(hints)


@dataclass
class Wanted:
    """What the new environment must match, and where each answer came from."""

    ray: str
    python: str  # the minor, "3.8"
    python_patch: Optional[str] = None  # the server's own, "3.8.18", when it said
    ray_from: str = ""
    python_from: str = ""
    notes: List[str] = field(default_factory=list)
    #: The current environment already matches both (its ray-version and python-version checks passed).
    current_matches: bool = False

    @property
    def slug(self) -> str:
        return f"ray-{self.ray}-py{self.python}"

    @property
    def kernel_display(self) -> str:
        return f"Ray {self.ray} · Python {self.python}"

    def describe(self) -> str:
        python = self.python_patch or self.python
        if self.ray_from == self.python_from:
            return f"Ray {self.ray} on Python {python} ({self.ray_from})"
        return f"Ray {self.ray} ({self.ray_from}) on Python {python} ({self.python_from})"

    def to_dict(self) -> Dict[str, Any]:
        return {"ray": self.ray, "python": self.python, "python_patch": self.python_patch, "ray_from": self.ray_from,
                "python_from": self.python_from, "notes": list(self.notes)}


def _minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def learn(config: Any, report: Any) -> Wanted:
    """What to build, from a run of ``ray-version`` and ``python-version`` (its ``server`` and ``dashboard`` facts) and
    the profile's pins: the live server wins; the profile stands in for what it did not say."""
    facts = report.facts
    server = facts.get("server") if isinstance(facts.get("server"), dict) else {}
    dashboard = facts.get("dashboard") if isinstance(facts.get("dashboard"), dict) else {}
    profile = config.profile
    pin_from = f"profile {profile.name}"
    reason = server.get("unavailable") if server else None
    ray, ray_from = server.get("ray_version"), f"the live server: {server.get('source') or 'its GCS'}"
    if not ray and dashboard.get("ray_version"):
        ray, ray_from = dashboard.get("ray_version"), "the live server's dashboard"
    if not ray and profile.ray_version:
        ray, ray_from = profile.ray_version, pin_from
    python, python_from = server.get("python_version"), f"the live server: {server.get('source') or 'its GCS'}"
    if not python and profile.python_version:
        python, python_from = profile.python_version, pin_from
    notes = []
    if reason and (ray or python):
        notes.append(f"the server did not say ({reason}): using {pin_from}'s pins")
    if server.get("ray_version") and profile.ray_version and str(profile.ray_version) != str(server["ray_version"]):
        notes.append(f"{pin_from} expects Ray {profile.ray_version}, but the server runs {server['ray_version']}: building for the server")
    if server.get("python_version") and profile.python_version and _minor(profile.python_version) != _minor(server["python_version"]):
        notes.append(f"{pin_from} expects Python {profile.python_version}, but the server runs {server['python_version']}: "
                     "building for the server")
    missing = [what for what, value in (("Ray", ray), ("Python", python)) if not value]
    if missing:
        why = f"the server did not say ({reason})" if reason else "the server did not say"
        raise FixError(f"cannot tell which {' and '.join(missing)} to build for: {why}, and profile {profile.name} pins none",
                       ["check the address (ray-preflight --address ray://HOST:10001 …), or name the platform release: "
                        "ray-preflight fix --profile NAME (ray-preflight profiles lists them)"])
    matches = all(r.id in ("ray-version", "python-version") and r.status.value == "pass" for r in report.results) and \
        len(report.results) == 2
    patch = str(server.get("python_version")) if server.get("python_version") else None
    return Wanted(str(ray), _minor(str(python)), patch, ray_from, python_from, notes, matches)


# --- the environment ---------------------------------------------------------------------------------------------

def data_home(environ: Mapping[str, str]) -> str:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")


def default_env_path(wanted: Wanted, environ: Mapping[str, str]) -> str:
    return os.path.join(data_home(environ), "ray-preflight", "envs", wanted.slug)


def env_python(env: str) -> str:
    return os.path.join(env, "bin", "python")


def _read_marker(env: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(env, MARKER), encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _write_marker(env: str, state: str, wanted: Wanted, requirements: List[str], kernel: Optional[str]) -> None:
    with open(os.path.join(env, MARKER), "w", encoding="utf-8") as handle:
        json.dump({"made_by": f"ray-preflight {__version__} fix", "state": state, "ray": wanted.ray, "python": wanted.python,
                   "requirements": requirements, "kernel": kernel, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                  handle, indent=1)


def child_environ(env: Optional[str], environ: Mapping[str, str]) -> Dict[str, str]:
    """The environment for a command of the new environment: as after ``source <env>/bin/activate``, without the
    variables that would point its Python or pip elsewhere (PYTHONPATH, PYTHONHOME, PIP_TARGET, PIP_PREFIX, ...)."""
    out = {k: v for k, v in environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PIP_USER", "PIP_TARGET", "PIP_PREFIX",
                        "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")}
    out.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONIOENCODING="utf-8")
    if env:
        out["VIRTUAL_ENV"] = env
        out["PATH"] = os.path.join(env, "bin") + os.pathsep + environ.get("PATH", os.defpath)
    return out


def inspect_env(env: str, names: List[str], environ: Mapping[str, str]) -> Dict[str, Any]:
    """What the environment's Python says of itself and of ``names``; ``{"problem": why}`` when it does not run."""
    python = env_python(env)
    if not os.path.exists(python):
        return {"problem": f"{python} is missing"}
    try:
        done = subprocess.run([python, "-I", "-c", _INSPECT, json.dumps(names)], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=INSPECT_TIMEOUT_S, env=child_environ(env, environ))
    except subprocess.TimeoutExpired:
        return {"problem": f"its Python did not answer within {INSPECT_TIMEOUT_S:g} s"}
    except (OSError, ValueError) as exc:
        return {"problem": f"its Python does not run ({getattr(exc, 'strerror', None) or exc})"}
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return {"problem": f"its Python does not run: {(lines or ['exit code %d' % done.returncode])[-1][:200]}"}
    try:
        said = json.loads(done.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"problem": "its Python did not answer"}
    return said if isinstance(said, dict) else {"problem": "its Python did not answer"}


def _requirement_name(requirement: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(requirement).name.lower().replace("_", "-")
    except InvalidRequirement:
        return requirement


def off_requirements(wanted: Wanted, installed: Mapping[str, Optional[str]], tool: ToolSource, kernel: bool) -> List[Tuple[str, str]]:
    """What is off in an environment, as (requirement to install, why): Ray's version, each pin, the tool, ipykernel."""
    off: List[Tuple[str, str]] = []
    have = installed.get("ray")
    if have != wanted.ray:
        off.append((ray_pins.ray_requirement(wanted.ray), f"Ray is {have}" if have else "Ray is missing"))
    for pin in ray_pins.known_good_pins(wanted.ray):
        name = _requirement_name(pin)
        version = installed.get(name)
        if version is None:
            off.append((pin, f"{name} is missing"))
        elif ray_pins.within(version, pin[len(name):]) is False:
            off.append((pin, f"{name} is {version}"))
    mine = installed.get("ray-preflight")
    if mine != tool.version:
        off.append((tool.requirement, f"ray-preflight is {mine}" if mine else "ray-preflight is missing"))
    if kernel and not installed.get("ipykernel"):
        off.append(("ipykernel", "ipykernel is missing"))
    return off


# --- the plan -----------------------------------------------------------------------------------------------------

@dataclass
class Kernel:
    name: str
    display: str
    #: Where the kernel spec is (or would be), when the environment's Jupyter said; None otherwise.
    spec_dir: Optional[str] = None
    #: True when registering it is part of the plan (new, or its spec is missing or points elsewhere).
    register: bool = True


@dataclass
class Plan:
    wanted: Wanted
    env: str
    #: "new" (made now), "reuse" (made before by fix: re-verified, repaired), "remake" (made before, but broken or of
    #: another Python: made again).
    state: str
    tool: ToolSource
    requirements: List[str]
    #: For a reused environment: what is off in it, (requirement, why).
    off: List[Tuple[str, str]] = field(default_factory=list)
    search: Optional[Search] = None
    kernel: Optional[Kernel] = None
    preflight_args: List[str] = field(default_factory=list)
    installed: Dict[str, Optional[str]] = field(default_factory=dict)
    why_remake: Optional[str] = None

    @property
    def interpreter(self) -> Optional[Candidate]:
        return self.search.chosen if self.search else None

    @property
    def creates(self) -> bool:
        return self.state in ("new", "remake")

    @property
    def to_install(self) -> List[str]:
        return self.requirements if self.creates else ([r for r, _ in self.off] + self._pins_beside()) if self.off else []

    def _pins_beside(self) -> List[str]:
        """A repair keeps the pins in the same pip call, so that reinstalling Ray cannot move them."""
        chosen = {r for r, _ in self.off}
        return [p for p in ray_pins.known_good_pins(self.wanted.ray) if p not in chosen]

    @property
    def changes(self) -> bool:
        return self.creates or bool(self.to_install) or bool(self.kernel and self.kernel.register)

    def commands(self) -> List[str]:
        """The plan as the shell lines it amounts to."""
        python = env_python(self.env)
        lines = []
        if self.creates:
            if self.state == "remake":
                lines.append(f"rm -rf {shlex.quote(self.env)}")
            base = self.interpreter.executable if self.interpreter and self.interpreter.executable else f"python{self.wanted.python}"
            lines.append(f"{shlex.quote(base)} -m venv {shlex.quote(self.env)}")
        if self.to_install:
            lines.append(f"{shlex.quote(python)} -m pip install " + " ".join(shlex.quote(r) for r in self.to_install))
        if self.kernel and self.kernel.register:
            lines.append(" ".join(shlex.quote(a) for a in kernel_command(python, self.kernel)))
        lines.append(" ".join(shlex.quote(a) for a in [os.path.join(self.env, "bin", "ray-preflight"), *shown_args(self.preflight_args)]))
        return lines

    def to_dict(self) -> Dict[str, Any]:
        return {"wanted": self.wanted.to_dict(), "env": self.env, "state": self.state, "tool": self.tool.requirement,
                "requirements": list(self.requirements), "off": [{"requirement": r, "why": w} for r, w in self.off],
                "interpreter": self.interpreter.to_dict() if self.interpreter else None,
                "kernel": {"name": self.kernel.name, "display_name": self.kernel.display, "register": self.kernel.register}
                if self.kernel else None, "commands": self.commands()}


def kernel_command(python: str, kernel: Kernel) -> List[str]:
    return [python, "-m", "ipykernel", "install", "--user", "--name", kernel.name, "--display-name", kernel.display]


def _kernel_ok(kernel: Kernel, python: str) -> bool:
    """Whether the kernel spec is there, names this environment's Python and carries the display name."""
    if not kernel.spec_dir:
        return False
    try:
        with open(os.path.join(kernel.spec_dir, "kernel.json"), encoding="utf-8") as handle:
            spec = json.load(handle)
    except (OSError, ValueError):
        return False
    argv = spec.get("argv") if isinstance(spec, dict) else None
    return bool(argv) and isinstance(argv, list) and os.path.abspath(str(argv[0])) == os.path.abspath(python) and \
        spec.get("display_name") == kernel.display


def preflight_args(explicit: Mapping[str, Any]) -> List[str]:
    """The flags for the preflight inside the new environment: the targeting options the user gave (the settings file
    and the environment variables it reads itself), on the client route, as JSON."""
    args: List[str] = []
    for name, value in explicit.items():
        flag = FLAGS.get(name)
        if flag is None or value is None or value is False or name == "route" or isinstance(value, Mapping) and flag == "--runtime-env":
            continue
        if name == "scale_test":
            args.append(f"{flag}={'up' if value is True else value}")
        elif value is True:
            args.append(flag)
        elif name == "dashboard_headers":
            items = [value] if isinstance(value, str) else [f"{k}: {v}" for k, v in value.items()] if isinstance(value, Mapping) \
                else [f"{i[0]}: {i[1]}" if isinstance(i, tuple) else str(i) for i in value]
            for item in items:
                args += [flag, item]
        elif name in ("only", "skip", "ignore") and not isinstance(value, str):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args + ["--route", "client", "--format", "json"]


def shown_args(args: List[str]) -> List[str]:
    """The flags as shown (the plan, the result): a header's value and a URL's ``user:password@`` masked, as every
    output of the tool masks them."""
    from preflight.redaction import MASK

    shown: List[str] = []
    for arg in args:
        if shown and shown[-1] == FLAGS["dashboard_headers"]:
            shown.append(f"{arg.partition(':')[0]}: {MASK}")
        else:
            shown.append(re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", lambda m: f"{m.group(1)}{MASK}@", arg))
    return shown


def make_plan(wanted: Wanted, *, prefix: Optional[str], kernel: bool, tool: ToolSource, explicit: Mapping[str, Any],
              environ: Mapping[str, str], search: Optional[Callable[[str, Optional[str]], Search]] = None) -> Plan:
    """Decide what to do, changing nothing: where the environment goes, whether one made before is reused, what to
    install, which interpreter makes it, the kernel. Raises ``UsageError`` for a ``prefix`` that is not ours to use."""
    env = os.path.abspath(os.path.expanduser(prefix)) if prefix else default_env_path(wanted, environ)
    requirements = [ray_pins.ray_requirement(wanted.ray), *ray_pins.known_good_pins(wanted.ray), tool.requirement] + \
        (["ipykernel"] * kernel)
    plan = Plan(wanted, env, "new", tool, requirements, preflight_args=preflight_args(explicit))
    if os.path.lexists(env) and not os.path.isdir(env):
        raise UsageError(f"--prefix {env}: a file, not a folder")
    if os.path.isdir(env) and os.listdir(env):
        marker = _read_marker(env)
        if marker is None:
            raise UsageError(f"--prefix {env}: the folder holds files and is not an environment made by ray-preflight fix; "
                             "choose a new or empty folder")
        names = ["ray", "ray-preflight", "ipykernel", *(_requirement_name(p) for p in ray_pins.known_good_pins(wanted.ray))]
        said = inspect_env(env, names, environ)
        if said.get("problem"):
            plan.state, plan.why_remake = "remake", str(said["problem"])
        elif _minor(str(said.get("python"))) != wanted.python:
            plan.state, plan.why_remake = "remake", f"it holds Python {said.get('python')}, not {wanted.python}"
        else:
            plan.state = "reuse"
            plan.installed = dict(said.get("packages") or {})
            plan.off = off_requirements(wanted, plan.installed, tool, kernel)
            if said.get("jupyter_data_dir"):
                spec_dir = os.path.join(str(said["jupyter_data_dir"]), "kernels", wanted.slug)
                plan.kernel = Kernel(wanted.slug, wanted.kernel_display, spec_dir) if kernel else None
    if kernel and plan.kernel is None:
        plan.kernel = Kernel(wanted.slug, wanted.kernel_display)
    if plan.kernel is not None and plan.state == "reuse":
        plan.kernel.register = not _kernel_ok(plan.kernel, env_python(env))
    if plan.creates:
        plan.search = (search or (lambda minor, prefer: interpreters.find(minor, environ, prefer)))(wanted.python, wanted.python_patch)
    return plan


# --- doing it -------------------------------------------------------------------------------------------------------

def stream(cmd: List[str], timeout: float, environ: Mapping[str, str], say: Say, indent: str = "    ") -> Tuple[Optional[int], List[str]]:
    """Run ``cmd``, passing each line of its output to ``say``; (exit code or None when killed at the timeout, the last
    lines)."""
    tail: Deque[str] = deque(maxlen=PIP_TAIL)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(environ), start_new_session=True)
    except (OSError, ValueError) as exc:
        return 127, [f"cannot run {cmd[0]}: {getattr(exc, 'strerror', None) or exc}"]

    def read() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.strip():
                tail.append(line)
                say(indent + line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code: Optional[int] = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        code = None
    except BaseException:  # Ctrl-C: pip goes too, then the caller cleans up
        _kill(proc)
        raise
    reader.join(timeout=5)
    return code, list(tail)


def _kill(proc: "subprocess.Popen[bytes]") -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _run(cmd: List[str], timeout: float, environ: Mapping[str, str]) -> Tuple[Optional[int], str]:
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, env=dict(environ))
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return 127, f"cannot run {cmd[0]}: {getattr(exc, 'strerror', None) or exc}"
    return done.returncode, done.stdout.decode("utf-8", "replace")


def _last_lines(text: str, count: int = 6) -> List[str]:
    return [line for line in text.strip().splitlines() if line.strip()][-count:]


@dataclass
class Built:
    """What carrying out a plan did."""

    reused: bool
    installed: List[str] = field(default_factory=list)
    kernel_registered: bool = False
    timings: Dict[str, float] = field(default_factory=dict)


def carry_out(plan: Plan, environ: Mapping[str, str], say: Say) -> Built:
    """Make (or repair) the environment and register the kernel. On a failure, what this call made is removed again
    (a new environment; never one made before) and ``FixError`` says why, with pip's last lines."""
    built = Built(reused=not plan.creates)
    made_now = False
    started = time.monotonic()
    try:
        if plan.creates:
            chosen = plan.interpreter
            if chosen is None or chosen.executable is None:
                raise FixError(f"no Python {plan.wanted.python} to make the environment with")
            if plan.state == "remake":
                shutil.rmtree(plan.env)
            say(f"… making the environment: {chosen.executable} -m venv {plan.env}")
            made_now = True
            code, out = _run([chosen.executable, "-m", "venv", plan.env], VENV_TIMEOUT_S, child_environ(None, environ))
            if code != 0:
                raise FixError(f"{chosen.executable} -m venv {plan.env} failed" + (f" (exit {code})" if code is not None else
                               f": it did not finish within {VENV_TIMEOUT_S:g} s"), _last_lines(out))
            _write_marker(plan.env, "building", plan.wanted, plan.requirements, plan.kernel.name if plan.kernel else None)
            built.timings["venv"] = time.monotonic() - started
        to_install = plan.to_install
        if to_install:
            began = time.monotonic()
            for requirement, why in plan.off:
                say(f"… {why}: reinstalling {requirement}")
            pip = [env_python(plan.env), "-m", "pip", "install", "--progress-bar", "off", *to_install]
            say("… " + " ".join(shlex.quote(a) for a in pip[:4] + to_install) + "  (pip's output follows)")
            code, tail = stream(pip, PIP_TIMEOUT_S, child_environ(plan.env, environ), say)
            if code != 0:
                raise FixError("pip install failed" + (f" (exit {code})" if code is not None else
                               f": it did not finish within {PIP_TIMEOUT_S:g} s") + "; its last lines:", tail)
            built.installed = list(to_install)
            built.timings["pip"] = time.monotonic() - began
        names = ["ray", "ray-preflight", "ipykernel", *(_requirement_name(p) for p in ray_pins.known_good_pins(plan.wanted.ray))]
        said = inspect_env(plan.env, names, environ)
        if said.get("problem"):
            raise FixError(f"the environment does not work: {said['problem']}")
        still = off_requirements(plan.wanted, dict(said.get("packages") or {}), plan.tool, plan.kernel is not None)
        if still:
            raise FixError("after pip, the environment is still off: " + "; ".join(why for _, why in still))
        if plan.kernel is not None:
            if said.get("jupyter_data_dir"):
                plan.kernel.spec_dir = os.path.join(str(said["jupyter_data_dir"]), "kernels", plan.kernel.name)
            if plan.kernel.register or not _kernel_ok(plan.kernel, env_python(plan.env)):
                began = time.monotonic()
                say(f"… registering the Jupyter kernel {plan.kernel.name} (\"{plan.kernel.display}\")")
                code, out = _run(kernel_command(env_python(plan.env), plan.kernel), KERNEL_TIMEOUT_S, child_environ(plan.env, environ))
                if code != 0:
                    raise FixError("registering the Jupyter kernel failed" + (f" (exit {code})" if code is not None else
                                   f": it did not finish within {KERNEL_TIMEOUT_S:g} s"), _last_lines(out))
                built.kernel_registered = True
                built.timings["kernel"] = time.monotonic() - began
        if plan.creates or built.installed or built.kernel_registered:
            _write_marker(plan.env, "ready", plan.wanted, plan.requirements, plan.kernel.name if plan.kernel else None)
        return built
    except BaseException as exc:
        if made_now:
            shutil.rmtree(plan.env, ignore_errors=True)
        if isinstance(exc, OSError):  # a folder that cannot be written or removed: said, not a traceback
            exc = FixError(f"{exc.strerror or exc}: {exc.filename or plan.env}")
        if made_now and isinstance(exc, FixError):
            exc.hints.append(f"(the half-made environment {plan.env} was removed)")
        raise exc from None


def run_preflight(plan: Plan, timeout: float, environ: Mapping[str, str]) -> Tuple[Optional[Dict[str, Any]], str]:
    """The new environment's own ``ray-preflight`` with the same targeting: (its JSON report, or None and why)."""
    command = [os.path.join(plan.env, "bin", "ray-preflight"), *plan.preflight_args]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env=child_environ(plan.env, environ))
    except subprocess.TimeoutExpired:
        return None, f"it did not finish within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return None, f"it does not run ({getattr(exc, 'strerror', None) or exc})"
    out = done.stdout.decode("utf-8", "replace")
    try:
        report = json.loads(out)
    except ValueError:
        err = done.stderr.decode("utf-8", "replace")
        return None, f"exit {done.returncode}, no JSON: " + " | ".join(_last_lines(err or out, 3))
    return (report, "") if isinstance(report, dict) else (None, "its JSON is not a report")


# --- the result -----------------------------------------------------------------------------------------------------

@dataclass
class FixResult:
    """What ``preflight.fix()`` (and ``ray-preflight fix``) did: ``ok`` when the new environment's preflight is GO."""

    env: Optional[str] = None
    python: Optional[str] = None
    kernel: Optional[str] = None
    kernel_display: Optional[str] = None
    verdict: Optional[str] = None
    ok: bool = False
    dry_run: bool = False
    reused: bool = False
    installed: List[str] = field(default_factory=list)
    wanted: Optional[Wanted] = None
    plan: Optional[Plan] = None
    #: The new environment's ``ray-preflight --format json`` report.
    report: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    hints: List[str] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return 0 if self.error is None else 1
        return 0 if self.ok else 1

    @property
    def activate(self) -> Optional[str]:
        return f"source {shlex.quote(os.path.join(self.env, 'bin', 'activate'))}" if self.env else None

    def to_dict(self) -> Dict[str, Any]:
        return {"ok": self.ok, "verdict": self.verdict, "env": self.env, "python": self.python, "kernel": self.kernel,
                "kernel_display_name": self.kernel_display, "dry_run": self.dry_run, "reused": self.reused,
                "installed": list(self.installed), "wanted": self.wanted.to_dict() if self.wanted else None,
                "plan": self.plan.to_dict() if self.plan else None, "report": self.report, "error": self.error,
                "hints": list(self.hints), "timings": {k: round(v, 3) for k, v in self.timings.items()}}

    def __repr__(self) -> str:
        what = "dry run" if self.dry_run else (self.verdict or "not done")
        return f"<FixResult {what} {self.env or ''}{' kernel ' + self.kernel if self.kernel else ''}>".replace("  ", " ")


def plan_lines(plan: Plan) -> List[str]:
    """The plan as a person reads it."""
    lines = [f"server:       {plan.wanted.describe()}"]
    lines += [f"note:         {note}" for note in plan.wanted.notes]
    if plan.wanted.current_matches:
        lines.append("note:         this environment already matches (ray-version and python-version pass); the new one is "
                     "made all the same")
    chosen = plan.interpreter
    if plan.creates and chosen is not None:
        lines.append(f"interpreter:  {chosen.executable} (Python {chosen.version}, found via {chosen.source})")
    state = {"new": "new", "remake": f"made again: {plan.why_remake}",
             "reuse": "exists (made by ray-preflight fix): re-verified"}[plan.state]
    lines.append(f"environment:  {plan.env} ({state})")
    if plan.state == "reuse":
        have = ", ".join(f"{k} {v}" for k, v in plan.installed.items() if v)
        lines.append(f"installed:    {have or 'nothing'}")
        lines.append("reinstall:    " + ("; ".join(f"{r} ({why})" for r, why in plan.off) if plan.off else "nothing: all as wanted"))
    else:
        lines.append("install:      " + " ".join(plan.requirements) + f"  (ray-preflight from {plan.tool.described})")
    if plan.kernel:
        registered = "register" if plan.kernel.register else "registered already"
        lines.append(f"kernel:       {plan.kernel.name} \"{plan.kernel.display}\" ({registered})")
    else:
        lines.append("kernel:       none (--kernel registers one for Jupyter)")
    lines.append("commands:")
    lines += [f"  {line}" for line in plan.commands()]
    return lines


def no_interpreter_lines(search: Search) -> List[str]:
    """Why no interpreter was chosen, and what would install one."""
    lines = [f"looked in: {'; '.join(search.looked_in)}"]
    for candidate in search.candidates:
        lines.append(f"  {candidate.path} ({candidate.source}): {candidate.problem}")
    lines.append(f"install Python {search.minor}, then run this again; one of:")
    lines += [f"  {line}" for line in interpreters.install_lines(search.minor)]
    lines.append("or submit through the Ray Jobs API, which runs your code on the cluster's Python and needs no Ray here: "
                 "ray-preflight --route jobs")
    return lines


def fix(explicit: Mapping[str, Any], options: Mapping[str, Any], *, prefix: Optional[str] = None, kernel: Optional[bool] = None,
        dry_run: bool = False, confirm: Optional[Callable[[Plan], bool]] = None, say: Optional[Say] = None,
        environ: Optional[Mapping[str, str]] = None) -> FixResult:
    """The whole of ``fix``. ``options``: the targeting keywords after the settings file and the environment (as
    ``config.build`` takes them, ``address`` included); ``explicit``: those the caller gave (passed on to the preflight
    inside the new environment, which reads the rest itself). ``confirm(plan)`` is asked once before anything
    changes (None: go ahead). Unusable input raises ``UsageError``; every other way it ends is in the result."""
    from preflight import config as config_module
    from preflight.runner import run
    from preflight.tool_source import current

    env_vars = dict(os.environ if environ is None else environ)
    say = say or (lambda line: None)
    opts = dict(options)
    address = opts.pop("address", None)
    if explicit.get("route") not in (None, "", "client"):  # one from the settings file or the environment gives way
        raise UsageError("fix builds an environment for the Ray Client route (ray.init(\"ray://...\")); "
                         "the jobs route runs on the cluster's Python and needs none")
    learn_opts = dict(opts, only=["ray-version", "python-version"], skip=None, ignore=None, strict=False, scale_test=None,
                      route="client")
    config = config_module.build(address, **learn_opts)
    final_config = config_module.build(address, **dict(opts, route="client"))
    wants_kernel = _jupyter_here() if kernel is None else bool(kernel)
    result = FixResult(dry_run=dry_run)
    started = time.monotonic()
    say(f"… asking the server which Ray and Python it runs ({config.target.address})")
    report = run(config)
    result.timings["learn"] = time.monotonic() - started
    try:
        wanted = learn(config, report)
        result.wanted = wanted
        if not dry_run:  # a dry run's plan says all of it
            say(f"… the server runs {wanted.describe()}")
            for note in wanted.notes:
                say(f"… note: {note}")
        began = time.monotonic()
        plan = make_plan(wanted, prefix=prefix, kernel=wants_kernel, tool=current(), explicit=explicit, environ=env_vars)
        result.timings["plan"] = time.monotonic() - began
        result.plan, result.env = plan, plan.env
        result.kernel = plan.kernel.name if plan.kernel else None
        result.kernel_display = plan.kernel.display if plan.kernel else None
        if plan.changes and _is_running_here(plan.env):
            raise FixError(f"{plan.env} is the environment this command runs in, and fix never changes the environment it "
                           "runs from", [f"run it from another Python (deactivate first), or see what is off: "
                                         f"ray-preflight fix --dry-run --prefix {shlex.quote(plan.env)}"])
        if plan.creates and plan.interpreter is None:
            raise FixError(f"no Python {wanted.python} on this machine to make the environment with",
                           no_interpreter_lines(plan.search) if plan.search else [])
        if plan.state == "reuse" and not dry_run:
            have = ", ".join(f"{k} {v}" for k, v in plan.installed.items() if v)
            say(f"… {plan.env} was made by fix before ({have}): " + ("; ".join(why for _, why in plan.off) if plan.off else
                                                                       "nothing is off"))
        if plan.state == "remake" and not dry_run:
            say(f"… {plan.env} was made by fix before, but {plan.why_remake}: it is made again")
        if plan.creates and plan.interpreter is not None and not dry_run:
            say(f"… Python {wanted.python}: {plan.interpreter.executable} ({plan.interpreter.version}, found via {plan.interpreter.source})")
        if dry_run:
            result.timings["total"] = time.monotonic() - started
            return result
        if plan.changes and confirm is not None and not confirm(plan):
            raise FixError("nothing was changed (not confirmed)")
        built = carry_out(plan, env_vars, say)
        result.reused, result.installed = built.reused, built.installed
        result.timings.update(built.timings)
        result.python = env_python(plan.env)
        began = time.monotonic()
        say(f"… running ray-preflight in the new environment ({os.path.join(plan.env, 'bin', 'ray-preflight')})")
        verdict, why = run_preflight(plan, final_config.timeout_s + PREFLIGHT_MARGIN_S, env_vars)
        result.timings["preflight"] = time.monotonic() - began
        if verdict is None:
            raise FixError(f"the preflight in the new environment did not give a verdict: {why}")
        result.report = verdict
        result.ok = bool(verdict.get("ok"))
        result.verdict = "GO" if result.ok else "NO-GO"
    except FixError as exc:
        result.error, result.hints = str(exc), list(exc.hints)
    result.timings["total"] = time.monotonic() - started
    return result


def _is_running_here(env: str) -> bool:
    """Whether ``env`` is the environment of the Python running this (its ``sys.prefix``)."""
    import sys

    try:
        return os.path.exists(env) and os.path.samefile(env, sys.prefix)
    except OSError:
        return False


def _jupyter_here() -> bool:
    """Whether Jupyter (``jupyter_client``) is importable in the current environment: then a kernel is wanted."""
    import importlib.util

    try:
        return importlib.util.find_spec("jupyter_client") is not None
    except (ImportError, ValueError):
        return False
