"""The ``proxy`` check: would gRPC send ``ray.init``'s channel through an HTTP proxy, and would it get through?

What is real here: loopback sockets (closed ports, a listener that never answers, a target listener), a tiny
HTTP CONNECT proxy written below that relays bytes to the target, the CLI run as a user runs it (a child process
of this Python, with a clean environment: every proxy variable a test does not set is removed), and the
installed grpcio in child processes, which shows that gRPC does use a proxy variable and that our reading of the
rules agrees with it. The matching rules of older grpcio releases are table-driven unit tests of the pure
functions, with the outcomes observed with those releases.

With Ray 2.9 and later installed, Ray itself turns gRPC's proxy support off for ``ray://`` unless
``RAY_grpc_enable_http_proxy=1``; the tests that expect gRPC to use the proxy set that variable (``FOLLOW``), which
is also how such a Ray behaves when a user sets it, and how Ray 2.8 and older behave without it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from preflight import config
from preflight.checks.proxy import (
    RAY_SWITCH,
    RULE_SETS,
    ProxyUrl,
    Rules,
    covering_entry,
    grpc_route,
    parse_proxy_url,
    proxy,
    ray_switch,
    rules_for,
)
from preflight.model import Status
from preflight.runner import run
from preflight.target import resolve
from preflight.testing import LoopbackServer, SilentListener, closed_port

#: Every variable that could change the route of a test's connection.
_ROUTING = {"grpc_proxy", "https_proxy", "http_proxy", "all_proxy", "no_proxy", "no_grpc_proxy", RAY_SWITCH.lower()}
#: With Ray 2.9+ installed, Ray keeps gRPC off the proxy unless this is set (Ray 2.8 and older never do).
FOLLOW = {RAY_SWITCH: "1"}
SECRET = "s3cret"


def clean_env(**extra: str) -> Dict[str, str]:
    """This process's environment without any proxy variable (or RAY_ADDRESS), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _ROUTING and k != "RAY_ADDRESS"}
    env.update(extra)
    return env


