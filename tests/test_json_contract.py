"""The versioned JSON contract: every JSON the tool writes carries ``schema_version`` and validates against the
JSON Schema (draft 2020-12) shipped in ``preflight/schemas/``. The outputs are real: the command run as a user runs
it, against closed ports (the live head's report is validated in tests/test_live.py, the bundle's report.json
from a live head in tests/test_bundle.py). The schemas must be strict where a pipeline relies on the shape and
open where the tool deliberately varies; both are shown on mutations of a real report.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import shutil
import zipfile
from typing import Any, Callable, Dict, List, Tuple

import pytest
from jsonschema import Draft202012Validator

from preflight import profiles, schemas
from preflight.model import SCHEMA_VERSION, Report, Result, Status
from preflight.render.text import render_json
from preflight.testing import closed_port
from tests.conftest import run_cli
from tests.facts import ALL_CHECKS
from tests.json_contract import assert_valid, problems


def unreachable_args() -> List[str]:
    return ["--address", f"ray://127.0.0.1:{closed_port()}", "--gcs-address", f"127.0.0.1:{closed_port()}",
            "--dashboard-url", f"http://127.0.0.1:{closed_port()}/"]


@pytest.fixture(scope="module")
def unreachable_report() -> Dict[str, Any]:
    proc = run_cli([*unreachable_args(), "--format", "json"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout))


# -- the schema files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(schemas.FILES))
def test_each_schema_is_a_valid_draft_2020_12_schema_of_this_version(name: str) -> None:
    schema = schemas.load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:ray-preflight:schema:{name}:{SCHEMA_VERSION}"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


def test_every_schema_file_is_listed() -> None:
    folder = os.path.dirname(schemas.path("report"))
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.json"))) == sorted(schemas.FILES.values())
    with pytest.raises(ValueError, match="unknown schema 'reports': choose one of report, list, profiles, bundle-report"):
        schemas.path("reports")


def test_the_bundle_schema_embeds_the_report_schema_as_it_is() -> None:
    """The bundle's schema validates on its own: it carries the report's as an embedded resource, which must not drift
    (after changing report.schema.json, copy it into bundle-report.schema.json's $defs.report)."""
    bundle = schemas.load("bundle-report")
    assert bundle["$defs"]["report"] == schemas.load("report")
    assert bundle["properties"]["report"]["then"] == {"$ref": schemas.load("report")["$id"]}


# -- real outputs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--ignore", "all"], ["--ignore", "all", "--strict"], ["--only", "proxy,client-packages"],
                                   ["--profile", "fy23-q2", "-v"]], ids=["plain", "ignore-all", "strict", "only", "fy23-q2"])
def test_an_unreachable_run_validates(extra: List[str]) -> None:
    proc = run_cli([*unreachable_args(), "--format", "json", *extra])
    assert proc.returncode in (0, 1), proc.stderr
    report = assert_valid("report", json.loads(proc.stdout))
    assert report["verdict"] == ("GO" if proc.returncode == 0 else "NO-GO")
    assert len({r["id"] for r in report["results"]}) == len(report["results"])


def test_every_key_the_report_writes_is_named_in_the_schema(unreachable_report: Dict[str, Any]) -> None:
    """The schemas accept keys they do not name (added keys keep the version), so this is where an added key is
    caught undocumented. (``target`` is left open on purpose: it may gain keys.)"""
    schema = schemas.load("report")
    assert set(unreachable_report) == set(schema["properties"]) == set(schema["required"])
    result_schema = schema["$defs"]["result"]
    for result in unreachable_report["results"]:
        assert set(result) == set(result_schema["properties"]) == set(result_schema["required"]), result["id"]
    assert set(schema["properties"]["target"]["required"]) <= set(unreachable_report["target"])


def test_list_json_validates_and_names_every_check() -> None:
    proc = run_cli(["list", "--format", "json"], timeout=60)
    assert proc.returncode == 0, proc.stderr
    listing = assert_valid("list", json.loads(proc.stdout))
    assert set(listing) == {"schema_version", "checks"}
    assert set(ALL_CHECKS) <= set(listing["checks"])
    assert listing["checks"]["reachability"]["origin"] == "built-in" and listing["checks"]["scale-test"]["opt_in"] is True


