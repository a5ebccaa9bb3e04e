"""One run's settings, validated once for the CLI and the notebook API alike."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from preflight import profiles, redaction, registry
from preflight.dashboard_api import Credentials
from preflight.errors import UsageError, shown
from preflight.profiles import Profile
from preflight.registry import ROUTES
from preflight.target import Target, resolve

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CONNECT_TIMEOUT_S = 3.0
#: A size-10,000 sequence holds ~4 MB of integers per task: safe beside a notebook.
DEFAULT_FIB_SIZE = 10_000
#: The checks ``--script`` adds to a run.
SCRIPT_CHECKS = ("script-modules", "script-resources", "runtime-env", "script-libraries")


@dataclass(frozen=True)
class RunConfig:
    profile: Profile
    target: Target
    only: Tuple[str, ...] = ()
    skip: Tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    fib_size: int = DEFAULT_FIB_SIZE
    fib_tasks: int = 0
    environ: Dict[str, str] = field(default_factory=dict, repr=False)
    kubeconfig: Optional[str] = None
    kube_context: Optional[str] = None
    namespace: Optional[str] = None
    #: None, "up" (a node must join) or "full" (and leave again after the idle timeout).
    scale_test: Optional[str] = None
    #: Check ids (or "all") whose failures are reported as warnings and do not fail the run.
    ignore: Tuple[str, ...] = ()
    #: Warnings fail the run.
    strict: bool = False
    #: Verify the dashboard's HTTPS certificate against this CA file only (an absolute path).
    ca_bundle: Optional[str] = None
    #: Do not verify the dashboard's HTTPS certificate at all.
    insecure: bool = False
    #: Headers sent with every dashboard request (``--dashboard-header``), as (name, value); values are never shown.
    dashboard_headers: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    #: What no output of the run may show, as (value, what it is): the dashboard's password and header values, the
    #: Ray auth token, the TLS private key. The run's ``Report`` carries them (``Report.secrets``), and the renderers
    #: mask them in ``redaction.masked(report)``.
    secrets: Tuple[Tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    #: How the user submits: "client" (``ray.init("ray://...")``, the platform's seed) or "jobs" (the Ray Jobs API).
    route: str = "client"
    #: The user's own script or notebook (``--script``), an absolute path: its checks join the run.
    script: Optional[str] = None
    #: A runtime_env to judge (``--runtime-env FILE`` or a dict from a notebook), and where it came from.
    runtime_env: Optional[Dict[str, Any]] = field(default=None, compare=False)
    runtime_env_source: Optional[str] = None
    #: The opt-in Ray Tune proof (``--tune-test``).
    tune_test: bool = False

    @property
    def opt_in(self) -> Tuple[str, ...]:
        """The opt-in checks this run asks for."""
        chosen = ["scale-test"] if self.scale_test else []
        if self.script:
            chosen += list(SCRIPT_CHECKS)
        elif self.runtime_env is not None:
            chosen.append("runtime-env")
        if self.tune_test:
            chosen.append("tune-test")
        return tuple(chosen)

    @property
    def dashboard_credentials(self) -> Credentials:
        """What the dashboard's requests (and only those) carry: the URL's basic auth and the headers."""
        return Credentials(self.target.dashboard_auth, self.dashboard_headers)


def _split(value: Union[None, str, Iterable[str]]) -> Tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    else:  # a list of ids, or one id that is not text (a number from a notebook)
        items = [str(v) for v in value] if isinstance(value, Iterable) else [str(value)] if value else []
    return tuple(i.strip() for i in items if i.strip())


def _ids(value: Union[None, str, Iterable[str]], flag: str) -> Tuple[str, ...]:
    ids = _split(value)
    if isinstance(value, str) and not ids:
        raise UsageError(f"{flag} needs at least one check id (`ray-preflight list` shows them)")
    known = registry.checks()
    unknown = [i for i in ids if i not in known]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"{flag}: unknown check id {shown(unknown[0])}; {hint}`ray-preflight list` shows all {len(known)}")
    return ids


def _seconds(value: object, flag: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{flag} must be a number of seconds, not {shown(value)}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{flag} must be a positive number of seconds, not {shown(value)}")
    if seconds > 86400:
        raise UsageError(f"{flag} of {seconds:g} s is more than a day")
    return seconds


def _count(value: object, flag: str, low: int, high: int) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise UsageError(f"{flag} must be a whole number, not {shown(value)}") from None
    if not low <= number <= high:
        raise UsageError(f"{flag} must be between {low:,} and {high:,}, not {shown(number)}")
    return number


def build(
    address: Optional[str] = None,
    *,
    profile: Optional[str] = None,
    dashboard_url: Optional[str] = None,
    domain: Optional[str] = None,
    gcs_address: Optional[str] = None,
    only: Union[None, str, Iterable[str]] = None,
    skip: Union[None, str, Iterable[str]] = None,
    timeout: object = None,
    connect_timeout: object = None,
    fib_size: object = DEFAULT_FIB_SIZE,
    fib_tasks: object = None,
    environ: Optional[Mapping[str, str]] = None,
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    namespace: Optional[str] = None,
    scale_test: Union[None, bool, str] = None,
    ignore: Union[None, str, Iterable[str]] = None,
    strict: bool = False,
    ca_bundle: Optional[str] = None,
    insecure: bool = False,
    dashboard_headers: Any = None,
    route: Optional[str] = None,
    script: Optional[str] = None,
    runtime_env: Any = None,
    tune_test: bool = False,
) -> RunConfig:
    """Validate every input; raise ``UsageError`` (one line) for the first unusable one."""
    env = dict(os.environ if environ is None else environ)
    if profile is not None and not str(profile).strip():
        raise UsageError(f"--profile needs a name: choose one of {', '.join(profiles.names())}")
    chosen = profiles.get(profile or "auto")
    only_ids, skip_ids = _ids(only, "--only"), _ids(skip, "--skip")
    if only_ids and skip_ids and set(only_ids) <= set(skip_ids):
        raise UsageError("--only and --skip leave no check to run")
    scale = _scale_test(scale_test)
    timeout_s = _seconds(timeout if timeout is not None else _default_timeout(scale, chosen) + (TUNE_BUDGET_S if tune_test else 0),
                         "--timeout")
    connect_s = _seconds(DEFAULT_CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout, "--connect-timeout")
    size = _count(fib_size, "--fib-size", 1, 1_000_000)
    tasks = _count(fib_tasks if fib_tasks is not None else (os.cpu_count() or 1), "--fib-tasks", 1, 1024)
    if ca_bundle is not None and insecure:
        raise UsageError("--ca-bundle and --insecure contradict each other: choose one")
    ca_file = _ca_bundle(ca_bundle)
    headers = _headers(dashboard_headers)
    target = resolve(chosen, address, dashboard_url, domain, gcs_address, env)
    if target.dashboard_auth is not None and any(name.lower() == "authorization" for name, _ in headers):
        raise UsageError("the dashboard URL carries user:password@ (basic auth) and --dashboard-header gives an "
                         "Authorization header too: keep one")
    secrets = _secrets(target, headers, env)
    script_path = _script(script)
    runtime, runtime_source = _runtime_env(runtime_env)
    return RunConfig(chosen, target, only_ids, skip_ids, timeout_s, connect_s, size, tasks, env,
                     _kubeconfig(kubeconfig), _text(context, "--context"), _namespace(namespace), scale,
                     _ignore_ids(ignore), bool(strict), ca_file, bool(insecure), headers, tuple(secrets), _route(route),
                     script_path, runtime, runtime_source, bool(tune_test))


def _script(value: Optional[str]) -> Optional[str]:
    """The user's script or notebook (``.py``, ``.ipynb``, or any text file of Python) as an absolute path."""
    path = _file(value, "--script")
    return None if path is None else os.path.abspath(os.path.expanduser(path))


