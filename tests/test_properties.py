"""Property tests (hypothesis): whatever it is given, nothing escapes but the tool's own usage error.

The tool's rule is "never crash, never lie". Two kinds of input reach it from outside:

* what a person types (addresses, flags, a kubeconfig). ``parse_address``, ``parse_dashboard_url``,
  ``resolve`` and ``config.build`` either return or raise ``UsageError`` with one short line that never
  repeats a password written into an address as ``user:password@``. A kubeconfig with any content gives
  credentials or a reason, never another exception.
* facts from servers we do not control (dashboard JSON, the Kubernetes API, a Ray Client PING answer,
  package metadata). Every registered built-in check, handed arbitrary JSON-like facts, returns an
  ``Outcome`` with a known status and a non-empty str summary; without its main fact it never passes.

Arbitrary JSON rarely gets past a check's first ``if``, so facts are also drawn as realistic facts (shaped
like the probes' output) with a few subtrees replaced by arbitrary JSON or removed, and arbitrary dicts are
keyed mostly by the names the checks read (taken from the checks' source).

Budget: 8 properties. Hypothesis draws 300 examples for each of ``parse_address``, ``parse_dashboard_url``
and ``resolve``; 100 for ``build`` and 100 for the kubeconfig; per built-in check, 200 with arbitrary facts and
50 without its main fact; the checks without any facts (all None, all Missing) are run for every profile and
address, no drawing needed. About 30 s on 2 cores; nothing touches the network, nothing sleeps.
"""

from __future__ import annotations

import ast
import copy
import functools
import itertools
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import preflight.checks as checks
from preflight import config, kube, profiles, registry, testing_kuberay
from preflight.errors import Unavailable, UsageError
from preflight.kube import KubeconfigProblem
from preflight.kuberay_objects import compact_pod, compact_raycluster, compact_service
from preflight.model import Missing, Outcome, Status
from preflight.net import CERT_VERIFY_FAILED
from preflight.runner import Context
from preflight.target import parse_address, parse_dashboard_url, resolve
from tests.facts import client_facts, cluster_status, dashboard_facts, server_facts

#: Planted in generated addresses as ``user:SECRET@``: no error message may repeat it.
SECRET = "Pl4nted-S3cret"
MAX_MESSAGE = 400

FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_usage_error(exc: UsageError) -> None:
    message = str(exc)
    assert message, "a usage error says what is wrong"
    assert "\n" not in message and "\r" not in message, f"more than one line: {message!r}"
    assert len(message) < MAX_MESSAGE, f"{len(message)} characters: {message[:200]!r}..."
    assert SECRET not in message, f"the password is shown: {message!r}"


# --- what a person types ---------------------------------------------------------------------------------------------

#: Any str Python allows, lone surrogates included; and long ones.
any_text = st.one_of(
    st.text(),
    st.text(st.characters(blacklist_categories=()), max_size=40),
    st.builds(lambda part, times: part * times, st.text(min_size=1, max_size=4), st.integers(100, 3000)),
)
hosts = st.one_of(
    st.sampled_from(["head", "ray-cluster-kuberay-head-svc.kuberay", "127.0.0.1", "[::1]", "::1", "[fe80::1%eth0]", "[::1",
                     "", ".", "a..b", "-x", "x-", "ex_ample.org.", "héad", "xn--hd-cja", "a" * 64, ("a" * 63 + ".") * 5,
                     "0x7f.1", "999.1.1.1", "localhost", "auto", "[1.2.3.4]", "[::ffff:1.2.3.4]"]),
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9_-]{1,12}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.text(max_size=12),
)
ports = st.one_of(
    st.integers(-2, 70000).map(str),
    st.sampled_from(["", "0", "10001", "65535", "65536", "١٠٠٠١", "１０００１", "+1", "1_0", "0x10", "²"]),
    st.text(max_size=6),
)
userinfo = st.sampled_from(["", "", f"user:{SECRET}@", f"{SECRET}@", f":{SECRET}@", f"user:{SECRET}@@", f"u:{SECRET}/x@",
                            f"u:{SECRET} x@", f"u@{SECRET}@"])


def _joined(scheme: str, user: str, host: str, sep: str, port: str, tail: str) -> str:
    return scheme + user + host + sep + port + tail


def url_like(schemes: List[str]) -> st.SearchStrategy[str]:
    """``scheme`` + ``user:password@`` + host + ``:port`` + a tail, each part sometimes broken."""
    return st.builds(_joined, st.sampled_from(schemes), userinfo, hosts, st.sampled_from(["", ":", ":"]), ports,
                     st.one_of(st.sampled_from(["", "", "/", "/path", "?x=1", "#f", " ", "\t", "\n", "\x00", "@", "://x"]),
                               st.text(max_size=4)))


