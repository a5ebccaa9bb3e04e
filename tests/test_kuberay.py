"""The KubeRay checks against a Kubernetes API served on loopback.

No kube-apiserver can run on these machines, so ``preflight.testing_kuberay.FakeKubeAPI`` serves real
Kubernetes JSON (objects shaped like KubeRay's for the ``ray-cluster-kuberay`` Helm cluster, in
``ray.io/v1`` and ``ray.io/v1alpha1``) over a real HTTP or HTTPS socket, and the tool reaches it through
the official ``kubernetes`` client, configured from a kubeconfig file or from in-cluster settings
(environment variables and a service-account folder with a token and a CA certificate).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from preflight import config
from preflight.model import Report, Status
from preflight.render.text import render, render_json
from preflight.runner import run
from preflight.testing import closed_port
from preflight.testing_kuberay import (
    TOKEN,
    ClusterSpec,
    FakeKubeAPI,
    forbidden,
    kubeconfig,
    routes,
    status_body,
    variant,
)
from tests.conftest import run_cli

KUBE = ["kubernetes", "kuberay-operator", "raycluster", "head-service", "worker-groups", "autoscaler"]
ADDRESS = "ray://ray-cluster-kuberay-head-svc.kuberay:10001"
NS = "kuberay"
RC_V1 = f"/apis/ray.io/v1/namespaces/{NS}/rayclusters/ray-cluster-kuberay"


def judge(table: Dict[str, Tuple[int, Any]], profile: str = "fy23-q2", address: str = ADDRESS,
          api_kwargs: Optional[Dict[str, Any]] = None, timeout: float = 20, **build: Any) -> Report:
    """Serve ``table``, point a kubeconfig at it, run the Kubernetes checks in this process."""
    with FakeKubeAPI(table, **(api_kwargs or {})) as api, tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "config")
        Path(path).write_text(kubeconfig(api.url))
        environ = {"KUBECONFIG": path, "HOME": home}
        cfg = config.build(address, profile=profile, only=KUBE, environ=environ, connect_timeout=1, timeout=timeout,
                           dashboard_url=f"http://127.0.0.1:{closed_port()}/", **build)
        return run(cfg)


def statuses(report: Report) -> Dict[str, str]:
    return {r.id: r.status.value for r in report}


@pytest.mark.parametrize("api_version", ["v1", "v1alpha1"])
def test_a_healthy_kuberay_cluster_passes_and_shows_its_shape(api_version: str) -> None:
    report = judge(routes(ClusterSpec(api_version=api_version)))
    assert statuses(report) == {c: "pass" for c in KUBE}, render(report, verbose=True)
    assert f"RayCluster ray-cluster-kuberay (ray.io/{api_version}) is ready: Ray 2.2.0" in report["raycluster"].summary
    assert report["worker-groups"].summary == "smallgroup: 1 running (min 0, desired 1, max 2)"
    assert "autoscaler container ready in ray-cluster-kuberay-head-x7k2p, idle timeout 60 s" in report["autoscaler"].summary
    assert "namespace kuberay (from the address)" in report["kubernetes"].summary
    assert report["worker-groups"].details["groups"][0] == {"name": "smallgroup", "running": 1, "pending": 0, "min": 0,
                                                           "desired": 1, "max": 2}
    json.dumps(report.facts)  # plain data: the live Kubernetes client is not a fact (no default= needed)


def test_reports_leave_pod_specs_and_credentials_out() -> None:
    report = judge(routes(ClusterSpec()))
    text = render_json(report) + render(report, verbose=True)
    assert ClusterSpec().planted_secret not in text and TOKEN not in text
    assert "REDIS_PASSWORD" not in text


CASES = [
    # (id, spec changes, route changes, check, status, words in the summary, words in the remedy)
    ("operator-missing", dict(operator=False), {}, "kuberay-operator", "fail", "no kuberay-operator pod in namespace kuberay",
     "kubectl -n kuberay get deploy,pods"),
    ("operator-crashloop", dict(operator_waiting="CrashLoopBackOff", operator_restarts=7), {}, "kuberay-operator", "fail",
     "kuberay-operator-7d9c8f6b5-qx2vz: Running, not ready; kuberay-operator is CrashLoopBackOff", "logs deploy/kuberay-operator"),
    ("cluster-not-ready", dict(state="unhealthy"), {}, "raycluster", "fail", "RayCluster ray-cluster-kuberay is unhealthy",
     "describe raycluster ray-cluster-kuberay"),
    ("ray-version-drift", dict(ray_version="2.3.0", image="rayproject/ray:2.3.0-py38"), {}, "raycluster", "warn",
     "rayVersion is 2.3.0, profile fy23-q2 expects 2.2.0", "profile"),
    ("python-image-drift", dict(image="rayproject/ray:2.2.0-py310"), {}, "raycluster", "warn",
     "the head image is for Python 3.10, profile fy23-q2 expects 3.8", "profile"),
    ("no-client-port", dict(service_ports=(("dashboard", 8265), ("gcs-server", 6379))), {}, "head-service", "fail",
     "does not expose port 10001, which the address uses", "ray://"),
    ("no-dashboard-port", dict(service_ports=(("client", 10001), ("gcs-server", 6379))), {}, "head-service", "warn",
     "has no dashboard port", "add the missing ports"),
    ("redis-named-gcs-port", dict(service_ports=(("client", 10001), ("dashboard", 8265), ("redis", 6379))), {}, "head-service",
     "pass", "GCS 6379", None),
    ("autoscaling-off", dict(autoscaling=False), {}, "autoscaler", "fail",
     "does not enable autoscaling (enableInTreeAutoscaling is not true), but profile fy23-q2 expects it",
     "patch raycluster ray-cluster-kuberay --type merge"),
    ("no-autoscaler-container", dict(autoscaler_container=False), {}, "autoscaler", "fail", "has no autoscaler container",
     "recreate the head pod"),
    ("autoscaler-crashloop", dict(autoscaler_waiting="CrashLoopBackOff", autoscaler_restarts=12), {}, "autoscaler", "fail",
     "autoscaler container in ray-cluster-kuberay-head-x7k2p is waiting:CrashLoopBackOff (12 restarts, last terminated:Error)",
     "logs ray-cluster-kuberay-head-x7k2p -c autoscaler --previous"),
    ("idle-timeout-300", dict(idle_timeout_s=300), {}, "autoscaler", "warn", "idle timeout 300 s, profile fy23-q2 expects 60 s",
     "idleTimeoutSeconds: 60"),
    ("worker-pending", dict(pending_workers=1), {}, "worker-groups", "fail",
     "ray-cluster-kuberay-worker-smallgroup-00001 is Pending: 0/3 nodes are available: 3 Insufficient cpu.", "describe pod"),
    ("worker-crashloop", dict(crashing_workers=1), {}, "worker-groups", "fail", "ray-worker is CrashLoopBackOff", "describe pod"),
    ("group-at-max", dict(workers=2, max_replicas=2), {}, "worker-groups", "warn", "smallgroup has no room to scale (at maxReplicas (2))",
     "raise maxReplicas"),
    ("group-min-equals-max", dict(min_replicas=1, max_replicas=1), {}, "worker-groups", "warn",
     "smallgroup has no room to scale (maxReplicas equals minReplicas)", "raise maxReplicas"),
    ("raycluster-403", {}, {RC_V1: forbidden("get", "rayclusters", "ray.io", NS)}, "raycluster", "warn",
     "Kubernetes refused `get rayclusters.ray.io` in namespace kuberay (403)", "kubectl auth can-i get rayclusters.ray.io -n kuberay"),
    ("pods-403", {}, {f"/api/v1/namespaces/{NS}/pods": forbidden("list", "pods", "", NS)}, "worker-groups", "warn",
     "refused `list pods` in namespace kuberay (403)", "kubectl auth can-i list pods -n kuberay"),
    ("raycluster-500", {}, {RC_V1: (500, status_body(500, "InternalError", "etcdserver: request timed out"))}, "raycluster", "error",
     "etcdserver: request timed out", None),
    ("service-404", {}, {f"/api/v1/namespaces/{NS}/services/ray-cluster-kuberay-head-svc": (404, status_body(
        404, "NotFound", 'services "ray-cluster-kuberay-head-svc" not found'))}, "head-service", "fail",
     "no service ray-cluster-kuberay-head-svc in namespace kuberay", "get svc -l ray.io/cluster=ray-cluster-kuberay"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_cluster_problem_gets_its_status_cause_and_remedy(case: tuple) -> None:
    _, spec_changes, route_changes, check_id, status, summary_words, remedy_words = case
    report = judge(variant(routes(ClusterSpec(**spec_changes)), **route_changes))
    result = report[check_id]
    assert result.status.value == status, render(report, verbose=True)
    assert summary_words in result.summary
    if remedy_words:
        assert remedy_words in (result.remedy or "")


def test_operator_elsewhere_is_a_warning_without_a_profile_that_names_its_namespace() -> None:
    report = judge(routes(ClusterSpec(operator=False)), profile="auto")
    assert report["kuberay-operator"].status is Status.WARN and "may run in another namespace" in report["kuberay-operator"].summary


def test_missing_crds_fail_raycluster_and_the_old_api_version_alone_is_enough() -> None:
    report = judge(routes(ClusterSpec(), crds=False))
    assert report["raycluster"].status is Status.FAIL
    assert "KubeRay CRDs are not installed" in report["raycluster"].summary
    assert "ray.io versions: none" in report["kubernetes"].summary


def test_an_address_naming_another_cluster_fails_with_the_listing_command() -> None:
    report = judge(routes(ClusterSpec()), address="ray://other-cluster-head-svc.kuberay:10001")
    assert report["raycluster"].status is Status.FAIL
    assert report["raycluster"].summary == "no RayCluster other-cluster in namespace kuberay"
    assert "kubectl -n kuberay get rayclusters" in (report["raycluster"].remedy or "")


def test_a_port_forwarded_address_finds_the_only_raycluster_in_the_namespace() -> None:
    report = judge(routes(ClusterSpec()), address="ray://127.0.0.1:10001", namespace="kuberay")
    assert report["raycluster"].status is Status.PASS and report["head-service"].status is Status.PASS


def test_rejected_credentials_fail_once_and_the_rest_skip_with_the_cause() -> None:
    report = judge(routes(ClusterSpec()), api_kwargs={"token": "another-token"})
    assert report["kubernetes"].status is Status.FAIL
    assert "Kubernetes rejected the credentials (401)" in report["kubernetes"].summary
    for cid in ("kuberay-operator", "raycluster", "head-service", "worker-groups"):
        assert report[cid].status is Status.SKIP and "the Kubernetes API is not usable" in report[cid].summary


def test_a_silent_api_server_is_an_error_within_the_bound() -> None:
    started = time.monotonic()
    report = judge(routes(ClusterSpec()), api_kwargs={"silent": True})
    elapsed = time.monotonic() - started
    assert report["kubernetes"].status is Status.ERROR
    assert "did not answer within" in report["kubernetes"].summary
    assert elapsed < 15, elapsed  # connect 1 s, read 2 s: bounded well below the 20 s deadline


def test_a_login_page_instead_of_json_is_named() -> None:
    html = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>SSO</body></html>"
    report = judge(routes(ClusterSpec()), api_kwargs={"raw": {"/apis": (200, "text/html", html)}})
    assert report["kubernetes"].status is Status.ERROR
    assert "was not Kubernetes JSON" in report["kubernetes"].summary and "login page" in report["kubernetes"].summary


def test_no_credentials_skip_every_kubernetes_check_with_the_way_out() -> None:
    with tempfile.TemporaryDirectory() as home:
        cfg = config.build(ADDRESS, profile="fy23-q2", only=KUBE[:-1], environ={"HOME": home}, connect_timeout=1)
        report = run(cfg)
    for result in report:
        assert result.status is Status.SKIP
        assert result.summary == "skipped: no Kubernetes credentials: run inside the cluster or set KUBECONFIG"


def test_a_malformed_kubeconfig_in_the_environment_warns_in_one_line() -> None:
    """Found through KUBECONFIG, a broken kubeconfig keeps the Kubernetes checks from running: a warning (Ray
    does not need it), with where the YAML breaks; asked for with --kubeconfig it fails (tests/test_hostile_input.py)."""
    with tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "config")
        Path(path).write_text("clusters: [unclosed\n  - {{{")
        report = run(config.build(ADDRESS, only=["kubernetes"], environ={"KUBECONFIG": path, "HOME": home}))
    result = report["kubernetes"]
    assert result.status is Status.WARN and "is not valid YAML at line 2" in result.summary
    assert "\n" not in result.summary and "Traceback" not in result.summary


def test_in_cluster_service_account_over_tls(tls_pair: Tuple[str, str]) -> None:
    cert, key = tls_pair
    with FakeKubeAPI(routes(ClusterSpec()), tls=(cert, key)) as api, tempfile.TemporaryDirectory() as sa:
        Path(sa, "token").write_text(TOKEN)
        Path(sa, "ca.crt").write_text(Path(cert).read_text())
        Path(sa, "namespace").write_text("kuberay")
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port),
                   "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": sa, "HOME": sa}
        report = run(config.build("ray://127.0.0.1:10001", profile="auto", only=KUBE, environ=environ, connect_timeout=1,
                                  dashboard_url=f"http://127.0.0.1:{closed_port()}/"))
    assert statuses(report) == {c: "pass" for c in KUBE}, render(report, verbose=True)
    assert "via in-cluster service account; namespace kuberay (from the Kubernetes context)" in report["kubernetes"].summary


def test_the_cli_takes_kubeconfig_context_and_namespace() -> None:
    with FakeKubeAPI(routes(ClusterSpec())) as api, tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "kc.yaml")
        Path(path).write_text(kubeconfig(api.url, namespace=None))
        proc = run_cli(["--address", "ray://127.0.0.1:10001", "--kubeconfig", path, "--context", "loopback", "-n", "kuberay",
                        "--only", ",".join(KUBE[:-1]), "-f", "json"], env_extra={"HOME": home, "KUBECONFIG": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert [r["status"] for r in report["results"]] == ["pass"] * 5
    assert "namespace kuberay (from --namespace)" in report["results"][0]["summary"]


@pytest.mark.parametrize("args, words", [
    (["--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig /nonexistent/kubeconfig: no such file"),
    (["--namespace", "Bad_Namespace"], "is not a Kubernetes namespace name"),
    (["--context", " "], "--context must be a non-empty name"),
])
def test_bad_kubernetes_flags_are_one_line_usage_errors(args: list, words: str) -> None:
    proc = run_cli(["--address", "ray://127.0.0.1:10001", *args])
    assert proc.returncode == 2 and words in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and len(proc.stderr.strip().splitlines()) == 1


def test_an_unknown_context_is_named() -> None:
    with FakeKubeAPI(routes(ClusterSpec())) as api, tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "config")
        Path(path).write_text(kubeconfig(api.url))
        report = run(config.build(ADDRESS, only=["kubernetes"], environ={"HOME": home}, kubeconfig=path, context="prod"))
    assert report["kubernetes"].status is Status.FAIL and "--context prod: no such context" in report["kubernetes"].summary


def test_credentials_are_found_in_kubectls_order(tls_pair: Tuple[str, str]) -> None:
    """kubectl's order: --kubeconfig, then KUBECONFIG, then ~/.kube/config, and the in-cluster service account only
    when no kubeconfig exists. Three loopback Kubernetes APIs (one per source) tell which one the command used:
    a notebook pod where the user set KUBECONFIG reads the cluster kubectl reads."""
    cert, key = tls_pair
    with FakeKubeAPI(routes(ClusterSpec()), tls=(cert, key)) as in_cluster, FakeKubeAPI(routes(ClusterSpec())) as from_env, \
            FakeKubeAPI(routes(ClusterSpec())) as from_flag, FakeKubeAPI(routes(ClusterSpec())) as from_home, \
            tempfile.TemporaryDirectory() as home:
        Path(home, "token").write_text(TOKEN)
        Path(home, "ca.crt").write_text(Path(cert).read_text())
        Path(home, "namespace").write_text("kuberay")
        for name, api in (("env.yaml", from_env), ("flag.yaml", from_flag)):
            Path(home, name).write_text(kubeconfig(api.url))
        pod = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(in_cluster.port),
               "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": home, "HOME": home}
        args = ["--address", ADDRESS, "--only", "kubernetes", "--connect-timeout", "1", "-f", "json"]

        def used(extra_args: list, env: Dict[str, str]) -> Dict[str, Any]:
            proc = run_cli(args + extra_args, env_extra=dict(pod, **env))
            assert proc.returncode == 0, proc.stdout + proc.stderr
            return json.loads(proc.stdout)["results"][0]

        flag = used(["--kubeconfig", str(Path(home, "flag.yaml"))], {"KUBECONFIG": str(Path(home, "env.yaml"))})
        assert flag["details"]["server"] == from_flag.url and "(from --kubeconfig)" in flag["summary"]
        env = used([], {"KUBECONFIG": str(Path(home, "env.yaml"))})
        assert env["details"]["server"] == from_env.url and "(from KUBECONFIG)" in env["summary"]
        service_account = used([], {"KUBECONFIG": ""})  # no ~/.kube/config in this HOME yet
        assert service_account["details"]["source"] == "in-cluster service account"
        assert service_account["details"]["server"].endswith(f":{in_cluster.port}")
        Path(home, ".kube").mkdir()
        Path(home, ".kube", "config").write_text(kubeconfig(from_home.url))
        default = used([], {"KUBECONFIG": ""})
        assert default["details"]["server"] == from_home.url and "(from the default ~/.kube/config)" in default["summary"]
    assert from_flag.requests and from_env.requests and from_home.requests and in_cluster.requests


@pytest.mark.parametrize("auth, secret, source, named", [
    ("authOptions", None, "authOptions", "ray-cluster-kuberay"),
    ("authOptions", "team-ray-token", "authOptions", "team-ray-token"),
    ("manual", "hand-made", "RAY_AUTH_MODE in the head container", "hand-made"),
])
def test_token_authentication_on_the_raycluster_is_reported_and_names_its_secret(auth: str, secret: Optional[str], source: str,
                                                                                  named: str) -> None:
    """The RayCluster says token authentication is on (and where); the auth check's remedy reads the token from the
    Secret KubeRay keeps (never read by the tool)."""
    from preflight.checks.auth import auth as auth_check

    report = judge(routes(ClusterSpec(auth=auth, auth_secret=secret)))
    result = report["raycluster"]
    assert result.status is Status.PASS and f"token authentication on ({source})" in result.summary, result.summary
    kuberay = report.facts["kuberay"]
    demanded = {"mode": None, "sends_token": False, "token_source": None, "token_problem": None, "ray": "2.60.0",
                "ray_supports_tokens": True, "server_demands_token": True, "server_message": "UNAUTHENTICATED"}
    outcome = auth_check(demanded, config.build(ADDRESS, environ={}).target, kuberay)
    assert outcome.status is Status.FAIL
    assert f"kubectl -n kuberay get secret {named} -o jsonpath='{{.data.auth_token}}' | base64 -d" in str(outcome.remedy)
