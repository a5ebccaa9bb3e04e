"""``ray-preflight fix``: the plan, the pins and the refusals on plain data and closed ports; then, on a real Ray 2.2.0
head (Python 3.8), the real command run from the Python 3.10 + Ray 2.2.0 world (NO-GO on python-version): it builds a
Python 3.8 environment whose own preflight is GO, in which the platform's seed workflow really runs, from the command
line and from a notebook on the Jupyter kernel it registered; a dry run changes nothing; a second run reuses and
re-verifies (and repairs only what is off); the world it ran from is left as it was (``pip freeze``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from preflight import config as config_module
from preflight import matching_env, ray_pins, tool_source
from preflight.errors import UsageError
from preflight.interpreters import Candidate, Search
from preflight.local_head import LocalHead
from preflight.matching_env import FixError, Wanted, learn, make_plan, off_requirements, preflight_args
from preflight.model import Report, Result, Status
from preflight.testing import closed_port
from tests import seed_workflow
from tests.conftest import started
from tests.real_runs import marked
from tests.real_runs import run_seed as run_seed_workflow
from tests.worlds import BY_ID, CACHE, SERVER, Env, child_env, find_python, provision_each, unavailable

KERNEL = "ray-2.2.0-py3.8"
DISPLAY = "Ray 2.2.0 · Python 3.8"


# --- plain data -------------------------------------------------------------------------------------------------------

def test_the_pins_a_ray_client_needs() -> None:
    assert ray_pins.ray_requirement("2.2.0") == "ray==2.2.0"  # 2.2.0 declares no client extra: grpcio is in its base
    assert ray_pins.ray_requirement("2.6.0") == "ray[client]==2.6.0"
    assert ray_pins.known_good_pins("2.2.0") == ["pydantic<2"]
    assert ray_pins.known_good_pins("2.4.0") == ["pydantic<2"] and ray_pins.known_good_pins("2.5.0") == []
    from preflight.checks import client_packages  # the check judges with the same data

    assert client_packages.KNOWN_BREAKAGES is ray_pins.KNOWN_BREAKAGES
    assert [f["fix"] for f in client_packages.known_findings("2.2.0", {"pydantic": "2.5.3"})] == ["pydantic<2"]


def test_the_flags_passed_on_are_the_commands_own() -> None:
    from preflight.cli_app import _targeting

    declared = {name: option.param_decls[0] for name, (_, option) in _targeting().items() if name != "local"}
    assert matching_env.FLAGS == declared


def test_the_preflight_in_the_new_environment_gets_the_options_given() -> None:
    args = preflight_args({"address": "ray://h:10001", "only": ["ray-version", "fibonacci"], "strict": True, "insecure": False,
                           "scale_test": True, "dashboard_headers": {"X-Auth": "t"}, "timeout": 30.0, "route": "client"})
    assert args == ["--address", "ray://h:10001", "--only", "ray-version,fibonacci", "--strict", "--scale-test=up",
                    "--dashboard-header", "X-Auth: t", "--timeout", "30.0", "--route", "client", "--format", "json"]


def test_the_plan_never_shows_a_secret_it_passes_on() -> None:
    args = preflight_args({"dashboard_url": "https://alice:s3cret@dash.example/", "dashboard_headers": ["Authorization: Bearer tok"]})
    assert "s3cret" in " ".join(args) and "tok" in " ".join(args)  # the preflight inside needs them
    shown = " ".join(matching_env.shown_args(args))
    assert "s3cret" not in shown and "tok" not in shown and "alice" not in shown
    assert "https://***REDACTED***@dash.example/" in shown and "Authorization: ***REDACTED***" in shown


def test_the_tool_is_installed_from_where_it_came_from(tmp_path: Path) -> None:
    wheel = tmp_path / "ray_preflight-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert tool_source.from_direct_url({"url": wheel.as_uri(), "archive_info": {}}).requirement == str(wheel)
    gone = tool_source.from_direct_url({"url": (tmp_path / "gone.whl").as_uri(), "archive_info": {}}, "0.1.0")
    assert gone.requirement == "ray-preflight==0.1.0" and "gone" in gone.described
    (tmp_path / "pyproject.toml").write_text("[project]\nname = \"ray-preflight\"\n")
    assert tool_source.from_direct_url({"url": tmp_path.as_uri(), "dir_info": {"editable": True}}).requirement == str(tmp_path)
    vcs = {"url": "https://git.example/rpf.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}
    assert tool_source.from_direct_url(vcs).requirement == "ray-preflight @ git+https://git.example/rpf.git@abc123"
    remote = {"url": "https://files.example/ray_preflight-0.1.0.tar.gz", "archive_info": {}}
    assert tool_source.from_direct_url(remote).requirement == "ray-preflight @ https://files.example/ray_preflight-0.1.0.tar.gz"
    assert tool_source.from_direct_url(None, "0.1.0").requirement == "ray-preflight==0.1.0"
    # this checkout, installed editable in the test environment: its source folder
    assert tool_source.current().requirement == str(Path(tool_source.__file__).resolve().parent.parent)


def _report(facts: Dict[str, Any], statuses: Optional[Dict[str, Status]] = None) -> Report:
    results = [Result(cid, cid, status, "") for cid, status in (statuses or {"ray-version": Status.FAIL,
                                                                            "python-version": Status.FAIL}).items()]
    return Report(profile="x", address="ray://h:10001", dashboard_url=None, results=results, facts=facts)


def test_the_live_server_wins_and_the_profile_stands_in_for_what_it_did_not_say() -> None:
    fy23 = config_module.build("ray://h:10001", profile="fy23-q2")
    auto = config_module.build("ray://h:10001")
    live = {"server": {"ray_version": "2.2.0", "python_version": "3.8.13", "source": "GCS h:6379"}}
    wanted = learn(auto, _report(live))
    assert (wanted.ray, wanted.python, wanted.python_patch, wanted.ray_from) == ("2.2.0", "3.8", "3.8.13", "the live server: GCS h:6379")
    assert wanted.slug == KERNEL and wanted.kernel_display == DISPLAY
    down = {"server": {"unavailable": "cluster unreachable (refused)"}, "dashboard": {"unavailable": "refused"}}
    pinned = learn(fy23, _report(down))
    assert (pinned.ray, pinned.python, pinned.python_patch, pinned.ray_from) == ("2.2.0", "3.8", None, "profile fy23-q2")
    assert pinned.notes == ["the server did not say (cluster unreachable (refused)): using profile fy23-q2's pins"]
    with pytest.raises(FixError, match="cannot tell which Ray and Python to build for: the server did not say"):
        learn(auto, _report(down))
    newer = learn(fy23, _report({"server": {"ray_version": "2.3.0", "python_version": "3.9.1", "source": "GCS"}}))
    assert (newer.ray, newer.python) == ("2.3.0", "3.9") and len(newer.notes) == 2
    dash = learn(fy23, _report({"server": {"unavailable": "GCS closed"}, "dashboard": {"ray_version": "2.2.1"}}))
    assert (dash.ray, dash.ray_from, dash.python_from) == ("2.2.1", "the live server's dashboard", "profile fy23-q2")
    same = learn(auto, _report(live, {"ray-version": Status.PASS, "python-version": Status.PASS}))
    assert same.current_matches


def _fake_search(minor: str, prefer: Optional[str]) -> Search:
    chosen = Candidate("/opt/py/bin/python3.8", "PATH", "3.8.18", "/opt/py/bin/python3.8")
    return Search(minor, [chosen], chosen, ["PATH"])


def test_the_plan_for_a_new_environment(tmp_path: Path) -> None:
    tool = tool_source.ToolSource("/dist/ray_preflight-0.1.0-py3-none-any.whl", "the wheel", "0.1.0")
    wanted = Wanted("2.2.0", "3.8", "3.8.18", "the live server", "the live server")
    environ = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}
    plan = make_plan(wanted, prefix=None, kernel=True, tool=tool, explicit={"address": "ray://h:10001"}, environ=environ,
                     search=_fake_search)
    assert plan.env == str(tmp_path / "data" / "ray-preflight" / "envs" / KERNEL) and plan.state == "new"
    assert plan.requirements == ["ray==2.2.0", "pydantic<2", tool.requirement, "ipykernel"]
    python = f"{plan.env}/bin/python"
    assert plan.commands() == [
        f"/opt/py/bin/python3.8 -m venv {plan.env}",
        f"{python} -m pip install ray==2.2.0 'pydantic<2' {tool.requirement} ipykernel",
        f"{python} -m ipykernel install --user --name {KERNEL} --display-name '{DISPLAY}'",
        f"{plan.env}/bin/ray-preflight --address ray://h:10001 --route client --format json",
    ]
    assert not (tmp_path / "data").exists()  # planning makes nothing
    bare = make_plan(wanted, prefix=None, kernel=False, tool=tool, explicit={}, environ={"HOME": str(tmp_path / "home")},
                     search=_fake_search)
    assert bare.env == str(tmp_path / "home" / ".local" / "share" / "ray-preflight" / "envs" / KERNEL) and bare.kernel is None


def test_a_prefix_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    tool = tool_source.ToolSource("ray-preflight==0.1.0", "the package index", "0.1.0")
    wanted = Wanted("2.2.0", "3.8")
    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an environment made by ray-preflight fix"):
        make_plan(wanted, prefix=str(theirs), kernel=False, tool=tool, explicit={}, environ={}, search=_fake_search)
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="a file, not a folder"):
        make_plan(wanted, prefix=str(tmp_path / "file"), kernel=False, tool=tool, explicit={}, environ={}, search=_fake_search)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_plan(wanted, prefix=str(empty), kernel=False, tool=tool, explicit={}, environ={}, search=_fake_search).state == "new"


def test_what_is_off_in_an_environment_made_before() -> None:
    tool = tool_source.ToolSource("/w/ray_preflight-0.2.0-py3-none-any.whl", "the wheel", "0.2.0")
    wanted = Wanted("2.2.0", "3.8")
    good = {"ray": "2.2.0", "pydantic": "1.10.13", "ray-preflight": "0.2.0", "ipykernel": "6.29.5"}
    assert off_requirements(wanted, good, tool, kernel=True) == []
    off = off_requirements(wanted, dict(good, ray="2.3.0", pydantic="2.5.3", ipykernel=None, **{"ray-preflight": "0.1.0"}),
                           tool, kernel=True)
    assert off == [("ray==2.2.0", "Ray is 2.3.0"), ("pydantic<2", "pydantic is 2.5.3"), (tool.requirement, "ray-preflight is 0.1.0"),
                   ("ipykernel", "ipykernel is missing")]
    assert off_requirements(wanted, dict(good, pydantic=None), tool, kernel=False) == [("pydantic<2", "pydantic is missing")]


def test_the_notebook_function_plans_without_asking_and_stays_a_function(tmp_path: Path) -> None:
    import preflight

    if find_python("3.8") is None:
        unavailable("no Python 3.8 on this machine")
    result = preflight.fix(f"ray://127.0.0.1:{closed_port()}", profile="fy23-q2", prefix=str(tmp_path / "env"), kernel=False,
                           dry_run=True, quiet=True)
    assert result.dry_run and result.error is None and result.exit_code == 0 and result.verdict is None
    assert result.env == str(tmp_path / "env") and result.plan is not None and result.plan.state == "new"
    assert result.to_dict()["plan"]["requirements"][:2] == ["ray==2.2.0", "pydantic<2"]
    assert not (tmp_path / "env").exists()
    assert callable(preflight.fix)  # the engine module is not preflight.fix, which would shadow the function
    with pytest.raises(TypeError, match="unexpected keyword"):
        preflight.fix(profile="fy23-q2", colour="red")
    with pytest.raises(UsageError, match="Ray Client route"):
        preflight.fix(profile="fy23-q2", route="jobs")


def test_a_failed_install_removes_the_half_made_environment_and_says_why(tmp_path: Path) -> None:
    """A real venv of a real Python 3.8, then a pip install that fails: the folder goes, pip's last lines say why."""
    if find_python("3.8") is None:
        unavailable("no Python 3.8 on this machine")
    missing = tmp_path / "ray_preflight-9.9.9-py3-none-any.whl"
    tool = tool_source.ToolSource(str(missing), "the wheel", "9.9.9")
    env = tmp_path / "env"
    plan = make_plan(Wanted("2.2.0", "3.8"), prefix=str(env), kernel=False, tool=tool, explicit={}, environ=os.environ)
    said: List[str] = []
    with pytest.raises(FixError) as failed:
        matching_env.carry_out(plan, os.environ, said.append)
    assert str(failed.value) == "pip install failed (exit 1); its last lines:"
    assert any(str(missing) in line and "does not exist" in line for line in failed.value.hints), failed.value.hints
    assert failed.value.hints[-1] == f"(the half-made environment {env} was removed)"
    assert not env.exists()
    assert any(line.startswith("    ") for line in said)  # pip's own lines went by as progress


