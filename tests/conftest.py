"""Shared fixtures. ``ray_head`` starts a real Ray head (``ray start --head`` with the Ray
Client server and the dashboard on free loopback ports and its own short temp dir) once
per test module that uses it, with the Ray installed in this Python.

Every Ray head on a machine hands its per-client servers ports from 23000 up, and two heads
alive at once can hand out the same port (gRPC binds with SO_REUSEPORT): the first Ray Client
session then fails with "Starting Ray client server failed". So no two heads of the suite
overlap: each fixture head lives for one module and stops (with its per-client servers)
before the next module starts its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from preflight.local_head import LocalHead
from preflight.testing import SilentListener
from tests.real_runs import run
from tests.worlds import SCENARIOS, SERVER, World, WorldUnavailable, build_wheel, current_env, provision

pytest_plugins = ["pytester"]

# In CI the property tests draw the same examples every run (a red CI is then reproducible, never a dice roll);
# on a developer's machine they explore anew each time.
if os.environ.get("CI"):
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
    _hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def no_kubernetes_credentials() -> Iterator[None]:
    """The suite's runs see no Kubernetes credentials of the machine's (tests/test_kuberay.py brings its own API)."""
    saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    os.environ["KUBECONFIG"] = os.devnull
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def started(head: LocalHead) -> Iterator[LocalHead]:
    """Start ``head`` for a module's tests and stop it (with its per-client servers) when they are done."""
    if head.ray_version is None:
        pytest.fail('the live tests need Ray in this Python: pip install -e ".[test]"')
    head.start()
    try:
        yield head
    finally:
        head.stop()


def fy23q2_server_head(worlds: Dict[str, Any], times: Dict[str, float], label: str) -> Iterator[LocalHead]:
    """A real Ray 2.2.0 head on Python 3.8 (the fy23-q2 server world) for a module's tests, its Python first on PATH as
    a KubeRay image has it; ``times`` (what the module measured) printed under ``label`` at the end."""
    from tests.worlds import world_env

    server = world_env(worlds, SERVER.name)
    head = LocalHead(python=server.python, num_cpus=2)
    assert head.ray_version == "2.2.0"
    try:
        yield from started(head)
    finally:
        if times:
            print(f"\n{label}:", json.dumps({k: round(v, 2) for k, v in times.items()}))


@pytest.fixture(scope="module")
def ray_head() -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=2))


@pytest.fixture
def head_args(ray_head: LocalHead) -> List[str]:
    return ["--address", ray_head.address, "--dashboard-url", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address]


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    with SilentListener() as listener:
        yield listener


@pytest.fixture(scope="module")
def tls_pair() -> Iterator[Tuple[str, str]]:
    """A self-signed certificate for 127.0.0.1 (openssl), as a service account's ca.crt would hold."""
    with tempfile.TemporaryDirectory() as folder:
        cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        yield cert, key


def run_cli(args: List[str], env_extra: dict = None, timeout: float = 180) -> subprocess.CompletedProcess:  # type: ignore[assignment]
    """Run ``ray-preflight`` as a user would (a child process of this Python); once more after a head's hiccup
    (tests/real_runs.py)."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(env_extra or {})
    return run([sys.executable, "-m", "preflight", *args], f"ray-preflight {' '.join(args)[:80]}", env=env, timeout=timeout)


@pytest.fixture(scope="session")
def wheel() -> Iterator[Path]:
    """A wheel of the working tree, installed into each client world."""
    built = build_wheel()
    try:
        yield built
    finally:
        shutil.rmtree(built.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def worlds(wheel: Path) -> Dict[str, Any]:
    """Every world of tests/worlds.py, provisioned concurrently (a WorldUnavailable stands in for one this machine cannot make)."""
    wanted = [SERVER] + [s.world for s in SCENARIOS if s.world is not None]

    def make(world: World) -> Any:
        try:
            return provision(world, wheel)
        except WorldUnavailable as exc:
            return exc

    with ThreadPoolExecutor(max_workers=3) as pool:
        made = dict(zip([w.name for w in wanted], pool.map(make, wanted)))
    made["default-latest-ray"] = current_env()
    return made
