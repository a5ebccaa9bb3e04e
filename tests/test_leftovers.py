"""No leftovers, against a real Ray head (the ``ray_head`` fixture): after a normal run, a run interrupted with
SIGINT in the middle of the Fibonacci job, and a notebook run, no child process of the tool survives, no Ray
connection stays open in the process, and no job the tool started still runs on the cluster.

Ray keeps the server-side process of an ended Ray Client session (``--mode=specific-server``) for its reconnect
grace period (~30 s) after the session closed; the tests wait for that, with a bound.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any, Callable, Dict, List

import psutil
import pytest

import preflight
from preflight.local_head import LocalHead
from tests.conftest import run_cli

pytestmark = pytest.mark.live


def cluster_jobs(head: LocalHead) -> List[Dict[str, Any]]:
    with urllib.request.urlopen(head.dashboard_url + "api/jobs/", timeout=10) as answer:
        return list(json.load(answer))


def running_drivers(head: LocalHead) -> List[str]:
    return [str(j.get("job_id")) for j in cluster_jobs(head) if j.get("type") == "DRIVER" and j.get("status") == "RUNNING"]


def client_sessions() -> List[int]:
    """The Ray Client server's per-session processes on this machine."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if "--mode=specific-server" in " ".join(proc.info["cmdline"] or []):
            found.append(proc.pid)
    return found


def eventually(condition: Callable[[], bool], within: float, step: float = 0.5) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()


def alive(procs: List[psutil.Process]) -> List[int]:
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def tool_children(head: LocalHead) -> List[int]:
    """Children of this (test) process that are not the head's own processes (the head runs in its own group)."""
    head_group = os.getpgid(head.proc.pid)
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if os.getpgid(proc.pid) != head_group and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return found


def head_connections(head: LocalHead) -> List[Any]:
    """This process's TCP connections to the head's Ray Client, GCS and dashboard ports."""
    ports = {head.ports["client"], head.ports["gcs"], head.ports["dashboard"]}
    return [c for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port in ports]


def test_sigint_in_the_middle_of_the_fibonacci_job_leaves_nothing_behind(ray_head: LocalHead, head_args: List[str]) -> None:
    assert eventually(lambda: not running_drivers(ray_head), 60), "a driver of an earlier run is still running"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "preflight", *head_args, "--only", "fibonacci", "--fib-size", "400000",
                             "--fib-tasks", "2", "--timeout", "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        tool = psutil.Process(proc.pid)
        assert eventually(lambda: bool(running_drivers(ray_head)), 120, 0.3), "the Fibonacci job never started"
        family = tool.children(recursive=True)
        assert family, "the Fibonacci job runs in a child process"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "ray-preflight: interrupted" in stderr and "Traceback" not in stderr, stderr
    assert eventually(lambda: not alive(family), 10), f"children of the tool survived: {alive(family)}"
    assert eventually(lambda: not running_drivers(ray_head), 15), "the tool's Ray Client job still runs on the cluster"
    assert eventually(lambda: not client_sessions(), 60), "the Ray Client session's server process stayed"


def test_a_finished_run_and_a_notebook_run_leave_no_connection_job_or_process(ray_head: LocalHead, head_args: List[str]) -> None:
    before = {str(j.get("job_id")) for j in cluster_jobs(ray_head)}
    proc = run_cli(head_args + ["--only", "reachability,dashboard,fibonacci", "--fib-size", "1000", "--fib-tasks", "1", "-f", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = preflight.check(ray_head.address, dashboard_url=ray_head.dashboard_url, gcs_address=ray_head.gcs_address,
                             only=["reachability", "dashboard", "fibonacci"], fib_size=1000, fib_tasks=1)
    assert report.ok, report
    # the tool never imports Ray into this process, let alone connects it: the Fibonacci job runs in a child
    assert "ray" not in sys.modules
    assert not tool_children(ray_head)
    assert eventually(lambda: not head_connections(ray_head), 10), head_connections(ray_head)
    new = [j for j in cluster_jobs(ray_head) if str(j.get("job_id")) not in before]
    assert len(new) == 2, new  # one Ray Client session each: the CLI's and the notebook's
    assert all(j.get("status") != "RUNNING" for j in new), new