addresses = st.one_of(url_like(["ray://", "ray://", "RAY://", "", "http://", "https://", "grpc://", "ray:/", "://", "ray:///"]),
                      any_text, st.sampled_from(["auto", "local", "localhost:auto", " ray://head:10001 "]))
dashboard_urls = st.one_of(url_like(["http://", "https://", "", "HTTP://", "ftp://", "ray://"]), any_text)
names = st.one_of(st.sampled_from(["kuberay", "default", "example.com", "ray.example.com", "Example", "-a", "a-"]), any_text)


@settings(FAST, max_examples=300)
@given(text=st.one_of(addresses, st.none()))
def test_an_address_parses_or_is_a_one_line_usage_error(text: Optional[str]) -> None:
    try:
        host, port = parse_address(text)  # type: ignore[arg-type]
    except UsageError as exc:
        assert_usage_error(exc)
        return
    assert host and 1 <= port <= 65535
    assert SECRET not in host


@settings(FAST, max_examples=300)
@given(text=st.one_of(dashboard_urls, st.none()))
def test_a_dashboard_url_parses_or_is_a_one_line_usage_error(text: Optional[str]) -> None:
    try:
        url = parse_dashboard_url(text)  # type: ignore[arg-type]
    except UsageError as exc:
        assert_usage_error(exc)
        return
    assert url.lower().startswith(("http://", "https://"))


@settings(FAST, max_examples=300)
@given(profile=st.sampled_from(profiles.names()), address=st.one_of(st.none(), addresses),
       dashboard_url=st.one_of(st.none(), dashboard_urls), domain=st.one_of(st.none(), names),
       gcs_address=st.one_of(st.none(), addresses, url_like([""])), ray_address=st.one_of(st.none(), addresses))
def test_resolve_gives_a_target_or_a_one_line_usage_error(profile: str, address: Optional[str], dashboard_url: Optional[str],
                                                         domain: Optional[str], gcs_address: Optional[str],
                                                         ray_address: Optional[str]) -> None:
    environ = {} if ray_address is None else {"RAY_ADDRESS": ray_address}
    try:
        target = resolve(profiles.get(profile), address, dashboard_url, domain, gcs_address, environ)
    except UsageError as exc:
        assert_usage_error(exc)
        return
    assert 1 <= target.port <= 65535 and 1 <= target.gcs_port <= 65535
    assert SECRET not in target.address + target.gcs_address


CHECK_IDS = sorted(registry.checks())
numbers = st.one_of(st.integers(), st.integers(-10**400, 10**400), st.floats(), st.sampled_from([0, 1, 60, 1e400, -1, 2**70, True]))
id_lists = st.one_of(st.lists(st.sampled_from(CHECK_IDS + ["all", ""]), max_size=4).map(",".join),
                     st.lists(st.one_of(st.sampled_from(CHECK_IDS), any_text, numbers), max_size=3))
