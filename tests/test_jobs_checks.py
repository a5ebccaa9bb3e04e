"""The Ray Jobs route's checks without a Ray head: the entrypoint the job runs and the lines shown to users, and the
checks fed plain facts (what the probes would have read), as tests/test_checks_unit.py does: every verdict of
``jobs-api`` and ``job-fibonacci``, among them the one no real Ray can produce (a dashboard without the job module:
HTTP 404). What really happens against real Ray heads (a job that succeeds or fails with its own error, the deadline,
an interrupted run, a token demand, a sign-in, the credentials sent and never shown): tests/test_jobs_route.py,
tests/test_jobs_route_job_fails.py, tests/test_jobs_route_secured.py and tests/test_jobs_route_ray220.py.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Dict

from preflight import config, profiles
from preflight.checks.client import WAYS_OUT, python_version, ray_version
from preflight.checks.client_packages import client_packages
from preflight.checks.jobs import (
    MARKER,
    PAYLOAD,
    error_line,
    job_fibonacci,
    job_result,
    jobs_api_check,
    submission,
    submit_lines,
)
from preflight.dashboard_api import classify
from preflight.model import Missing, Status
from preflight.net import HttpAnswer
from preflight.testing import closed_port
from tests.conftest import run_cli
from tests.facts import client_facts, dashboard_facts, server_facts

AUTO = profiles.get("auto")
FY23 = profiles.get("fy23-q2")
URL = "http://head:8265/"


def jobs_config(**extra: Any) -> config.RunConfig:
    return config.build(address=URL, environ={}, route="jobs", **extra)


# -- the job's own code ------------------------------------------------------------------------------------------


def test_the_entrypoint_is_one_inline_python_command_with_no_upload() -> None:
    body = submission("ray-preflight-abc", 10_000, 2)
    assert set(body) == {"entrypoint", "submission_id", "metadata"}  # no runtime_env: no upload, no working_dir
    assert body["entrypoint"].startswith("python -c '") and body["entrypoint"].endswith("'")
    assert "'" not in PAYLOAD  # so the shell's single quotes hold it whole
    assert all(isinstance(v, str) for v in body["metadata"].values())  # Ray 2.2.0 takes Dict[str, str]
    compile(shlex.split(body["entrypoint"])[2], "<entrypoint>", "exec")


def test_error_line_reads_what_a_shell_or_python_says() -> None:
    assert error_line("Running entrypoint for job x: python -c '...'\n/bin/sh: 1: python: not found\n") == \
        "/bin/sh: 1: python: not found"
    assert error_line("Traceback (most recent call last):\n  File ...\nModuleNotFoundError: No module named 'ray'\n") == \
        "ModuleNotFoundError: No module named 'ray'"
    assert error_line("all fine\n") == ""
    assert job_result(f"noise\n{MARKER}not json\n") is None and job_result("nothing") is None


# -- the lines shown to users --------------------------------------------------------------------------------------


def test_the_submit_lines_show_placeholders_never_credentials() -> None:
    plain = submit_lines("http://head:8265/")
    assert plain["with_ray"] == "ray job submit --address http://head:8265 --working-dir . -- python your_script.py"
    assert plain["with_curl"] == ("curl -X POST http://head:8265/api/jobs/ -H 'Content-Type: application/json' "
                                  "-d '{\"entrypoint\": \"python your_script.py\"}'")
    secured = submit_lines("https://dash.example/ray/", {"basic_auth": True, "ray_token": True, "headers": ["X-Auth-Request-Token"]})
    assert secured["with_ray"].startswith("ray job submit --address https://dash.example/ray ")
    assert ("https://dash.example/ray/api/jobs/ -H 'Content-Type: application/json' -u USER "
            "-H 'X-Ray-Authorization: Bearer $RAY_AUTH_TOKEN' -H 'X-Auth-Request-Token: …' -d ") in secured["with_curl"]
    # the curl line, typed as shown, is one command that posts the documented body
    argv = shlex.split(plain["with_curl"])
    assert argv[:3] == ["curl", "-X", "POST"] and json.loads(argv[-1]) == {"entrypoint": "python your_script.py"}


# -- jobs-api with plain facts -----------------------------------------------------------------------------------


TARGET = jobs_config().target


def jobs_facts(kind: str = "json", **extra: Any) -> Dict[str, Any]:
    facts: Dict[str, Any] = {"url": URL + "api/jobs/", "kind": kind, "http_status": 200, "ms": 2.0, "sent": {}}
    if kind == "json":
        facts["listed"] = 3
    facts.update(extra)
    return facts


class TestJobsApi:
    def test_a_json_list_passes_and_says_no_ray_is_needed_here(self) -> None:
        out = jobs_api_check(jobs_facts(), TARGET, dashboard_facts())
        assert out.status is Status.PASS
        assert "http://head:8265/api/jobs/ answers (3 job(s) listed, Ray 2.2.0" in out.summary
        assert "no Ray and no matching Python are needed on this machine" in out.summary
        assert out.details["submit_with_ray"].startswith("ray job submit --address http://head:8265 ")

    def test_an_old_dashboard_without_the_jobs_api(self) -> None:
        """No real Ray at hand answers so (every ``ray[default]`` since 2.0 serves the job module): the 404 of a dashboard
        without it (aiohttp's plain text), read as the probe reads it, judged, and the job not submitted."""
        answer = HttpAnswer(URL + "api/jobs/", 404, {"content-type": "text/plain; charset=utf-8"}, b"404: Not Found", 0.002)
        assert classify(answer, URL + "api/jobs/")["kind"] == "not-found"
        out = jobs_api_check(jobs_facts("not-found", http_status=404), TARGET, dashboard_facts())
        assert out.status is Status.FAIL and out.summary == (
            "no Ray Jobs API at http://head:8265/api/jobs/ (HTTP 404): the dashboard (Ray 2.2.0) serves no job module: an "
            "old Ray, or a head without ray[default]")
        assert "--route client" in (out.remedy or "") and out.details["http_status"] == 404
        gated = job_fibonacci(Missing("needs jobs-api to pass (jobs-api: fail)"), jobs_config())
        assert gated.status is Status.SKIP and gated.summary == "skipped: needs jobs-api to pass (jobs-api: fail)"

    def test_a_sign_in_is_named_as_such(self) -> None:
        facts = jobs_facts("sign-in", error="behind a sign-in page at http://head:8265/api/jobs/ (HTML where JSON was expected)")
        signin = dashboard_facts(ok=False, error_kind="sign-in", error="behind a sign-in page: ...")
        out = jobs_api_check(facts, TARGET, signin)  # the dashboard only warned: the Jobs API's failure is the red line
        assert out.status is Status.FAIL and out.summary.startswith("the Jobs API is behind a sign-in: behind a sign-in page")
        assert "--dashboard-header" in (out.remedy or "")

    def test_a_cause_the_dashboard_check_already_fails_for_is_not_a_second_red_line(self) -> None:
        token = dashboard_facts(ok=False, error_kind="ray-token", error="http://head:8265/api/version demands a Ray auth token")
        out = jobs_api_check(jobs_facts("ray-token", error="demands a token"), TARGET, token)
        assert out.status is Status.SKIP and "demands a Ray auth token" in out.summary
        alone = jobs_api_check(jobs_facts("ray-token", error="http://head:8265/api/jobs/ demands a Ray auth token (HTTP 401: ...)"),
                               TARGET, dashboard_facts())
        assert alone.status is Status.FAIL and "RAY_AUTH_TOKEN" in (alone.remedy or "")

    def test_a_dashboard_that_did_not_answer_skips_with_its_reason(self) -> None:
        out = jobs_api_check(Missing("the dashboard did not answer (connection to http://head:8265/api/version refused)"), TARGET)
        assert out.status is Status.SKIP and "refused" in out.summary

    def test_other_json_is_not_the_jobs_api(self) -> None:
        out = jobs_api_check(jobs_facts(listed=None), TARGET, dashboard_facts())
        assert out.status is Status.FAIL and "not the Jobs API's list" in out.summary


# -- job-fibonacci with plain facts ------------------------------------------------------------------------------


def run_facts(**extra: Any) -> Dict[str, Any]:
    facts: Dict[str, Any] = {"ok": True, "stage": "done", "submission_id": "ray-preflight-1a2b", "status": "SUCCEEDED",
                             "size": 10_000, "tasks": 2, "submit_s": 0.1, "wall_s": 2.5,
                             "result": {"ok": True, "size": 10_000, "tasks": 2, "mismatches": 0, "nodes": ["n1"], "ray": "2.2.0",
                                        "python": "3.8.18", "local_s": 0.03, "remote_s": 0.05, "init_s": 1.1}}
    facts.update(extra)
    return facts


class TestJobFibonacci:
    def test_success_passes_with_timings_and_the_lines_to_type(self) -> None:
        out = job_fibonacci(run_facts(), jobs_config())
        assert out.status is Status.PASS
        assert out.summary == ("job ray-preflight-1a2b SUCCEEDED: 2 tasks of size 10,000 ran on 1 node(s) and matched (remote 0.05 s, "
                               "local 0.03 s; submitted to done 2.5 s) on the cluster's Ray 2.2.0, Python 3.8.18; no Ray needed "
                               "on this machine")
        assert out.details["submit_with_curl"].startswith("curl -X POST http://head:8265/api/jobs/")
        assert out.details["job_ray"] == "2.2.0" and out.details["job_python"] == "3.8.18"

    def test_a_failed_job_names_its_own_error_line(self) -> None:
        logs = "Traceback (most recent call last):\n  File \"<string>\", line 3\nModuleNotFoundError: No module named 'ray'\n"
        out = job_fibonacci(run_facts(ok=False, status="FAILED", result={}, log_tail=logs), jobs_config())
        assert out.status is Status.FAIL
        assert out.summary == "job ray-preflight-1a2b FAILED: ModuleNotFoundError: No module named 'ray'"
        assert "the cluster's `python`" in (out.remedy or "") and "ray job logs ray-preflight-1a2b" in (out.remedy or "")
        mismatch = job_fibonacci(run_facts(ok=False, status="FAILED", result={"ok": False, "mismatches": 1, "tasks": 2}), jobs_config())
        assert mismatch.status is Status.FAIL and "1 of 2 remote results differ" in mismatch.summary

    def test_a_job_past_the_deadline_was_stopped_and_says_so(self) -> None:
        facts = run_facts(ok=False, stage="timeout", status="RUNNING", result={}, final_status="STOPPED", stop={"stopped": True})
        out = job_fibonacci(facts, jobs_config(timeout=5))
        assert out.status is Status.FAIL
        assert out.summary == ("job ray-preflight-1a2b did not finish within the run's deadline (5 s; last status RUNNING); "
                               "it was stopped (STOPPED)")
        # a stop the Jobs API took while the job still showed RUNNING (Ray ends a job a second or two later): never
        # "stopped (RUNNING)"
        for still in ("RUNNING", None):  # seen after the stop, or not seen at all
            asked = job_fibonacci(dict(facts, final_status=still), jobs_config(timeout=5))
            assert asked.status is Status.FAIL and asked.summary == (
                "job ray-preflight-1a2b did not finish within the run's deadline (5 s; last status RUNNING); the Jobs API took "
                "the stop request (the job still showed RUNNING as the run ended; Ray ends it within seconds: `ray job status "
                "ray-preflight-1a2b`)")
        ended = job_fibonacci(dict(facts, final_status="SUCCEEDED"), jobs_config(timeout=5))
        assert ended.summary.endswith("; it ended as it was being stopped (SUCCEEDED)")
        unstopped = job_fibonacci(run_facts(ok=False, stage="timeout", status="PENDING", result={}, stop={"error": "no answer"}),
                                  jobs_config(timeout=5))
        assert "stopping it failed (no answer): stop it with `ray job stop ray-preflight-1a2b`" in unstopped.summary

    def test_a_refused_submission_and_a_missing_result_line(self) -> None:
        refused = job_fibonacci({"ok": False, "stage": "submit", "submission_id": "s", "error": "No available agent", "http_status": 500},
                                jobs_config())
        assert refused.status is Status.FAIL and refused.summary == "the Jobs API did not take the job: No available agent (HTTP 500)"
        silent = job_fibonacci(run_facts(ok=False, result={}), jobs_config())
        assert silent.status is Status.FAIL and "no result line" in silent.summary  # never a pass without the job's word

    def test_gated_or_missing_facts_skip(self) -> None:
        out = job_fibonacci(Missing("needs jobs-api to pass (jobs-api: fail)"), jobs_config())
        assert out.status is Status.SKIP and "jobs-api" in out.summary


# -- both ways out --------------------------------------------------------------------------------------------------


class TestWaysOut:
    def test_client_side_failures_name_both_ways_out_when_the_dashboard_answers(self) -> None:
        wrong = python_version(client_facts(python="3.11.7"), AUTO, server_facts(python="3.8.18"), dashboard_facts())
        typed, way_out = (wrong.remedy or "").split(WAYS_OUT)
        assert "python3.8 -m venv" in typed  # the remedy that was there stays first, whole
        assert way_out == ("run `ray-preflight fix` (a Python 3.8 environment with Ray 2.2.0 and a Jupyter kernel), or submit "
                           "through the Ray Jobs API from any Python: `ray-preflight --route jobs`")
        missing = ray_version(client_facts(ray=None), AUTO, server_facts(), dashboard_facts())
        assert (missing.remedy or "").startswith('pip install "ray==2.2.0"' + WAYS_OUT)
        broken = client_packages(client_facts(ray="2.2.0", pydantic="2.10.6"), server_facts(), dashboard_facts(), AUTO)
        assert (broken.remedy or "").startswith('pip install "pydantic<2"' + WAYS_OUT)

    def test_without_a_dashboard_or_without_a_failure_the_remedy_is_unchanged(self) -> None:
        down = dashboard_facts(ok=False, error_kind="refused", unreachable=True)
        assert ray_version(client_facts(ray=None), AUTO, server_facts(), down).remedy == 'pip install "ray==2.2.0"'
        assert WAYS_OUT not in (python_version(client_facts(python="3.11.7"), AUTO, server_facts(), Missing("x")).remedy or "")
        warn = ray_version(client_facts(ray="2.1.0", protocol="2022-10-05"), AUTO, server_facts(), dashboard_facts())
        assert warn.status is Status.WARN and warn.remedy == 'pip install "ray==2.2.0"'
        pinned = python_version(client_facts(python="3.10.6"), FY23, Missing("GCS down"), dashboard_facts())
        assert "(a Python 3.8 environment with Ray 2.2.0 and a Jupyter kernel)" in (pinned.remedy or "")


# -- the real command, nothing listening ---------------------------------------------------------------------------


def test_a_closed_dashboard_port_is_no_go_naming_the_cause() -> None:
    port = closed_port()
    args = ["--route", "jobs", "--address", f"http://127.0.0.1:{port}", "--gcs-address", f"127.0.0.1:{closed_port()}"]
    done = run_cli([*args, "--format", "json"])
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    cause = f"connection to http://127.0.0.1:{port}/api/version refused: nothing listens there"
    assert report["verdict_reason"] == f"dashboard failed: {cause}"
    results = {r["id"]: r for r in report["results"]}
    assert "--dashboard-url" not in results["dashboard"]["remedy"]  # refused beside a Ray Jobs address: not offered
    assert results["jobs-api"]["summary"] == f"skipped: the dashboard did not answer ({cause})"
    assert results["job-fibonacci"]["status"] == "skip"
    text = run_cli(args).stdout
    assert f"✗ dashboard         {cause}" in text and "NO-GO: 1 failed" in text