def run_cli(port: int, env: Dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "preflight", "--address", f"ray://127.0.0.1:{port}", "--only", "proxy", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def json_result(proc: subprocess.CompletedProcess) -> dict:
    report = json.loads(proc.stdout)
    assert [r["id"] for r in report["results"]] == ["proxy"], report
    return dict(report["results"][0], facts=report["facts"]["proxy_route"])


def in_process(port: int, environ: Dict[str, str], connect_timeout: float = 3.0):  # type: ignore[no-untyped-def]
    """The check through the runner in this process, on ``environ`` (not this process's environment)."""
    report = run(config.build(f"ray://127.0.0.1:{port}", only="proxy", environ=environ, connect_timeout=connect_timeout))
    return report["proxy"], report.facts["proxy_route"]


class ConnectProxy(LoopbackServer):
    """A real, tiny HTTP CONNECT proxy on loopback: it answers ``status`` to CONNECT and, on 200, relays bytes
    both ways between the client and the host:port it asked for. It records each request's head."""

    def __init__(self, status: int = 200):
        super().__init__(self._serve)
        self.status = status
        self.requests: List[str] = []

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
        except OSError:
            return
        text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        self.requests.append(text)
        method, _, rest = text.split("\r\n", 1)[0].partition(" ")
        if method != "CONNECT" or self.status != 200:
            conn.sendall(f"HTTP/1.1 {self.status if method == 'CONNECT' else 405} Refused by the test proxy\r\n\r\n".encode())
            return
        host, _, port = rest.split(" ", 1)[0].rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        self.accepted.append(upstream)  # closed with the proxy
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for src, dst in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(None)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def target() -> Iterator[SilentListener]:
    """A live loopback listener standing in for the Ray Client port (this check never speaks to it directly)."""
    with SilentListener() as listener:
        yield listener


# --- the CLI, as a user runs it --------------------------------------------------------------------------------


def test_a_dead_grpc_proxy_fails_naming_the_variable_and_the_proxy(target: SilentListener) -> None:
    dead = closed_port()
    proc = run_cli(target.port, clean_env(grpc_proxy=f"http://127.0.0.1:{dead}", **FOLLOW), "-f", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json_result(proc)
    assert result["status"] == "fail"
    assert "grpc_proxy" in result["summary"] and f"127.0.0.1:{dead}" in result["summary"]
    assert "refuses connections" in result["summary"]
    assert "no_proxy" in result["remedy"] and "NO_PROXY" in result["remedy"]  # ...and why the upper-case name won't do
    assert "export no_proxy=127.0.0.1" in result["remedy"] and "no_grpc_proxy" in result["remedy"]
    assert 'os.environ["no_proxy"]' in result["remedy"]
    assert result["details"]["variable"] == "grpc_proxy" and result["details"]["error_kind"] == "refused"
    assert not target.accepted  # the tool never went around the proxy to the target


def test_no_proxy_covering_the_host_passes_and_names_the_variable(target: SilentListener) -> None:
    dead = closed_port()
    proc = run_cli(target.port, clean_env(grpc_proxy=f"http://127.0.0.1:{dead}", no_proxy="localhost,127.0.0.1", **FOLLOW),
                   "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json_result(proc)
    assert result["status"] == "pass"
    assert result["summary"] == ("no proxy applies: no_proxy covers 127.0.0.1 (entry '127.0.0.1'), "
                                 "so gRPC does not use the proxy in grpc_proxy")


def test_upper_case_no_proxy_is_not_read_by_grpc_and_the_summary_says_so(target: SilentListener) -> None:
    dead = closed_port()
    proc = run_cli(target.port, clean_env(https_proxy=f"http://127.0.0.1:{dead}", NO_PROXY="127.0.0.1", **FOLLOW), "-f", "json")
    result = json_result(proc)
    assert proc.returncode == 1 and result["status"] == "fail"
    assert "NO_PROXY covers 127.0.0.1, but gRPC reads only the lower-case name" in result["summary"]


@pytest.mark.parametrize("fmt", [["-f", "json"], ["-v"], []])
def test_proxy_credentials_appear_nowhere(target: SilentListener, fmt: List[str]) -> None:
    dead = closed_port()
    used = run_cli(target.port, clean_env(https_proxy=f"http://user:{SECRET}@127.0.0.1:{dead}", **FOLLOW), *fmt)
    assert used.returncode == 1, used.stdout + used.stderr
    assert f"https_proxy (127.0.0.1:{dead})" in used.stdout
    # upper-case HTTPS_PROXY: gRPC never reads it, so it passes, and says why
    unread = run_cli(target.port, clean_env(HTTPS_PROXY=f"http://user:{SECRET}@127.0.0.1:{dead}", **FOLLOW), *fmt)
    assert unread.returncode == 0, unread.stdout + unread.stderr
    assert "HTTPS_PROXY is set, but gRPC reads only the lower-case names" in unread.stdout
    for proc in (used, unread):
        assert SECRET not in proc.stdout and SECRET not in proc.stderr
        assert "user:" not in proc.stdout and "user@" not in proc.stdout


def test_a_password_that_breaks_the_url_never_shows_either(target: SilentListener) -> None:
    """With a '/' in the password, gRPC (and this check) take ``alice:98765`` for the proxy's host and port: that
    address is hidden too, since it is a piece of the credentials."""
    value = f"http://alice:98765/{SECRET}@127.0.0.1:{closed_port()}"
    for fmt in (["-f", "json"], ["-v"]):
        proc = run_cli(target.port, clean_env(https_proxy=value, **FOLLOW), *fmt)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "https_proxy (address hidden): a '/', '?' or '#' in its user:password" in proc.stdout
        for piece in ("98765", SECRET, "alice"):
            assert piece not in proc.stdout and piece not in proc.stderr, piece


def test_a_working_connect_proxy_passes_and_relays_to_the_target(target: SilentListener) -> None:
    with ConnectProxy() as relay:
        env = clean_env(http_proxy=f"http://user:{SECRET}@127.0.0.1:{relay.port}", **FOLLOW)
        proc = run_cli(target.port, env, "-f", "json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json_result(proc)
        assert result["status"] == "pass"
        assert result["summary"] == (f"ray.init goes through the proxy in http_proxy (127.0.0.1:{relay.port}), which opens a "
                                     f"tunnel to 127.0.0.1:{target.port} (CONNECT: HTTP 200)")
        assert relay.requests and relay.requests[0].startswith(f"CONNECT 127.0.0.1:{target.port} HTTP/1.1\r\n")
        # the tool asked as gRPC asks: with the URL's user info as Basic credentials...
        assert f"Proxy-Authorization: Basic {base64.b64encode(f'user:{SECRET}'.encode()).decode()}" in relay.requests[0]
        # ...and the proxy's tunnel reached the target
        deadline = time.monotonic() + 5
        while not target.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert target.accepted
        assert SECRET not in proc.stdout + proc.stderr and result["facts"]["credentials"] is True


def test_a_proxy_that_refuses_the_tunnel_fails_with_its_status(target: SilentListener) -> None:
    with ConnectProxy(status=403) as refusing:
        proc = run_cli(target.port, clean_env(grpc_proxy=f"http://127.0.0.1:{refusing.port}", **FOLLOW), "-f", "json")
    result = json_result(proc)
    assert proc.returncode == 1 and result["status"] == "fail"
    assert f"answered CONNECT 127.0.0.1:{target.port} with HTTP 403" in result["summary"]
    assert result["details"]["status"] == 403


def test_a_silent_proxy_fails_within_the_connect_timeout(target: SilentListener) -> None:
    with SilentListener() as silent:
        started = time.monotonic()
        proc = run_cli(target.port, clean_env(grpc_proxy=f"http://127.0.0.1:{silent.port}", **FOLLOW),
                       "--connect-timeout", "2", "-f", "json")
        elapsed = time.monotonic() - started
    result = json_result(proc)
    assert proc.returncode == 1 and result["status"] == "fail"
    assert f"no answer to CONNECT 127.0.0.1:{target.port} within 2 s" in result["summary"]
    assert elapsed < 2 + 8, elapsed  # the timeout, plus a generous margin for starting the CLI


def test_no_proxy_variables_pass(target: SilentListener) -> None:
    proc = run_cli(target.port, clean_env(), "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json_result(proc)
    assert result["status"] == "pass"
    assert result["summary"] == "no proxy applies: none of grpc_proxy, https_proxy, http_proxy is set"
    assert "connect" not in result["facts"]


def test_an_installed_ray_that_turns_the_proxy_off_passes(target: SilentListener) -> None:
    if ray_switch({})["sets_option"] is not True:
        pytest.skip("the installed Ray (if any) lets gRPC use the proxy: Ray 2.8 and older")
    dead = closed_port()
    proc = run_cli(target.port, clean_env(grpc_proxy=f"http://127.0.0.1:{dead}"), "-f", "json")
    result = json_result(proc)
    assert proc.returncode == 0 and result["status"] == "pass"
    assert "turns gRPC's proxy support off for ray://" in result["summary"] and f"127.0.0.1:{dead}" in result["summary"]


# --- the run's environment, in process ------------------------------------------------------------------------


def test_the_check_reads_the_runs_environment_not_this_process(target: SilentListener) -> None:
    dead = closed_port()
    result, facts = in_process(target.port, {"https_proxy": f"http://u:{SECRET}@127.0.0.1:{dead}", **FOLLOW})
    assert result.status is Status.FAIL and facts["variable"] == "https_proxy"
    assert SECRET not in json.dumps(facts) + json.dumps(result.to_dict())
    clean, _ = in_process(target.port, {})
    assert clean.status is Status.PASS


def test_every_step_is_bounded_by_the_connect_timeout(target: SilentListener) -> None:
    with SilentListener() as silent:
        started = time.monotonic()
        result, _ = in_process(target.port, {"grpc_proxy": f"http://127.0.0.1:{silent.port}", **FOLLOW}, connect_timeout=0.5)
        assert time.monotonic() - started < 0.5 + 1.5
    assert result.status is Status.FAIL and "within 0.5 s" in result.summary


# --- the premise, with the installed grpcio --------------------------------------------------------------------

_CHANNEL = r"""
import sys
from concurrent import futures
import grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
try:
    grpc.channel_ready_future(channel).result(timeout=float(sys.argv[1]))
    print("READY")
except grpc.FutureTimeoutError:
    print("NOT READY")
server.stop(None)
"""


def _grpc_channel(env: Dict[str, str], wait: float = 3.0) -> str:
    return subprocess.run([sys.executable, "-c", _CHANNEL, str(wait)], env=env, capture_output=True, text=True, timeout=60).stdout.strip()


def test_grpc_follows_a_dead_grpc_proxy_unless_no_proxy_covers_the_host() -> None:
    """A gRPC channel to a live gRPC server on loopback: with grpc_proxy at a closed port it never becomes ready;
    with the host in no_grpc_proxy or no_proxy it connects; NO_PROXY in upper case changes nothing."""
    pytest.importorskip("grpc")
    dead = f"http://127.0.0.1:{closed_port()}"
    assert _grpc_channel(clean_env()) == "READY"
    assert _grpc_channel(clean_env(grpc_proxy=dead), wait=2.0) == "NOT READY"
    assert _grpc_channel(clean_env(grpc_proxy=dead, no_grpc_proxy="127.0.0.1")) == "READY"
    assert _grpc_channel(clean_env(grpc_proxy=dead, no_proxy="localhost,127.0.0.1")) == "READY"
    assert _grpc_channel(clean_env(grpc_proxy=dead, NO_PROXY="127.0.0.1"), wait=2.0) == "NOT READY"


_WHO = r"""
import sys, grpc
channel = grpc.insecure_channel(sys.argv[1])
try:
    grpc.channel_ready_future(channel).result(timeout=1.0)
except grpc.FutureTimeoutError:
    pass
"""

#: (name, host, environment): ``{P}`` is the proxy listener's port. Hosts that are not loopback addresses are
#: never connected to directly: when gRPC does not use the proxy, the name simply does not resolve here.
_ORACLE: List[Tuple[str, str, Dict[str, str]]] = [
    ("grpc_proxy", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}"}),
    ("https_proxy", "127.0.0.1", {"https_proxy": "http://127.0.0.1:{P}"}),
    ("http_proxy", "127.0.0.1", {"http_proxy": "http://127.0.0.1:{P}"}),
    ("upper-case names", "127.0.0.1", {"HTTPS_PROXY": "http://127.0.0.1:{P}", "HTTP_PROXY": "http://127.0.0.1:{P}",
                                       "GRPC_PROXY": "http://127.0.0.1:{P}", "ALL_PROXY": "http://127.0.0.1:{P}"}),
    ("empty first variable wins", "127.0.0.1", {"grpc_proxy": "", "https_proxy": "http://127.0.0.1:{P}"}),
    ("https scheme", "127.0.0.1", {"https_proxy": "https://127.0.0.1:{P}"}),
    ("no scheme", "127.0.0.1", {"https_proxy": "127.0.0.1:{P}"}),
    ("user info", "127.0.0.1", {"grpc_proxy": "http://user:pw@127.0.0.1:{P}"}),
    ("no_proxy exact", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "127.0.0.1"}),
    ("NO_PROXY", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "NO_PROXY": "127.0.0.1"}),
    ("no_grpc_proxy hides no_proxy", "127.0.0.1",
     {"grpc_proxy": "http://127.0.0.1:{P}", "no_grpc_proxy": "example.com", "no_proxy": "127.0.0.1"}),
    ("star", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "*"}),
    ("entry with port", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "127.0.0.1:10001"}),
    ("localhost is a name", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "localhost"}),
    ("suffix inside a label", "localhost", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "calhost"}),
    ("leading dot, apex", "localhost", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": ".localhost"}),
    ("space after comma", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "example.com, 127.0.0.1"}),
    ("trailing comma", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "example.com,"}),
    ("comma and space", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "example.com, "}),
    ("cidr", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "127.0.0.0/8"}),
    ("cidr elsewhere", "127.0.0.1", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "10.0.0.0/8"}),
    ("subdomain", "head.ns.svc.cluster.local", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": ".svc.cluster.local"}),
    ("other domain", "notexample.invalid", {"grpc_proxy": "http://127.0.0.1:{P}", "no_proxy": "example.invalid"}),
    ("upper-case scheme", "127.0.0.1", {"grpc_proxy": "HTTP://127.0.0.1:{P}"}),
]


