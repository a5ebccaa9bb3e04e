"""Each form of address, as Ray reads it, against one real Ray head, through the real command, and compared with
what Ray itself does with the same address from the same environment:

* ``host:port`` (no scheme) is the GCS: ``ray.init("host:port")`` joins the cluster as a driver. The tool reads the
  versions from that GCS, warns what a driver needs and gives the Ray Client line to type; its Fibonacci job hands
  ``ray.init`` the very same string, so its verdict is checked against a plain ``ray.init`` + task in a child Python.
  On a machine that runs no Ray node of the cluster (a PID namespace here) the tool fails reachability, and Ray's own
  driver connect fails too.
* ``http(s)://host:port`` is the Ray Jobs address (the dashboard): read from that URL, with the Ray Client address
  derived as ``ray://host:10001`` and said. The module's head serves its Ray Client on 10001 (when the port is free),
  so that the derived address really leads somewhere and the Fibonacci job proves it.

One head for the module (``ray_head`` below, module-scoped like the shared one).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

from preflight.local_head import LocalHead
from preflight.target import CLIENT_PORT
from tests.conftest import run_cli, started
from tests.json_contract import assert_valid
from tests.real_runs import run

pytestmark = pytest.mark.live

#: A plain driver: what a user's notebook does with the address (argv[1], or RAY_ADDRESS when there is none).
_REAL = (
    "import sys, ray\n"
    "ray.init(*sys.argv[1:])\n"
    "@ray.remote\n"
    "def answer():\n"
    "    return 6 * 7\n"
    "print('RESULT', ray.get(answer.remote()), flush=True)\n"
    "ray.shutdown()\n"
)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class _ClientOn10001(LocalHead):
    """A head whose Ray Client server listens on the port the tool derives from a Ray Jobs address."""

    def _command(self, runtime_env_port: bool) -> List[str]:
        self.ports["client"] = CLIENT_PORT
        return super()._command(runtime_env_port)


@pytest.fixture(scope="module")
def ray_head() -> Iterator[LocalHead]:
    yield from started(_ClientOn10001(num_cpus=2) if _port_free(CLIENT_PORT) else LocalHead(num_cpus=2))


def real(args: Sequence[str], env_extra: Optional[Dict[str, str]] = None, prefix: Sequence[str] = (),
         timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the plain driver in a child Python of the same environment."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({"RAY_USAGE_STATS_ENABLED": "0"}, **(env_extra or {}))
    return run([*prefix, sys.executable, "-c", _REAL, *args], f"the plain driver with {' '.join(args)}", env=env, timeout=timeout)


def worked(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == 0 and "RESULT 42" in proc.stdout


def results(report: dict) -> Dict[str, dict]:
    return {r["id"]: r for r in report["results"]}


def loopback_client(head: LocalHead) -> str:
    return f"ray://127.0.0.1:{head.ports['client']}"


# --- host:port: the GCS, joined as a driver ------------------------------------------------------------------------


def test_a_gcs_address_joins_as_a_driver_and_the_verdict_matches_ray_init(ray_head: LocalHead) -> None:
    gcs = ray_head.gcs_address  # 127.0.0.1:<port>
    proc = run_cli(["--address", gcs, "--dashboard-url", ray_head.dashboard_url, "--format", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a warning, not a failure: it works here
    report = assert_valid("report", json.loads(proc.stdout))
    assert report["target"]["address"] == gcs and report["target"]["gcs_address"] == gcs
    found = results(report)
    reach = found["reachability"]
    assert reach["status"] == "warn", reach
    assert reach["summary"].startswith(f"{gcs} is a GCS address: ray.init('{gcs}') joins the cluster as a driver, "
                                       "not through the Ray Client (GCS answered in ")
    assert "a driver needs a Ray node of that cluster on its machine (one runs here), every node able to reach this machine, " \
           "and the cluster's exact Ray and Python" in reach["summary"]
    assert reach["remedy"] == ("from outside the cluster use the Ray Client: --address ray://127.0.0.1:10001, or export "
                               'RAY_ADDRESS=ray://127.0.0.1:10001 (in a notebook: ray.init("ray://127.0.0.1:10001"))')
    assert reach["details"]["address_form"] == "gcs"
    # the versions come from that GCS
    assert report["facts"]["server"]["source"] == f"GCS {gcs}"
    assert report["facts"]["server"]["ray_version"] == ray_head.ray_version
    assert found["ray-version"]["status"] == "pass" and found["python-version"]["status"] == "pass"
    assert report["facts"]["ray_client"]["service"] == "gcs"
    # the proof ran what the user's ray.init does with this address: a driver, not a Ray Client session
    fib = found["fibonacci"]
    assert fib["details"]["init_address"] == gcs and fib["details"].get("connected_as") == "driver", fib
    assert f"ray.init('{gcs}') as a driver" in fib["summary"]
    plain = real([gcs])
    assert (fib["status"] == "pass") == worked(plain), (fib, plain.stdout, plain.stderr[-2000:])
    assert worked(plain), plain.stderr[-2000:]


def test_a_gcs_address_in_ray_address_shows_as_given_and_matches_ray_init(ray_head: LocalHead) -> None:
    gcs = ray_head.gcs_address
    proc = run_cli(["--dashboard-url", ray_head.dashboard_url, "-v"], {"RAY_ADDRESS": gcs})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(f" {gcs}"), lines[0]  # the header shows the address as given
    reach = next(i for i, line in enumerate(lines) if " reachability " in line)
    assert lines[reach].startswith((" ! reachability", " !! reachability")) and f"{gcs} is a GCS address" in lines[reach]
    assert "export RAY_ADDRESS=ray://127.0.0.1:10001" in lines[reach + 1]
    assert "address_form: gcs" in proc.stdout and "address_source: RAY_ADDRESS" in proc.stdout
    fib_line = next(line for line in lines if " fibonacci " in line)
    assert "as a driver" in fib_line and "matched the local results" in fib_line
    plain = real([], {"RAY_ADDRESS": gcs})  # ray.init() reads RAY_ADDRESS
    assert worked(plain), plain.stderr[-2000:]


def _pid_namespace() -> Optional[List[str]]:
    """A command prefix that runs a program in a PID namespace of its own (its own /proc), where no raylet is
    visible: a machine that is not a Ray node, on the same network; None when this machine cannot make one."""
    for prefix in (["unshare", "--pid", "--fork", "--mount-proc"],
                   ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]):
        try:
            probe = subprocess.run([*prefix, sys.executable, "-c", "import psutil; print(len(psutil.pids()))"],
                                   capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip().isdigit() and int(probe.stdout.strip()) < 10:
            return prefix
    return None


def test_a_gcs_address_from_a_machine_without_a_ray_node_fails_as_ray_init_does(ray_head: LocalHead) -> None:
    prefix = _pid_namespace()
    if prefix is None:
        pytest.skip("this machine cannot start a process in a PID namespace of its own (unshare)")
    gcs = ray_head.gcs_address
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([*prefix, sys.executable, "-m", "preflight", "--address", gcs, "--dashboard-url", ray_head.dashboard_url,
                           "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = results(json.loads(proc.stdout))
    reach = found["reachability"]
    assert reach["status"] == "fail" and reach["details"]["local_raylets"] == [], reach
    assert "no Ray node of that cluster runs on this machine: it would wait (60 s with Ray 2.60) and fail with " \
           '"Failed to connect to Ray cluster"' in reach["summary"]
    assert "--address ray://127.0.0.1:10001" in reach["remedy"]
    assert found["ray-version"]["status"] == "pass"  # the GCS answered: the versions were read
    assert found["fibonacci"]["status"] == "skip" and "no Ray node of that cluster runs on this machine" in found["fibonacci"]["summary"]
    # Ray itself, from the same kind of place: the driver waits for a node here, then gives up (5 s instead of 60)
    plain = real([gcs], {"RAY_gcs_server_request_timeout_seconds": "5"}, prefix=prefix)
    assert not worked(plain)
    assert "Failed to connect to Ray cluster" in plain.stderr, plain.stderr[-2000:]


# --- http(s)://: the Ray Jobs address (the dashboard) ---------------------------------------------------------------


def _needs_client_on_10001(head: LocalHead) -> None:
    if head.ports["client"] != CLIENT_PORT:
        pytest.skip(f"port {CLIENT_PORT} is taken on this machine: the derived Ray Client address cannot reach the test head")


def test_a_jobs_url_is_the_dashboard_and_the_ray_client_address_is_derived(ray_head: LocalHead) -> None:
    _needs_client_on_10001(ray_head)
    url = ray_head.dashboard_url.rstrip("/")  # http://127.0.0.1:<port>, as ray job submit takes it
    proc = run_cli(["--address", url, "--gcs-address", ray_head.gcs_address, "--format", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = assert_valid("report", json.loads(proc.stdout))
    assert report["target"]["address"] == ray_head.dashboard_url == report["target"]["dashboard_url"]
    found = results(report)
    reach = found["reachability"]
    assert reach["status"] == "pass", reach
    assert reach["summary"].endswith(f"; ray://127.0.0.1:{CLIENT_PORT} was derived from the Ray Jobs address {ray_head.dashboard_url}")
    assert reach["details"]["address_form"] == "jobs"
    assert reach["details"]["client_address"] == f"ray://127.0.0.1:{CLIENT_PORT}"
    assert reach["details"]["address_source"] == "derived from the Ray Jobs address (--address)"
    # the dashboard was read from that URL
    assert found["dashboard"]["status"] == "pass" and report["facts"]["dashboard"]["url"] == ray_head.dashboard_url
    assert ray_head.ray_version in found["dashboard"]["summary"]
    fib = found["fibonacci"]
    assert fib["details"]["init_address"] == f"ray://127.0.0.1:{CLIENT_PORT}" and fib["details"].get("connected_as") == "ray-client"
    plain = real([f"ray://127.0.0.1:{CLIENT_PORT}"])
    assert (fib["status"] == "pass") == worked(plain) and worked(plain), (fib, plain.stderr[-2000:])


def test_a_jobs_url_in_ray_address_warns_that_ray_init_refuses_it_and_ray_agrees(ray_head: LocalHead) -> None:
    _needs_client_on_10001(ray_head)
    url = ray_head.dashboard_url
    proc = run_cli(["--gcs-address", ray_head.gcs_address, "--skip", "fibonacci"], {"RAY_ADDRESS": url})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # never a usage error (exit 2) any more
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(f" {url}"), lines[0]
    reach = next(i for i, line in enumerate(lines) if " reachability " in line)
    assert f"was derived from the Ray Jobs address {url}" in lines[reach]
    assert "ray.init() without an address reads RAY_ADDRESS and refuses an http:// one" in lines[reach]
    assert f'ray.init("ray://127.0.0.1:{CLIENT_PORT}")' in lines[reach + 1]
    dashboard = next(line for line in lines if " dashboard " in line)
    assert url in dashboard and "answers" in dashboard, dashboard
    # what the warning says, Ray does: ray.init() refuses an http:// RAY_ADDRESS, and the line to type works
    refused = real([], {"RAY_ADDRESS": url})
    assert not worked(refused) and "ValueError" in refused.stderr, refused.stderr[-2000:]
    typed = real([f"ray://127.0.0.1:{CLIENT_PORT}"], {"RAY_ADDRESS": url})
    assert worked(typed), typed.stderr[-2000:]


def test_a_ray_client_address_still_means_the_ray_client(ray_head: LocalHead) -> None:
    """The ray:// form still means the Ray Client, unchanged (one check, no job)."""
    proc = run_cli(["--address", loopback_client(ray_head), "--only", "reachability", "--format", "json"])
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["target"]["address"] == loopback_client(ray_head)
    reach = results(report)["reachability"]
    assert reach["status"] == "pass" and reach["details"]["address_form"] == "ray-client"
    assert reach["summary"].startswith(f"Ray Client server answers at 127.0.0.1:{ray_head.ports['client']} (PING ")
