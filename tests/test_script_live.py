"""``--script``: the user's own script judged against a real Ray head (the installed Ray, 2 CPUs, no GPU, no
autoscaler), and each script then run for real from the same environment with a hard timeout, so that the verdict is
compared with what happens: a task that asks for a GPU really waits; more actors than the cluster holds really hang;
a module the workers lack really raises ModuleNotFoundError on a worker; a module of the script's own folder that
nothing ships really does too; a clean script is GO and really runs. The same head shows ``--scale-test`` failing at
once where no node can join, and the demand it would make really never met.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from preflight.local_head import LocalHead
from tests.conftest import run_cli, started
from tests.real_runs import RealRun, run_real

pytestmark = pytest.mark.live

#: How long a real run that should finish (or fail) may take before it counts as waiting forever.
REAL_LIMIT_S = 40
#: How long a real run the tool says waits forever is watched: still waiting then, it is stopped and counts as a hang.
HANG_LIMIT_S = 25


@pytest.fixture(scope="module")
def head() -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=2))


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code).lstrip())
    return path


def user_script(folder: Path, head: LocalHead, body: str, imports: str = "", init: str = "") -> Path:
    """A script as a user writes it: imports, ray.init with the cluster's address, tasks, ray.shutdown."""
    code = (f"import ray\n{textwrap.dedent(imports)}\nray.init({head.address!r}{init})\n{textwrap.dedent(body)}\n"
            "ray.shutdown()\nprint('SCRIPT-DONE')\n")
    return write(folder, "train.py", code)


