"""``ray-preflight report``: the support bundle, from a real Ray head, an unreachable address, and a service
account Kubernetes forbids, with secrets planted everywhere a user's secrets live.

Ray is real (``ray start --head`` on loopback, the module's ``ray_head``). Kubernetes cannot run on these
machines, so ``FakeKubeAPI`` serves real Kubernetes JSON and container logs over a real HTTP(S) socket and the
tool reads them through the official ``kubernetes`` client. ``index.html`` is read from what Debian's chromium
renders, headless and without a network (see ``tests/bundles.py``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from preflight.local_head import LocalHead
from preflight.testing import closed_port
from preflight.testing_kuberay import ClusterSpec, FakeKubeAPI, forbidden, head_pod, kubeconfig, operator_pod, routes, variant
from tests.bundles import Page, open_bundle, rendered_dom
from tests.conftest import run_cli
from tests.json_contract import assert_valid

pytestmark = pytest.mark.live  # a real Ray head for the module

NS = "kuberay"
SPEC = ClusterSpec()
HEAD_POD, OPERATOR_POD = head_pod(SPEC)["metadata"]["name"], operator_pod(SPEC)["metadata"]["name"]
AUTOSCALER_LOG = f"cluster/logs/{HEAD_POD}.autoscaler.log"
OPERATOR_LOG = f"cluster/logs/{OPERATOR_POD}.kuberay-operator.log"


def _secret(prefix: str = "") -> str:
    return prefix + secrets.token_hex(12)


def _bundle(folder: str, stdout: str) -> str:
    written = [line for line in stdout.splitlines() if line.startswith("wrote ")]
    assert len(written) == 1, stdout
    path = written[0].split()[1]
    assert os.path.dirname(path) == folder and os.path.isfile(path), path
    return path


def _text(files: Dict[str, bytes]) -> Dict[str, str]:
    return {name: data.decode("utf-8") for name, data in files.items()}


def _json(files: Dict[str, bytes], name: str) -> Any:
    return json.loads(files[name])


def _assert_page_shows_the_report(files: Dict[str, bytes]) -> Page:
    """report.json is valid (preflight/schemas/bundle-report.schema.json), and the rendered index.html shows the
    bundle's verdict and every check with its status and summary."""
    report = assert_valid("bundle-report", _json(files, "report.json"))
    page = Page(rendered_dom(files))
    results = report["report"]["results"] if report["report"] else []
    expected = "GO" if report["report"] and report["report"]["ok"] else "NO-GO"
    assert page.verdict.split(":")[0] == expected, page.verdict
    assert [r["id"] for r in results] == list(page.checks), page.checks
    for result in results:
        status, text = page.checks[result["id"]]
        assert status == result["status"]
        assert " ".join(result["summary"].split()) in text
        if result["remedy"]:
            assert " ".join(result["remedy"].split()) in text
    for name in files:
        if name != "index.html":
            assert name in page.links or name.startswith("cluster/"), name
    return page


