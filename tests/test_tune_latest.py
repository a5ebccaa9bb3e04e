"""``--tune-test`` against the latest Ray: a Ray head from this Python (the test extra's ``ray[default,client,tune]``),
the tool from this Python too, as a user of the latest Ray runs it.

This environment has no scikit-learn, so the search uses the pure-Python objective (tests/test_tune_test.py has the
scikit-learn one, on Ray 2.2.0). Head and tool have their own HOME and TMPDIR; the latest Ray also stages Tune's
files in the session folder, which the job removes too. Its own module, so that only one head runs at a time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any, Dict, Iterator

import pytest

from preflight.local_head import LocalHead
from tests.test_tune_test import Sandbox, assert_nothing_left, by_id, interrupt_mid_search, run_tool, sandboxed_head

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

TIMES: Dict[str, Any] = {}


@pytest.fixture(scope="module")
def server_box() -> Iterator[Sandbox]:
    box = Sandbox("tune-srv")
    yield box
    box.remove()


@pytest.fixture(scope="module")
def latest_head(server_box: Sandbox) -> Iterator[LocalHead]:
    if importlib.util.find_spec("ray.tune") is None or importlib.util.find_spec("pandas") is None:
        pytest.fail('these tests need Ray Tune in this Python: pip install -e ".[test]"')
    yield from sandboxed_head(server_box, sys.executable, TIMES, "tune test, latest Ray head")


@pytest.fixture
def client_box() -> Iterator[Sandbox]:
    box = Sandbox("tune-cli")
    yield box
    box.remove()


def test_tune_runs_a_pure_python_search_through_the_latest_ray_and_leaves_nothing_behind(
        latest_head: LocalHead, server_box: Sandbox, client_box: Sandbox) -> None:
    assert importlib.util.find_spec("sklearn") is None, "this test proves the pure-Python objective: the test environment has no scikit-learn"
    server_box.mark()
    report, code, wall = run_tool(sys.executable, latest_head, client_box, "--tune-test")
    tune = by_id(report)["tune-test"]
    assert code == 0 and report["ok"] is True, json.dumps(tune, indent=1)
    assert tune["status"] == "pass", tune
    details = tune["details"]
    assert details["objective"] == "quadratic" and details["cluster"]["sklearn"] is False
    assert tune["summary"].startswith("4 trials of a pure-Python (quadratic) search ran in ")
    assert tune["summary"].endswith("; no scikit-learn on the cluster)") and "(best x=" in tune["summary"] and ", loss " in tune["summary"]
    assert details["report_api"] == "ray.tune.report"
    assert details["completed"] == 4 and len(details["trial_results"]) == 4
    assert all(t["loss"] is not None and t["trial_s"] >= 0 and "error" not in t for t in details["trial_results"])
    assert details["best"]["loss"] == min(t["loss"] for t in details["trial_results"])
    # the storage folder in the cluster's TMPDIR, and what the latest Ray staged in its session folder, both removed
    storage, removed = details["storage"], details["cleanup"]["removed"]
    assert storage.startswith(str(server_box.tmp) + os.sep) and storage in removed and not os.path.exists(storage)
    assert any(path.startswith(str(latest_head.temp_dir)) and os.sep + "artifacts" + os.sep in path for path in removed), removed
    assert_nothing_left(latest_head, server_box, client_box)
    TIMES.update(tool_wall_s=round(wall, 1), tune_check_s=tune["duration_s"], init_s=round(details["init_s"], 2),
                 tune_s=round(details["tune_s"], 2), trial_s=[round(t["trial_s"], 4) for t in details["trial_results"]],
                 time_total_s=[round(t["time_total_s"], 4) for t in details["trial_results"]],
                 cleanup_s=round(details["cleanup_s"], 2), best=details["best"])


def test_the_tune_test_is_opt_in(latest_head: LocalHead, client_box: Sandbox) -> None:
    report, code, _ = run_tool(sys.executable, latest_head, client_box, "--skip", "fibonacci")
    assert code == 0, report
    assert "tune-test" not in by_id(report)


def test_an_interrupted_tune_test_leaves_nothing_behind(latest_head: LocalHead, server_box: Sandbox, client_box: Sandbox) -> None:
    stopped = interrupt_mid_search(sys.executable, latest_head, server_box, client_box)
    assert stopped["exit"] == 130 and "Traceback" not in stopped["stderr"], stopped
    assert stopped["stop_s"] < 10
    assert_nothing_left(latest_head, server_box, client_box)
    TIMES["interrupted_stop_s"] = round(stopped["stop_s"], 1)
