"""``ray-preflight --local``: a throwaway head on loopback, checked and stopped.

A module of its own, so that no fixture head is alive while it runs (see ``conftest.py``).
"""

from __future__ import annotations

import glob
import json
import subprocess

import pytest

from tests.conftest import run_cli
from tests.facts import expected_on_a_healthy_head

pytestmark = pytest.mark.live


def test_local_starts_checks_and_stops_its_own_head() -> None:
    before = set(glob.glob("/tmp/rpf-*"))
    proc = run_cli(["--local", "--format", "json", "--fib-tasks", "2"], timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert {r["id"]: r["status"] for r in report["results"]} == expected_on_a_healthy_head()
    assert set(glob.glob("/tmp/rpf-*")) <= before, "the throwaway head left its temp dir behind"
    leftover = subprocess.run(["pgrep", "-f", report["target"]["gcs_address"].split(":")[-1]], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "the throwaway head left processes behind"