#: Any value a keyword may be handed from a notebook, a settings file or the command line.
anything = st.one_of(st.none(), any_text, numbers, st.booleans())


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A folder for generated kubeconfig files (module-scoped: hypothesis runs many examples per test)."""
    with tempfile.TemporaryDirectory(prefix="preflight-properties-") as folder:
        yield Path(folder)


@settings(FAST, max_examples=100)
@given(address=st.one_of(addresses, numbers), profile=st.one_of(st.sampled_from(profiles.names()), anything),
       only=st.one_of(anything, id_lists), skip=st.one_of(anything, id_lists), ignore=st.one_of(anything, id_lists),
       timeout=anything, connect_timeout=anything, fib_size=anything, fib_tasks=anything,
       namespace=st.one_of(names, anything), context=anything, kubeconfig=st.one_of(anything, st.just("<file>")),
       scale_test=st.one_of(st.sampled_from([None, True, False, "up", "full", "off", "", "down"]), anything),
       ray_address=st.one_of(st.none(), addresses), content=st.binary(max_size=64))
def test_build_gives_a_config_or_a_one_line_usage_error(scratch: Path, address: Any, profile: Any, only: Any, skip: Any,
                                                       ignore: Any, timeout: Any, connect_timeout: Any, fib_size: Any,
                                                       fib_tasks: Any, namespace: Any, context: Any, kubeconfig: Any,
                                                       scale_test: Any, ray_address: Optional[str], content: bytes) -> None:
    if kubeconfig == "<file>":
        kubeconfig = str(scratch / "config")
        Path(kubeconfig).write_bytes(content)
    environ = {} if ray_address is None else {"RAY_ADDRESS": ray_address}
    try:
        made = config.build(address, profile=profile, only=only, skip=skip, timeout=timeout, connect_timeout=connect_timeout,
                            fib_size=fib_size, fib_tasks=fib_tasks, environ=environ, kubeconfig=kubeconfig, context=context,
                            namespace=namespace, scale_test=scale_test, ignore=ignore)
    except UsageError as exc:
        assert_usage_error(exc)
        return
    assert math.isfinite(made.timeout_s) and made.timeout_s > 0
    assert math.isfinite(made.connect_timeout_s) and made.connect_timeout_s > 0
    assert 1 <= made.fib_size and 1 <= made.fib_tasks
    assert set(made.only) <= set(CHECK_IDS) and set(made.skip) <= set(CHECK_IDS)


_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                          st.sampled_from(["https://127.0.0.1:1", "kuberay", "ctx", "abc", "bm90IGEgY2VydA==", "~/nothing"]))
_kubeconfig_keys = st.sampled_from(["apiVersion", "kind", "clusters", "contexts", "users", "current-context", "preferences",
                                    "name", "cluster", "context", "user", "server", "namespace", "token", "username",
                                    "password", "insecure-skip-tls-verify", "certificate-authority-data"])
_yaml_values = st.recursive(_yaml_scalars, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.one_of(_kubeconfig_keys, st.text(max_size=6)), inner, max_size=5), max_leaves=20)


def _kubeconfig_text(name: str, server: Any, namespace: Any, token: Any, current: Any) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": current,
                           "clusters": [{"name": name, "cluster": {"server": server}}],
                           "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
                           "users": [{"name": name, "user": {"token": token}}]})


kubeconfig_texts = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.text(max_size=200),
    _yaml_values.map(yaml.safe_dump),
    st.builds(_kubeconfig_text, st.sampled_from(["ctx", "", "a b"]), _yaml_scalars, _yaml_scalars, _yaml_scalars,
              st.one_of(st.just("ctx"), _yaml_scalars)),
)


@settings(FAST, max_examples=100)
@given(content=kubeconfig_texts, context=st.one_of(st.none(), st.just("ctx"), st.text(max_size=12)))
def test_any_kubeconfig_gives_credentials_or_a_reason(scratch: Path, content: str, context: Optional[str]) -> None:
    path = scratch / "kubeconfig"
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    try:
        made = config.build("ray://head:10001", profile="auto", environ={}, kubeconfig=str(path), context=context)
    except UsageError as exc:
        assert_usage_error(exc)
        return
    try:
        access = kube.connect(made.kubeconfig, made.kube_context, {}, (1.0, 1.0))
    except (Unavailable, KubeconfigProblem) as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(access.source, str)


# --- facts from servers we do not control ----------------------------------------------------------------------------

def _names_read_by_checks() -> List[str]:
    """The keys the check modules read (``x["key"]``, ``x.get("key")``) and the words they compare with."""
    found = set()
    for source in Path(checks.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) <= 30 \
                    and " " not in node.value and "{" not in node.value:
                found.add(node.value)
    return sorted(found)


WORDS = _names_read_by_checks()
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.sampled_from(WORDS),
                   st.sampled_from(["2.2.0", "2.1.0", "3.8.18", "3.8", "2022-10-05", "waiting:CrashLoopBackOff", "True", "False",
                                    "Running", "Pending", "Failed", "ready", "head", ">=2", "1.2", "x.y", ""]),
                   st.sampled_from([0, 1, 2, 3, 5, 60, 401, 403, 404, 6379, 8265, 10001, 0.5, -1]))
#: JSON-like values whose dicts are keyed mostly by the names the checks read.
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), inner, max_size=6),
                           max_leaves=25)

_DROP = object()


def _paths(value: Any, path: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    """The key paths to every value inside ``value``."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: List[Tuple[Any, ...]] = []
    for key, child in items:
        found += [path + (key,), *_paths(child, path + (key,))]
    return found


def _holds(value: Any, key: Any) -> bool:
    return isinstance(value, dict) and key in value or isinstance(value, list) and isinstance(key, int) and key < len(value)


