"""Injected faults, each served for real on loopback (tests/faultservers.py, the Kubernetes API of
``preflight.testing_kuberay``, since no Kubernetes API server can run here), and the real command in a child
process: every run ends with the right status, a summary that names the cause, and within its deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from preflight.testing import SilentListener, closed_port
from preflight.testing_kuberay import ClusterSpec, FakeKubeAPI, forbidden, kubeconfig, routes, status_body, variant
from tests.faultservers import FaultServer, close_at_once, garbage, http_answer, say_nothing

#: Each run gets this deadline; a run must end within it plus the margin of a process start and exit.
DEADLINE_S, MARGIN_S = 10.0, 5.0


def run(args: List[str], env_extra: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_PREFLIGHT_"))}
    env.update(env_extra or {})
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "preflight", *args, "--format", "json", "--connect-timeout", "1",
                           "--timeout", str(DEADLINE_S)], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert "Traceback" not in proc.stdout + proc.stderr
    assert elapsed < DEADLINE_S + MARGIN_S, elapsed
    report = json.loads(proc.stdout)
    assert proc.returncode == (0 if report["ok"] else 1)
    return {r["id"]: r for r in report["results"]}


LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Password</form></body></html>"

# (id, behaviour of the Ray Client port, summary words of reachability)
CLIENT_PORT_FAULTS = [
    ("refused", None, "refused: nothing listens there"),
    ("silent", say_nothing, "accepted the connection but sent no Ray Client answer within 1 s"),
    ("closes-at-once", close_at_once, "the connection"),  # "dropped the connection" (RST) or "closed the connection" (FIN)
    ("http-server-on-client-port", http_answer(400, {"Content-Type": "text/plain"}, b"bad request"), "speaks HTTP/1.x"),
    ("not-http-not-grpc", garbage, "closed the connection without answering"),
]


@pytest.mark.parametrize("behaviour, words", [c[1:] for c in CLIENT_PORT_FAULTS], ids=[c[0] for c in CLIENT_PORT_FAULTS])
def test_a_broken_ray_client_port_fails_reachability_with_the_cause(behaviour: Optional[Callable], words: str) -> None:
    if behaviour is None:
        results = run(["--address", f"ray://127.0.0.1:{closed_port()}", "--only", "reachability,fibonacci"])
    else:
        with FaultServer(behaviour) as server:
            results = run(["--address", f"ray://127.0.0.1:{server.port}", "--only", "reachability,fibonacci"])
    assert results["reachability"]["status"] == "fail" and words in results["reachability"]["summary"]
    assert results["reachability"]["remedy"]
    assert results["fibonacci"]["status"] == "skip"


def _redirect_to_itself(server: FaultServer) -> None:
    server.behaviour = http_answer(302, {"Location": f"http://127.0.0.1:{server.port}/api/version"}, b"")


# (id, behaviour of the dashboard, status of the dashboard check, summary words)
DASHBOARD_FAULTS = [
    ("http-500", http_answer(500, {"Content-Type": "text/plain"}, b"Internal Server Error"), "fail", "answered HTTP 500"),
    ("truncated-json", http_answer(200, {"Content-Type": "application/json"},
                                   b'{"version": "3", "ray_version": "2.2.0", "ray_commit": "abc"}', truncate_to=20),
     "fail", "not with JSON"),
    ("302-to-sso", http_answer(302, {"Location": "https://sso.example.com/oauth2/authorize?client_id=ray"}, b""),
     "warn", "behind a sign-in page"),
    ("200-login-page", http_answer(200, {"Content-Type": "text/html"}, LOGIN_PAGE), "warn", "behind a sign-in page"),
    ("redirect-loop", "loop", "fail", "redirects to itself"),
    ("not-http", garbage, "fail", "did not answer HTTP"),
]


@pytest.mark.parametrize("behaviour, status, words", [c[1:] for c in DASHBOARD_FAULTS], ids=[c[0] for c in DASHBOARD_FAULTS])
def test_a_misbehaving_dashboard_is_named(behaviour: Any, status: str, words: str) -> None:
    """The Ray Client port accepts and drops connections (so the head host is up); the dashboard misbehaves."""
    with FaultServer(close_at_once) as head, FaultServer(say_nothing if behaviour == "loop" else behaviour) as dashboard:
        if behaviour == "loop":
            _redirect_to_itself(dashboard)
        results = run(["--address", f"ray://127.0.0.1:{head.port}", "--dashboard-url", f"http://127.0.0.1:{dashboard.port}/",
                       "--only", "dashboard,autoscaler"])
    assert results["dashboard"]["status"] == status, results["dashboard"]
    assert words in results["dashboard"]["summary"]
    assert results["autoscaler"]["status"] == "skip" and "needs the dashboard" in results["autoscaler"]["summary"]


def _kube_run(table: Dict[str, Any], address: str = "ray://ray-cluster-kuberay-head-svc.kuberay:10001", **api: Any) -> Dict[str, Any]:
    with FakeKubeAPI(table, **api) as server, tempfile.TemporaryDirectory() as home:
        path = Path(home) / "config"
        path.write_text(kubeconfig(server.url))
        return run(["--address", address, "--profile", "fy23-q2",
                    "--kubeconfig", str(path), "--only", "kubernetes,kuberay-operator,raycluster"])


def test_kubernetes_401_rejects_the_credentials() -> None:
    results = _kube_run(routes(ClusterSpec()), token="not-the-token-in-the-kubeconfig")
    assert results["kubernetes"]["status"] == "fail" and "rejected the credentials (401)" in results["kubernetes"]["summary"]
    assert results["raycluster"]["status"] == "skip"


def test_kubernetes_403_on_the_raycluster_names_the_permission() -> None:
    spec = ClusterSpec()
    path = f"/apis/ray.io/v1/namespaces/{spec.namespace}/rayclusters/{spec.name}"
    results = _kube_run(variant(routes(spec), **{path: forbidden("get", "rayclusters", "ray.io", spec.namespace)}))
    assert results["kubernetes"]["status"] == "pass"
    summary = results["raycluster"]["summary"] + " " + (results["raycluster"].get("remedy") or "")
    assert "403" in summary or "forbidden" in summary.lower(), results["raycluster"]
    assert "kubectl auth can-i get rayclusters" in summary


def test_kubernetes_404_for_the_raycluster_says_it_is_missing() -> None:
    results = _kube_run(routes(ClusterSpec()), address="ray://ghost-head-svc.kuberay:10001")
    assert results["raycluster"]["status"] == "fail" and "ghost" in results["raycluster"]["summary"]


def test_kubernetes_500_is_an_error_not_a_pass() -> None:
    results = _kube_run(variant(routes(ClusterSpec()), **{"/apis": (500, status_body(500, "InternalError", "etcd is down"))}))
    assert results["kubernetes"]["status"] in ("error", "fail")
    assert "500" in results["kubernetes"]["summary"]


def test_a_silent_kubernetes_api_is_an_error_within_the_deadline() -> None:
    results = _kube_run(routes(ClusterSpec()), silent=True)
    assert results["kubernetes"]["status"] == "error" and "did not answer within" in results["kubernetes"]["summary"]


def test_the_whole_run_deadline_holds_when_every_server_is_silent() -> None:
    """Ray Client port, GCS, dashboard and Kubernetes API all accept and never answer; --connect-timeout is
    far above --timeout, so only the run's deadline can end it: within the deadline plus a process start,
    with every unfinished check an error that says so, and exit 1."""
    deadline = 3
    with SilentListener() as client, SilentListener() as gcs, SilentListener() as dashboard, \
            FakeKubeAPI(routes(ClusterSpec()), silent=True) as kube, tempfile.TemporaryDirectory() as home:
        path = Path(home) / "config"
        path.write_text(kubeconfig(kube.url))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_PREFLIGHT_"))}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "preflight", "--address", f"ray://127.0.0.1:{client.port}",
                               "--gcs-address", f"127.0.0.1:{gcs.port}", "--dashboard-url", f"http://127.0.0.1:{dashboard.port}/",
                               "--kubeconfig", str(path), "--connect-timeout", "60", "--timeout", str(deadline), "--format", "json"],
                              capture_output=True, text=True, env=env, timeout=60)
        elapsed = time.monotonic() - started
    assert elapsed < deadline + 2.5, elapsed
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    results = json.loads(proc.stdout)["results"]
    timed_out = [r for r in results if r["status"] == "error" and f"timed out after {deadline} s" in r["summary"]]
    assert "reachability" in {r["id"] for r in timed_out}, results
    # the Kubernetes read's own timeout is held under the deadline: it ends just before it, or the deadline ends it
    kubernetes = next(r for r in results if r["id"] == "kubernetes")
    assert kubernetes["status"] == "error", kubernetes
    assert f"timed out after {deadline} s" in kubernetes["summary"] or "did not answer within" in kubernetes["summary"], kubernetes
    # only the checks that need no server may pass: the installed packages, and no proxy variable set
    assert not [r for r in results if r["status"] == "pass" and r["id"] not in ("client-packages", "proxy")], results