def _proxy_gets_connection(host: str, env: Dict[str, str]) -> bool:
    """Does the installed grpcio send a channel to ``host`` to the proxy listener? (A raw listener: it only records.)"""
    with SilentListener() as listener:
        filled = clean_env(**{k: v.replace("{P}", str(listener.port)) for k, v in env.items()})
        subprocess.run([sys.executable, "-c", _WHO, f"{host}:10001"], env=filled, capture_output=True, timeout=60)
        return bool(listener.accepted)


def test_our_reading_of_the_rules_agrees_with_the_installed_grpcio() -> None:
    grpc = pytest.importorskip("grpc")
    rules = rules_for(grpc.__version__)
    assert rules is not None
    with ThreadPoolExecutor(max_workers=8) as pool:
        observed = dict(zip([c[0] for c in _ORACLE], pool.map(lambda c: _proxy_gets_connection(c[1], c[2]), _ORACLE)))
    for name, host, env in _ORACLE:
        predicted = grpc_route({k: v.replace("{P}", "1") for k, v in env.items()}, host, rules).proxied
        assert predicted == observed[name], f"{name}: grpcio {grpc.__version__} {'uses' if observed[name] else 'skips'} the proxy"


# --- the rules, as pure functions ------------------------------------------------------------------------------

OLD, SKIP_EMPTY, TRIM_CIDR, URL_1_73, BOUNDARY = (rules for _, rules in RULE_SETS)