def _changed(seed: Any, changes: List[Tuple[Tuple[Any, ...], Any]]) -> Any:
    """A copy of ``seed`` with the value at each path replaced (or removed, for ``_DROP``); a path that an earlier
    change took away is left alone."""
    value = copy.deepcopy(seed)
    for path, replacement in changes:
        parent = value
        for key in path[:-1]:
            parent = parent[key] if _holds(parent, key) else None
        if replacement is _DROP and _holds(parent, path[-1]):
            del parent[path[-1]]
        elif replacement is not _DROP and (isinstance(parent, dict) or _holds(parent, path[-1])):
            parent[path[-1]] = replacement
    return value


def mutated(seed: Any) -> st.SearchStrategy[Any]:
    """``seed`` with a few values here and there replaced by arbitrary JSON, or removed."""
    change = st.tuples(st.sampled_from(_paths(seed)), st.one_of(json_values, st.just(_DROP)))
    return st.lists(change, max_size=4).map(lambda changes: _changed(seed, changes))


def _kuberay_facts(spec: testing_kuberay.ClusterSpec) -> Dict[str, Any]:
    """The ``kuberay`` probe's facts for a generated KubeRay world."""
    pods = [testing_kuberay.head_pod(spec)] + [testing_kuberay.worker_pod(spec, i) for i in range(spec.workers)]
    pods += [testing_kuberay.worker_pod(spec, 10 + i, pending=True) for i in range(spec.pending_workers)]
    pods += [testing_kuberay.worker_pod(spec, 20 + i, crashing=True) for i in range(spec.crashing_workers)]
    return {"namespace": spec.namespace, "crds_installed": True, "cluster": spec.name,
            "raycluster": {"ok": True, "value": compact_raycluster(testing_kuberay.raycluster(spec))},
            "operator_pods": {"ok": True, "value": [compact_pod(testing_kuberay.operator_pod(spec))]},
            "service": {"ok": True, "value": compact_service(testing_kuberay.service(spec))},
            "pods": {"ok": True, "value": [compact_pod(p) for p in pods]}}


def _kube_seeds() -> Dict[str, Any]:
    kube_facts = {"source": "kubeconfig ~/.kube/config", "server": "https://10.0.0.1:6443", "namespace": "kuberay",
                  "namespace_from": "the address", "cluster": "ray-cluster-kuberay", "cluster_from": "the address",
                  "operator_namespace": "kuberay", "ray_api": {"served": ["v1", "v1alpha1"], "preferred": "v1"}}
    healthy = _kuberay_facts(testing_kuberay.ClusterSpec())
    ailing = _kuberay_facts(testing_kuberay.ClusterSpec(
        pending_workers=1, crashing_workers=1, operator_waiting="CrashLoopBackOff", operator_restarts=5,
        autoscaler_waiting="CrashLoopBackOff", autoscaler_restarts=4, service_ports=(("client", 10001),), state="failed"))
    refused = {"ok": False, "error": {"status": 403, "verb": "list", "resource": "pods", "namespace": "kuberay",
                                      "message": "pods is forbidden"}}
    return {"kube": [kube_facts, dict(kube_facts, access_error=refused["error"]),
                     dict(kube_facts, ray_api={"served": [], "discovery_error": refused["error"]}),
                     {"broken": "kubeconfig x is not valid YAML", "kubeconfig": "x", "asked": True}],
            "kuberay": [healthy, ailing, dict(healthy, raycluster=refused, pods=refused, operator_pods=refused),
                        dict(healthy, raycluster={"ok": False, "error": dict(refused["error"], status=404)})]}


def _notebook_pod_seeds() -> List[Dict[str, Any]]:
    """The ``notebook_pod`` probe's facts: the release's image, another one, a pod without the notebook label, a refused
    read, no such pod, an unusable service account."""
    from preflight.checks.notebook_image import compact_notebook_pod

    def read(**pod: Any) -> Dict[str, Any]:
        return {"ok": True, "value": compact_notebook_pod(testing_kuberay.notebook_pod("ray-notebook-0", "alice", **pod))}

    base = {"pod": "ray-notebook-0", "namespace": "alice", "namespace_from": "the service account",
            "source": "in-cluster service account", "server": "https://10.96.0.1:443"}
    error = {"status": 403, "verb": "get", "resource": "pods", "namespace": "alice", "message": "pods is forbidden"}
    return [dict(base, read=read()), dict(base, read=read(image="kubeflownotebookswg/jupyter-scipy:v1.7.0")),
            dict(base, read=read(notebook=None, sidecar=False)), dict(base, read={"ok": False, "error": error}),
            dict(base, read={"ok": False, "error": dict(error, status=404)}),
            dict(base, broken="the pod's service account cannot be used: Service certification file does not exist.")]