#: A runtime_env file larger than this is not one.
_MAX_RUNTIME_ENV_BYTES = 1_000_000


def _runtime_env(value: Any) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """``--runtime-env FILE`` (YAML or JSON, as ``ray job submit --runtime-env`` takes) or, from a notebook, a dict:
    (the runtime_env, where it came from). A file that cannot be read as one is a usage error."""
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        return dict(value), "the runtime_env given"
    path = _file(value if isinstance(value, str) else str(value), "--runtime-env")
    assert path is not None
    label = _path_shown(path)
    try:
        with open(os.path.expanduser(path), "rb") as handle:
            raw = handle.read(_MAX_RUNTIME_ENV_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--runtime-env {label}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > _MAX_RUNTIME_ENV_BYTES:
        raise UsageError(f"--runtime-env {label}: larger than {_MAX_RUNTIME_ENV_BYTES:,} bytes; not a runtime_env file")
    try:
        import yaml  # the kubernetes client's dependency; YAML is a superset of JSON

        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--runtime-env {label}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"--runtime-env {label}: not YAML or JSON{where}: {getattr(exc, 'problem', None) or 'unreadable'}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--runtime-env {label}: expected a mapping (working_dir:, pip:, ...), not {type(data).__name__}")
    return data, f"--runtime-env {label}"