def test_profiles_json_validates_and_names_every_profile() -> None:
    proc = run_cli(["profiles", "--format", "json"], timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = assert_valid("profiles", json.loads(proc.stdout))
    assert set(found) == {"schema_version", "profiles"}
    assert list(found["profiles"]) == profiles.names()
    assert all(p["name"] == name for name, p in found["profiles"].items())
    assert found["profiles"]["fy23-q2"]["ray_version"] == "2.2.0"


def _report(*statuses: Status, strict: bool = False, missing: Tuple[str, ...] = ()) -> Dict[str, Any]:
    results = [Result(f"check-{i}", f"Check {i}", status, f"skipped: reason {i}" if status is Status.SKIP else f"summary {i}",
                      "do this" if status in (Status.FAIL, Status.ERROR, Status.WARN) else None,
                      {"nested": {"any": [1, "two", None]}, "when": object()}, 0.01 * i)
               for i, status in enumerate(statuses)]
    report = Report("auto", "ray://h:10001", None, results, facts={"probe": {"unavailable": "why"}, "other": [1]},
                    timings={"probe": 0.0}, tool_version="0.1.0", strict=strict, missing=list(missing))
    return dict(json.loads(render_json(report)))


@pytest.mark.parametrize("make, verdict", [
    (lambda: _report(Status.PASS, Status.SKIP, Status.WARN), "GO"),
    (lambda: _report(Status.PASS, Status.FAIL), "NO-GO"),
    (lambda: _report(Status.PASS, Status.ERROR, Status.FAIL), "NO-GO"),
    (lambda: _report(Status.PASS, Status.WARN, strict=True), "NO-GO"),
    (lambda: _report(Status.PASS, missing=("fibonacci",)), "NO-GO"),
    (lambda: _report(), "NO-GO"),
    (lambda: _report(Status.SKIP, Status.SKIP), "NO-GO"),
    (lambda: _report(Status.WARN, Status.SKIP), "NO-GO"),
], ids=["go", "fail", "fail-and-error", "strict-warn", "missing", "no-results", "all-skipped", "no-pass"])
def test_every_kind_of_verdict_validates(make: Callable[[], Dict[str, Any]], verdict: str) -> None:
    report = assert_valid("report", make())
    assert report["verdict"] == verdict and report["ok"] is (verdict == "GO")
    assert (report["verdict_reason"] is None) is (verdict == "GO")


# -- strict where a pipeline relies on the shape, open where the tool varies ---------------------------------------


def _drop(key: str) -> Callable[[Dict[str, Any]], None]:
    return lambda r: r.pop(key)


def _result(key: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    return lambda r: r["results"][0].__setitem__(key, value)


REJECTED: Dict[str, Callable[[Dict[str, Any]], None]] = {
    **{f"no-{key}": _drop(key) for key in ("schema_version", "ok", "verdict", "verdict_reason", "target", "results", "facts")},
    "schema-version-2": lambda r: r.__setitem__("schema_version", 2),
    "schema-version-text": lambda r: r.__setitem__("schema_version", "1"),
    "verdict-unknown": lambda r: r.__setitem__("verdict", "MAYBE"),
    "ok-contradicts-verdict": lambda r: r.__setitem__("ok", True),
    "go-with-a-reason": lambda r: r.update(ok=True, verdict="GO"),
    "no-go-without-a-reason": lambda r: r.__setitem__("verdict_reason", None),
    "status-unknown": _result("status", "passed"),
    "status-upper-case": _result("status", "FAIL"),
    "result-without-remedy": lambda r: r["results"][0].pop("remedy"),
    "result-without-id": lambda r: r["results"][0].pop("id"),
    "summary-not-text": _result("summary", ["a", "b"]),
    "duration-as-text": _result("duration_s", "0.1"),
    "duration-negative": _result("duration_s", -0.5),
    "details-a-list": _result("details", ["x"]),
    "results-an-object": lambda r: r.__setitem__("results", {}),
    "target-without-address": lambda r: r["target"].pop("address"),
    "target-address-null": lambda r: r["target"].__setitem__("address", None),
    "gcs-address-a-number": lambda r: r["target"].__setitem__("gcs_address", 6379),
    "timing-as-text": lambda r: r["timings"].__setitem__("endpoint", "fast"),
    "facts-a-list": lambda r: r.__setitem__("facts", []),
    "strict-as-text": lambda r: r.__setitem__("strict", "no"),
    "ignored-not-ids": lambda r: r.__setitem__("ignored", [1]),
}

ACCEPTED: Dict[str, Callable[[Dict[str, Any]], None]] = {
    "an-added-top-level-key": lambda r: r.__setitem__("added_later", {"x": 1}),
    "target-address-form": lambda r: r["target"].__setitem__("address_form", "ray://host:port"),
    "an-added-result-key": _result("links", ["https://example.com/"]),
    "details-of-any-shape": _result("details", {"a": [1, {"b": None}], "c": 1.5, "d": True}),
    "facts-of-any-shape": lambda r: r.__setitem__("facts", {"new-probe": {"deep": [[], {}]}, "odd": "text"}),
    "no-results": lambda r: r.update(results=[], verdict_reason="nothing could be checked: no check ran"),
    "dashboard-url-null": lambda r: r["target"].__setitem__("dashboard_url", None),
}


@pytest.mark.parametrize("mutation", list(REJECTED))
def test_the_report_schema_rejects_a_broken_shape(unreachable_report: Dict[str, Any], mutation: str) -> None:
    report = copy.deepcopy(unreachable_report)
    REJECTED[mutation](report)
    assert problems("report", report), mutation
    bundle = {"schema_version": SCHEMA_VERSION, "tool": {"name": "ray-preflight", "version": "0.1.0"},
              "created": "2026-11-25 23:35:23 UTC", "command_line": "ray-preflight report", "verdict": "NO-GO",
              "usage_error": None, "bundle_timings": {"checks_s": 0.5}, "report": report}
    assert problems("bundle-report", bundle), mutation  # the embedded report schema holds in the bundle too


@pytest.mark.parametrize("mutation", list(ACCEPTED))
def test_the_report_schema_accepts_what_may_vary(unreachable_report: Dict[str, Any], mutation: str) -> None:
    report = copy.deepcopy(unreachable_report)
    ACCEPTED[mutation](report)
    assert not problems("report", report), (mutation, problems("report", report))


def test_the_bundle_schema_ties_its_verdict_to_the_report(unreachable_report: Dict[str, Any]) -> None:
    bundle = {"schema_version": SCHEMA_VERSION, "tool": {"name": "ray-preflight", "version": "0.1.0"},
              "created": "2026-11-25 23:35:23 UTC", "command_line": "ray-preflight report", "verdict": "NO-GO",
              "usage_error": None, "bundle_timings": {"checks_s": 0.5, "cluster_s": 0.1}, "report": unreachable_report}
    assert not problems("bundle-report", bundle)
    unusable = dict(bundle, report=None, usage_error="address 'ray://h:0': port 0 is outside 1-65535", bundle_timings={})
    assert not problems("bundle-report", unusable)
    for broken in (dict(bundle, verdict="GO"), dict(unusable, usage_error=None), dict(unusable, verdict="GO"),
                   dict(bundle, usage_error="a report and a usage error"), dict(bundle, created="yesterday"),
                   dict(bundle, tool={"name": "other", "version": "1"}), dict(bundle, schema_version=0)):
        assert problems("bundle-report", broken), broken


# -- shipped -------------------------------------------------------------------------------------------------------


def test_the_wheel_ships_every_schema() -> None:
    from tests.worlds import build_wheel

    wheel = build_wheel()
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, file in schemas.FILES.items():
                assert json.loads(archive.read(f"preflight/schemas/{file}")) == schemas.load(name), file
            assert "preflight/schemas/__init__.py" in archive.namelist()
    finally:
        shutil.rmtree(wheel.parent, ignore_errors=True)