#: Facts shaped like each probe's output, healthy and not.
SEEDS: Dict[str, List[Any]] = {
    "endpoint": [{"host": "head", "port": 10001, "ok": True, "addresses": ["10.0.0.2"], "dns_ms": 1.0, "tcp_ms": 0.5},
                 {"host": "head", "port": 10001, "ok": False, "error_kind": "refused", "error": "head:10001 refused"}],
    "ray_client": [{"ok": True, "ping_ms": 2.5, "grpc_status": 0, "answer": {"ray_version": "2.2.0"}},
                   {"ok": False, "error_kind": "silent", "error": "head:10001 sent no answer"},
                   {"service": "gcs", "ok": True, "gcs_ms": 3.0, "cluster_metadata": True, "local_raylets": ["10.0.0.2:6379"]},
                   {"service": "gcs", "ok": True, "gcs_ms": 3.0, "cluster_metadata": True, "local_raylets": []},
                   {"service": "gcs", "ok": False, "error_kind": "not-gcs", "error": "head:6379 answers gRPC but not as a Ray GCS"}],
    "client": [client_facts(), client_facts(ray=None),
               client_facts(ray="2.1.0", protocol="2022-10-05", pydantic="2.5.0", numpy="1.24.0",
                            requirements=[{"name": "grpcio", "specifier": ">=1.42", "installed": "1.40", "extra": "client"},
                                          {"name": "protobuf", "specifier": "", "installed": None, "extra": ""}])],
    "server": [server_facts(), server_facts(ray="2.60.0", python="3.11.7")],
    "dashboard": [dashboard_facts(cluster_status({"smallgroup": 1, "head-group": 1}, pending={"smallgroup": 1},
                                                 failed=[{"nodeType": "smallgroup"}])),
                  dashboard_facts(cluster_status({"node_" + "ab" * 28: 1}, error="Traceback\nForbidden")),
                  dashboard_facts(ok=False, error="behind a sign-in page", error_kind="sign-in", unreachable=False),
                  dashboard_facts(ok=False, error="TLS failed", error_kind="tls", tls={"verified": True, "ca_bundle": "ca.pem"},
                                  tls_error=CERT_VERIFY_FAILED + ": self-signed certificate in certificate chain"),
                  dashboard_facts(tls={"verified": False, "ca_bundle": None})],
    "fibonacci_run": [{"ok": True, "stage": "done", "size": 10000, "tasks": 2, "init_s": 1.2, "local_s": 0.1, "remote_s": 0.3,
                       "shutdown_s": 0.1, "nodes": ["n1"], "wall_s": 2.0, "mismatches": 0,
                       "server_packages": {"cloudpickle": "2.2.0", "numpy": "1.23.5", "pandas": None, "pyarrow": "10.0"}},
                      {"ok": False, "stage": "init", "error": "ConnectionError: x", "stderr_tail": "Traceback\nboom"},
                      {"ok": False, "stage": "done", "mismatches": 1, "tasks": 2, "server_packages_error": "timed out"}],
    "scale_run": [{"ok": True, "full": True, "stage": "done", "nodes_before": 1, "cpus_before": 2, "nodes_peak": 2, "up_s": 30.0,
                   "ready_s": 31.0, "down_s": 70.0, "wall_s": 100.0},
                  {"ok": False, "stage": "scale-up", "error": "no node joined within 240 s"}],
    "proxy_route": [{"target": "head:10001", "grpcio": "1.51.3", "rules": "grpcio 1.46 to 1.54", "set": ["https_proxy", "no_proxy"],
                     "empty": [], "unread": ["NO_PROXY"], "ray": {"version": "2.2.0", "sets_option": False, "override": False},
                     "ray_turns_proxy_off": False, "variable": "https_proxy", "proxy": "proxy:3128", "credentials": False,
                     "unusable": None, "exclusion_variable": "no_proxy", "excluded_by": None, "grpc_uses_proxy": True,
                     "applies": True, "depends_on_grpcio": False, "unread_exclusion": "NO_PROXY",
                     "connect": {"ok": False, "error_kind": "status", "error": "the proxy answered CONNECT head:10001 with HTTP 403",
                                 "status": 403, "tcp_ms": 0.4}},
                    {"target": "head:10001", "grpcio": "1.60.0", "rules": "grpcio 1.55 to 1.72", "set": [], "empty": [], "unread": [],
                     "ray": {"version": "2.60.0", "sets_option": True, "override": False}, "ray_turns_proxy_off": True,
                     "variable": None, "proxy": None, "grpc_uses_proxy": False, "applies": False, "depends_on_grpcio": False}],
    "ray_tls": [{"where": "head:10001", "host": "head", "port": 10001, "channel_ready": False,
                 "client": {"enabled": False, "use_tls": None, "set": [], "problems": []},
                 "server": {"speaks_tls": False, "how": "a plain-text gRPC call was answered"}},
                {"where": "head:10001", "host": "head", "port": 10001, "channel_ready": True,
                 "client": {"enabled": True, "use_tls": "1", "set": ["RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT"],
                            "problems": [], "pair_ok": True, "ca_accepts_cert": True,
                            "cert": {"variable": "RAY_TLS_SERVER_CERT", "path": "c.crt", "subject": "CN=me", "issuer": "CN=CA",
                                     "not_after": "2030-01-01T00:00:00Z", "expired": False, "days_left": 900},
                            "key": {"variable": "RAY_TLS_SERVER_KEY", "path": "c.key", "pem_private_key": True, "encrypted": False},
                            "ca": {"variable": "RAY_TLS_CA_CERT", "path": "ca.crt", "subject": "CN=CA", "issuer": "CN=CA",
                                   "not_after": "2030-01-01T00:00:00Z", "expired": False, "days_left": 900}},
                 "server": {"speaks_tls": True, "version": "TLSv1.3", "certificate": {
                     "subject": "CN=head", "issuer": "CN=CA", "names": ["DNS:head"], "not_after": "2027-01-01T00:00:00Z", "expired": False,
                     "days_left": 5}},
                 "verified": {"ok": False, "error_kind": "tls", "cause": "certificate verify failed: hostname mismatch, certificate is "
                                                                       "not valid for 'head'"}},
                {"where": "head:10001", "host": "head", "port": 10001, "channel_ready": False,
                 "client": {"enabled": True, "use_tls": "true", "set": [], "missing": ["RAY_TLS_CA_CERT"],
                            "problems": [{"text": "RAY_TLS_CA_CERT is not set", "remedy": "export RAY_TLS_CA_CERT=<ca.crt>"}]},
                 "server": {"speaks_tls": True}}],
    "client_auth": [{"mode": None, "sends_token": False, "token_source": None, "token_problem": None, "ray": "2.60.0",
                     "ray_supports_tokens": True, "server_demands_token": False},
                    {"mode": "token", "sends_token": True, "token_source": "RAY_AUTH_TOKEN", "token_problem": None, "ray": "2.60.0",
                     "ray_supports_tokens": True, "server_demands_token": True, "accepted": True},
                    {"mode": None, "sends_token": False, "token_source": "~/.ray/auth_token (/home/u/.ray/auth_token)",
                     "token_problem": None, "ray": "2.2.0", "ray_supports_tokens": False, "server_demands_token": True,
                     "server_message": "Invalid or missing authentication token"},
                    {"mode": "token", "sends_token": False, "token_source": None,
                     "token_problem": "RAY_AUTH_TOKEN_PATH is set but the file cannot be opened or is empty: /x", "ray": None,
                     "ray_supports_tokens": None, "server_demands_token": None, "probe_error": "refused"}],
    "jobs_api": [{"url": "http://head:8265/api/jobs/", "kind": "json", "http_status": 200, "ms": 2.0, "listed": 3,
                  "sent": {"basic_auth": True, "headers": ["X-Auth"], "ray_token": True}},
                 {"url": "http://head:8265/api/jobs/", "kind": "not-found", "http_status": 404, "error": "no Ray dashboard API"},
                 {"url": "http://head:8265/api/jobs/", "kind": "sign-in", "http_status": 200, "error": "behind a sign-in page"}],
    "job_fibonacci_run": [{"ok": True, "stage": "done", "submission_id": "ray-preflight-1", "status": "SUCCEEDED", "size": 10000,
                           "tasks": 2, "wall_s": 2.5, "result": {"ok": True, "size": 10000, "tasks": 2, "mismatches": 0, "nodes": ["n1"],
                                                                  "ray": "2.2.0", "python": "3.8.18", "remote_s": 0.1, "local_s": 0.1}},
                          {"ok": False, "stage": "done", "submission_id": "ray-preflight-2", "status": "FAILED",
                           "log_tail": "Traceback (most recent call last):\nRuntimeError: boom\n", "result": {}},
                          {"ok": False, "stage": "timeout", "submission_id": "ray-preflight-3", "status": "RUNNING",
                           "final_status": "STOPPED", "stop": {"stopped": True}}],
    "script": [{"path": "/w/train.py", "kind": "python", "lines": 40, "cells": None, "error": None, "skipped_cells": [],
                "imports": [{"module": "numpy", "full": "numpy", "line": 2, "cell": None, "optional": False},
                            {"module": "helpers", "full": "helpers", "line": 3, "cell": None, "optional": False}],
                "third_party": ["numpy", "ray"], "local": ["helpers"], "local_files": {"helpers": ["helpers.py"]},
                "remote_imports": ["numpy", "helpers"], "client_modules": {"numpy": {"distribution": "numpy", "version": "1.24.4"}},
                "remote_requests": [{"line": 6, "cell": None, "where": "@ray.remote", "target": "train", "target_kind": "function",
                                     "num_cpus": 2, "num_gpus": 1, "memory": None, "resources": {"TPU": 1}, "not_judged": ["memory"]}],
                "inits": [{"line": 4, "cell": None, "address": "ray://head:10001", "address_literal": True,
                           "runtime_env": {"working_dir": ".", "pip": ["pydantic>=2"]}, "runtime_env_literal": True}],
                "libraries": [{"library": "ray.data", "line": 7, "cell": None, "count": 2}],
                "launches": [{"target": "train", "target_kind": "class", "line": 9, "cell": None, "count": 5, "loops": ["for _ in range(5)"],
                              "num_cpus": 2, "num_gpus": None, "not_judged": []}],
                "placement_groups": [{"line": 10, "cell": None, "bundles": [{"CPU": 1}, {"CPU": 1, "GPU": 1}], "strategy": "STRICT_PACK",
                                      "not_judged": []},
                                     {"line": 11, "cell": None, "bundles": None, "strategy": None, "not_judged": ["bundles", "strategy"]}]},
               {"path": "/w/bad.py", "kind": "python", "lines": 3, "cells": None, "error": "bad.py line 3: invalid syntax",
                "imports": [], "third_party": [], "local": [], "local_files": {}, "remote_requests": [], "inits": [], "libraries": []}],
    "runtime_envs": [{"server_ray": "2.2.0", "server_python": "3.8.18", "script_error": None, "judged": [
                         {"source": "train.py ray.init (line 4)", "problems": ["pip and conda cannot both be given"],
                          "pip_conflicts": [{"entry": "pydantic>=2", "why": "Ray 2.2.0 breaks with pydantic 2", "fix": "pydantic<2"}],
                          "dropped_modules": [{"module": "helpers", "path": "helpers.py", "rule": ".gitignore"}],
                          "upload": {"verdict": "too-big", "message": "working_dir: 600 MiB", "remedy": "exclude it", "problems": []},
                          "packed_by": "Ray 2.2.0 (installed here)"},
                         {"source": "--runtime-env env.yaml", "not_literal": "make_env()"}]},
                     {"server_ray": None, "server_python": None, "script_error": None, "judged": []}],
    "tune_run": [{"ok": True, "stage": "done", "trials": 4, "ray_version": "2.2.0", "objective": "sklearn", "metric": "accuracy",
                  "mode": "max", "tune_s": 6.1, "completed": 4, "cluster": {"sklearn": True, "sklearn_version": "1.3.2"},
                  "best": {"config": {"C": 0.5}, "accuracy": 0.93}, "trial_results": [{"config": {"C": 0.5}, "accuracy": 0.93}]},
                 {"ok": False, "stage": "import", "failed_import": "ray.tune", "ray_version": "2.2.0",
                  "error": "ModuleNotFoundError: No module named 'pandas'"},
                 {"ok": False, "stage": "tune", "objective": "quadratic", "error": "ModuleNotFoundError: No module named 'pandas'"},
                 {"ok": False, "stage": "timeout", "timed_out_at": "tune", "error": "the job did not finish within 40 s; it was stopped"}],
    **_kube_seeds(),
    "notebook_pod": _notebook_pod_seeds(),
}