def _route(value: Optional[str]) -> str:
    if value is None or value == "":
        return "client"
    if value not in ROUTES:
        raise UsageError(f"--route must be client (ray.init(\"ray://...\")) or jobs (the Ray Jobs API), not {shown(value, 40)}")
    return str(value)


#: An HTTP header name (RFC 9110 ``token``).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MAX_HEADERS, _MAX_HEADER_VALUE = 32, 8192


def _headers(value: Any) -> Tuple[Tuple[str, str], ...]:
    """``--dashboard-header 'Name: value'`` (repeatable), a list of such strings, or a dict: (name, value) pairs, a name
    given again replacing the earlier one. A bad one is a usage error that never repeats the value."""
    flag = "--dashboard-header"
    if value is None:
        return ()
    if isinstance(value, str):
        items: List[Any] = [value]
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise UsageError(f"{flag} takes 'Name: value' text, a list of them or a dict, not {type(value).__name__}")
    chosen: Dict[str, Tuple[str, str]] = {}
    for number, item in enumerate(items, 1):
        where = f"{flag} #{number}" if len(items) > 1 else flag
        if isinstance(item, tuple) and len(item) == 2:
            name, text = item
        elif isinstance(item, str):
            if ":" not in item:
                raise UsageError(f"{where}: expected 'Name: value' (the value is not shown)")
            name, _, text = item.partition(":")
        else:
            raise UsageError(f"{where}: expected 'Name: value' text, not {type(item).__name__}")
        if not isinstance(name, str) or not isinstance(text, str):
            raise UsageError(f"{where}: the name and the value must be text")
        name, text = name.strip(), text.strip()  # whitespace around it (a token read from a file) is not part of it
        if not _HEADER_NAME.fullmatch(name):
            raise UsageError(f"{where}: the name before ':' is not a valid HTTP header name (letters, digits and "
                             "!#$%&'*+-.^_`|~ only; the value is not shown)")
        if not text:
            raise UsageError(f"{flag} {name}: the value is empty")
        if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in text):
            raise UsageError(f"{flag} {name}: the value holds a line break or another control character (not shown)")
        if not text.isascii():
            raise UsageError(f"{flag} {name}: the value holds characters outside ASCII (not shown); encode them as "
                             "the server expects")
        if len(text) > _MAX_HEADER_VALUE:
            raise UsageError(f"{flag} {name}: the value is longer than {_MAX_HEADER_VALUE:,} characters")
        chosen.pop(name.lower(), None)
        chosen[name.lower()] = (name, text)
    if len(chosen) > _MAX_HEADERS:
        raise UsageError(f"{flag}: more than {_MAX_HEADERS} headers")
    return tuple(chosen.values())


def _secrets(target: Target, headers: Tuple[Tuple[str, str], ...], environ: Mapping[str, str]) -> List[Tuple[str, str]]:
    """(value, what it is) for every secret of this run: what the dashboard's requests carry, and what Ray would
    use from this environment (its auth token, the TLS private key's content)."""
    found: List[Tuple[str, str]] = []
    basic = target.dashboard_auth
    if basic is not None:
        what = "dashboard credentials (user:password@ in the dashboard URL)"
        found += [(value, what) for value in basic.secrets() + (basic.header().split(" ", 1)[1],)]
    for name, value in headers:
        found += [(piece, f"--dashboard-header {name} value") for piece in _pieces(value)]
    return found + redaction.environment_secrets(environ)


