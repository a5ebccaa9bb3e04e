"""A runtime_env asking for pydantic 2, against the real fy23-q2 release (a Ray 2.2.0 head on Python 3.8, started as
tests/test_fy23q2.py starts it), from the recommended client (Python 3.8 + ``pip install ray==2.2.0`` + this tool):
the tool judges it NO-GO (the ``runtime-env`` check fails on the ``pydantic>=2`` pip entry and names ``pydantic<2``),
whether the runtime_env comes from the script's ``ray.init`` (``--script``) or from a file (``--runtime-env``); and the
script, run for real from the same client, does not succeed: its ``ray.init`` fails with pydantic 2's
``AttributeError: module 'pydantic.fields' has no attribute 'ModelField'`` (see the real-run test for what happens on
the head). Its own module, so that only one head runs at a time; the head stops when the module is done.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from preflight.local_head import LocalHead
from tests.conftest import fy23q2_server_head
from tests.real_runs import run_real
from tests.worlds import BY_ID, SERVER, Env, child_env, world_env

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(1800)]

#: The recommended fix: Python 3.8 + ``pip install ray==2.2.0`` (GO against this head without a runtime_env).
CLIENT = BY_ID["py38-ray2.2.0"].world
assert CLIENT is not None and CLIENT.python == "3.8" and CLIENT.steps == (("ray==2.2.0",),)
PIP_ENTRY = "pydantic>=2"
MARKER = "SCRIPT-DONE"
#: How long the real run may take before it counts as waiting forever (pip on the head downloads pydantic 2 first).
REAL_LIMIT_S = 240

TIMES: Dict[str, float] = {}


@pytest.fixture(scope="module")
def fy23q2_head(worlds: Dict[str, Any]) -> Iterator[LocalHead]:
    yield from fy23q2_server_head(worlds, TIMES, "runtime_env pydantic 2, Ray 2.2.0 head")


@pytest.fixture(scope="module")
def client(worlds: Dict[str, Any]) -> Env:
    return world_env(worlds, CLIENT.name)


def train_script(folder: Path, head: LocalHead) -> Path:
    """The user's script: the cluster's address and a runtime_env with pydantic 2, one tiny task, a marker."""
    path = folder / "train.py"
    path.write_text(textwrap.dedent(f"""
        import ray

        ray.init({head.address!r}, runtime_env={{"pip": [{PIP_ENTRY!r}]}})


        @ray.remote
        def add(a, b):
            return a + b


        print("result", ray.get(add.remote(1, 2)))
        ray.shutdown()
        print({MARKER!r})
        """).lstrip())
    return path


def preflight(client: Env, head: LocalHead, cwd: Path, *extra: str) -> Dict[str, Any]:
    """``python -m preflight`` from the client world, as its user would run it; the JSON report with its exit code."""
    import subprocess

    args = ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address]
    done = subprocess.run([client.python, "-m", "preflight", *args, *extra, "--format", "json"], capture_output=True, text=True,
                          timeout=300, env=child_env(), cwd=str(cwd))
    assert "Traceback" not in done.stderr, done.stderr
    report: Dict[str, Any] = json.loads(done.stdout)
    report["exit_code"] = done.returncode
    report["by_id"] = {r["id"]: r for r in report["results"]}
    return report


def failing(report: Dict[str, Any]) -> List[str]:
    return [r["id"] for r in report["results"] if r["status"] in ("fail", "error")]


@pytest.mark.parametrize("given", ["script", "runtime-env-file"])
def test_a_pydantic_2_runtime_env_is_no_go_on_ray_2_2_0(fy23q2_head: LocalHead, client: Env, tmp_path: Path, given: str) -> None:
    """Only ``runtime-env`` fails (this client is GO against this head otherwise), on the pip entry, naming the fix."""
    if given == "script":
        extra, source = ["--script", str(train_script(tmp_path, fy23q2_head))], "train.py ray.init"
    else:
        (tmp_path / "env.yaml").write_text(f'pip: ["{PIP_ENTRY}"]\n')
        extra, source = ["--runtime-env", "env.yaml"], "--runtime-env"
    t0 = time.monotonic()
    report = preflight(client, fy23q2_head, tmp_path, *extra)
    TIMES[f"tool_{given}"] = time.monotonic() - t0
    statuses = {cid: r["status"] for cid, r in report["by_id"].items()}
    assert report["exit_code"] == 1 and report["verdict"] == "NO-GO" and report["ok"] is False, statuses
    assert failing(report) == ["runtime-env"], statuses
    result = report["by_id"]["runtime-env"]
    assert result["status"] == "fail", result
    summary, remedy = result["summary"], result["remedy"] or ""
    assert source in summary and f"pip {PIP_ENTRY}:" in summary and "pydantic 2" in summary, summary
    assert "Ray 2.2.0" in summary and "ModelField" in summary, summary
    assert "pydantic<2" in remedy, remedy
    (judged,) = result["details"]["judged"]
    assert [c["entry"] for c in judged["pip_conflicts"]] == [PIP_ENTRY] and judged["pip_conflicts"][0]["fix"] == "pydantic<2", judged


def _setup_log(head: LocalHead) -> str:
    """What the head's runtime_env agent did for the Ray Client session (``runtime_env_setup-ray_client_server_*.log``)."""
    logs = Path(head.temp_dir or os.devnull) / "session_latest" / "logs"
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.glob("runtime_env_setup-ray_client_server_*.log")))