#: The built-in checks (plugins of other distributions are theirs to test).
CHECKS = {c.id: c for c in registry.checks().values() if c.origin == "built-in"}
#: Real run settings: each profile, with a head named by a short name, by its KubeRay service and by an IPv6 address,
#: and in each form an address takes (Ray Client, GCS, Ray Jobs URL).
CONFIGS = [config.build(address, profile=name, environ={}, fib_tasks=2)
           for name in profiles.names()
           for address in ("ray://head:10001", "ray://ray-cluster-kuberay-head-svc.kuberay:10001", "ray://[::1]:10001",
                           "head:6379", "[::1]:6379", "http://head:8265", "https://ray-dashboard.example.com/")]


@functools.lru_cache(maxsize=None)
def fact_values(name: str) -> st.SearchStrategy[Any]:
    """Anything a probe (or a server behind it) could hand a check as the fact ``name``."""
    seeds = SEEDS.get(name, [])
    return st.one_of(st.none(), st.builds(Missing, st.text(max_size=20)), json_values, *(mutated(s) for s in seeds))


def given_fact(name: str, run: config.RunConfig) -> Any:
    """The facts every run provides without a probe."""
    return {"config": run, "profile": run.profile, "target": run.target, "ctx": Context(run, time.monotonic() + 60)}[name]