@pytest.fixture(scope="module")
def submitted_job(ray_head: LocalHead) -> Dict[str, str]:
    """A job submitted to the real head through the dashboard's REST API, with a secret in its runtime
    environment and one on its command line: the jobs list is in the bundle."""
    planted = {"env": _secret("job-env-"), "flag": _secret("job-flag-")}
    body = json.dumps({"entrypoint": f"echo --db-password {planted['flag']} > /dev/null",
                       "runtime_env": {"env_vars": {"SERVICE_API_TOKEN": planted["env"]}}}).encode()
    request = urllib.request.Request(ray_head.dashboard_url + "api/jobs/", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
    return planted


@pytest.fixture
def planted_cluster(tmp_path: Path) -> Iterator[Tuple[FakeKubeAPI, Dict[str, str], List[str]]]:
    """A KubeRay world whose kubeconfig, container logs and RayCluster hold secrets; returns the API, the secrets by
    name, and the environment (as KEY=VALUE) that plants the rest."""
    planted = {name: _secret(f"{name}-") for name in ("token", "env_token", "aws_secret", "pip", "passwd", "log_password",
                                                      "operator_bearer", "raycluster")}
    planted["aws_key_env"] = "AKIA" + secrets.token_hex(8).upper()
    planted["aws_key_log"] = "AKIA" + secrets.token_hex(8).upper()
    planted["client_key"] = base64.b64encode(f"-----BEGIN PRIVATE KEY-----\n{_secret()}\n-----END PRIVATE KEY-----\n".encode()).decode()
    planted["redact_pattern"] = f"falcon-{secrets.randbelow(10**6):06d}"
    spec = ClusterSpec(planted_secret=planted["raycluster"])
    logs = {
        (HEAD_POD, "autoscaler"): "".join(f"2026-11-25 08:00:{i % 60:02d},000 INFO autoscaler.py:{i} -- Resized to 1 CPUs\n"
                                          for i in range(1500))
        + f"2026-11-25 08:01:00,000 INFO connecting to redis with password={planted['log_password']}\n"
        + f"2026-11-25 08:01:01,000 WARNING found credentials {planted['aws_key_log']} in the environment\n"
        + f"2026-11-25 08:01:02,000 INFO codename {planted['redact_pattern']} scaled\n"
        + "2026-11-25 08:01:03,000 INFO Adding 1 node(s) of type smallgroup.\n",
        (OPERATOR_POD, "kuberay-operator"): "INFO reconciling RayCluster kuberay/ray-cluster-kuberay\n"
        + f"DEBUG request headers: Authorization: Bearer {planted['operator_bearer']}\n"
        + f"DEBUG token in use: Bearer {planted['token']}\n",
    }
    with FakeKubeAPI(routes(spec), token=planted["token"], logs=logs) as api:
        config = json.loads(kubeconfig(api.url, token=planted["token"]))
        config["users"][0]["user"]["client-key-data"] = planted["client_key"]
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(config))
        environment = [f"RPF_SERVICE_TOKEN={planted['env_token']}", f"AWS_SECRET_ACCESS_KEY={planted['aws_secret']}",
                       f"AWS_ACCESS_KEY_ID={planted['aws_key_env']}", f"DB_PASSWD={planted['passwd']}",
                       f"PIP_INDEX_URL=https://builder:{planted['pip']}@pypi.corp.example/simple",
                       f"TEAM_NOTE=codename {planted['redact_pattern']}", f"KUBECONFIG={path}"]
        yield api, planted, environment


