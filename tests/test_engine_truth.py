"""Never a false GO: the built-in checks cannot be shadowed by a user's file, lost without a trace, or replaced by
a plugin; a check's missing fact is that check's error; a verdict needs evidence. Through the real command
(the console script, ``python -m preflight`` and ``preflight.check()`` in a child Python), against closed ports.

Plugins here are real installed distributions: a module and its ``*.dist-info`` folder (``METADATA`` and
``entry_points.txt``, what pip writes) in a folder on ``PYTHONPATH``, found by ``importlib.metadata`` as pip's are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from preflight.testing import closed_port

SCRIPT = shutil.which("ray-preflight", path=os.path.dirname(sys.executable))


def unreachable() -> List[str]:
    return ["--address", f"ray://127.0.0.1:{closed_port()}", "--gcs-address", f"127.0.0.1:{closed_port()}",
            "--dashboard-url", f"http://127.0.0.1:{closed_port()}/"]


def _env(pythonpath: Optional[Path] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def run_in(folder: Path, argv: List[str], pythonpath: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=folder, env=_env(pythonpath), timeout=120)


# -- 1. the built-in checks cannot be shadowed ------------------------------------------------------------------

def _shadow(folder: Path, kind: str) -> None:
    """What a notebook folder may hold: a checks.py, a checks/ package, or both."""
    if kind in ("module", "both"):
        (folder / "checks.py").write_text("x = 1\n")
    if kind in ("package", "both"):
        (folder / "checks").mkdir()
        (folder / "checks" / "__init__.py").write_text("y = 2\n")
        (folder / "checks" / "client.py").write_text("raise SystemExit('the user module ran')\n")


@pytest.mark.parametrize("kind", ["module", "package", "both"])
def test_a_users_checks_file_or_package_cannot_stand_in_for_the_built_in_checks(tmp_path: Path, kind: str) -> None:
    """Before: a one-line checks.py in the working folder gave `GO: nothing failed: no checks ran` and exit 0."""
    _shadow(tmp_path, kind)
    args = unreachable()
    assert SCRIPT is not None, "the console script is installed with the package"
    for argv in ([SCRIPT, *args, "-f", "json"], [sys.executable, "-m", "preflight", *args, "-f", "json"]):
        proc = run_in(tmp_path, argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        ids = [r["id"] for r in report["results"]]
        assert {"reachability", "ray-version", "python-version", "dashboard", "fibonacci"} <= set(ids), ids
        assert report["verdict"] == "NO-GO" and report["results"][0]["status"] == "fail"
    notebook = run_in(tmp_path, [sys.executable, "-c", textwrap.dedent(f"""
        import preflight
        report = preflight.check({args[1]!r}, gcs_address={args[3]!r}, dashboard_url={args[5]!r})
        print(report.ok, len(report.results), report['reachability'].status.value)
        """)])
    assert notebook.stdout.split() == ["False", str(len(ids)), "fail"], notebook.stdout + notebook.stderr


def test_built_in_checks_that_cannot_load_are_one_error_never_a_go(tmp_path: Path) -> None:
    """If the built-in package cannot be imported, or something else was loaded under its name, the run says so in
    one error result naming the module (and the file loaded instead) and exits 1."""
    stand_in = tmp_path / "checks.py"
    stand_in.write_text("x = 1\n")
    cases = {
        "import fails": "sys.modules['preflight.checks'] = None",
        "another file": f"import importlib.util as u; s = u.spec_from_file_location('preflight.checks', {str(stand_in)!r}); "
                        "m = u.module_from_spec(s); s.loader.exec_module(m); sys.modules['preflight.checks'] = m",
    }
    for case, setup in cases.items():
        proc = run_in(tmp_path, [sys.executable, "-c", f"import sys; {setup}; from preflight.cli import main; "
                                 f"main({[*unreachable(), '-f', 'json']!r})"])
        assert proc.returncode == 1, (case, proc.stdout, proc.stderr)
        results = json.loads(proc.stdout)["results"]
        assert [r["id"] for r in results] == ["builtin-checks"], case
        assert results[0]["status"] == "error" and "preflight.checks" in results[0]["summary"], results[0]
        if case == "another file":
            assert str(stand_in) in results[0]["summary"] and "registers no built-in check" in results[0]["summary"]


# -- 2. a verdict needs evidence ----------------------------------------------------------------------------------

def test_a_run_in_which_nothing_could_be_checked_is_no_go_with_the_first_reason(tmp_path: Path) -> None:
    args = [*unreachable(), "--only", "ray-version,python-version,dashboard"]
    proc = run_in(tmp_path, [sys.executable, "-m", "preflight", *args])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("NO-GO (nothing could be checked: cluster unreachable (connection to 127.0.0.1:"), last
    report = json.loads(run_in(tmp_path, [sys.executable, "-m", "preflight", *args, "-f", "json"]).stdout)
    assert report["ok"] is False and report["verdict"] == "NO-GO"
    assert report["verdict_reason"].startswith("nothing could be checked: cluster unreachable")
    assert {r["status"] for r in report["results"]} == {"skip"}


# -- 3 and 4. plugins add, never replace; a missing fact is that check's error ----------------------------------

def install_plugin(site: Path, dist: str, module: str, source: str) -> None:
    """A distribution as pip installs it: the module, and a dist-info folder naming its entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[ray_preflight.checks]\n{module} = {module}\n")