def assert_outcome(outcome: Any) -> None:
    assert isinstance(outcome, Outcome), f"returned {type(outcome).__name__}, not an Outcome"
    assert isinstance(outcome.status, Status)
    assert isinstance(outcome.summary, str) and outcome.summary.strip(), f"summary {outcome.summary!r}"
    assert outcome.remedy is None or isinstance(outcome.remedy, str), f"remedy {outcome.remedy!r}"
    assert isinstance(outcome.details, dict)


def test_every_built_in_check_is_covered() -> None:
    assert len(CHECKS) >= 14
    unknown = {n for c in CHECKS.values() for n in c.needs + c.optional} - set(registry.GIVEN) - set(SEEDS)
    assert not unknown, f"no seed facts for {unknown}: add some to SEEDS"


def _arguments(check: registry.Check, run: config.RunConfig, draw: Any, absent: Optional[str] = None) -> Dict[str, Any]:
    kwargs = {}
    for name in check.needs + check.optional:
        if name in registry.GIVEN:
            kwargs[name] = given_fact(name, run)
        elif name == absent:
            kwargs[name] = draw(st.sampled_from([None, Missing("its probe did not answer")]), label=name)
        else:
            kwargs[name] = draw(fact_values(name), label=name)
    return kwargs


@pytest.mark.parametrize("check_id", sorted(CHECKS))
@settings(FAST, max_examples=200)
@given(data=st.data())
def test_a_check_returns_an_outcome_whatever_its_facts(check_id: str, data: st.DataObject) -> None:
    check = CHECKS[check_id]
    run = data.draw(st.sampled_from(CONFIGS), label="config")
    assert_outcome(check.func(**_arguments(check, run, data.draw)))