# --- the command, without a cluster ------------------------------------------------------------------------------------

def _cli(args: List[str], env: Dict[str, str], timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "preflight", "fix", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=str(Path(__file__).parent))


def _env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "JUPYTER_DATA_DIR", "XDG_DATA_HOME")}
    env.update(extra)
    return env


def test_without_yes_and_without_a_terminal_it_refuses_in_one_line() -> None:
    done = _cli(["--profile", "fy23-q2"], _env())
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "pass --yes" in done.stderr and "Traceback" not in done.stderr
    for flags in (["--route", "jobs", "--yes"], ["--local", "--yes"], ["--address", "nohost", "--yes"]):
        bad = _cli(flags, _env())
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, (flags, bad.stderr)


def test_a_dry_run_with_the_cluster_down_plans_from_the_profile_and_makes_nothing(tmp_path: Path) -> None:
    if find_python("3.8") is None:
        unavailable("no Python 3.8 on this machine")
    data, jupyter = tmp_path / "data", tmp_path / "jupyter"
    t0 = time.monotonic()
    done = _cli(["--profile", "fy23-q2", "--address", f"ray://127.0.0.1:{closed_port()}", "--dry-run", "--kernel"],
                _env(XDG_DATA_HOME=str(data), JUPYTER_DATA_DIR=str(jupyter)))
    took = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    assert "server:       Ray 2.2.0 on Python 3.8 (profile fy23-q2)" in done.stdout
    assert "using profile fy23-q2's pins" in done.stdout and "interpreter:  " in done.stdout
    assert f"environment:  {data / 'ray-preflight' / 'envs' / KERNEL} (new)" in done.stdout
    assert f"-m ipykernel install --user --name {KERNEL}" in done.stdout
    assert not data.exists() and not jupyter.exists()
    assert took < 10, took


