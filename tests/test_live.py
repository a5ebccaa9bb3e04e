"""Against a real Ray head (started once by the ``ray_head`` fixture with the installed Ray):
the CLI and the notebook API, as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import preflight
from preflight.model import Status
from preflight.testing import closed_port
from tests.conftest import run_cli
from tests.facts import ALL_CHECKS, KUBE_CHECKS, NO_KUBE, expected_on_a_healthy_head
from tests.json_contract import assert_valid

EVERY = ALL_CHECKS
pytestmark = pytest.mark.live


def test_every_check_passes_through_the_cli_json(head_args) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli([*head_args, "--format", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert_valid("report", report)  # preflight/schemas/report.schema.json, and this schema_version
    assert set(report) >= {"ok", "profile", "target", "duration_s", "results"}
    assert report["ok"] is True and report["profile"] == "auto"
    assert report["verdict"] == "GO" and report["verdict_reason"] is None
    assert set(report["target"]) >= {"address", "dashboard_url"}
    assert [r["id"] for r in report["results"]] == EVERY
    for result in report["results"]:
        assert set(result) >= {"id", "title", "status", "summary", "remedy", "duration_s", "details"}
        assert result["status"] == expected_on_a_healthy_head()[result["id"]], result
        if result["id"] in KUBE_CHECKS:
            assert result["summary"] == NO_KUBE
    fib = report["results"][-2]
    assert "matched the local results" in fib["summary"] and fib["details"]["nodes"]


def test_text_output_has_a_line_per_check_and_a_verdict(head_args) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli([*head_args, "--skip", "fibonacci", "-v"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for cid in EVERY[:-2]:
        assert any(cid in line for line in lines)
    expected = list(expected_on_a_healthy_head().values())  # less fibonacci (left out) and package-parity (skipped then)
    assert lines[-1].startswith(f"GO: nothing failed: {expected.count('pass') - 2} passed, {expected.count('skip') + 1} skipped")
    assert "package-parity" in proc.stdout and "needs the fibonacci check, which this run leaves out" in proc.stdout
    assert "ping_ms" in proc.stdout  # -v shows details


def test_notebook_api_returns_a_report(ray_head) -> None:  # type: ignore[no-untyped-def]
    report = preflight.check(ray_head.address, dashboard_url=ray_head.dashboard_url, gcs_address=ray_head.gcs_address,
                             fib_tasks=2)
    assert report.ok, report.to_dict()
    assert report["python-version"].status is Status.PASS
    assert "client and server both run Python" in report["python-version"].summary
    assert report.to_dict()["results"][0]["id"] == "reachability"
    html = report._repr_html_()
    assert "GO" in html and "fibonacci" in html and "<table>" in html
    assert "ray" not in sys.modules, "the API must not import Ray into the notebook's process"


def test_fy23_profile_against_the_latest_ray_fails_with_remedies(head_args) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli([*head_args, "--profile", "fy23-q2", "--format", "json"])
    assert proc.returncode == 1
    results = {r["id"]: r for r in assert_valid("report", json.loads(proc.stdout))["results"]}
    assert results["ray-version"]["status"] == "fail"
    assert "2.2.0" in results["ray-version"]["remedy"]
    assert results["python-version"]["status"] == "fail"
    assert "Python 3.8" in results["python-version"]["remedy"]
    assert results["fibonacci"]["status"] == "skip"  # never runs a job from a client that would break it
    assert results["reachability"]["status"] == "pass"


def test_only_and_skip(head_args) -> None:  # type: ignore[no-untyped-def]
    only = json.loads(run_cli([*head_args, "--only", "python-version,reachability", "-f", "json"]).stdout)
    assert [r["id"] for r in only["results"]] == ["reachability", "python-version"]
    skip = json.loads(run_cli([*head_args, "--skip", "fibonacci,dashboard", "-f", "json"]).stdout)
    assert [r["id"] for r in skip["results"]] == [c for c in ALL_CHECKS if c not in ("fibonacci", "dashboard")]
    assert skip["results"][-1]["status"] == "skip"  # it compares what the Fibonacci job saw, and that job did not run


def test_closed_port_fails_reachability_and_skips_the_rest_quickly() -> None:
    port = closed_port()
    started = time.monotonic()
    proc = run_cli(["--address", f"ray://127.0.0.1:{port}", "--gcs-address", f"127.0.0.1:{closed_port()}",
                    "--dashboard-url", f"http://127.0.0.1:{closed_port()}/", "-f", "json"])
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    assert proc.returncode == 1
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["reachability"]["status"] == "fail" and "refused" in results["reachability"]["summary"]
    bad = [cid for cid, r in results.items() if r["status"] in ("fail", "error")]
    assert bad == ["reachability"], results  # one root cause, one red line
    assert "cluster unreachable" in results["python-version"]["summary"]


def test_silent_listener_gets_a_verdict_within_the_connect_timeout(silent_listener) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    proc = run_cli(["--address", f"ray://127.0.0.1:{silent_listener.port}", "--gcs-address", f"127.0.0.1:{closed_port()}",
                    "--dashboard-url", f"http://127.0.0.1:{closed_port()}/", "--connect-timeout", "2", "-f", "json"])
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 1, elapsed
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["reachability"]["status"] == "fail"
    assert "no Ray Client answer within 2 s" in results["reachability"]["summary"]
    assert proc.returncode == 1


def test_api_raises_value_error_with_the_cli_message() -> None:
    with pytest.raises(ValueError, match="port 0 is outside 1-65535"):
        preflight.check("ray://h:0")


def test_list_profiles_and_version() -> None:
    listing = run_cli(["list"], timeout=30)
    assert listing.returncode == 0 and all(cid in listing.stdout for cid in EVERY)
    profiles = run_cli(["profiles"], timeout=30)
    assert "fy23-q2" in profiles.stdout and "2.2.0" in profiles.stdout
    version = run_cli(["--version"], timeout=30)
    assert version.stdout.strip() == f"ray-preflight {preflight.__version__}"


def test_import_preflight_stays_light() -> None:
    code = "import sys, preflight; print(sorted(m for m in ('ray', 'kubernetes', 'typer', 'h2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]"
