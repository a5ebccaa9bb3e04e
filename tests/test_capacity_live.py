"""``capacity`` against a real Ray head started with ``--num-cpus=0`` and no autoscaler (a common KubeRay head setting
with its workers missing): the tool says NO-GO in a moment, while the platform's seed workflow, run for real from the
same environment, waits until it is stopped. With ``--ignore capacity`` the Fibonacci job runs into the deadline, and
its result names the demand Ray could not place instead of "raise --timeout".
"""

from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from preflight.local_head import LocalHead
from tests import seed_workflow
from tests.conftest import run_cli, started
from tests.real_runs import run_real

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def no_cpu_head() -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=0))


def _args(head: LocalHead) -> list:
    return ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address]


def test_a_head_without_cpus_is_no_go_at_once_and_the_real_job_really_hangs(no_cpu_head: LocalHead) -> None:
    t0 = time.monotonic()
    proc = run_cli([*_args(no_cpu_head), "--format", "json", "--timeout", "60"])
    wall = time.monotonic() - t0
    report = json.loads(proc.stdout)
    results = {r["id"]: r for r in report["results"]}
    assert proc.returncode == 1 and report["verdict"] == "NO-GO", proc.stdout
    capacity = results["capacity"]
    assert capacity["status"] == "fail", capacity
    assert "tasks would wait forever: the cluster has 0 CPUs and cannot scale" in capacity["summary"]
    assert "num-cpus" in capacity["remedy"]
    # the live job is not started: no wait for the deadline
    assert results["fibonacci"]["status"] == "skip" and "capacity failed" in results["fibonacci"]["summary"]
    assert capacity["duration_s"] < 2.0, capacity
    assert wall < 30, f"the run took {wall:.1f} s: it waited for something"
    # every other check passes: only capacity knew
    assert results["autoscaler"]["status"] == "pass" and results["reachability"]["status"] == "pass"

    real = run_real([seed_workflow.__file__, no_cpu_head.address, "1000", "2"], timeout=25)
    assert real.ended == "timeout", f"the seed workflow ended ({real.code}): {real.output[-2000:]}"


def test_ignoring_capacity_the_job_reaches_the_deadline_and_names_the_pending_demand(no_cpu_head: LocalHead) -> None:
    proc = run_cli([*_args(no_cpu_head), "--format", "json", "--timeout", "25", "--ignore", "capacity", "--fib-tasks", "2"])
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["capacity"]["status"] == "warn" and results["capacity"]["summary"].startswith("ignored failure: tasks would wait forever")
    fib = results["fibonacci"]
    assert fib["status"] == "fail", fib
    assert "waiting for resources the cluster did not have" in fib["summary"], fib
    assert "CPU: 1" in fib["summary"] and "raise --timeout" not in (fib["remedy"] or ""), fib


def test_on_the_jobs_route_too_capacity_fails_first_and_a_job_at_its_deadline_names_the_demand(no_cpu_head: LocalHead) -> None:
    jobs = ["--route", "jobs", "--address", no_cpu_head.dashboard_url, "--gcs-address", no_cpu_head.gcs_address, "--format", "json"]
    results = {r["id"]: r for r in json.loads(run_cli([*jobs, "--timeout", "60"]).stdout)["results"]}
    assert results["capacity"]["status"] == "fail" and results["job-fibonacci"]["status"] == "skip", results["job-fibonacci"]
    results = {r["id"]: r for r in json.loads(run_cli([*jobs, "--timeout", "25", "--ignore", "capacity", "--fib-tasks", "2"]).stdout)["results"]}
    job = results["job-fibonacci"]
    assert job["status"] == "fail" and "waiting for resources the cluster did not have" in job["summary"], job
    assert "CPU: 1" in job["summary"], job
