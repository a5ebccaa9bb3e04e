"""The Ray Jobs route (``--route jobs``) through the real command against a real head of the latest Ray, from the CI's
Python with the tool and NO Ray (the ``default-no-ray`` world, its ``ray-preflight`` console script): GO, and the job
really ran (the Jobs API, read here over REST, shows it SUCCEEDED with the Fibonacci result in its logs); a closed
dashboard port is NO-GO naming the cause; a job still running at the run's deadline is stopped within the deadline;
a run interrupted in the middle of its job (SIGTERM, SIGINT) leaves the job STOPPED. The Ray Client route against the
same head still works as before. One head for the whole module.

Elsewhere: a job that fails with its own error line (a head whose ``python`` has no Ray):
tests/test_jobs_route_job_fails.py; a token head and a sign-in in front of the dashboard:
tests/test_jobs_route_secured.py; the Ray 2.2.0 head: tests/test_jobs_route_ray220.py.

A job's entrypoint (``python -c ...``, as ``ray job submit -- python script.py``) runs the first ``python`` on the
head's PATH, as on a KubeRay head, whose image puts Ray's Python there; LocalHead starts every head with its own
Python's folder first on PATH for that reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from typing import Any, Dict, Iterator, List

import pytest

from preflight.checks.jobs import MARKER, job_result
from preflight.local_head import LocalHead
from preflight.testing import closed_port
from tests.conftest import run_cli, started
from tests.facts import JOBS_CHECKS, JOBS_ROUTE_CHECKS
from tests.worlds import CACHE, Env, child_env, world_env

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

#: Wall times of the runs below, printed at the end of the module (pytest -s).
TIMES: Dict[str, float] = {}


@pytest.fixture(scope="module")
def ray_head() -> Iterator[LocalHead]:
    """conftest's head (the Ray in this Python, loopback, free ports; LocalHead puts its Python first on PATH)."""
    try:
        yield from started(LocalHead(num_cpus=2))
    finally:
        if TIMES:
            print("\njobs route, latest Ray head:", json.dumps({k: round(v, 2) for k, v in TIMES.items()}))


