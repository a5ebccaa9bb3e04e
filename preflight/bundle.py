"""The support bundle: ``ray-preflight report`` and ``preflight.report()``.

One run of every check, then what the cluster tells (``preflight.cluster_snapshot``) and what this machine
has (``preflight.host_snapshot``), all passed through one ``Redactor`` before anything is written, into
``ray-preflight-report-<UTC>.tar.gz``::

    ray-preflight-report-<UTC>/
        index.html          the verdict, every check, the key facts, links to the rest (no network needed)
        report.json         the full report: results, facts, timings, tool version, command line
        environment.json    OS, Python, versions, every distribution, host facts, environment, proxies, Kubernetes access
        cluster/...         dashboard, cluster status, nodes, jobs, RayCluster, pods, events, log tails
        cluster/collected.json  every cluster piece, collected or not, and why not
        redactions.json     what was redacted, where, by which rule (never the value)

A target the tool cannot use (a malformed address, say) still gives a bundle that says so: support staff
then see the input and the machine together.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from preflight import __version__
from preflight.errors import UsageError
from preflight.model import Report
from preflight.redaction import Redactor, environment_secrets

PREFIX = "ray-preflight-report-"
SUFFIX = ".tar.gz"


@dataclass
class Bundle:
    """A written bundle: where, how big, what is in it, and the run behind it."""

    path: str
    size: int
    files: Dict[str, int]
    report: Optional[Report]
    usage_error: Optional[str]
    redacted: int
    missing: Dict[str, str] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.report is None:
            return "NO-GO (unusable input)"
        return "GO" if self.report.ok else "NO-GO"

    def describe(self) -> str:
        """The line the command prints."""
        checks = f", {_count(len(self.report.results), 'check')}" if self.report is not None else ""
        missing = f"; {_count(len(self.missing), 'cluster piece')} not collected (reasons inside)" if self.missing else ""
        return f"wrote {self.path} ({human_size(self.size)}): {self.verdict}{checks}; {_count(self.redacted, 'value')} redacted{missing}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def human_size(size: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return f"{size} bytes"


def output_path(output: Optional[str], stamp: str) -> str:
    """Where the bundle goes: ``output`` (a file, or a folder to put it in), else the working directory.
    Refused before the run when it cannot be written."""
    name = f"{PREFIX}{stamp}{SUFFIX}"
    if output is not None and not output.strip():
        raise UsageError("--output is empty: give a file or a folder")
    path = os.path.abspath(os.path.expanduser(output)) if output is not None else os.getcwd()
    if os.path.isdir(path):
        path = _unused(os.path.join(path, name))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise UsageError(f"--output {output}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--output {output}: the folder is not writable")
    return path


def _unused(path: str) -> str:
    """``path``, or ``…-2.tar.gz``, ``…-3.tar.gz`` when two bundles are made in the same second."""
    stem, n = path[: -len(SUFFIX)], 2
    while os.path.exists(path):
        path, n = f"{stem}-{n}{SUFFIX}", n + 1
    return path


@dataclass
class Plan:
    """What is settled before the run: where the bundle goes, when it was asked for, the kubeconfigs as read, and a
    Redactor that knows every secret known beforehand. Bad ``--output`` or ``--redact`` fail here, before any run."""

    path: str
    created: datetime
    environ: Mapping[str, str]
    kubeconfigs: List[Dict[str, Any]]
    redactor: Redactor

    @property
    def stamp(self) -> str:
        return self.created.strftime("%Y%m%dT%H%M%SZ")


def prepare(*, environ: Mapping[str, str], kubeconfig: Optional[str], output: Optional[str] = None,
            redact: Sequence[str] = ()) -> Plan:
    """Check the output and the patterns, and collect every secret known before the run: secret-looking variables,
    kubeconfig credentials, the service-account token, the Ray auth token and the TLS private key's content."""
    from preflight.host_snapshot import read_kubeconfigs
    from preflight.kube import kubeconfig_files, service_account_token

    created = datetime.now(timezone.utc)
    path = output_path(output, created.strftime("%Y%m%dT%H%M%SZ"))
    redactor = Redactor()
    redactor.add_patterns(redact)
    redactor.add_environment(environ)
    kubeconfigs = read_kubeconfigs(kubeconfig_files(kubeconfig, environ))
    for entry in kubeconfigs:
        redactor.add_kubeconfig(entry.get("content"), entry["path"])
    redactor.add_known(service_account_token(environ), "in-cluster service-account token")
    redactor.add_secrets(environment_secrets(environ))
    return Plan(path, created, environ, kubeconfigs, redactor)