def preflight(head: LocalHead, script: Path, *extra: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    proc = run_cli(["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address,
                    "--script", str(script), "--format", "json", *extra], env_extra=env)
    report = json.loads(proc.stdout)
    report["exit_code"] = proc.returncode
    report["by_id"] = {r["id"]: r for r in report["results"]}
    return report


def really(script: Path, env: Optional[Dict[str, str]] = None, limit: float = REAL_LIMIT_S) -> RealRun:
    return run_real([script.name], limit, cwd=str(script.parent), env_extra=env)


def test_a_clean_script_is_go_and_really_runs(head: LocalHead, tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "def double(x):\n    return 2 * x\n")
    script = user_script(tmp_path, head, imports="import json\nimport packaging.version\nimport helpers\n", init=", runtime_env={'working_dir': '.'}",
                         body="""
                         @ray.remote(num_cpus=1)
                         def task(x):
                             return helpers.double(x) + int(packaging.version.Version("1.0").major)

                         print(json.dumps(ray.get([task.remote(i) for i in range(4)])))
                         """)
    report = preflight(head, script)
    statuses = {cid: r["status"] for cid, r in report["by_id"].items()}
    assert report["verdict"] == "GO", statuses
    for cid in ("script-modules", "script-resources", "script-libraries"):
        assert statuses[cid] == "pass", report["by_id"][cid]
    assert "packaging" in report["by_id"]["script-modules"]["summary"]
    real = really(script)
    assert real.ended == "finished" and real.code == 0 and "SCRIPT-DONE" in real.stdout, real.output[-3000:]


def test_a_task_asking_for_a_gpu_on_a_cpu_cluster_fails_and_really_waits(head: LocalHead, tmp_path: Path) -> None:
    script = user_script(tmp_path, head, body="""
                         @ray.remote(num_gpus=1)
                         def train():
                             return 1

                         print(ray.get(train.remote()))
                         """)
    report = preflight(head, script)
    result = report["by_id"]["script-resources"]
    assert report["exit_code"] == 1 and result["status"] == "fail", result
    assert "would wait forever: train (line 5) asks for 1 GPU; no node type offers 1 GPU" in result["summary"], result
    real = really(script, limit=HANG_LIMIT_S)
    assert real.ended == "timeout", real.output[-3000:]


def test_more_tasks_and_actors_than_the_cluster_holds_warn_and_really_queue_then_hang(head: LocalHead, tmp_path: Path) -> None:
    """Each request fits the 2-CPU head, but the loops ask for more at once: 4 one-CPU tasks really run in two waves (the
    real run takes two task lengths), and of 3 one-CPU actors really only 2 come alive: waiting on all three hangs."""
    script = user_script(tmp_path, head, imports="import time\n", body="""
                         @ray.remote(num_cpus=1)
                         def task():
                             time.sleep(1.5)

                         @ray.remote(num_cpus=1)
                         class Worker:
                             def ping(self):
                                 return 1

                         t0 = time.monotonic()
                         ray.get([task.remote() for _ in range(4)])
                         print("TASKS-DONE", round(time.monotonic() - t0, 1), flush=True)
                         workers = [Worker.remote() for _ in range(3)]
                         ready, _ = ray.wait([w.ping.remote() for w in workers], num_returns=3, timeout=8)
                         print("ALIVE", len(ready), flush=True)
                         print(ray.get([w.ping.remote() for w in workers]))
                         """)
    report = preflight(head, script)
    result = report["by_id"]["script-resources"]
    assert report["verdict"] == "GO" and result["status"] == "warn", result
    assert "task (line 16) runs 4 tasks (for _ in range(4)), 4 CPUs in all; the cluster can have at most 2 CPUs" in result["summary"]
    assert "waves of at most 2" in result["summary"]
    assert "Worker (line 18) creates 3 actors" in result["summary"] and "only 2 can be alive at once" in result["summary"], result
    real = really(script, limit=HANG_LIMIT_S)
    assert real.ended == "timeout", real.output[-3000:]
    waves = [float(line.split()[1]) for line in real.stdout.splitlines() if line.startswith("TASKS-DONE")]
    assert waves and waves[0] >= 3.0, real.output[-3000:]  # two waves of 1.5 s: not all 4 at once
    assert "ALIVE 2" in real.stdout, real.output[-3000:]


def _client_only_module(tmp_path: Path) -> Dict[str, str]:
    """A module importable here (a folder on PYTHONPATH, as a notebook's own packages are) but not on the cluster."""
    site = tmp_path / "site"
    write(site, "rpf_client_only.py", "def triple(x):\n    return 3 * x\n")
    return {"PYTHONPATH": str(site)}


def test_a_module_the_workers_lack_fails_and_really_raises_on_a_worker(head: LocalHead, tmp_path: Path) -> None:
    env = _client_only_module(tmp_path)
    script = user_script(tmp_path / "job", head, imports="import rpf_client_only\n", body="""
                         @ray.remote
                         def task(x):
                             return rpf_client_only.triple(x)

                         print(ray.get(task.remote(2)))
                         """)
    report = preflight(head, script, env=env)
    result = report["by_id"]["script-modules"]
    assert report["exit_code"] == 1 and result["status"] == "fail", result
    assert "the cluster's workers cannot import rpf_client_only (line 2)" in result["summary"], result
    assert "py_modules" in result["remedy"], result
    assert report["by_id"]["fibonacci"]["status"] == "pass"  # the answer came with the Fibonacci job's own question
    real = really(script, env)
    assert real.ended == "finished" and real.code != 0, real.output[-3000:]
    assert "ModuleNotFoundError: No module named 'rpf_client_only'" in real.output, real.output[-3000:]


def helpers_script(folder: Path, head: LocalHead, init: str = "") -> Path:
    """A script whose task uses ``helpers``, a module of the script's own folder."""
    write(folder, "helpers.py", "def double(x):\n    return 2 * x\n")
    return user_script(folder, head, imports="import helpers\n", init=init, body="""
                         @ray.remote
                         def task(x):
                             return helpers.double(x)

                         print(ray.get(task.remote(2)))
                         """)


def test_the_scripts_own_module_not_shipped_fails_and_really_raises(head: LocalHead, tmp_path: Path) -> None:
    script = helpers_script(tmp_path, head)
    report = preflight(head, script)
    result = report["by_id"]["script-modules"]
    assert result["status"] == "fail", result
    assert "its own module(s) helpers (line 2), and nothing ships them" in result["summary"], result
    assert '"working_dir": "."' in result["remedy"]
    real = really(script)
    assert real.ended == "finished" and real.code != 0 and "No module named 'helpers'" in real.output, real.output[-3000:]


def test_ray_data_through_the_ray_client_fails_toward_the_jobs_route_and_really_fails(head: LocalHead, tmp_path: Path) -> None:
    script = user_script(tmp_path, head, imports="import ray.data\n", body="""
                         print(ray.data.range(8).map(lambda row: {"id": row["id"] * 2}).take(3))
                         """)
    report = preflight(head, script)
    result = report["by_id"]["script-libraries"]
    assert report["verdict"] == "NO-GO" and result["status"] == "fail", result
    assert "Ray Data is not supported through the Ray Client (ray.data, line 2)" in result["summary"], result
    assert "ray job submit --address " in result["remedy"] and "python train.py" in result["remedy"]
    real = really(script)
    assert real.ended == "finished" and real.code != 0 and "SCRIPT-DONE" not in real.stdout, real.output[-3000:]


def _ids(report: Dict[str, Any]) -> List[str]:
    return [r["id"] for r in report["results"]]


def test_script_checks_are_absent_without_script(head: LocalHead) -> None:
    proc = run_cli(["--address", head.address, "--dashboard-url", head.dashboard_url, "--only", "capacity", "--format", "json"])
    assert not {"script-modules", "script-resources", "script-libraries"} & set(_ids(json.loads(proc.stdout)))


def test_a_scale_test_and_a_placement_group_beyond_a_fixed_size_cluster_fail_at_once_and_really_nothing_is_placed(
        head: LocalHead, tmp_path: Path) -> None:
    """The head has no autoscaler: ``--scale-test`` says no node can join without asking (before: it waited out its whole
    deadline, 461 s), and ``--script`` says the script's placement group of 3 one-CPU bundles is never placed on the 2
    CPUs; the real placement group really is not ready."""
    started = time.monotonic()
    proc = run_cli(["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address,
                    "--scale-test", "--format", "json"])
    took = time.monotonic() - started
    result = {r["id"]: r for r in json.loads(proc.stdout)["results"]}["scale-test"]
    assert proc.returncode == 1 and result["status"] == "fail", result
    assert result["summary"].startswith("no node can join: no autoscaler with node types runs: a fixed-size cluster"), result
    assert took < 90, took  # the Fibonacci job and the checks, not the scale test's deadline
    script = user_script(tmp_path, head, imports="from ray.util.placement_group import placement_group, remove_placement_group\n",
                         body="""
                         pg = placement_group([{"CPU": 1}] * 3)
                         print("PLACED", pg.wait(12), flush=True)
                         remove_placement_group(pg)
                         """)
    report = preflight(head, script)
    resources = report["by_id"]["script-resources"]
    assert report["exit_code"] == 1 and resources["status"] == "fail", resources
    assert resources["summary"].startswith("would wait forever: the placement group (line 6, 3 bundles, PACK) asks for 3 CPUs in all; "
                                           "the cluster can have at most 2 CPUs (a fixed-size cluster): it is never placed"), resources
    real = really(script)
    assert real.ended == "finished" and "PLACED False" in real.stdout, real.output[-3000:]


def test_a_gitignore_that_drops_an_imported_module_fails_and_it_really_is_missing(head: LocalHead, tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\nhelpers.py\n")
    script = helpers_script(tmp_path, head, init=", runtime_env={'working_dir': '.'}")
    report = preflight(head, script)
    result = report["by_id"]["runtime-env"]
    assert report["verdict"] == "NO-GO" and result["status"] == "fail", result
    assert "the script imports helpers, and packing drops helpers.py (.gitignore" in result["summary"], result
    assert report["by_id"]["script-modules"]["status"] == "pass"  # shipped by working_dir, as far as the script says
    real = really(script)
    assert real.ended == "finished" and real.code != 0 and "No module named 'helpers'" in real.output, real.output[-3000:]


def test_a_working_dir_over_the_upload_limit_fails_and_really_is_refused(head: LocalHead, tmp_path: Path) -> None:
    """The limit is Ray's own (``RAY_max_grpc_message_size``, read as Ray reads it), lowered to 40 MiB for both runs so
    that the folder can be 48 MiB of a sparse file (Ray stores files uncompressed: holes count in full)."""
    env = {"RAY_max_grpc_message_size": str(40 * 1024 * 1024)}
    with open(tmp_path / "model.bin", "wb") as handle:
        handle.truncate(48 * 1024 * 1024)
    script = user_script(tmp_path, head, init=", runtime_env={'working_dir': '.'}", body="""
                         print(ray.get(ray.remote(lambda: 1).remote()))
                         """)
    report = preflight(head, script, env=env)
    result = report["by_id"]["runtime-env"]
    assert result["status"] == "fail", result
    assert "is over Ray's limit of 40.0 MiB" in result["summary"] and "model.bin" in result["summary"], result
    real = really(script, env)
    assert real.ended == "finished" and real.code != 0, real.output[-3000:]
    assert "exceeds the maximum size" in real.output, real.output[-3000:]


def test_a_notebook_through_the_notebook_api_names_the_cell(head: LocalHead, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``preflight.check(script="train.ipynb")``: the code cells are read (magics left out), and findings name the cell."""
    import preflight

    site = tmp_path / "site"
    write(site, "rpf_client_only.py", "def triple(x):\n    return 3 * x\n")
    monkeypatch.syspath_prepend(str(site))
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Training\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["%load_ext autoreload\n", "import ray\n", "import rpf_client_only\n"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["@ray.remote(num_gpus=2)\n", "def task(x):\n", "    return rpf_client_only.triple(x)\n"]}]
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                                    "nbformat": 4, "nbformat_minor": 5}))
    report = preflight.check(head.address, dashboard_url=head.dashboard_url, gcs_address=head.gcs_address, script=str(notebook))
    assert not report.ok
    modules, resources = report["script-modules"], report["script-resources"]
    assert modules.status.value == "fail" and "rpf_client_only (cell 2, line 3)" in modules.summary, modules
    assert resources.status.value == "fail" and "task (cell 3, line 1) asks for 2 GPUs" in resources.summary, resources


def test_unusable_script_and_runtime_env_inputs_are_one_line_usage_errors(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "env.yaml"
    bad_yaml.write_text("pip: [pydantic\nworking_dir: .\n")
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- pydantic\n")
    cases = [(["--script", str(tmp_path / "missing.py")], "--script"),
             (["--script", str(tmp_path)], "a directory, not a file"),
             (["--runtime-env", str(bad_yaml)], "not YAML or JSON (line"),
             (["--runtime-env", str(a_list)], "expected a mapping")]
    for args, words in cases:
        proc = run_cli(["--address", "ray://127.0.0.1:1", *args])
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_env_vars_values_of_a_runtime_env_never_come_out(tmp_path: Path) -> None:
    """A key in the script's ``runtime_env={"env_vars": ...}`` and in a notebook's ``runtime_env=`` dict: not in the
    report, its JSON, its HTML, nor the support bundle (which records the call)."""
    import tarfile

    import preflight

    planted = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    script = write(tmp_path, "train.py", f'import ray\nray.init("ray://127.0.0.1:1", runtime_env={{"env_vars": {{"WANDB_API_KEY": "{planted}"}}}})\n')
    report = preflight.check("ray://127.0.0.1:1", script=str(script), runtime_env={"env_vars": {"API_TOKEN": planted}}, timeout=10)
    shown = json.dumps(report.to_dict(), default=str) + report._repr_html_() + repr(report)
    assert "WANDB_API_KEY" in json.dumps(report.to_dict()["facts"]["script"]) and planted not in shown
    path = preflight.report("ray://127.0.0.1:1", output=str(tmp_path), script=str(script), runtime_env={"env_vars": {"API_TOKEN": planted}},
                            timeout=10)
    with tarfile.open(path) as bundle:
        for member in bundle.getmembers():
            handle = bundle.extractfile(member)
            if handle is not None:
                assert planted.encode() not in handle.read(), member.name