@pytest.mark.parametrize(
    "version, expected",
    [("1.32.0", OLD), ("1.44.0", OLD), ("1.46.3", SKIP_EMPTY), ("1.54.3", SKIP_EMPTY), ("1.55.3", TRIM_CIDR),
     ("1.72.1", TRIM_CIDR), ("1.73.0", URL_1_73), ("1.83.0", URL_1_73), ("1.84.0rc1", BOUNDARY), ("1.85.3", BOUNDARY),
     ("2.0.0", BOUNDARY), (None, None), ("not-a-version", None)],
)
def test_rules_by_grpcio_version(version: Optional[str], expected: Optional[Rules]) -> None:
    assert rules_for(version) == expected


#: (host, no_proxy value, covered with grpcio <1.46, 1.46-1.54, 1.55-1.72, 1.73-1.83, 1.84+), as observed.
MATCHING = [
    ("127.0.0.1", "127.0.0.1", (True, True, True, True, True)),
    ("LOCALHOST", "localhost", (True, True, True, True, True)),
    ("foo.example.com", "example.com", (True, True, True, True, True)),
    ("foo.example.com", ".example.com", (True, True, True, True, True)),
    ("example.com", ".example.com", (False, False, False, False, True)),
    ("notexample.com", "example.com", (True, True, True, True, False)),
    ("localhost", "calhost", (True, True, True, True, False)),
    ("127.0.0.1", "27.0.0.1", (True, True, True, True, False)),
    ("127.0.0.1", "0.0.1", (True, True, True, True, True)),
    ("foo.example.com", "*.example.com", (False, False, False, False, False)),
    ("127.0.0.1", "*", (False, False, False, False, False)),
    ("a.svc.cluster.local.", "cluster.local", (False, False, False, False, False)),
    ("a.svc.cluster.local", "cluster.local.", (False, False, False, False, False)),
    ("ray-head.ns.svc", "cluster.local", (False, False, False, False, False)),
    ("127.0.0.1", "127.0.0.1:10001", (False, False, False, False, False)),
    ("127.0.0.1", "example.com, 127.0.0.1", (False, False, True, True, True)),
    ("127.0.0.1", "x,\t127.0.0.1 ", (False, False, True, True, True)),
    ("127.0.0.1", "example.com,", (True, False, False, False, False)),
    ("127.0.0.1", "", (True, False, False, False, False)),
    ("127.0.0.1", "example.com, ", (False, False, True, True, False)),
    ("127.0.0.1", ".", (False, False, False, False, False)),
    ("127.0.0.1", "127.0.0.0/8", (False, False, True, True, True)),
    ("127.0.0.1", "127.0.0.1/33", (False, False, True, True, True)),
    ("127.0.0.1", "10.0.0.0/0", (False, False, True, True, True)),
    ("127.0.0.1", "10.0.0.0/8", (False, False, False, False, False)),
    ("127.0.0.1", "127.0.0/8", (False, False, False, False, False)),
    ("localhost", "127.0.0.0/8", (False, False, False, False, False)),
    ("::1", "::1", (True, True, True, True, True)),
    ("::1", "[::1]", (False, False, False, False, False)),
    ("::1", "::1/128", (False, False, True, True, True)),
]


