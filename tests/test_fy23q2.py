"""The real fy23-q2 world: a Ray 2.2.0 head on Python 3.8, and real client environments that talk to it.

The head runs from a Python 3.8 virtual environment with ``ray[default]==2.2.0`` (and the pins it needs,
``protobuf==3.20.3`` and ``pydantic<2``); it does not have this tool installed, like a real cluster. Each
client world is a virtual environment made with pip the way a user makes one, with the tool installed
from a wheel of the working tree (see ``tests/worlds.py``). For each scenario the tool runs twice as a user
runs it (the ``ray-preflight`` command and ``preflight.check()`` in a child process), and then the
platform's own smoke test (``tests/seed_workflow.py``: ``ray.init``, the Fibonacci job, ``ray.shutdown``)
runs from the same environment: the tool's GO/NO-GO must agree with what really happened.

The agreement table in the README is written by these tests (between its ``fy23-q2-agreement`` markers)
when every scenario has run; the timings go to ``.cache/worlds/agreement.json``.

Without Python 3.8 these tests skip with the reason, unless ``RAY_PREFLIGHT_REQUIRE_WORLDS`` is set (CI
sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Set, Tuple

import psutil
import pytest

from preflight.checks.client import WAYS_OUT
from preflight.local_head import LocalHead
from preflight.net import http_get
from tests.facts import ALL_CHECKS, expected_on_a_healthy_head
from tests.real_runs import marked, run
from tests.real_runs import run_seed as run_seed_workflow
from tests.worlds import BY_ID, CACHE, ROOT, SCENARIOS, SERVER, Env, Scenario, child_env, world_env

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(1800)]

EVERY_CHECK = ALL_CHECKS
README = ROOT / "README.md"
BEGIN, END = "<!-- fy23-q2-agreement:begin -->", "<!-- fy23-q2-agreement:end -->"




@pytest.fixture(scope="module")
def fy23q2_head(worlds: Dict[str, Any]) -> Iterator[LocalHead]:
    """Module-scoped: its per-client servers take ports from 23000 up, like any Ray head's on this machine, so it
    is stopped (with them) before other modules start theirs."""
    server = world_env(worlds, SERVER.name)
    head = LocalHead(python=server.python, num_cpus=2)
    assert head.ray_version == "2.2.0"
    head.start()
    try:
        yield head
    finally:
        head.stop()


def footprint(head: LocalHead) -> Tuple[Set[str], Set[int]]:
    """What a Ray Client session leaves on the head: the jobs it lists and its per-client server processes."""
    answer = http_get(head.dashboard_url + "api/jobs/", 10.0)
    assert answer.status == 200, answer.status
    jobs = {str(j.get("job_id") or j.get("submission_id")) for j in json.loads(answer.body.decode())}
    gcs = f":{head.ports['gcs']}"
    servers = set()
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info.get("cmdline") or [])
        if "ray.util.client.server" in line and "--mode=specific-server" in line and gcs in line:
            servers.add(proc.pid)
    return jobs, servers


API = ("import json, sys, preflight\n"
       "report = preflight.check(**json.loads(sys.argv[1]))\n"
       "print('API-REPORT ' + json.dumps(dict(report.to_dict(), ray_imported='ray' in sys.modules)))\n")


@dataclass
class Run:
    scenario: Scenario
    env: Env
    cli: Dict[str, Any]
    cli_exit: int
    cli_s: float
    api: Dict[str, Any]
    api_s: float
    seed: Dict[str, Any]
    footprint_changed: bool
    new_servers: Set[int] = field(default_factory=set)

    def status(self, check_id: str) -> str:
        return next(r["status"] for r in self.cli["results"] if r["id"] == check_id)

    def result(self, check_id: str) -> Dict[str, Any]:
        return next(r for r in self.cli["results"] if r["id"] == check_id)

    def failing(self, report: Dict[str, Any]) -> List[str]:
        return [r["id"] for r in report["results"] if r["status"] in ("fail", "error")]


def _last_json(text: str, marker: str) -> Dict[str, Any]:
    found = marked(text, marker)
    if found is None:
        raise AssertionError(f"no {marker!r} line in:\n{text[-3000:]}")
    return found


def run_seed(env: Env, head: LocalHead, timeout: float = 180.0) -> Dict[str, Any]:
    return run_seed_workflow(env.python, head.address, timeout=timeout, env=child_env(), cwd=str(CACHE))


def run_tool(env: Env, head: LocalHead) -> Tuple[Dict[str, Any], int, float, Dict[str, Any], float]:
    args = ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address]
    t0 = time.monotonic()
    cli = run([env.bin("ray-preflight"), "--format", "json", *args], f"ray-preflight in {env.name}", timeout=300,
              env=child_env(), cwd=str(CACHE))
    cli_s = time.monotonic() - t0
    assert cli.returncode in (0, 1), cli.stdout + cli.stderr
    assert "Traceback" not in cli.stderr, cli.stderr
    kwargs = {"address": head.address, "dashboard_url": head.dashboard_url, "gcs_address": head.gcs_address}
    t0 = time.monotonic()
    api = run([env.python, "-c", API, json.dumps(kwargs)], f"preflight.check() in {env.name}", timeout=300, env=child_env(),
              cwd=str(CACHE))
    api_s = time.monotonic() - t0
    assert api.returncode == 0, api.stdout + api.stderr
    return json.loads(cli.stdout), cli.returncode, cli_s, _last_json(api.stdout, "API-REPORT "), api_s


_RUNS: Dict[str, Run] = {}


@pytest.fixture
def run_scenario(worlds: Dict[str, Any], fy23q2_head: LocalHead):  # type: ignore[no-untyped-def]
    """``run_scenario(id)``: the tool (CLI and API), then the smoke test, once per session per scenario."""

    def run(scenario_id: str) -> Run:
        if scenario_id not in _RUNS:
            scenario = BY_ID[scenario_id]
            env = world_env(worlds, scenario.id)
            before = footprint(fy23q2_head)
            cli, code, cli_s, api, api_s = run_tool(env, fy23q2_head)
            after = footprint(fy23q2_head)
            seed = run_seed(env, fy23q2_head)
            _RUNS[scenario_id] = Run(scenario, env, cli, code, cli_s, api, api_s, seed,
                                     footprint_changed=after[0] != before[0], new_servers=after[1] - before[1])
        return _RUNS[scenario_id]

    return run


@pytest.mark.parametrize("scenario_id", list(BY_ID))
def test_verdict_agrees_with_what_really_happens(run_scenario, scenario_id: str) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario(scenario_id)
    scenario = run.scenario
    assert run.cli["ok"] is scenario.go, json.dumps(run.cli["results"], indent=1)
    assert run.cli_exit == (0 if scenario.go else 1)
    assert run.api["ok"] is run.cli["ok"] and run.api["ray_imported"] is False
    assert [r["id"] for r in run.cli["results"]] == EVERY_CHECK
    assert sorted(run.failing(run.cli)) == sorted(scenario.failing) == sorted(run.failing(run.api))
    assert run.seed["ok"] is scenario.go, run.seed  # the smoke test really did what the verdict said
    for result in run.cli["results"]:
        if result["status"] == "fail":
            assert result["remedy"], result


def test_the_recommended_fix_passes_every_check_and_runs_the_job(run_scenario) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario("py38-ray2.2.0")
    # every check passes; the Kubernetes ones skip (no credentials here: tests/test_kuberay.py covers them)
    assert {r["id"]: r["status"] for r in run.cli["results"]} == expected_on_a_healthy_head()
    fib = run.result("fibonacci")
    assert "matched the local results" in fib["summary"]
    parity = run.result("package-parity")
    assert parity["details"]["server"]["numpy"] == parity["details"]["client"]["numpy"]
    assert "numpy" in parity["summary"]


def test_the_support_bundle_from_the_recommended_client_reads_the_real_2_2_0_cluster(  # type: ignore[no-untyped-def]
        run_scenario, fy23q2_head, tmp_path) -> None:
    """``ray-preflight report`` on Python 3.8 with Ray 2.2.0 against the Ray 2.2.0 head: every piece Ray tells."""
    import tarfile

    env = run_scenario("py38-ray2.2.0").env
    args = ["--address", fy23q2_head.address, "--dashboard-url", fy23q2_head.dashboard_url, "--gcs-address",
            fy23q2_head.gcs_address, "--output", str(tmp_path)]
    done = subprocess.run([env.bin("ray-preflight"), "report", *args], capture_output=True, text=True, timeout=300,
                          env=child_env(), cwd=str(CACHE))
    assert done.returncode == 0 and ": GO, " in done.stdout, done.stdout + done.stderr
    (path,) = tmp_path.glob("ray-preflight-report-*.tar.gz")
    with tarfile.open(path) as archive:
        files = {m.name.split("/", 1)[1]: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]
    assert json.loads(files["cluster/dashboard.json"])["ray_version"] == "2.2.0"
    assert json.loads(files["cluster/nodes.json"])["count"] == 1
    assert json.loads(files["cluster/jobs.json"])["count"] >= 1
    assert "clusterStatus" in json.loads(files["cluster/cluster_status.json"])
    environment = json.loads(files["environment.json"])
    assert environment["python"]["major_minor"] == "3.8" and environment["versions"]["ray"] == "2.2.0"
    assert {"ray", "ray-preflight"} <= {d["name"].lower() for d in environment["distributions"]}


def test_a_client_numpy_other_than_the_servers_is_a_parity_warning(run_scenario, fy23q2_head) -> None:  # type: ignore[no-untyped-def]
    """numpy 1.23 on the client, 1.24 on the server: GO (the job runs), with the pin to type. Then numpy goes back."""
    env = run_scenario("py38-ray2.2.0").env
    server_numpy = run_scenario("py38-ray2.2.0").result("package-parity")["details"]["server"]["numpy"]
    try:
        assert env.pip("install", "numpy==1.23.5").returncode == 0
        cli, code, _, _, _ = run_tool(env, fy23q2_head)
        parity = next(r for r in cli["results"] if r["id"] == "package-parity")
        assert code == 0 and parity["status"] == "warn", parity
        assert f"numpy 1.23.5 on the client, {server_numpy} on the server" in parity["summary"]
        assert parity["remedy"] == f'match the server on the client: pip install "numpy=={server_numpy}"'
    finally:
        restored = env.pip("install", f"numpy=={env.before_tool['numpy']}")
        if restored.returncode != 0:
            (env.root / "ready.json").unlink()


def test_pydantic_2_is_named_before_any_connection_and_its_fix_works(run_scenario, fy23q2_head) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario("py38-ray2.2.0-pydantic2")
    found = run.result("client-packages")
    assert "pydantic 2." in found["summary"] and "ModelField" in found["summary"]
    typed, way_out = found["remedy"].split(WAYS_OUT)
    assert typed == 'pip install "pydantic<2"'
    assert "`ray-preflight fix` (a Python 3.8 environment with Ray 2.2.0 and a Jupyter kernel)" in way_out
    assert "`ray-preflight --route jobs`" in way_out
    assert run.status("fibonacci") == "skip" and "client-packages" in run.result("fibonacci")["summary"]
    assert "ModelField" in run.seed["error"]
    # The remedy, typed as shown, really fixes it; then the world goes back to pydantic 2 for the next run.
    env = run.env
    try:
        assert env.pip(*shlex.split(typed)[1:]).returncode == 0
        cli, code, _, _, _ = run_tool(env, fy23q2_head)
        assert code == 0 and cli["ok"], json.dumps(cli["results"], indent=1)
        assert run_seed(env, fy23q2_head)["ok"]
    finally:
        restored = env.pip("install", "pydantic>=2")
        if restored.returncode != 0:
            (env.root / "ready.json").unlink()


def test_python_310_fails_with_the_versions_ray_itself_names(run_scenario) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario("py310-ray2.2.0")
    server = run.cli["facts"]["server"]["python_version"]
    summary = run.result("python-version")["summary"]
    assert f"client is {run.env.python_version}, server is {server}" in summary
    assert re.match(r"3\.10\.\d+$", run.env.python_version) and re.match(r"3\.8\.\d+$", server)
    assert f"client is {run.env.python_version}, server is {server}" in run.seed["error"]
    assert "python3.8 -m venv" in run.result("python-version")["remedy"]


def test_latest_ray_gets_both_remedies(run_scenario) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario("default-latest-ray")
    assert run.result("ray-version")["remedy"].split(WAYS_OUT)[0] == 'pip install "ray==2.2.0"'
    assert "use Python 3.8" in run.result("python-version")["remedy"]
    for check_id in ("ray-version", "python-version"):  # the dashboard answers: both ways out are named
        assert "`ray-preflight fix` (a Python 3.8 environment with Ray 2.2.0" in run.result(check_id)["remedy"]
        assert "`ray-preflight --route jobs`" in run.result(check_id)["remedy"]
    assert "Version mismatch" in run.seed["error"]


def test_no_ray_still_reports_the_servers_versions(run_scenario) -> None:  # type: ignore[no-untyped-def]
    run = run_scenario("default-no-ray")
    ray_version = run.result("ray-version")
    assert "not installed" in ray_version["summary"]
    assert ray_version["remedy"].split(WAYS_OUT)[0] == 'pip install "ray==2.2.0"'
    assert "`ray-preflight --route jobs`" in ray_version["remedy"]
    assert ray_version["details"]["server"] == "2.2.0"
    assert re.match(r"3\.8\.\d+$", run.result("python-version")["details"]["server"])
    assert run.seed["stage"] == "import"


def test_ray_2_1_connects_and_is_told_to_match_the_server(run_scenario) -> None:  # type: ignore[no-untyped-def]
    """Ray 2.1.0 checks the client protocol date (the same as 2.2.0's), not the Ray version: it really connects
    and runs the job, so the tool says GO, with a warning and the pin to type."""
    run = run_scenario("py38-ray2.1.0")
    found = run.result("ray-version")
    assert found["status"] == "warn" and "client Ray is 2.1.0, the server runs 2.2.0" in found["summary"]
    assert found["remedy"] == 'pip install "ray==2.2.0"'
    assert run.status("fibonacci") == "pass" and run.seed["ok"]


def test_a_no_go_run_leaves_no_session_and_no_job_on_the_cluster(run_scenario) -> None:  # type: ignore[no-untyped-def]
    """The head's job list and its per-client server processes, before and after each tool run."""
    go = run_scenario("py38-ray2.2.0")
    assert go.footprint_changed, "control: a GO run (which runs the Fibonacci job) must show up in the job list"
    for scenario in SCENARIOS:
        if not scenario.go:
            run = run_scenario(scenario.id)
            assert not run.footprint_changed and not run.new_servers, scenario.id


def test_the_tool_coinstalls_with_ray_2_2_0_without_moving_it(worlds) -> None:  # type: ignore[no-untyped-def]
    """Installing the tool into a user's Ray 2.2.0 environment changes none of the versions there; pip check stays clean."""
    for name in ("py38-ray2.2.0", "py38-ray2.2.0-pinned", "py310-ray2.2.0"):
        env = world_env(worlds, name)
        check = env.pip("check", timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        after = env.freeze()
        moved = {k: (v, after.get(k)) for k, v in env.before_tool.items() if after.get(k) != v}
        assert not moved, f"{name}: installing the tool changed {moved}"
        assert "ray-preflight" in after and env.before_tool["ray"] == "2.2.0"
    pinned = world_env(worlds, "py38-ray2.2.0-pinned").freeze()
    assert pinned["protobuf"] == "3.20.3" and pinned["pydantic"].startswith("1.")


@pytest.fixture(scope="module", autouse=True)
def agreement_table() -> Iterator[None]:
    """After the module: the README's agreement table and the timings, from the runs (when every scenario ran)."""
    yield
    if set(_RUNS) != set(BY_ID):
        return
    rows = ["| Scenario | Tool verdict | Failed checks | Warnings | Real outcome of `ray.init` + Fibonacci job | Agree |",
            "|---|---|---|---|---|---|"]
    timings = []
    for scenario in SCENARIOS:
        run = _RUNS[scenario.id]
        verdict = "GO" if run.cli["ok"] else "NO-GO"
        failed = ", ".join(f"`{c}`" for c in run.failing(run.cli)) or "none"
        warned = ", ".join(f"`{r['id']}`" for r in run.cli["results"] if r["status"] == "warn") or "none"
        outcome = "works" if run.seed["ok"] else f"fails at {run.seed['stage']}: `{_first_line(run.seed.get('error', ''))}`"
        agree = "yes" if run.cli["ok"] is run.seed["ok"] else "**NO**"
        rows.append(f"| {scenario.label} | {verdict} | {failed} | {warned} | {outcome} | {agree} |")
        timings.append({"scenario": scenario.id, "verdict": verdict, "real_ok": run.seed["ok"], "tool_cli_s": round(run.cli_s, 2),
                        "tool_api_s": round(run.api_s, 2), "seed_wall_s": round(run.seed.get("wall_s", 0), 2),
                        "seed_init_s": round(run.seed.get("init_s", 0), 2), "seed_error": run.seed.get("error")})
    (CACHE / "agreement.json").write_text(json.dumps(timings, indent=1))
    text = README.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail
        if new != text:
            README.write_text(new)


def _first_line(text: str) -> str:
    line = next((x.strip() for x in str(text).splitlines() if x.strip()), "")
    return line.replace("|", "\\|")[:160]