def test_a_healthy_cluster_bundle_has_every_piece_and_none_of_the_planted_secrets(
        ray_head: LocalHead, head_args: List[str], submitted_job: Dict[str, str],
        planted_cluster: Tuple[FakeKubeAPI, Dict[str, str], List[str]]) -> None:
    api, planted, environment = planted_cluster
    planted = dict(planted, job_env=submitted_job["env"], job_flag=submitted_job["flag"])
    with tempfile.TemporaryDirectory() as folder:
        done = run_cli(["report", *head_args, "--namespace", NS, "--output", folder, "--redact", r"falcon-\d+"],
                       env_extra=dict(e.split("=", 1) for e in environment))
        assert done.returncode == 0, done.stderr
        files = open_bundle(_bundle(folder, done.stdout))
    texts = _text(files)

    # every piece is there
    expected = {"index.html", "report.json", "environment.json", "redactions.json", "cluster/collected.json",
                "cluster/dashboard.json", "cluster/cluster_status.json", "cluster/nodes.json", "cluster/jobs.json",
                "cluster/raycluster.json", "cluster/pods.json", "cluster/events.json", AUTOSCALER_LOG, OPERATOR_LOG}
    assert set(files) == expected, sorted(files)
    assert all(piece["collected"] for piece in _json(files, "cluster/collected.json")), texts["cluster/collected.json"]
    report = assert_valid("bundle-report", _json(files, "report.json"))
    assert report["verdict"] == report["report"]["verdict"] == "GO"
    assert report["command_line"].startswith("ray-preflight report --address ray://127.0.0.1:")
    assert report["report"]["tool_version"] and report["report"]["results"] and report["report"]["timings"]
    assert report["report"]["facts"]["client"]["python"]["version"]
    environment_json = _json(files, "environment.json")
    names = {d["name"].lower() for d in environment_json["distributions"]}
    assert {"ray", "kubernetes", "ray-preflight"} <= names
    assert environment_json["host"]["cpus"] and environment_json["host"]["limits"]["nofile"]
    assert environment_json["kubernetes"]["used"]["source"].startswith("kubeconfig ")
    assert _json(files, "cluster/dashboard.json")["ray_version"] == ray_head.ray_version
    assert any(j["entrypoint"].startswith("echo --db-password") for j in _json(files, "cluster/jobs.json")["jobs"])
    assert _json(files, "cluster/nodes.json")["count"] == 1
    pods = _json(files, "cluster/pods.json")["pods"]
    assert {p["name"] for p in pods} >= {HEAD_POD} and all("restarts" in c for p in pods for c in p["containers"])
    assert _json(files, "cluster/raycluster.json")["kind"] == "RayCluster"
    assert _json(files, "cluster/events.json")["count"] == 3

    # the log tails are bounded as asked of the API server, and keep what support needs
    log_requests = [r for r in api.requests if "/log?" in r]
    assert len(log_requests) == 2 and all("tailLines=1000" in r and "limitBytes=524288" in r for r in log_requests)
    assert texts[AUTOSCALER_LOG].count("\n") == 1000
    assert texts[AUTOSCALER_LOG].endswith("Adding 1 node(s) of type smallgroup.\n")
    assert "reconciling RayCluster kuberay/ray-cluster-kuberay" in texts[OPERATOR_LOG]

    # no planted secret in any file, nor in what the command printed
    assert len(planted) >= 10
    for name, value in planted.items():
        leaks = [f for f, text in texts.items() if value in text]
        assert not leaks, f"{name} leaked into {leaks}"
        assert value not in done.stdout + done.stderr, name
    assert SPEC.planted_secret not in "".join(texts.values())

    # redactions.json accounts for each, by where it was and which rule caught it, never by value
    redactions = _json(files, "redactions.json")
    entries = redactions["redactions"]
    accounted = {
        "env_token": ("environment.json", "$.environment.RPF_SERVICE_TOKEN"),
        "aws_secret": ("environment.json", "$.environment.AWS_SECRET_ACCESS_KEY"),
        "aws_key_env": ("environment.json", "$.environment.AWS_ACCESS_KEY_ID"),
        "passwd": ("environment.json", "$.environment.DB_PASSWD"),
        "pip": ("environment.json", "$.environment.PIP_INDEX_URL"),
        "redact_pattern": ("environment.json", "$.environment.TEAM_NOTE"),
        "token": ("environment.json", ".users[0].user.token"),
        "client_key": ("environment.json", ".users[0].user.client-key-data"),
        "log_password": (AUTOSCALER_LOG, "line 997"),
        "aws_key_log": (AUTOSCALER_LOG, "line 998"),
        "operator_bearer": (OPERATOR_LOG, "line 2"),
        "raycluster": ("cluster/raycluster.json", ".headGroupSpec.template.spec.containers[0].env[1].value"),
        "job_env": ("cluster/jobs.json", ".runtime_env.env_vars.SERVICE_API_TOKEN"),
        "job_flag": ("cluster/jobs.json", ".entrypoint"),
    }
    for name, (file, where) in accounted.items():
        assert any(e["file"] == file and e["where"].endswith(where) for e in entries), (name, file, where)
    assert any(e["file"] == AUTOSCALER_LOG and e["rule"] == "--redact pattern #1" for e in entries)
    assert redactions["count"] == len(entries) and sum(redactions["by_rule"].values()) == len(entries)
    assert texts["redactions.json"].count("***REDACTED***") == 1  # the mask is named once; no value is

    page = _assert_page_shows_the_report(files)
    assert page.pieces and all(text.endswith("collected") for text in page.pieces.values()), page.pieces


