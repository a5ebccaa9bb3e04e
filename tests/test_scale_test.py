"""``--scale-test`` against a real autoscaler: Ray 2.2.0's fake multi-node provider on this machine.

The head runs from the fy23-q2 server world (Python 3.8, Ray 2.2.0) with ``RAY_FAKE_CLUSTER=1`` and an
autoscaling config whose worker type is ``smallgroup`` (1 CPU, 0 to 2 workers, idle timeout 15 s): the
real Ray autoscaler then starts and stops real raylets on this machine as demand comes and goes. The
tool runs from the Python 3.8 + Ray 2.2.0 client world, as a user would. The provider needs the GCS on
port 6379; where that port is taken, these tests skip (a failure in CI).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

from preflight.local_head import HeadError, LocalHead
from preflight.net import http_get
from tests.worlds import SERVER, child_env, unavailable, world_env

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(900)]

AUTOSCALING = {
    "cluster_name": "rpf-fake", "max_workers": 2, "idle_timeout_minutes": 0.25, "upscaling_speed": 1.0,
    "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                 "disable_launch_config_check": True},
    "head_node_type": "ray.head.default",
    "available_node_types": {
        "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
        "smallgroup": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 2},
    },
    "auth": {}, "docker": {}, "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
    "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [], "file_mounts": {},
    "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
}


@pytest.fixture(scope="module")
def fake_cluster(worlds: Dict[str, Any]) -> Iterator[LocalHead]:
    server = world_env(worlds, SERVER.name)
    with tempfile.TemporaryDirectory(prefix="rpf-as-") as folder:
        config = os.path.join(folder, "autoscaling.yaml")
        with open(config, "w") as handle:
            json.dump(AUTOSCALING, handle)  # YAML is a superset of JSON
        head = LocalHead(python=server.python, num_cpus=1, gcs_port=6379, extra_args=[f"--autoscaling-config={config}"],
                         env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
        try:
            head.start(port_wait=90)
        except HeadError as exc:
            if "in use" in str(exc):
                unavailable(str(exc))
            raise
        try:
            yield head
        finally:
            head.stop()


def cluster_status(head: LocalHead) -> Dict[str, Any]:
    answer = http_get(head.dashboard_url + "api/cluster_status", 5.0)
    data: Dict[str, Any] = json.loads(answer.body.decode())["data"]
    return data


def active(head: LocalHead) -> Dict[str, int]:
    report = (cluster_status(head).get("clusterStatus") or {}).get("autoscalerReport") or {}
    return dict(report.get("activeNodes") or {})


def pg_demand(head: LocalHead) -> List[Any]:
    load = (cluster_status(head).get("clusterStatus") or {}).get("loadMetricsReport") or {}
    return list(load.get("pgDemand") or [])


def wait_for(condition: Callable[[], bool], limit_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if condition():
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"not within {limit_s} s")


def tool(worlds: Dict[str, Any], head: LocalHead, *extra: str) -> List[str]:
    client = world_env(worlds, "py38-ray2.2.0")
    return [client.bin("ray-preflight"), "--address", head.address, "--dashboard-url", head.dashboard_url,
            "--gcs-address", head.gcs_address, "-f", "json", *extra]


def test_scale_test_full_sees_a_node_join_and_leave(worlds, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: active(fake_cluster) == {"ray.head.default": 1}, 60)
    proc = subprocess.run(tool(worlds, fake_cluster, "--scale-test=full"), capture_output=True, text=True, timeout=700,
                          env=child_env())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    scale = results["scale-test"]
    assert scale["status"] == "pass", scale
    assert scale["summary"].startswith("a node joined ") and "after asking for 2 CPUs (1 → 2 nodes); demand released" in scale["summary"]
    assert "the idle node left" in scale["summary"]
    assert 0 <= scale["details"]["up_s"] < 120 and 0 <= scale["details"]["down_s"] < 240
    assert "autoscaler active: " in results["autoscaler"]["summary"] and "smallgroup" not in active(fake_cluster)
    assert pg_demand(fake_cluster) == []  # nothing of the test's demand is left


def test_scale_test_is_opt_in(worlds, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(tool(worlds, fake_cluster, "--skip", "fibonacci"), capture_output=True, text=True, timeout=300,
                          env=child_env())
    assert "scale-test" not in [r["id"] for r in json.loads(proc.stdout)["results"]]


def test_an_interrupted_scale_test_leaves_no_demand_behind(worlds, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: "smallgroup" not in active(fake_cluster), 120)
    proc = subprocess.Popen(tool(worlds, fake_cluster, "--scale-test"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=child_env(), start_new_session=True)
    try:
        wait_for(lambda: bool(pg_demand(fake_cluster)) or "smallgroup" in active(fake_cluster), 120)  # the demand is there
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in proc.stderr.read().decode() if proc.stderr else True
    gone = wait_for(lambda: not pg_demand(fake_cluster) and "smallgroup" not in active(fake_cluster), 120)
    assert gone < 120