@pytest.mark.parametrize("host, value, covered", MATCHING)
def test_exclusion_matching_per_grpcio_range(host: str, value: str, covered: Tuple[bool, ...]) -> None:
    for (_, rules), expected in zip(RULE_SETS, covered):
        assert (covering_entry(host, value, rules) is not None) == expected, f"{rules.name}: {value!r} vs {host}"


#: (value, proxy host:port or None, with grpcio before 1.73 / from 1.73)
URLS = [
    ("http://proxy.corp:3128", ("proxy.corp:3128", "proxy.corp:3128")),
    ("http://proxy.corp:3128/", ("proxy.corp:3128", "proxy.corp:3128")),
    ("http://proxy.corp", ("proxy.corp:443", "proxy.corp:443")),
    ("http://[fd00::1]:3128", ("[fd00::1]:3128", "[fd00::1]:3128")),
    ("http://user:pw@proxy.corp:3128", ("proxy.corp:3128", "proxy.corp:3128")),
    ("HTTP://proxy.corp:3128", (None, "proxy.corp:3128")),
    ("http://us@er:pw@proxy.corp:3128", (None, "proxy.corp:3128")),
    ("http://us%40er:pw@proxy.corp:3128", (None, "proxy.corp:3128")),
    ("https://proxy.corp:3128", (None, None)),
    ("proxy.corp:3128", (None, None)),
    ("127.0.0.1:3128", (None, None)),
    (" http://proxy.corp:3128", (None, None)),
    ("", (None, None)),
    ("http://", (None, None)),
]