def test_the_real_run_with_pydantic_2_does_not_succeed(fy23q2_head: LocalHead, client: Env, worlds: Dict[str, Any],
                                                        tmp_path: Path) -> None:
    """The script above, run for real from the client world with a hard timeout, against the Ray 2.2.0 head.

    What really happens (measured on a 2-core machine, network up): ``ray.init`` itself fails, after ~12 s, exit code 1,
    the task never runs. The proxier has the head's runtime_env agent build a virtualenv for the session's server and
    pip-install ``pydantic>=2`` into it (pydantic 2.10.6, the newest for Python 3.8, with pydantic-core 2.27.2, ~4 s of
    pip, replacing the head's pydantic 1.10), starts the per-client server in it (~9 s after the connection), and that
    server's first ``ray.put`` (``ray.init``'s own ``get_dashboard_url`` task) dies in
    ``ray/util/serialization_addons.py`` ``register_pydantic_serializer``; the client re-raises it:
    ``AttributeError: module 'pydantic.fields' has no attribute 'ModelField'``.
    """
    server = world_env(worlds, SERVER.name)
    # pip on the head installs the runtime_env's packages: without the network the real run proves nothing
    t0 = time.monotonic()
    probe = server.pip("install", "--dry-run", "--ignore-installed", PIP_ENTRY, timeout=300)
    TIMES["network_probe"] = time.monotonic() - t0
    if probe.returncode != 0 or "Would install" not in probe.stdout:
        pytest.fail(f"the network is unavailable: pip with the head's Python cannot fetch {PIP_ENTRY}, so the real run "
                    f"cannot show what Ray 2.2.0 does with it (this is not a pass):\n{(probe.stdout + probe.stderr)[-2000:]}")
    script = train_script(tmp_path, fy23q2_head)
    real = run_real([script.name], timeout=REAL_LIMIT_S, cwd=str(tmp_path), python=client.python,
                    env_extra={"PYTHONPATH": "", "VIRTUAL_ENV": ""})
    TIMES["real_run"] = real.wall_s
    setup = _setup_log(fy23q2_head)
    errors = [line for line in real.stderr.splitlines() if line.startswith(("AttributeError", "RuntimeError", "ConnectionError"))]
    installed = [line.strip() for line in setup.splitlines() if "Successfully installed" in line]
    print(f"\nreal run: {real.ended}, exit code {real.code}, after {real.wall_s:.1f} s; error: {errors[-1:]}; on the head: {installed}")
    assert MARKER not in real.stdout, f"the real run SUCCEEDED, so the NO-GO verdict is wrong:\n{real.output[-4000:]}"
    assert real.ended == "finished" and real.code != 0, (f"not a success, but not the failure measured either ({real.ended} after "
                                                         f"{real.wall_s:.0f} s, exit code {real.code}):\n{real.output[-4000:]}")
    # it failed for the reason the verdict gives, with pydantic 2 really installed on the head (not a pip or network failure)
    assert "AttributeError: module 'pydantic.fields' has no attribute 'ModelField'" in errors, real.output[-4000:]
    assert 'ray.init(' in real.stderr and "result" not in real.stdout, real.output[-4000:]
    assert any(" pydantic-2." in line for line in installed), setup[-4000:]