PASS_RAY_VERSION = """
    from preflight.model import passed
    from preflight.registry import check

    @check("ray-version", "Ray matches (or so says this plugin)")
    def always():
        return passed("Ray matches, trust me")

    @check("site-extra", "An extra check of this plugin")
    def extra():
        return passed("extra")
"""

TWIN_A = """
    from preflight.model import passed
    from preflight.registry import check

    @check("site-policy", "Site policy A")
    def policy():
        return passed("policy A")
"""

MISSING_FACT_AND_CRASH = """
    from preflight.model import passed
    from preflight.registry import check, probe

    @check("needs-a-ghost", "Needs a fact nobody provides")
    def needs_a_ghost(no_such_fact):
        return passed("never")

    @probe()
    def exploding():
        return {}["nothing here"]

    @check("needs-exploding", "Needs a probe that crashes")
    def needs_exploding(exploding):
        return passed("never")
"""


def test_a_plugin_that_reuses_an_id_is_refused_and_the_built_in_keeps_working(tmp_path: Path) -> None:
    """Before: a plugin registering `ray-version` silently replaced the built-in check (and could turn it into a pass)."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, "rpf-impostor", "rpf_impostor", PASS_RAY_VERSION)
    install_plugin(site, "rpf-twin-a", "rpf_twin_a", TWIN_A)
    install_plugin(site, "rpf-twin-b", "rpf_twin_b", TWIN_A.replace("policy A", "policy B").replace("Site policy A", "Site policy B"))
    proc = run_in(tmp_path, [sys.executable, "-m", "preflight", *unreachable(), "-f", "json"], pythonpath=site)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    impostor = results["plugin:rpf-impostor"]
    assert impostor["status"] == "error"
    assert "plugin rpf-impostor refused: it registers check id 'ray-version', which built-in already has" in impostor["summary"]
    assert impostor["remedy"] == "fix or uninstall it: pip uninstall rpf-impostor"
    assert results["ray-version"]["title"] != "Ray matches (or so says this plugin)"
    assert results["ray-version"]["status"] == "skip"  # the built-in, judging the unreachable cluster
    assert "site-extra" not in results  # refused whole
    assert results["site-policy"]["summary"] == "policy A"  # the first (by name) keeps its id
    twin = results["plugin:rpf-twin-b"]
    assert twin["status"] == "error" and "check id 'site-policy', which plugin rpf-twin-a already has" in twin["summary"]
    listing = run_in(tmp_path, [sys.executable, "-m", "preflight", "list"], pythonpath=site).stdout
    assert "plugin:rpf-impostor" in listing and "plugin:rpf-twin-b" in listing


def test_a_missing_fact_is_that_checks_error_and_a_crashed_probe_keeps_its_traceback(tmp_path: Path) -> None:
    """Before: a check naming a fact no probe provides ended the whole run with an internal error (KeyError)."""
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site, "rpf-ghost", "rpf_ghost", MISSING_FACT_AND_CRASH)
    proc = run_in(tmp_path, [sys.executable, "-m", "preflight", *unreachable(), "-f", "json"], pythonpath=site)
    assert proc.returncode == 1 and "internal error" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    results = {r["id"]: r for r in report["results"]}
    ghost = results["needs-a-ghost"]
    assert ghost["status"] == "error"
    assert ghost["summary"] == "needs the fact 'no_such_fact', which no probe provides (plugin rpf-ghost check)"
    crashed = results["needs-exploding"]
    assert crashed["status"] == "error" and "probe 'exploding' crashed: KeyError" in crashed["summary"]
    assert "Traceback" in crashed["details"]["traceback"] and "nothing here" in crashed["details"]["traceback"]
    assert "Traceback" in report["facts"]["exploding"]["traceback"]
    assert results["reachability"]["status"] == "fail" and results["client-packages"]["status"] == "pass"  # the rest ran