@pytest.mark.parametrize("value, expected", URLS)
def test_proxy_urls(value: str, expected: Tuple[Optional[str], Optional[str]]) -> None:
    for rules, wanted in ((TRIM_CIDR, expected[0]), (URL_1_73, expected[1])):
        parsed, why = parse_proxy_url(value, rules)
        assert (parsed.where if parsed else None) == wanted, (rules.name, value)
        assert (why == "") == (parsed is not None)
        assert "pw" not in why


def test_user_info_is_decoded_and_kept_out_of_the_address() -> None:
    parsed, _ = parse_proxy_url(f"http://user:p%3A{SECRET}@proxy.corp:3128", BOUNDARY)
    assert parsed == ProxyUrl("proxy.corp", 3128, f"user:p:{SECRET}")
    assert SECRET not in parsed.where and SECRET not in repr(parsed.where)


def test_hidden_addresses_are_scrubbed_from_messages() -> None:
    parsed, _ = parse_proxy_url("http://u:1/x@proxy.corp:3128", BOUNDARY)
    assert parsed is not None and parsed.hidden and (parsed.host, parsed.port) == ("u", 1)
    assert "u:1" not in parsed.where
    assert parsed.scrub("connection to u:1 refused; u does not resolve; refused") == (
        f"connection to {parsed.where} refused; {parsed.where} does not resolve; refused")