@pytest.fixture(scope="module")
def no_ray(worlds: Dict[str, Any]) -> Env:
    env = world_env(worlds, "default-no-ray")
    check = subprocess.run([env.python, "-c", "import ray"], capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 and "No module named 'ray'" in check.stderr  # the world really has no Ray
    return env


def rest(head: LocalHead, path: str) -> Any:
    """The head's Jobs API, read over plain REST (as curl would), with the head's own token when it demands one."""
    request = urllib.request.Request(head.dashboard_url + path, headers=head.channel.http_headers())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def tool_jobs(head: LocalHead) -> List[Dict[str, Any]]:
    return [j for j in rest(head, "api/jobs/") if (j.get("metadata") or {}).get("submitted_by") == "ray-preflight"]


def final_status(head: LocalHead, submission_id: str, wait: float = 30) -> str:
    """The job's status once it has left RUNNING and PENDING (or as it is after ``wait`` seconds)."""
    end = time.monotonic() + wait
    status = rest(head, f"api/jobs/{submission_id}")["status"]
    while status in ("RUNNING", "PENDING") and time.monotonic() < end:
        time.sleep(0.2)
        status = rest(head, f"api/jobs/{submission_id}")["status"]
    return str(status)


def jobs_route(env: Env, *args: str, timeout: float = 300) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([env.bin("ray-preflight"), "--route", "jobs", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), cwd=str(CACHE))


def by_id(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {r["id"]: r for r in report["results"]}


def test_a_python_without_ray_is_go_on_the_jobs_route_and_the_job_really_ran(ray_head: LocalHead, no_ray: Env) -> None:
    t0 = time.monotonic()
    done = jobs_route(no_ray, "--address", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address, "--format", "json")
    TIMES["go"] = time.monotonic() - t0
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    results = by_id(report)
    assert report["verdict"] == "GO" and report["target"]["address_form"] == "jobs"
    judged = [r["id"] for r in report["results"] if not r["summary"].startswith("skipped: not needed for the jobs route")]
    assert judged == JOBS_ROUTE_CHECKS
    assert results["ray-version"]["summary"] == "skipped: not needed for the jobs route (the Ray Jobs API)"
    assert results["jobs-api"]["status"] == "pass" and "no Ray and no matching Python are needed" in results["jobs-api"]["summary"]
    job = results["job-fibonacci"]
    assert job["status"] == "pass" and f"on the cluster's Ray {ray_head.ray_version}" in job["summary"], job
    # what really happened, read from the Jobs API without the tool
    sid = job["details"]["submission_id"]
    info = rest(ray_head, f"api/jobs/{sid}")
    assert info["status"] == "SUCCEEDED" and info["metadata"]["submitted_by"] == "ray-preflight"
    logs = rest(ray_head, f"api/jobs/{sid}/logs")["logs"]
    line = next(ln for ln in logs.splitlines() if ln.startswith(MARKER))
    result = job_result(logs)
    assert result is not None and result["ok"] is True and result["mismatches"] == 0, line
    assert result["size"] == 10_000 and result["tasks"] == (os.cpu_count() or 1) and result["ray"] == ray_head.ray_version
    assert result["stage"] == "done" and len(result["nodes"]) == 1 and {"init_s", "local_s", "remote_s", "python"} <= set(result)
    assert "error" not in result and job["details"]["job_nodes"] == result["nodes"]
    TIMES["job_submitted_to_done"] = float(job["details"]["wall_s"])
    print(f"\njob {sid}: {info['status']}; log line: {line[:200]}")


def test_the_client_route_against_the_same_head_works_as_before(ray_head: LocalHead) -> None:
    """The test's own Python (the latest Ray, like the head): the Ray Client route's GO, the Jobs route's checks skipped."""
    args = ["--address", ray_head.address, "--dashboard-url", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address]
    t0 = time.monotonic()
    done = run_cli([*args, "--format", "json"])
    TIMES["client_route_go"] = time.monotonic() - t0
    assert done.returncode == 0, done.stdout + done.stderr
    results = by_id(json.loads(done.stdout))
    assert results["fibonacci"]["status"] == "pass" and "matched the local results" in results["fibonacci"]["summary"]
    for check_id in JOBS_CHECKS:
        assert results[check_id]["summary"] == "skipped: not needed for the client route (the Ray Client (ray.init))"


def test_a_closed_dashboard_port_is_no_go_naming_the_cause(no_ray: Env) -> None:
    port = closed_port()
    t0 = time.monotonic()
    done = jobs_route(no_ray, "--address", f"http://127.0.0.1:{port}", "--gcs-address", f"127.0.0.1:{closed_port()}", "--format", "json")
    TIMES["closed_port_no_go"] = time.monotonic() - t0
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    cause = f"connection to http://127.0.0.1:{port}/api/version refused: nothing listens there"
    assert report["verdict"] == "NO-GO" and report["verdict_reason"] == f"dashboard failed: {cause}"
    results = by_id(report)
    assert results["jobs-api"]["summary"] == f"skipped: the dashboard did not answer ({cause})"
    assert results["job-fibonacci"]["status"] == "skip"
    assert TIMES["closed_port_no_go"] < 10


def test_a_job_still_running_at_the_deadline_is_stopped_within_the_deadline(ray_head: LocalHead, no_ray: Env) -> None:
    """24 tasks of size 150,000 take the job's driver ~13 s to check locally: far past a run's 8 s deadline."""
    t0 = time.monotonic()
    done = jobs_route(no_ray, "--address", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address,
                      "--fib-size", "150000", "--fib-tasks", "24", "--timeout", "8", "--format", "json")
    TIMES["deadline_run"] = took = time.monotonic() - t0
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    job = by_id(report)["job-fibonacci"]
    sid = job["details"]["submission_id"]
    assert job["status"] == "fail", job
    # the stop went out within the deadline and the Jobs API took it; Ray ends the job a second or two later, so the
    # run may end before the job shows STOPPED: the summary says which, never "stopped (RUNNING)"
    assert job["details"]["stop"] == {"stopped": True, "http_status": 200}, job["details"]
    deadline = f"job {sid} did not finish within the run's deadline (8 s; last status RUNNING); "
    assert job["summary"] in (deadline + "it was stopped (STOPPED)",
                              deadline + "the Jobs API took the stop request (the job still showed RUNNING as the run ended; "
                              f"Ray ends it within seconds: `ray job status {sid}`)"), job["summary"]
    assert report["verdict_reason"].startswith("job-fibonacci failed: ")
    assert "raise --timeout (now 8 s) or lower --fib-size" in job["remedy"]
    assert took < 8 + 4, took  # the run's deadline, plus the interpreter's start and end
    # the job really was stopped: read back over REST
    assert final_status(ray_head, sid) == "STOPPED"
    TIMES["deadline_to_stopped"] = time.monotonic() - t0
    assert not [j for j in tool_jobs(ray_head) if j["status"] in ("RUNNING", "PENDING")]  # none left running


def _default_sigint() -> None:
    """The child takes SIGINT as a terminal's Ctrl-C does, even when this test runs where SIGINT is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_run_interrupted_in_the_middle_of_its_job_leaves_the_job_stopped(ray_head: LocalHead, no_ray: Env, sig: int) -> None:
    name = signal.Signals(sig).name
    before = {j["submission_id"] for j in tool_jobs(ray_head)}
    args = ["--route", "jobs", "--address", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address,
            "--fib-size", "150000", "--fib-tasks", "24", "--timeout", "300"]
    proc = subprocess.Popen([no_ray.bin("ray-preflight"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), cwd=str(CACHE), preexec_fn=_default_sigint)
    try:
        running: List[Dict[str, Any]] = []
        end = time.monotonic() + 120
        while not running and time.monotonic() < end and proc.poll() is None:
            running = [j for j in tool_jobs(ray_head) if j["submission_id"] not in before and j["status"] == "RUNNING"]
            time.sleep(0.2)
        assert running, f"the job never showed RUNNING: {proc.poll()} {tool_jobs(ray_head)}"
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        TIMES[f"{name}_to_exit"] = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "ray-preflight: interrupted" in err, err
    assert TIMES[f"{name}_to_exit"] < 5
    sid = running[0]["submission_id"]
    assert final_status(ray_head, sid) == "STOPPED"
    TIMES[f"{name}_to_stopped"] = time.monotonic() - t0
    assert not [j for j in tool_jobs(ray_head) if j["status"] in ("RUNNING", "PENDING")]  # none left running