def _main_fact(check: registry.Check) -> str:
    """The fact a check is about: by convention, the first one it needs (a check that needs none, such as the
    autoscaler's, judges whichever of its optional facts it gets: without any it must not pass, tested below)."""
    return next(n for n in check.needs if n not in registry.GIVEN)


@pytest.mark.parametrize("check_id", sorted(c.id for c in CHECKS.values() if set(c.needs) - set(registry.GIVEN)))
@settings(FAST, max_examples=50)
@given(data=st.data())
def test_a_check_without_its_main_fact_never_passes(check_id: str, data: st.DataObject) -> None:
    check = CHECKS[check_id]
    run = data.draw(st.sampled_from(CONFIGS), label="config")
    outcome = check.func(**_arguments(check, run, data.draw, absent=_main_fact(check)))
    assert_outcome(outcome)
    assert outcome.status is not Status.PASS, outcome.summary


@pytest.mark.parametrize("absent", [None, Missing("its probe did not answer")], ids=["None", "Missing"])
@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_a_check_without_any_facts_never_passes(check_id: str, absent: Any) -> None:
    check = CHECKS[check_id]
    for run in CONFIGS:
        kwargs = {n: given_fact(n, run) if n in registry.GIVEN else absent for n in check.needs + check.optional}
        outcome = check.func(**kwargs)
        assert_outcome(outcome)
        assert outcome.status is not Status.PASS, f"{run.profile.name}: {outcome.summary}"


def test_the_seeds_reach_several_verdicts_of_every_check() -> None:
    """Realistic facts lead each check past its first ``if`` (or the mutations of them would test little)."""
    for check in CHECKS.values():
        names = [n for n in check.needs + check.optional if n not in registry.GIVEN]
        seen = set()
        for run in CONFIGS:
            for seeds in itertools.product(*(SEEDS[n] + ([None] if n in check.optional else []) for n in names)):
                kwargs = {n: given_fact(n, run) for n in check.needs + check.optional if n in registry.GIVEN}
                seen.add(check.func(**kwargs, **dict(zip(names, seeds))).status)
        assert len(seen - {Status.ERROR}) >= 2, (check.id, seen)