@pytest.mark.parametrize(
    "environ, variable, proxied, excluded_by",
    [
        ({}, None, False, None),
        ({"http_proxy": "http://a:1", "https_proxy": "http://b:2", "grpc_proxy": "http://c:3"}, "grpc_proxy", True, None),
        ({"http_proxy": "http://a:1", "https_proxy": "http://b:2"}, "https_proxy", True, None),
        ({"https_proxy": "https://b:2", "http_proxy": "http://a:1"}, "https_proxy", False, None),  # no fall-through
        ({"grpc_proxy": "", "http_proxy": "http://a:1"}, "grpc_proxy", False, None),
        ({"HTTPS_PROXY": "http://b:2", "NO_PROXY": "head"}, None, False, None),
        ({"grpc_proxy": "http://c:3", "no_proxy": "head"}, "grpc_proxy", False, "head"),
        ({"grpc_proxy": "http://c:3", "no_grpc_proxy": "", "no_proxy": "head"}, "grpc_proxy", True, None),
        ({"grpc_proxy": "http://c:3", "no_grpc_proxy": "other,head", "no_proxy": ""}, "grpc_proxy", False, "head"),
    ],
)
def test_which_variables_grpc_reads(environ: Dict[str, str], variable: Optional[str], proxied: bool,
                                    excluded_by: Optional[str]) -> None:
    route = grpc_route(environ, "head", BOUNDARY)
    assert (route.variable, route.proxied, route.excluded_by) == (variable, proxied, excluded_by)


def test_a_proxy_that_only_some_grpcio_versions_use_warns_instead_of_failing() -> None:
    facts = {"target": "127.0.0.1:10001", "variable": "grpc_proxy", "proxy": "127.0.0.1:9", "set": ["grpc_proxy", "no_proxy"],
             "exclusion_variable": "no_proxy", "grpc_uses_proxy": True, "applies": True, "depends_on_grpcio": True,
             "ray": {"version": None, "sets_option": None, "override": False},
             "connect": {"ok": False, "error_kind": "refused", "error": "refused"}}
    out = proxy(facts, resolve_target("127.0.0.1"))
    assert out.status is Status.WARN and out.summary.startswith("with some grpcio versions")
    assert out.remedy is not None and 'export no_proxy="$no_proxy,127.0.0.1"' in out.remedy
    facts["depends_on_grpcio"] = False
    assert proxy(facts, resolve_target("127.0.0.1")).status is Status.FAIL
    facts["connect"] = {"ok": True, "status": 200}
    assert proxy(facts, resolve_target("127.0.0.1")).status is Status.PASS


def test_the_remedy_names_no_grpc_proxy_when_it_is_the_variable_grpc_reads() -> None:
    facts = {"target": "head:10001", "variable": "https_proxy", "proxy": "p:3128", "set": ["https_proxy", "no_grpc_proxy"],
             "exclusion_variable": "no_grpc_proxy", "grpc_uses_proxy": True, "applies": True,
             "ray": {"version": "2.2.0", "sets_option": False, "override": False},
             "connect": {"ok": False, "error_kind": "silent", "error": "no answer to CONNECT head:10001 within 3 s"}}
    out = proxy(facts, resolve_target("head"))
    assert out.status is Status.FAIL and out.summary.endswith("no answer to CONNECT head:10001 within 3 s")
    assert out.remedy is not None and out.remedy.startswith('export no_grpc_proxy="$no_grpc_proxy,head"')
    assert "gRPC ignores no_proxy" in out.remedy


def resolve_target(host: str):  # type: ignore[no-untyped-def]
    from preflight.profiles import get

    return resolve(get("auto"), f"ray://{host}:10001", environ={})
