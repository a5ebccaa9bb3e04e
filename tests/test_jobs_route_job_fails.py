"""A Ray Job that fails with its own error, for real: a head of the latest Ray whose PATH leads the job's ``python`` to
a Python without Ray (a fresh virtual environment), as a KubeRay image whose first ``python`` is not Ray's would. The
head itself runs on its own Python (started by its full path), so only the job's ``python`` lookup changes: the job
really fails with ``ModuleNotFoundError: No module named 'ray'``, and the tool says NO-GO naming that line. Its own
module: the head is configured differently from tests/test_jobs_route.py's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import pytest

from preflight.checks.jobs import error_line, job_result
from preflight.local_head import LocalHead
from tests.conftest import run_cli, started
from tests.test_jobs_route import by_id, final_status, rest

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

NO_RAY = "ModuleNotFoundError: No module named 'ray'"


@pytest.fixture(scope="module")
def python_without_ray() -> Iterator[str]:
    """The ``bin`` folder of a fresh virtual environment (no pip, no Ray): its ``python`` cannot import Ray."""
    with tempfile.TemporaryDirectory(prefix="rpf-noray-") as folder:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True, capture_output=True, timeout=120)
        check = subprocess.run([f"{folder}/bin/python", "-c", "import ray"], capture_output=True, text=True, timeout=60)
        assert check.returncode != 0 and NO_RAY in check.stderr, check.stderr  # it really has no Ray
        yield f"{folder}/bin"


@pytest.fixture(scope="module")
def head_without_ray_on_path(python_without_ray: str) -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=2, env={"PATH": f"{python_without_ray}:/usr/bin:/bin"}))


def test_a_job_that_fails_is_no_go_naming_its_own_error_line(head_without_ray_on_path: LocalHead) -> None:
    head = head_without_ray_on_path
    t0 = time.monotonic()
    done = run_cli(["--route", "jobs", "--address", head.dashboard_url, "--gcs-address", head.gcs_address, "--format", "json"])
    took = time.monotonic() - t0
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    results = by_id(report)
    job = results["job-fibonacci"]
    sid = job["details"]["submission_id"]
    assert results["dashboard"]["status"] == "pass" and results["jobs-api"]["status"] == "pass"
    assert job["status"] == "fail" and job["summary"] == f"job {sid} FAILED: {NO_RAY}", job
    assert report["verdict"] == "NO-GO" and report["verdict_reason"] == f"job-fibonacci failed: job {sid} FAILED: {NO_RAY}"
    assert [r["id"] for r in report["results"] if r["status"] == "fail"] == ["job-fibonacci"]  # one red line
    assert job["remedy"].startswith("the cluster's `python` (the first on the head's PATH) is not the Python that runs Ray")
    assert f"ray job logs {sid} --address {head.dashboard_url.rstrip('/')}" in job["remedy"]
    assert NO_RAY in job["details"]["log_tail"]
    # what really happened, read from the Jobs API without the tool: the job's own result line names the error
    assert final_status(head, sid) == "FAILED"
    logs = rest(head, f"api/jobs/{sid}/logs")["logs"]
    result = job_result(logs)
    assert result is not None and result["ok"] is False and result["stage"] == "import" and result["error"] == NO_RAY, result
    assert error_line(logs) == NO_RAY
    print(f"\njob {sid}: FAILED as the tool said; run {took:.2f} s, submitted to done {job['details']['wall_s']} s")
