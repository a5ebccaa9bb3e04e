"""``--tune-test`` against the real fy23-q2 release: a Ray 2.2.0 head on Python 3.8 (the server world, with
``ray[tune]`` and scikit-learn), and Python 3.8 clients made with pip as a user makes them.

The tool runs as a user runs it (``python -m preflight --tune-test``) from the client world with
``ray[tune]==2.2.0`` (the search must pass, with the scikit-learn objective, since the cluster has scikit-learn),
and from the world with plain ``ray==2.2.0`` (Ray Tune cannot be imported there: the check must fail with the
``pip install`` line, which is exactly how the first world was made). The head and the tool run with their own
HOME and TMPDIR, so that anything Tune leaves behind would show; the head's actors and jobs are read from its
dashboard afterwards. The head lives for this module only (tests/test_tune_latest.py has the latest Ray's).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from preflight.local_head import LocalHead
from preflight.net import http_get
from tests.conftest import started
from tests.worlds import BY_ID, SERVER, TUNE_CLIENT, Env, World, child_env, provision_each

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(1200)]

TIMES: Dict[str, Any] = {}
_PLAIN = BY_ID["py38-ray2.2.0"].world  # `pip install ray==2.2.0`: no Ray Tune
assert _PLAIN is not None
PLAIN: World = _PLAIN


# -- shared with tests/test_tune_latest.py ------------------------------------------------------------------------


class Sandbox:
    """A HOME and a TMPDIR of their own (short paths: Ray's socket paths are limited), removed afterwards."""

    def __init__(self, label: str):
        self.root = Path(tempfile.mkdtemp(prefix=f"rpf-{label}-", dir="/tmp" if os.path.isdir("/tmp") else None))
        self.home, self.tmp = self.root / "home", self.root / "tmp"
        self.home.mkdir()
        self.tmp.mkdir()
        self.before: List[str] = []

    @property
    def env(self) -> Dict[str, str]:
        return {"HOME": str(self.home), "TMPDIR": str(self.tmp)}

    def files(self) -> List[str]:
        """Everything in the HOME and the TMPDIR."""
        return sorted(str(p) for p in list(self.home.rglob("*")) + list(self.tmp.rglob("*")))

    def mark(self) -> None:
        """Take note of what is there now (a head's dashboard keeps a multiprocessing listener in its TMPDIR)."""
        self.before = self.files()

    def new(self) -> List[str]:
        """What appeared since ``mark()``."""
        return [path for path in self.files() if path not in self.before]

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


def head_in(sandbox: Sandbox, python: str) -> LocalHead:
    """A head with 4 CPUs (the 4 trials fit at once) whose processes, Tune's driver included, have the sandbox's HOME and
    TMPDIR."""
    return LocalHead(python=python, num_cpus=4, env=sandbox.env)


def tool_command(python: str, head: LocalHead, *extra: str) -> List[str]:
    return [python, "-m", "preflight", "--address", head.address, "--dashboard-url", head.dashboard_url,
            "--gcs-address", head.gcs_address, "--format", "json", *extra]


def run_tool(python: str, head: LocalHead, sandbox: Sandbox, *extra: str, timeout: float = 300) -> Tuple[Dict[str, Any], int, float]:
    """The tool's JSON report, exit code and wall time, run as a user would with the sandbox's HOME and TMPDIR."""
    t0 = time.monotonic()
    done = subprocess.run(tool_command(python, head, *extra), capture_output=True, text=True, timeout=timeout,
                          env=dict(child_env(), **sandbox.env), cwd=str(sandbox.home))
    wall = time.monotonic() - t0
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout), done.returncode, wall


