"""The Ray Jobs route against a secured dashboard, for real: one head of the latest Ray started with token
authentication (``RAY_AUTH_MODE=token``, as tests/test_token_auth.py starts it), reached directly and through a
sign-in in front of its dashboard (``Ingress``, tests/ingress.py: basic auth, or a header with a redirect to a sign-in
page).

- No token in the client's environment: NO-GO, one red line (the dashboard's) that reads right on the jobs route,
  where the auth check is not run; jobs-api defers to it; no job is submitted.
- The token where Ray reads it: GO, and the job SUCCEEDED (read back over REST).
- Through the sign-in with the right credentials (basic auth in the URL, a ``--dashboard-header``, the token): GO, the
  job SUCCEEDED, every request carried all three, and no secret appears in the output (text and JSON).
- Through the sign-in without credentials: jobs-api fails naming the sign-in; no job is submitted.

The client is the test's own Python (``python -m preflight``) with no ``RAY_*`` variable and an empty home folder
but those each test gives.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List
from urllib.parse import quote

import pytest

from preflight.local_head import LocalHead
from tests.conftest import started
from tests.ingress import HEADER, Ingress
from tests.test_jobs_route import by_id, final_status, tool_jobs

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

TOKEN = "rpf-jobs-token-9c8b7a6d5e4f3a2b1c0d9e8f7a6b5c4d"
USER = "alice"
PASSWORD = "pl4nted/j0bs@pw:%7"
HEADER_VALUE = "pl4nted-j0bs-H3ader-0042"
#: Every secret of the runs, as typed and as sent.
SECRETS = [TOKEN, PASSWORD, quote(PASSWORD, safe=""), HEADER_VALUE, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]


@pytest.fixture(scope="module")
def token_head() -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=2, env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}))


@pytest.fixture(scope="module")
def sign_ins(token_head: LocalHead) -> Iterator[Dict[str, Ingress]]:
    made = {"basic": Ingress(token_head.dashboard_url, basic=(USER, PASSWORD)),
            "header": Ingress(token_head.dashboard_url, header=(HEADER, HEADER_VALUE))}
    yield made
    for ingress in made.values():
        ingress.close()


@pytest.fixture(scope="module")
def home() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield folder


def client_env(home: str, **variables: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONPATH"}
    env.update(HOME=home, **variables)
    return env


def with_token(home: str) -> Dict[str, str]:
    return client_env(home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)


def jobs_route(head: LocalHead, address: str, env: Dict[str, str], *extra: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "preflight", "--route", "jobs", "--address", address, "--gcs-address",
                           head.gcs_address, *extra], capture_output=True, text=True, env=env, timeout=180)


def report_of(done: "subprocess.CompletedProcess[str]") -> Dict[str, Any]:
    report: Dict[str, Any] = json.loads(done.stdout)
    report["by_id"] = by_id(report)
    return report


def submitted(head: LocalHead) -> List[str]:
    return sorted(j["submission_id"] for j in tool_jobs(head))


def test_without_the_token_the_jobs_route_is_no_go_with_one_red_line_that_reads_right(token_head: LocalHead, home: str) -> None:
    before = submitted(token_head)
    done = jobs_route(token_head, token_head.dashboard_url, client_env(home), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = report_of(done)
    dashboard, jobs, auth = (report["by_id"][c] for c in ("dashboard", "jobs-api", "auth"))
    cause = f"{token_head.dashboard_url}api/version demands a Ray auth token (HTTP 401: Unauthorized: Missing authentication token)"
    assert [r["id"] for r in report["results"] if r["status"] == "fail"] == ["dashboard"]  # one red line
    assert report["verdict"] == "NO-GO" and report["verdict_reason"] == f"dashboard failed: {cause}"
    assert dashboard["summary"] == cause
    assert "RAY_AUTH_TOKEN" in dashboard["remedy"] and "X-Ray-Authorization" in dashboard["remedy"]
    assert "see the auth check" not in dashboard["remedy"]  # the auth check is not run on this route
    assert auth["summary"] == "skipped: not needed for the jobs route (the Ray Jobs API)"
    assert jobs["status"] == "skip" and jobs["summary"] == f"skipped: the dashboard check names the cause: {cause}"
    assert report["by_id"]["job-fibonacci"]["status"] == "skip"
    assert submitted(token_head) == before  # no job was submitted
    text = jobs_route(token_head, token_head.dashboard_url, client_env(home)).stdout
    assert f"✗ dashboard         {cause}" in text and text.count("✗") == 1 and "NO-GO: 1 failed" in text, text
    assert "see the auth check" not in text


def test_with_the_token_the_jobs_route_is_go_and_the_job_succeeded(token_head: LocalHead, home: str) -> None:
    t0 = time.monotonic()
    done = jobs_route(token_head, token_head.dashboard_url, with_token(home), "--format", "json")
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stdout + done.stderr
    report = report_of(done)
    assert report["verdict"] == "GO" and report["by_id"]["jobs-api"]["status"] == "pass"
    job = report["by_id"]["job-fibonacci"]
    assert job["status"] == "pass" and "Bearer $RAY_AUTH_TOKEN" in job["details"]["submit_with_curl"], job
    assert final_status(token_head, job["details"]["submission_id"]) == "SUCCEEDED"  # read with the head's token
    assert TOKEN not in done.stdout + done.stderr
    print(f"\ntoken head: GO in {took:.2f} s")


@pytest.mark.parametrize("output", ["json", "text"])
def test_through_a_sign_in_every_request_carries_the_credentials_and_none_is_shown(
        token_head: LocalHead, sign_ins: Dict[str, Ingress], home: str, output: str) -> None:
    proxy = sign_ins["basic"]
    scheme, _, rest_of_url = proxy.url.partition("://")
    address = f"{scheme}://{USER}:{quote(PASSWORD, safe='')}@{rest_of_url}"
    before, known = len(proxy.seen), submitted(token_head)
    done = jobs_route(token_head, address, with_token(home), "--dashboard-header", f"{HEADER}: {HEADER_VALUE}",
                      "--format", output, "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout and secret not in done.stderr, secret
    (sid,) = set(submitted(token_head)) - set(known)
    assert final_status(token_head, sid) == "SUCCEEDED"
    seen = proxy.seen[before:]
    jobs = [s for s in seen if s["path"].startswith("/api/jobs/")]
    assert {s["method"] for s in jobs} == {"GET", "POST"} and any(s["path"] == f"/api/jobs/{sid}/logs" for s in jobs)
    expected_basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for request in seen:  # every request, the dashboard's and the Jobs API's
        assert request["allowed"] and request["authorization"] == expected_basic, request["path"]
        assert request["ray_token"] == f"Bearer {TOKEN}" and request["header"] == HEADER_VALUE, request["path"]
    if output == "json":
        report = report_of(done)
        job = report["by_id"]["job-fibonacci"]
        assert report["verdict"] == "GO" and job["status"] == "pass" and job["details"]["submission_id"] == sid
        assert "with basic auth as user alice and 1 header: X-Auth-Request-Token" in report["by_id"]["dashboard"]["summary"]
        curl = job["details"]["submit_with_curl"]
        assert f"curl -X POST {proxy.url}api/jobs/ " in curl and USER not in curl
        assert "-u USER" in curl and "Bearer $RAY_AUTH_TOKEN" in curl and f"-H '{HEADER}: …'" in curl
    else:
        assert f"job {sid} SUCCEEDED" in done.stdout and "\nGO: " in done.stdout, done.stdout


@pytest.mark.parametrize("sign_in, cause", [
    ("basic", "the Jobs API is behind a sign-in: {url}api/jobs/ needs a sign-in (HTTP 401)"),
    ("header", "the Jobs API is behind a sign-in: behind a sign-in page: {url}api/jobs/ redirects to "
               "{url}oauth2/sign_in?rd=/api/jobs/"),
], ids=["basic-auth", "sign-in-page"])
def test_a_sign_in_in_front_of_the_jobs_api_is_named(token_head: LocalHead, sign_ins: Dict[str, Ingress], home: str,
                                                      sign_in: str, cause: str) -> None:
    proxy = sign_ins[sign_in]
    before, seen = submitted(token_head), len(proxy.seen)
    done = jobs_route(token_head, proxy.url, with_token(home), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = report_of(done)
    jobs = report["by_id"]["jobs-api"]
    assert jobs["status"] == "fail" and jobs["summary"] == cause.format(url=proxy.url), jobs
    assert report["verdict_reason"] == f"jobs-api failed: {jobs['summary']}"
    assert "--dashboard-header" in jobs["remedy"] and "USER:PASSWORD@" in jobs["remedy"]
    assert report["by_id"]["dashboard"]["status"] == "warn"  # the dashboard only warns: the Jobs API's failure is the red line
    assert report["by_id"]["job-fibonacci"]["status"] == "skip"
    assert submitted(token_head) == before and not [s for s in proxy.seen[seen:] if s["method"] == "POST"]