def test_an_unreachable_cluster_gives_a_smaller_bundle_that_says_why(tmp_path: Path) -> None:
    port = closed_port()
    done = run_cli(["report", "--address", f"ray://127.0.0.1:{port}", "--output", str(tmp_path)])
    assert done.returncode == 0, done.stderr
    assert "NO-GO" in done.stdout and "cluster pieces not collected" in done.stdout
    files = open_bundle(_bundle(str(tmp_path), done.stdout))
    assert set(files) == {"index.html", "report.json", "environment.json", "redactions.json", "cluster/collected.json"}
    missing = {p["piece"]: p["reason"] for p in _json(files, "cluster/collected.json")}
    assert set(missing) == {"cluster/dashboard.json", "cluster/cluster_status.json", "cluster/nodes.json", "cluster/jobs.json",
                            "cluster/raycluster.json", "cluster/pods.json", "cluster/events.json", "cluster/logs/"}
    assert all(f"127.0.0.1:{port} refused" in missing[p] for p in ("cluster/dashboard.json", "cluster/jobs.json")), missing
    assert all("no Kubernetes credentials" in missing[p] for p in ("cluster/raycluster.json", "cluster/logs/")), missing
    page = _assert_page_shows_the_report(files)
    assert page.checks["reachability"][0] == "fail"
    assert all("not collected" in text and "refused" in text for p, text in page.pieces.items() if "dashboard" in p)


def test_a_forbidden_service_account_bundle_names_what_was_forbidden(
        head_args: List[str], tls_pair: Tuple[str, str], tmp_path: Path) -> None:
    """In a pod whose service account may discover APIs but read nothing in the namespace."""
    token = "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(_secret().encode()).decode().rstrip("=") + "." + _secret()
    table = variant(routes(SPEC), **{
        f"/api/v1/namespaces/{NS}/pods": forbidden("list", "pods", "", NS),
        f"/api/v1/namespaces/{NS}/events": forbidden("list", "events", "", NS),
        f"/apis/ray.io/v1/namespaces/{NS}/rayclusters": forbidden("list", "rayclusters", "ray.io", NS),
    })
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_text(Path(tls_pair[0]).read_text())
    (sa / "namespace").write_text(NS)
    out = tmp_path / "out"
    out.mkdir()
    with FakeKubeAPI(table, token=token, tls=tls_pair) as api:
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port),
               "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": str(sa), "KUBECONFIG": ""}
        done = run_cli(["report", *head_args, "--output", str(out)], env_extra=env)
    assert done.returncode == 0, done.stderr
    files = open_bundle(_bundle(str(out), done.stdout))
    missing = {p["piece"]: p.get("reason") for p in _json(files, "cluster/collected.json") if not p["collected"]}
    assert set(missing) == {"cluster/raycluster.json", "cluster/pods.json", "cluster/events.json", "cluster/logs/"}, missing
    assert missing["cluster/events.json"].startswith('forbidden: events is forbidden: User "system:serviceaccount:kuberay:default"')
    assert "forbidden: rayclusters is forbidden" in missing["cluster/raycluster.json"]
    assert "forbidden: pods is forbidden" in missing["cluster/logs/"]
    assert {"cluster/nodes.json", "cluster/jobs.json", "cluster/cluster_status.json"} <= set(files)  # Ray still told its part
    assert _json(files, "environment.json")["kubernetes"]["used"]["source"] == "in-cluster service account"
    assert _json(files, "environment.json")["kubernetes"]["in_cluster"] is True
    assert not [f for f, data in files.items() if token.encode() in data]
    _assert_page_shows_the_report(files)


def test_a_log_that_never_answers_is_listed_as_such_and_the_bundle_comes_in_time(tmp_path: Path) -> None:
    """Everything in Kubernetes answers but the container logs, which hang."""
    with FakeKubeAPI(routes(SPEC), hang=("/log",), logs={(HEAD_POD, "autoscaler"): "x\n"}) as api:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(api.url))
        started = time.monotonic()
        done = run_cli(["report", "--address", f"ray://127.0.0.1:{closed_port()}", "--kubeconfig", str(config),
                        "--namespace", NS, "--connect-timeout", "1", "--output", str(tmp_path)])
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    files = open_bundle(_bundle(str(tmp_path), done.stdout))
    missing = {p["piece"]: p.get("reason") for p in _json(files, "cluster/collected.json") if not p["collected"]}
    assert {AUTOSCALER_LOG, OPERATOR_LOG} <= set(missing), missing
    assert all("did not answer within" in missing[log] for log in (AUTOSCALER_LOG, OPERATOR_LOG)), missing
    assert {"cluster/raycluster.json", "cluster/pods.json", "cluster/events.json"} <= set(files)
    assert took < 30, took  # the run, then at most 2 x --connect-timeout + 1 s of collection, plus start-up