def create(plan: Plan, build: Callable[[], Any], *, command_line: str,
           run: Optional[Callable[..., Report]] = None, on_stage: Optional[Callable[[str], None]] = None) -> Bundle:
    """Build the run's config with ``build()`` (a ``UsageError`` from it is recorded, not raised), run every check,
    collect the cluster's pieces (through the Kubernetes client the run opened, handed over in its ``Resources``),
    redact, and write the bundle. ``run(config, resources)`` defaults to the engine's runner; ``on_stage(step)`` hears
    each step after the run (``reading the cluster's state``, ``writing the bundle``) as it begins."""
    stage = on_stage or (lambda step: None)
    from preflight.runner import run as engine

    timings: Dict[str, float] = {}
    t0 = time.monotonic()
    report: Optional[Report] = None
    usage_error: Optional[str] = None
    snapshot = None
    config = None
    try:
        config = build()
    except UsageError as exc:
        usage_error = " ".join(str(exc).split())
    if config is not None:
        plan.redactor.add_secrets(getattr(config, "secrets", ()))  # the dashboard's credentials and header values
        from preflight.cluster_snapshot import collect
        from preflight.net import TlsOptions
        from preflight.resources import Resources

        resources = Resources()
        report = (run or engine)(config, resources=resources)
        timings["checks_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        stage("reading the cluster's state")
        budget = max(2.0, min(2 * config.connect_timeout_s + 1, 30.0))
        token = resources.ray_channel.http_headers() if resources.ray_channel is not None else None
        credentials = getattr(config, "dashboard_credentials", None)
        headers = credentials.http_headers(token) if credentials is not None else token
        snapshot = collect(report, budget, TlsOptions(config.ca_bundle, config.insecure), resources.kube_access, headers)
        timings["cluster_s"] = time.monotonic() - t1
    stage("writing the bundle")
    files = _files(plan, report, snapshot, usage_error, command_line, timings)
    written = _write(plan.path, plan.stamp, files, plan.redactor)
    return Bundle(path=plan.path, size=os.path.getsize(plan.path), files=written, report=report, usage_error=usage_error,
                  redacted=plan.redactor.summary()["count"], missing=dict(snapshot.missing) if snapshot else {})


def _plain(value: Any) -> Any:
    """JSON-ready plain values (objects with ``to_dict`` become dicts, anything else unknown its ``str``)."""
    from preflight.render.text import _jsonable

    return json.loads(json.dumps(value, default=_jsonable))


def _files(plan: Plan, report: Optional[Report], snapshot: Any, usage_error: Optional[str], command_line: str,
           timings: Dict[str, float]) -> Dict[str, Any]:
    """Every file of the bundle before redaction (path → JSON-like value, or str for text)."""
    from preflight.host_snapshot import snapshot as host
    from preflight.model import SCHEMA_VERSION

    kube_facts = report.facts.get("kube") if report is not None else None
    summary: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "ray-preflight", "version": __version__},
        "created": plan.created.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command_line": command_line,
        "verdict": "GO" if report is not None and report.ok else "NO-GO",
        "usage_error": usage_error,
        "bundle_timings": {k: round(v, 3) for k, v in timings.items()},
        "report": report.to_dict() if report is not None else None,
    }
    files: Dict[str, Any] = {
        "report.json": summary,
        "environment.json": host(plan.environ, kube_facts, plan.kubeconfigs),
    }
    if snapshot is not None:
        files.update(snapshot.files)
        files["cluster/collected.json"] = snapshot.manifest()
    else:
        files["cluster/collected.json"] = [{"piece": "cluster/", "collected": False,
                                            "reason": f"the input was unusable: {usage_error}"}]
    return {name: (value if isinstance(value, str) else _plain(value)) for name, value in files.items()}


def _write(path: str, stamp: str, files: Dict[str, Any], redactor: Redactor) -> Dict[str, int]:
    """Redact every file, add index.html and redactions.json, and write the archive (atomically: a reader never
    sees half a bundle)."""
    from preflight.render.page import render_page

    encoded: Dict[str, bytes] = {}
    for name, value in files.items():
        if isinstance(value, str):
            encoded[name] = redactor.lines(value, name).encode("utf-8")
        else:
            encoded[name] = (json.dumps(redactor.value(value, name), indent=2) + "\n").encode("utf-8")
    redactions = (json.dumps(redactor.summary(), indent=2) + "\n").encode("utf-8")
    clean = {name: json.loads(data) for name, data in encoded.items() if name.endswith(".json")}
    sizes = dict({n: len(d) for n, d in encoded.items()}, **{"redactions.json": len(redactions)})
    encoded["index.html"] = render_page(clean, sizes, redactor.summary()).encode("utf-8")
    encoded["redactions.json"] = redactions
    order = ["index.html", "report.json", "environment.json", "redactions.json"]
    names = order + sorted(n for n in encoded if n not in order)
    root = f"{PREFIX}{stamp}"
    partial = f"{path}.partial"
    try:
        with tarfile.open(partial, "w:gz") as archive:
            for name in names:
                info = tarfile.TarInfo(f"{root}/{name}")
                info.size, info.mtime, info.mode = len(encoded[name]), int(time.time()), 0o600
                archive.addfile(info, io.BytesIO(encoded[name]))
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except OSError as exc:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise BundleError(f"cannot write {path}: {exc.strerror or exc}") from None
    return {name: len(encoded[name]) for name in names}


class BundleError(OSError):
    """The bundle could not be written (disk full, folder gone)."""


def command_line_of(argv: List[str]) -> str:
    import shlex

    return " ".join(["ray-preflight"] + [shlex.quote(a) for a in argv])