def _pieces(value: str) -> List[str]:
    """A header's value and the secrets inside it, each caught on its own too: the credentials after an auth scheme
    (``Bearer <token>``), each value of ``name=value; ...`` pairs (a cookie)."""
    pieces = [value]
    scheme, space, rest = value.partition(" ")
    if space and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", scheme):
        pieces.append(rest.strip())
    pieces += [pair.partition("=")[2].strip() for pair in value.split(";") if "=" in pair]
    return [p for p in dict.fromkeys(pieces) if p]


#: The Tune proof's room in the default deadline: its 4 trials take ~15 s here, more where the cluster adds nodes for them.
TUNE_BUDGET_S = 120.0
#: The scale test waits for a node to be scheduled and to start (image pulls included) this long at most.
SCALE_UP_BUDGET_S = 300.0


def _scale_test(value: Union[None, bool, str]) -> Optional[str]:
    if value in (None, False, "", "off"):
        return None
    if value is True or value == "up":
        return "up"
    if value == "full":
        return "full"
    raise UsageError(f"--scale-test takes no value (scale up) or =full (up, then down again), not {shown(value, 40)}")


def _default_timeout(scale: Optional[str], profile: Profile) -> float:
    """60 s; with the scale test, room to scale up (and, with full, to idle out twice over)."""
    if not scale:
        return DEFAULT_TIMEOUT_S
    idle = float(profile.autoscaler_idle_timeout_s or 60)
    return DEFAULT_TIMEOUT_S + SCALE_UP_BUDGET_S + (3 * idle + 60 if scale == "full" else 0)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _ignore_ids(value: Union[None, str, Iterable[str]]) -> Tuple[str, ...]:
    ids = _split(value)
    return ("all",) if "all" in ids else _ids(ids, "--ignore")


def _text(value: Optional[str], flag: str) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    if not text or any(ord(c) < 32 for c in text):
        raise UsageError(f"{flag} must be a non-empty name")
    return text


def _namespace(value: Optional[str]) -> Optional[str]:
    text = _text(value, "--namespace")
    if text is not None and not _DNS_LABEL.fullmatch(text):
        raise UsageError(f"--namespace {shown(text, 80)} is not a Kubernetes namespace name (lower-case letters, digits, '-')")
    return text


def _file(value: Optional[str], flag: str) -> Optional[str]:
    """The path given to ``flag``, once it names a file (not a folder)."""
    path = _text(value, flag)
    if path is not None and not os.path.isfile(os.path.expanduser(path)):
        why = "a directory, not a file" if os.path.isdir(os.path.expanduser(path)) else "no such file"
        raise UsageError(f"{flag} {_path_shown(path)}: {why}")
    return path


def _path_shown(path: str) -> str:
    return path if len(path) <= 200 else path[:197] + "..."


def _kubeconfig(value: Optional[str]) -> Optional[str]:
    return _file(value, "--kubeconfig")


def _ca_bundle(value: Optional[str]) -> Optional[str]:
    """The CA file as an absolute path, once it is known to hold PEM certificates OpenSSL can load."""
    path = _file(value, "--ca-bundle")
    if path is None:
        return None
    label = _path_shown(path)
    full = os.path.abspath(os.path.expanduser(path))
    try:
        with open(full, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"--ca-bundle {label}: cannot read it ({exc.strerror or exc})") from None
    import ssl

    try:
        ssl.create_default_context(cafile=full)
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None)
        why = "no certificate in it" if reason == "NO_CERTIFICATE_OR_CRL_FOUND" or not reason else str(reason).lower().replace("_", " ")
        raise UsageError(f"--ca-bundle {label}: not a PEM certificate file ({why}; expected '-----BEGIN CERTIFICATE-----' blocks)") from None
    return full
