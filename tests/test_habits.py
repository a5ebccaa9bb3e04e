"""How the tool fits its users' habits: JUnit XML for pipelines, --ignore/--strict, a shared settings file,
plugins from other distributions, and the pytest gate. Against closed ports and a real Ray head.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List

import pytest
import xmlschema

from preflight.testing import closed_port
from tests.conftest import run_cli
from tests.worlds import ROOT, world_env

XSD = xmlschema.XMLSchema(str(Path(__file__).with_name("junit.xsd")))


def unreachable_args() -> List[str]:
    return ["--address", f"ray://127.0.0.1:{closed_port()}", "--gcs-address", f"127.0.0.1:{closed_port()}",
            "--dashboard-url", f"http://127.0.0.1:{closed_port()}/"]


def test_junit_output_validates_and_maps_every_status(tmp_path: Path) -> None:
    proc = run_cli([*unreachable_args(), "--format", "junit", "--ignore", "dashboard"])
    assert proc.returncode == 1, proc.stderr
    XSD.validate(proc.stdout)
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert "reachability" in cases and cases["reachability"].find("failure") is not None
    assert "remedy:" in (cases["reachability"].find("failure").text or "")  # type: ignore[union-attr]
    assert cases["ray-version"].find("skipped") is not None
    assert cases["client-packages"].find("system-out") is not None  # passed: the summary is kept
    assert int(suite.get("tests", 0)) == len(cases) and int(suite.get("failures", 0)) == 1
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["verdict"] == "NO-GO"
    # beside another format
    target = tmp_path / "preflight.xml"
    proc = run_cli([*unreachable_args(), "--junit-xml", str(target)])
    assert proc.stdout.startswith("ray-preflight ") and target.exists()
    XSD.validate(str(target))


def test_ignore_turns_a_failure_into_a_recorded_warning_and_strict_fails_warnings() -> None:
    args = unreachable_args()
    plain = run_cli([*args, "-f", "json"])
    ignored = run_cli([*args, "-f", "json", "--ignore", "reachability,dashboard"])
    strict = run_cli([*args, "-f", "json", "--ignore", "all", "--strict"])
    assert plain.returncode == 1 and ignored.returncode == 0 and strict.returncode == 1
    report = json.loads(ignored.stdout)
    reach = next(r for r in report["results"] if r["id"] == "reachability")
    assert reach["status"] == "warn" and reach["summary"].startswith("ignored failure: connection to 127.0.0.1:")
    assert reach["details"]["ignored"] == "fail" and report["ignored"] == ["reachability"]
    text = run_cli([*args, "--ignore", "all", "--strict"]).stdout.splitlines()[-1]
    assert text.startswith("NO-GO (--strict: warnings fail)") and "failure(s) ignored: reachability" in text
    bad = run_cli([*args, "--ignore", "no-such-check"])
    assert bad.returncode == 2 and "--ignore: unknown check id 'no-such-check'" in bad.stderr


def _cli_in(folder: Path, args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True, cwd=folder,
                          env=environ, timeout=120)


def test_settings_file_then_environment_then_flags(tmp_path: Path) -> None:
    port = closed_port()
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'team'\n\n[tool.ray-preflight]\n"
        f'address = "ray://127.0.0.1:{port}"\nprofile = "fy23-q2"\nignore = ["reachability"]\ntimeout = 9\n')
    deeper = tmp_path / "notebooks"
    deeper.mkdir()
    from_file = json.loads(_cli_in(deeper, ["-f", "json"], {}).stdout)
    assert from_file["target"]["address"] == f"ray://127.0.0.1:{port}" and from_file["profile"] == "fy23-q2"
    assert from_file["ignored"] == ["reachability"]
    from_env = json.loads(_cli_in(deeper, ["-f", "json"], {"RAY_PREFLIGHT_PROFILE": "auto"}).stdout)
    assert from_env["profile"] == "auto"
    from_flag = json.loads(_cli_in(deeper, ["-f", "json", "--profile", "fy23-q2"], {"RAY_PREFLIGHT_PROFILE": "auto"}).stdout)
    assert from_flag["profile"] == "fy23-q2"
    other = closed_port()
    env_address = json.loads(_cli_in(deeper, ["-f", "json"], {"RAY_ADDRESS": f"ray://127.0.0.1:{other}"}).stdout)
    assert env_address["target"]["address"] == f"ray://127.0.0.1:{other}"
    (tmp_path / "ray-preflight.toml").write_text('timeout = "soon"\n')  # in one folder, this file wins
    bad = _cli_in(deeper, [], {})
    assert bad.returncode == 2 and bad.stderr.strip() == \
        f"ray-preflight: error: {tmp_path / 'ray-preflight.toml'}: timeout: must be a number, not 'soon'"
    (tmp_path / "ray-preflight.toml").write_text("adress = 'typo'\n")
    typo = _cli_in(deeper, [], {})
    assert typo.returncode == 2 and "ray-preflight.toml: adress: unknown key" in typo.stderr


@pytest.mark.live
def test_plugins_join_the_registry_and_a_broken_one_is_one_error(worlds: Dict[str, Any], ray_head: Any) -> None:
    """The example plugin and a broken one, pip-installed into a world that has the tool (no Ray needed)."""
    env = world_env(worlds, "default-no-ray")
    try:
        for example in ("plugin", "broken-plugin"):
            out = env.pip("install", "--no-deps", str(ROOT / "examples" / example))
            assert out.returncode == 0, out.stderr[-2000:]
        listing = subprocess.run([env.bin("ray-preflight"), "list"], capture_output=True, text=True, timeout=60)
        line = next(x for x in listing.stdout.splitlines() if x.startswith("site-ray-release"))
        assert line.endswith("[plugin ray-preflight-site-policy]")
        args = [env.bin("ray-preflight"), "--address", ray_head.address, "--gcs-address", ray_head.gcs_address,
                "--dashboard-url", ray_head.dashboard_url, "--only", "site-ray-release,plugin:ray-preflight-broken-plugin", "-f", "json"]
        allowed = subprocess.run(args, capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, SITE_ALLOWED_RAY=ray_head.ray_version))
        results = {r["id"]: r for r in json.loads(allowed.stdout)["results"]}
        assert results["site-ray-release"]["status"] == "pass"
        assert results["plugin:ray-preflight-broken-plugin"]["status"] == "error"
        assert "plugin ray-preflight-broken-plugin" in results["plugin:ray-preflight-broken-plugin"]["summary"]
        assert "No module named 'rpf_dependency_that_is_not_installed'" in results["plugin:ray-preflight-broken-plugin"]["summary"]
        refused = subprocess.run(args[:-4] + ["--only", "site-ray-release"], capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, SITE_ALLOWED_RAY="1.13.0"))
        assert refused.returncode == 1 and "is not allowed here" in refused.stdout
    finally:
        env.pip("uninstall", "-y", "ray-preflight-site-policy", "ray-preflight-broken-plugin")


def test_pytest_gate_stops_a_session_on_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_work="def test_work():\n    assert True\n")
    result = pytester.runpytest_subprocess(f"--ray-preflight=ray://127.0.0.1:{closed_port()}", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ray-preflight says NO-GO, so the tests did not start*", "*reachability*refused*"])
    assert "collected" not in result.stdout.str() and "test_work" not in result.stdout.str()  # no test ran


def test_pytest_gate_lets_a_go_session_run_and_hands_out_the_report(pytester: pytest.Pytester, ray_head: Any) -> None:
    # timeout: a fresh 2.x head sometimes fails Ray's first client session ("Starting Ray client server failed")
    # after ~46 s; fibonacci retries once, which the default 60 s deadline cannot always hold.
    pytester.makefile(".toml", **{"ray-preflight": f'dashboard-url = "{ray_head.dashboard_url}"\n'
                                                   f'gcs-address = "{ray_head.gcs_address}"\ntimeout = 150\n'})
    pytester.makepyfile(test_work="def test_work(ray_preflight):\n    assert ray_preflight.ok\n"
                                  "    assert ray_preflight['fibonacci'].status.value == 'pass'\n")
    result = pytester.runpytest_subprocess(f"--ray-preflight={ray_head.address}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
