"""The pytest gate (``pytest --ray-preflight``) under pytest-xdist: the preflight runs once, in the controller; a NO-GO
stops the session before any worker starts, and on GO every worker's ``ray_preflight`` fixture gets the controller's
report. Against closed ports: no Ray head is started.

Each run counts the preflights it runs: the inner session's conftest wraps ``preflight.api.check`` (what the plugin
calls) to append one line per call, naming the process (``controller`` or the xdist worker's id), to a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

from preflight.model import Report, Result, Status
from preflight.pytest_plugin import rebuilt
from preflight.render.text import render_json
from preflight.testing import closed_port

NO_GO = "ray-preflight says NO-GO, so the tests did not start"


@pytest.fixture(autouse=True)
def xdist_installed() -> None:
    try:
        import xdist  # noqa: F401
    except ImportError:
        pytest.fail("pytest-xdist is not installed: pip install -e '.[test]'")


@pytest.fixture(autouse=True)
def outer_xdist_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner sessions start clean when this suite itself runs under xdist (``-n``): an inherited
    ``PYTEST_XDIST_WORKER`` would name the outer worker in the count."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def counting(pytester: pytest.Pytester) -> Path:
    """The file in which the inner session records each preflight it runs."""
    runs = pytester.path.parent / f"{pytester.path.name}-preflight-runs.txt"
    pytester.makeconftest(
        "import os\n"
        "import preflight.api\n\n"
        "_check = preflight.api.check\n\n\n"
        "def counted_check(*args, **kwargs):\n"
        f"    with open({str(runs)!r}, 'a') as handle:\n"
        "        handle.write(os.environ.get('PYTEST_XDIST_WORKER', 'controller') + '\\n')\n"
        "    return _check(*args, **kwargs)\n\n\n"
        "preflight.api.check = counted_check\n")
    return runs


def runs_in(path: Path) -> List[str]:
    return path.read_text().split() if path.exists() else []


def test_under_xdist_a_no_go_runs_the_preflight_once_and_stops_before_any_worker(pytester: pytest.Pytester) -> None:
    runs = counting(pytester)
    pytester.makepyfile(test_work="def test_one():\n    assert True\n\n\ndef test_two(ray_preflight):\n    assert True\n")
    result = pytester.runpytest_subprocess("-n", "2", f"--ray-preflight=ray://127.0.0.1:{closed_port()}", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.stdout.fnmatch_lines([f"*{NO_GO}*", "*reachability*refused*", "NO-GO*"])
    assert out.count(NO_GO) == 1, out  # one verdict printed: the controller's
    assert runs_in(runs) == ["controller"]  # one preflight, in the controller; no worker ran one
    assert "[gw" not in out and "workers" not in out  # no worker started ("created: 2/2 workers", "[gw0] PASSED")
    assert "collected" not in out and "test_one" not in out  # no test was collected, none ran


def test_under_xdist_a_go_runs_the_preflight_once_and_workers_get_the_controllers_report(pytester: pytest.Pytester) -> None:
    runs = counting(pytester)
    port = closed_port()
    # GO without a cluster: the unreachable cluster's failure is acknowledged (ignore = all); client-packages still passes
    pytester.makefile(".toml", **{"ray-preflight": f'gcs-address = "127.0.0.1:{port}"\ndashboard-url = "http://127.0.0.1:{port}/"\n'
                                                   'connect-timeout = 1\nignore = "all"\n'})
    pytester.makepyfile(test_work=(
        "import os\n\n\n"
        "def test_one(ray_preflight):\n"
        "    assert os.environ.get('PYTEST_XDIST_WORKER')  # in a worker\n"
        "    assert ray_preflight.ok and ray_preflight.verdict == 'GO'\n"
        "    assert ray_preflight['reachability'].status.value == 'warn'\n"
        "    assert ray_preflight['reachability'].summary.startswith('ignored failure: connection to 127.0.0.1:')\n"
        "    assert ray_preflight.ignored == ['reachability']\n\n\n"
        "def test_two(ray_preflight):\n"
        f"    assert ray_preflight.address == 'ray://127.0.0.1:{port}'\n"
        "    assert ray_preflight['client-packages'].status.value == 'pass'\n"))
    result = pytester.runpytest_subprocess("-n", "2", f"--ray-preflight=ray://127.0.0.1:{port}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert runs_in(runs) == ["controller"]  # the workers' fixture did not run a preflight of its own


def test_without_xdist_the_plugin_loads_and_the_gate_still_stops_a_no_go(pytester: pytest.Pytester) -> None:
    runs = counting(pytester)
    pytester.makepyfile(test_work="def test_work():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:xdist", f"--ray-preflight=ray://127.0.0.1:{closed_port()}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str() + result.stderr.str()
    assert result.stdout.str().count(NO_GO) == 1 and runs_in(runs) == ["controller"]


def test_the_report_handed_to_workers_rebuilds_with_the_same_verdict_and_json() -> None:
    results = [Result("reachability", "Reachable", Status.WARN, "ignored failure: refused", "start the head", {"ignored": "fail"}, 0.01),
               Result("client-packages", "Client packages", Status.PASS, "met", None, {"n": 9}, 0.2)]
    report = Report("auto", "ray://h:10001", "http://h:8265/", results, facts={"server": {"ray_version": "2.2.0"}},
                    timings={"ping": 0.01}, duration_s=0.3, tool_version="0.1.0", gcs_address="h:6379", ignored=["reachability"],
                    target={"address_form": "ray-client"})
    handed = json.loads(render_json(report))
    again = rebuilt(handed)
    assert again.ok and again.verdict == "GO" and again["reachability"].status is Status.WARN
    assert json.loads(render_json(again)) == handed
    no_go = rebuilt(dict(handed, results=[dict(handed["results"][0], status="fail")]))
    assert not no_go.ok and no_go.verdict_reason() == "reachability failed: ignored failure: refused"