def test_unusable_input_still_gives_a_bundle_without_the_credentials_typed(tmp_path: Path) -> None:
    password, dash_password = _secret("addr-"), _secret("dash-")
    done = run_cli(["report", "--address", f"ray://admin:{password}@127.0.0.1:1",
                    "--dashboard-url", f"https://ops:{dash_password}@ray-dashboard.example.com/", "--output", str(tmp_path)])
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("ray-preflight: error: address 'ray://***@127.0.0.1:1'")
    assert "the bundle records it" in done.stderr and "Traceback" not in done.stderr
    files = open_bundle(_bundle(str(tmp_path), done.stdout))
    for data in files.values():
        assert password.encode() not in data and dash_password.encode() not in data
    report = assert_valid("bundle-report", _json(files, "report.json"))
    assert report["usage_error"].startswith("address 'ray://***@127.0.0.1:1'") and report["report"] is None
    assert "ray://admin:***REDACTED***@127.0.0.1:1" in report["command_line"]
    entries = _json(files, "redactions.json")["redactions"]
    assert sum(e["where"] == "$.command_line" and e["rule"] == "url-credentials" for e in entries) == 2
    assert Page(rendered_dom(files)).verdict.startswith("NO-GO: the input is unusable")


@pytest.mark.parametrize("args, words", [
    (["report", "--redact", "("], "--redact '(': not a regular expression"),
    (["report", "--redact", ""], "--redact needs a non-empty regular expression"),
    (["report", "--redact", "x*"], "matches the empty string"),
    (["report", "--output", "/nonexistent-folder/bundle.tar.gz"], "--output /nonexistent-folder/bundle.tar.gz: no folder"),
    (["report", "--output", ""], "--output is empty"),
    (["report", "--address", "ray://127.0.0.1:1", "--local"], "--local starts its own head"),
    (["--address", "ray://127.0.0.1:1", "report"], "--address before `report` would be ignored: options go after the command"),
])
def test_bad_report_options_are_one_line_usage_errors_before_any_run(args: List[str], words: str, tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_cli(args, env_extra={"HOME": str(tmp_path)})
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
    assert time.monotonic() - started < 30
    assert not list(tmp_path.glob("ray-preflight-report-*")) and not list(Path.cwd().glob("ray-preflight-report-*"))


def test_a_bundle_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    target = tmp_path / "bundle.tar.gz"
    Path(f"{target}.partial").mkdir()  # where the archive is written before it is renamed
    done = run_cli(["report", "--address", f"ray://127.0.0.1:{closed_port()}", "--only", "reachability", "--output", str(target)])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(f"ray-preflight: error: cannot write {target}: "), done.stderr
    assert "Traceback" not in done.stderr and not target.exists()


def test_the_notebook_api_writes_the_bundle_and_returns_its_path(tmp_path: Path) -> None:
    import preflight

    port = closed_port()
    path = preflight.report(f"ray://127.0.0.1:{port}", output=str(tmp_path), only="reachability,dashboard")
    files = open_bundle(path)
    report = assert_valid("bundle-report", _json(files, "report.json"))
    assert [r["id"] for r in report["report"]["results"]] == ["reachability", "dashboard"]
    assert report["command_line"].startswith(f"preflight.report('ray://127.0.0.1:{port}', only='reachability,dashboard', "
                                             f"output={str(tmp_path)!r})")
    with pytest.raises(ValueError, match=r"address 'ray://\*\*\*@h:1'.*the bundle .*ray-preflight-report-.* records it"):
        preflight.report("ray://u:pw-123456@h:1", output=str(tmp_path))
    with pytest.raises(TypeError, match="unexpected keyword argument.*adress"):
        preflight.report(adress="ray://h:1")
    second = preflight.report(f"ray://127.0.0.1:{port}", output=str(tmp_path), only="reachability")
    assert second != path and os.path.isfile(path)  # two bundles in one second do not overwrite each other