def test_on_a_terminal_it_shows_the_plan_and_asks_once(tmp_path: Path) -> None:
    """stdin a terminal (a pseudo-terminal here), no --yes: the plan, one question; "n" changes nothing (exit 1)."""
    import pty

    if find_python("3.8") is None:
        unavailable("no Python 3.8 on this machine")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "preflight", "fix", "--profile", "fy23-q2", "--no-kernel", "--address",
                                 f"ray://127.0.0.1:{closed_port()}"], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env(XDG_DATA_HOME=str(tmp_path / "data")), cwd=str(Path(__file__).parent))
        os.write(master, b"n\n")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 1, out + err
    assert err.count("Go ahead? [y/N]") == 1 and "environment:  " in err and "commands:" in err
    assert "ray-preflight fix: nothing was changed (not confirmed)" in err and out == ""
    assert not (tmp_path / "data").exists()


def test_no_python_of_the_servers_minor_says_how_to_get_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _env(HOME=str(home), PATH=str(tmp_path / "empty"), XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("PYENV_ROOT", None)
    done = _cli(["--profile", "fy23-q2", "--address", f"ray://127.0.0.1:{closed_port()}", "--yes"], env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ray-preflight fix: no Python 3.8 on this machine to make the environment with" in done.stderr
    assert "uv python install 3.8" in done.stderr and "pyenv install 3.8" in done.stderr
    assert "ray-preflight --route jobs" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


# --- the real thing: a Ray 2.2.0 head, the Python 3.10 world, a Python 3.8 environment made by fix ------------------------

@pytest.fixture(scope="module")
def fix_worlds(wheel: Path) -> Dict[str, Env]:
    """The server world and the Python 3.10 + Ray 2.2.0 world (the tool installed there from the working tree's wheel)."""
    world = BY_ID["py310-ray2.2.0"].world
    assert world is not None
    return provision_each((SERVER, world), wheel)


@pytest.fixture(scope="module")
def head(fix_worlds: Dict[str, Env]) -> Iterator[LocalHead]:
    server = LocalHead(python=fix_worlds[SERVER.name].python, num_cpus=2)
    assert server.ray_version == "2.2.0"
    yield from started(server)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the made environment, the kernels and the data directory go; removed after the module (~400 MB)."""
    folder = tmp_path_factory.mktemp("fix")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _targeting(head: LocalHead) -> List[str]:
    return ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address]


def _run_fix(world: Env, args: List[str], place: Path, timeout: float = 1500) -> "subprocess.CompletedProcess[str]":
    env = child_env()
    env.update(JUPYTER_DATA_DIR=str(place / "jupyter"), XDG_DATA_HOME=str(place / "data"))
    return subprocess.run([world.bin("ray-preflight"), "fix", *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=str(CACHE))


def _seed(python: str, address: str) -> Dict[str, Any]:
    return run_seed_workflow(python, address, "10000", "2", timeout=300, env=child_env(), cwd=str(CACHE))


@pytest.fixture(scope="module")
def made(fix_worlds: Dict[str, Env], head: LocalHead, place: Path) -> Dict[str, Any]:
    """The real ``fix --yes`` from the Python 3.10 world, and the world's ``pip freeze`` before it."""
    world = fix_worlds["py310-ray2.2.0"]
    before = world.freeze()
    t0 = time.monotonic()
    done = _run_fix(world, [*_targeting(head), "--yes", "--prefix", str(place / "env"), "--kernel"], place)
    return {"world": world, "before": before, "done": done, "seconds": time.monotonic() - t0, "env": place / "env"}


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_the_python_310_world_is_no_go_on_python_version(fix_worlds: Dict[str, Env], head: LocalHead) -> None:
    world = fix_worlds["py310-ray2.2.0"]
    done = subprocess.run([world.bin("ray-preflight"), *_targeting(head), "--format", "json"], capture_output=True, text=True,
                          timeout=300, env=child_env(), cwd=str(CACHE))
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["verdict"] == "NO-GO"
    assert [r["id"] for r in report["results"] if r["status"] in ("fail", "error")] == ["python-version"]


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_fix_makes_a_python_38_environment_whose_preflight_is_go(made: Dict[str, Any], head: LocalHead, place: Path) -> None:
    done = made["done"]
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    assert "Traceback" not in done.stderr
    env = made["env"]
    assert done.stdout.startswith(f"GO: the environment {env} (made)"), done.stdout
    assert f"source {env}/bin/activate" in done.stdout and f'"{DISPLAY}" ({KERNEL})' in done.stdout
    assert "… the server runs Ray 2.2.0 on Python 3.8." in done.stderr and "the live server: GCS" in done.stderr
    assert "Successfully installed" in done.stderr  # pip's own lines, streamed
    version = subprocess.run([str(env / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
    assert version.startswith("3.8."), version
    marker = json.loads((env / matching_env.MARKER).read_text())
    assert marker["state"] == "ready" and marker["ray"] == "2.2.0"


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_the_seed_workflow_runs_with_the_new_environments_python(made: Dict[str, Any], head: LocalHead) -> None:
    assert made["done"].returncode == 0, made["done"].stderr[-3000:]
    seed = _seed(str(made["env"] / "bin" / "python"), head.address)
    assert seed["ok"] and seed["stage"] == "done", seed


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_the_kernel_is_registered_and_a_notebook_on_it_runs_the_seed_workflow(
        made: Dict[str, Any], head: LocalHead, place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    assert made["done"].returncode == 0, made["done"].stderr[-3000:]
    python = str(made["env"] / "bin" / "python")
    spec = json.loads((place / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["display_name"] == DISPLAY and spec["argv"][0] == python
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(place / "jupyter"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import json, runpy, sys\n"
        f"seed = runpy.run_path({seed_workflow.__file__!r})\n"
        f"result = seed['run']({head.address!r}, 10000, 2)\n"
        "print('SEED-RESULT ' + json.dumps(dict(result, executable=sys.executable)))\n")]
    t0 = time.monotonic()
    NotebookClient(notebook, kernel_name=KERNEL, timeout=300, startup_timeout=120,
                   resources={"metadata": {"path": str(place)}}).execute()
    took = time.monotonic() - t0
    text = "".join(o.get("text", "") for o in notebook.cells[0].outputs if o.get("output_type") == "stream")
    seed = marked(text, seed_workflow.MARKER)
    assert seed is not None, notebook.cells[0].outputs
    assert seed["ok"] and seed["executable"] == python, seed
    assert took < 120, took


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_a_dry_run_changes_nothing(made: Dict[str, Any], head: LocalHead, place: Path) -> None:
    world = made["world"]
    kernels = sorted(os.listdir(place / "jupyter" / "kernels"))
    t0 = time.monotonic()
    planned = _run_fix(world, [*_targeting(head), "--dry-run", "--kernel"], place)  # the default folder: not made
    took = time.monotonic() - t0
    assert planned.returncode == 0, planned.stderr
    assert f"environment:  {place / 'data' / 'ray-preflight' / 'envs' / KERNEL} (new)" in planned.stdout
    assert "server:       Ray 2.2.0 on Python 3.8." in planned.stdout and "(the live server: GCS" in planned.stdout
    assert not (place / "data").exists() and sorted(os.listdir(place / "jupyter" / "kernels")) == kernels
    again = _run_fix(world, [*_targeting(head), "--dry-run", "--kernel", "--prefix", str(made["env"])], place)
    assert again.returncode == 0 and "reinstall:    nothing: all as wanted" in again.stdout, again.stdout + again.stderr
    assert "(registered already)" in again.stdout
    assert took < 10, took


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_a_second_fix_reuses_the_environment_and_repairs_only_what_is_off(made: Dict[str, Any], head: LocalHead, place: Path) -> None:
    world, env = made["world"], made["env"]
    assert made["done"].returncode == 0, made["done"].stderr[-3000:]
    t0 = time.monotonic()
    second = _run_fix(world, [*_targeting(head), "--yes", "--prefix", str(env), "--kernel"], place)
    took = time.monotonic() - t0
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith(f"GO: the environment {env} (reused)") and "pip install" not in second.stderr
    assert f"… {env} was made by fix before (ray 2.2.0, " in second.stderr and "): nothing is off" in second.stderr
    assert "reinstalled: nothing (all as wanted)" in second.stdout and "registering" not in second.stderr
    preflight_s = float(re.search(r" in ([0-9.]+) s$", second.stdout.splitlines()[0]).group(1))  # type: ignore[union-attr]
    assert took - preflight_s < 15, (took, preflight_s)
    # pydantic 2 in the made environment breaks Ray 2.2.0: the next fix reinstalls pydantic<2, and nothing else
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "pydantic>=2,<2.11"]
    assert subprocess.run(pip, capture_output=True, timeout=600, env=child_env()).returncode == 0
    third = _run_fix(world, [*_targeting(head), "--yes", "--prefix", str(env), "--kernel"], place)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "… pydantic is 2." in third.stderr and ": reinstalling pydantic<2" in third.stderr
    assert "reinstalled: pydantic<2\n" in third.stdout
    # run from inside the environment it made, fix never changes it: here a kernel to register (another Jupyter folder)
    own = subprocess.run([str(env / "bin" / "ray-preflight"), "fix", *_targeting(head), "--yes", "--prefix", str(env), "--kernel"],
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=str(CACHE),
                         env=dict(child_env(), JUPYTER_DATA_DIR=str(place / "other-jupyter")))
    assert own.returncode == 1 and "is the environment this command runs in" in own.stderr, own.stdout + own.stderr
    assert not (place / "other-jupyter").exists()


@pytest.mark.live
@pytest.mark.fy23q2
@pytest.mark.timeout(1800)
def test_the_world_it_ran_from_is_unchanged(made: Dict[str, Any]) -> None:
    assert made["world"].freeze() == made["before"]