def by_id(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {r["id"]: r for r in report["results"]}


def dashboard(head: LocalHead, path: str) -> Any:
    answer = http_get(head.dashboard_url + path, 10.0)
    assert answer.status == 200, (path, answer.status)
    return json.loads(answer.body.decode())


def live_actors(head: LocalHead) -> List[Dict[str, Any]]:
    """The head's actors that are not DEAD (``/logical/actors`` answers in Ray 2.2.0 and the latest Ray)."""
    actors = dashboard(head, "logical/actors")["data"]["actors"] or {}
    return [{"class": a.get("actorClass") or a.get("className"), "state": a.get("state")} for a in actors.values()
            if a.get("state") != "DEAD"]


def unfinished_jobs(head: LocalHead) -> List[Dict[str, Any]]:
    return [{"id": j.get("job_id"), "status": j.get("status")} for j in dashboard(head, "api/jobs/")
            if j.get("status") not in ("SUCCEEDED", "FAILED", "STOPPED")]


def wait_for(condition: Callable[[], bool], limit_s: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def staged(head: LocalHead) -> List[str]:
    """What Tune (the latest Ray) stages in the head's session folder."""
    assert head.temp_dir
    return sorted(glob.glob(os.path.join(head.temp_dir, "session_*", "artifacts", "*", "*")))


def assert_nothing_left(head: LocalHead, server: Sandbox, client: Sandbox) -> None:
    """No new file in the head's HOME or TMPDIR (no ~/ray_results, no storage folder: with the Ray Client, Tune's driver
    runs on the cluster), none at all in the tool's; nothing staged; no live actor or unfinished job."""
    assert server.new() == [], server.new()
    assert client.files() == [], client.files()
    assert staged(head) == []
    assert wait_for(lambda: not live_actors(head) and not unfinished_jobs(head), 30), (live_actors(head), unfinished_jobs(head))


def interrupt_mid_search(python: str, head: LocalHead, server: Sandbox, client: Sandbox) -> Dict[str, Any]:
    """Start the tool with --tune-test, SIGTERM it one second after the search's storage folder appeared on the cluster."""
    server.mark()
    proc = subprocess.Popen(tool_command(python, head, "--tune-test"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(child_env(), **client.env), cwd=str(client.home), start_new_session=True)
    try:
        seen = wait_for(lambda: bool(list(server.tmp.glob("ray-preflight-tune-*"))) or proc.poll() is not None, 120)
        assert seen and proc.poll() is None, "the search never started"
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return {"exit": proc.returncode, "stop_s": time.monotonic() - t0, "stderr": err.decode("utf-8", "replace")}


# -- the Ray 2.2.0 release -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envs(wheel: Path) -> Dict[str, Env]:
    """The server world and the two client worlds this module needs (provisioned, or reused from the cache)."""
    return provision_each((SERVER, TUNE_CLIENT, PLAIN), wheel)


@pytest.fixture(scope="module")
def server_box() -> Iterator[Sandbox]:
    box = Sandbox("tune-srv")
    yield box
    box.remove()


def sandboxed_head(box: Sandbox, python: str, times: Dict[str, Any], label: str) -> Iterator[LocalHead]:
    """A head of ``python``'s Ray living in ``box`` for a module's tests; ``times`` printed under ``label`` at its end."""
    try:
        yield from started(head_in(box, python))
    finally:
        if times:
            print(f"\n{label}:", json.dumps(times))


@pytest.fixture(scope="module")
def head220(envs: Dict[str, Env], server_box: Sandbox) -> Iterator[LocalHead]:
    yield from sandboxed_head(server_box, envs[SERVER.name].python, TIMES, "tune test, Ray 2.2.0 head")


@pytest.fixture
def client_box() -> Iterator[Sandbox]:
    box = Sandbox("tune-cli")
    yield box
    box.remove()


def test_tune_runs_a_scikit_learn_search_through_a_ray_2_2_0_client_and_leaves_nothing_behind(
        envs: Dict[str, Env], head220: LocalHead, server_box: Sandbox, client_box: Sandbox) -> None:
    env = envs[TUNE_CLIENT.name]
    server_box.mark()
    report, code, wall = run_tool(env.python, head220, client_box, "--tune-test")
    results = by_id(report)
    tune = results["tune-test"]
    assert code == 0 and report["ok"] is True, json.dumps(tune, indent=1)
    assert tune["status"] == "pass", tune
    details = tune["details"]
    assert details["objective"] == "sklearn" and details["cluster"]["sklearn_version"] == "1.3.2"
    assert tune["summary"].startswith("4 trials of a LogisticRegression search ran in ")
    assert tune["summary"].endswith("; scikit-learn 1.3.2 on the cluster)") and "(best C=" in tune["summary"]
    assert details["report_api"] == "ray.air.session.report"  # Ray 2.2.0's ray.tune.report takes keywords
    assert details["completed"] == 4 and len(details["trial_results"]) == 4
    assert all(t["accuracy"] is not None and t["trial_s"] > 0 and "error" not in t for t in details["trial_results"])
    assert 0.75 <= details["best"]["accuracy"] <= 1.0
    assert details["best"]["accuracy"] == max(t["accuracy"] for t in details["trial_results"])
    # The search's storage was a fresh folder in the cluster's TMPDIR, and the job removed it
    assert details["storage"].startswith(str(server_box.tmp) + os.sep) and not os.path.exists(details["storage"])
    assert details["cleanup"]["removed"] == [details["storage"]]
    assert_nothing_left(head220, server_box, client_box)
    TIMES.update(tool_wall_s=round(wall, 1), tune_check_s=tune["duration_s"], init_s=round(details["init_s"], 2),
                 tune_s=round(details["tune_s"], 2), trial_s=[round(t["trial_s"], 2) for t in details["trial_results"]],
                 cleanup_s=round(details["cleanup_s"], 2), best=details["best"])


def test_the_tune_test_is_opt_in(envs: Dict[str, Env], head220: LocalHead, client_box: Sandbox) -> None:
    report, code, _ = run_tool(envs[TUNE_CLIENT.name].python, head220, client_box, "--skip", "fibonacci")
    assert code == 0, report
    assert "tune-test" not in by_id(report)


def test_a_client_without_ray_tune_fails_with_the_pip_line(envs: Dict[str, Env], head220: LocalHead, server_box: Sandbox,
                                                           client_box: Sandbox) -> None:
    """Plain ``pip install ray==2.2.0``: the Ray Client works (everything else passes), Ray Tune cannot be imported."""
    env = envs[PLAIN.name]
    really = subprocess.run([env.python, "-c", "from ray import tune"], capture_output=True, text=True, timeout=120, env=child_env())
    assert really.returncode == 1 and "ModuleNotFoundError: No module named 'pandas'" in really.stderr
    server_box.mark()
    report, code, _ = run_tool(env.python, head220, client_box, "--tune-test")
    results = by_id(report)
    tune = results["tune-test"]
    assert code == 1 and [r["id"] for r in report["results"] if r["status"] in ("fail", "error")] == ["tune-test"]
    assert tune["status"] == "fail"
    assert tune["summary"] == "Ray Tune cannot be imported on the client: ModuleNotFoundError: No module named 'pandas'"
    # typed as shown, it makes the first test's world (plus the pydantic pin every Ray 2.2.0 client needs)
    assert tune["remedy"] == 'pip install "ray[tune]==2.2.0"' and ("ray[tune]==2.2.0", "pydantic<2") == TUNE_CLIENT.steps[0]
    assert tune["details"]["stage"] == "import" and "init_s" not in tune["details"]  # it never connected
    assert_nothing_left(head220, server_box, client_box)


def test_an_interrupted_tune_test_leaves_nothing_behind(envs: Dict[str, Env], head220: LocalHead, server_box: Sandbox,
                                                         client_box: Sandbox) -> None:
    stopped = interrupt_mid_search(envs[TUNE_CLIENT.name].python, head220, server_box, client_box)
    assert stopped["exit"] == 130 and "Traceback" not in stopped["stderr"], stopped
    assert stopped["stop_s"] < 10
    assert_nothing_left(head220, server_box, client_box)
    TIMES["interrupted_stop_s"] = round(stopped["stop_s"], 1)
