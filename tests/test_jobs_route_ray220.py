"""The Ray Jobs route against the real fy23-q2 release (a Ray 2.2.0 head on Python 3.8, started as
tests/test_fy23q2.py starts it, with its Python's folder first on PATH as in a KubeRay image), from the CI's Python
with the tool and NO Ray: the Ray Client route is NO-GO for that Python (its remedies name both ways out), and the
Jobs route is GO, the job SUCCEEDED on Ray 2.2.0 / Python 3.8, read back over REST. Its own module, so that only one
head runs at a time (tests/test_jobs_route.py has the latest Ray's).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, Iterator

import pytest

from preflight.checks.client import WAYS_OUT
from preflight.checks.jobs import job_result
from preflight.local_head import LocalHead
from tests.conftest import fy23q2_server_head
from tests.test_jobs_route import by_id, jobs_route, rest
from tests.worlds import Env, child_env, world_env

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(1800)]

TIMES: Dict[str, float] = {}


@pytest.fixture(scope="module")
def fy23q2_head(worlds: Dict[str, Any]) -> Iterator[LocalHead]:
    yield from fy23q2_server_head(worlds, TIMES, "jobs route, Ray 2.2.0 head")


@pytest.fixture(scope="module")
def no_ray(worlds: Dict[str, Any]) -> Env:
    return world_env(worlds, "default-no-ray")


def test_without_ray_the_client_route_is_no_go_and_names_both_ways_out(fy23q2_head: LocalHead, no_ray: Env) -> None:
    import subprocess

    args = ["--address", fy23q2_head.address, "--dashboard-url", fy23q2_head.dashboard_url, "--gcs-address", fy23q2_head.gcs_address]
    t0 = time.monotonic()
    done = subprocess.run([no_ray.bin("ray-preflight"), *args, "--format", "json"], capture_output=True, text=True, timeout=300,
                          env=child_env())
    TIMES["client_route_no_go"] = time.monotonic() - t0
    assert done.returncode == 1, done.stdout + done.stderr
    results = by_id(json.loads(done.stdout))
    for check_id in ("ray-version", "python-version"):
        remedy = results[check_id]["remedy"]
        assert results[check_id]["status"] == "fail" and WAYS_OUT in remedy, remedy
        assert "`ray-preflight fix` (a Python 3.8 environment with Ray 2.2.0 and a Jupyter kernel)" in remedy
        assert "`ray-preflight --route jobs`" in remedy


def test_without_ray_the_jobs_route_is_go_on_ray_2_2_0_and_the_job_really_ran(fy23q2_head: LocalHead, no_ray: Env) -> None:
    t0 = time.monotonic()
    done = jobs_route(no_ray, "--address", fy23q2_head.dashboard_url, "--gcs-address", fy23q2_head.gcs_address, "--format", "json")
    TIMES["jobs_route_go"] = time.monotonic() - t0
    assert done.returncode == 0, done.stdout + done.stderr
    results = by_id(json.loads(done.stdout))
    job = results["job-fibonacci"]
    assert job["status"] == "pass" and "on the cluster's Ray 2.2.0, Python 3.8." in job["summary"], job
    sid = job["details"]["submission_id"]
    info = rest(fy23q2_head, f"api/jobs/{sid}")
    assert info["status"] == "SUCCEEDED"
    logs = rest(fy23q2_head, f"api/jobs/{sid}/logs")["logs"]
    result = job_result(logs)
    assert result is not None and result["ok"] is True and result["ray"] == "2.2.0" and re.match(r"3\.8\.\d+$", result["python"])
    TIMES["job_submitted_to_done"] = float(job["details"]["wall_s"])
    print(f"\njob {sid}: {info['status']}; result: {json.dumps(result)[:300]}")
