"""Checks are pure functions of facts: judged here with plain data, no I/O."""

from __future__ import annotations

import pytest

from preflight import config, profiles
from preflight.checks.autoscaler import autoscaler
from preflight.checks.client import python_version, ray_version
from preflight.checks.client_packages import client_packages
from preflight.checks.dashboard import dashboard_check
from preflight.checks.e2e import fibonacci
from preflight.checks.parity import package_parity
from preflight.checks.reachability import reachability
from preflight.dashboard_api import classify
from preflight.model import Missing, Status
from preflight.net import HttpAnswer
from preflight.target import resolve
from tests.facts import client_facts, cluster_status, dashboard_facts, server_facts

AUTO = profiles.get("auto")
FY23 = profiles.get("fy23-q2")
TARGET = resolve(AUTO, "ray://head:10001", environ={})


class TestRayVersion:
    def test_no_ray_installed_fails_with_the_pip_line(self) -> None:
        out = ray_version(client_facts(ray=None), AUTO, server_facts(ray="2.2.0"))
        assert out.status is Status.FAIL
        assert "not installed" in out.summary
        assert out.remedy == 'pip install "ray==2.2.0"'  # Ray 2.2.0 has no [client] extra

    def test_mismatch_with_the_server_fails(self) -> None:
        out = ray_version(client_facts(ray="2.60.0"), AUTO, server_facts(ray="2.2.0"))
        assert out.status is Status.FAIL
        assert "2.60.0" in out.summary and "2.2.0" in out.summary
        assert out.remedy == 'pip install "ray==2.2.0"'
        newer = ray_version(client_facts(ray="2.2.0"), AUTO, server_facts(ray="2.60.0"))
        assert newer.status is Status.FAIL and newer.remedy == 'pip install "ray[client]==2.60.0"'

    def test_a_client_that_speaks_the_servers_protocol_warns_instead(self) -> None:
        old = client_facts(ray="2.1.0", protocol="2022-10-05")
        out = ray_version(old, AUTO, server_facts(ray="2.2.0"))
        assert out.status is Status.WARN and "same client protocol" in out.summary
        assert out.remedy == 'pip install "ray==2.2.0"'
        assert ray_version(old, FY23, server_facts(ray="2.2.0")).status is Status.WARN
        # an unknown server protocol, or a different one, stays a failure
        assert ray_version(old, AUTO, server_facts(ray="2.3.0")).status is Status.FAIL
        other = client_facts(ray="2.0.0", protocol="2022-07-24")
        assert ray_version(other, AUTO, server_facts(ray="2.2.0")).status is Status.FAIL
        # and the profile's pin still wins when the server is not the pinned release
        assert ray_version(old, FY23, server_facts(ray="2.1.0")).status is Status.FAIL

    def test_profile_pin_wins_even_when_the_server_agrees_with_the_client(self) -> None:
        out = ray_version(client_facts(ray="2.60.0"), FY23, server_facts(ray="2.60.0"))
        assert out.status is Status.FAIL and "expects 2.2.0" in out.summary
        assert "2.2.0" in (out.remedy or "")

    def test_match_passes(self) -> None:
        assert ray_version(client_facts(), FY23, server_facts()).status is Status.PASS
        assert ray_version(client_facts(ray="2.60.0"), AUTO, server_facts(ray="2.60.0")).status is Status.PASS

    def test_dashboard_version_is_used_when_the_gcs_is_not_reachable(self) -> None:
        out = ray_version(client_facts(ray="2.60.0"), AUTO, Missing("GCS down"), dashboard_facts())
        assert out.status is Status.FAIL and "2.2.0" in out.summary

    def test_unknown_server_version_is_a_skip_with_the_reason_not_a_pass(self) -> None:
        out = ray_version(client_facts(ray="2.60.0"), AUTO, Missing("cluster unreachable (refused)"), None)
        assert out.status is Status.SKIP and "cluster unreachable" in out.summary


class TestPythonVersion:
    def test_minor_mismatch_reads_like_rays_own_error(self) -> None:
        out = python_version(client_facts(python="3.11.7"), AUTO, server_facts(python="3.8.18"))
        assert out.status is Status.FAIL
        assert "client is 3.11.7, server is 3.8.18" in out.summary
        assert "Python 3.8" in (out.remedy or "") and "python3.8 -m venv" in (out.remedy or "")

    def test_patch_mismatch_warns(self) -> None:
        out = python_version(client_facts(python="3.8.13"), AUTO, server_facts(python="3.8.18"))
        assert out.status is Status.WARN and "3.8.13" in out.summary and "3.8.18" in out.summary

    def test_same_version_passes(self) -> None:
        assert python_version(client_facts(), FY23, server_facts()).status is Status.PASS

    def test_profile_pin_judges_when_the_server_is_unreachable(self) -> None:
        out = python_version(client_facts(python="3.10.6"), FY23, Missing("cluster unreachable (refused)"))
        assert out.status is Status.FAIL and "expects Python 3.8" in out.summary
        ok = python_version(client_facts(python="3.8.18"), FY23, Missing("cluster unreachable (refused)"))
        assert ok.status is Status.SKIP  # matches the pin, but the server itself was not seen

    def test_unknown_server_python_is_never_a_pass(self) -> None:
        out = python_version(client_facts(), AUTO, Missing("GCS at head:6379 not readable"))
        assert out.status is Status.SKIP and "GCS" in out.summary
        odd = python_version(client_facts(), AUTO, {"ray_version": "2.2.0", "python_version": None})
        assert odd.status is Status.ERROR


class TestAutoscaler:
    def test_error_is_shown(self) -> None:
        out = autoscaler(FY23, dashboard_facts(cluster_status({"smallgroup": 1}, error="Traceback...\nForbidden: pods is forbidden")))
        assert out.status is Status.FAIL and "Traceback" in out.summary
        assert "-c autoscaler" in (out.remedy or "")

    def test_read_only_provider_is_a_fixed_size_cluster(self) -> None:
        status = cluster_status({"node_" + "ab" * 28: 1})
        assert autoscaler(AUTO, dashboard_facts(status)).status is Status.PASS
        warn = autoscaler(FY23, dashboard_facts(status))
        assert warn.status is Status.WARN and "expects autoscaling" in warn.summary

    def test_camel_cased_node_ids_of_newer_rays_are_recognised(self) -> None:
        status = cluster_status({"node05D4F065A9Fcdf05Eb7Eabdb815F2381De087307A27Da58872C1C16E": 1})
        assert "read-only" in autoscaler(AUTO, dashboard_facts(status)).summary

    def test_real_autoscaler_shows_node_types_and_launches(self) -> None:
        status = cluster_status({"head-group": 1, "smallgroup": 2}, pending={"smallgroup": 1})
        out = autoscaler(FY23, dashboard_facts(status))
        assert out.status is Status.PASS
        assert "smallgroup×2" in out.summary and "launching smallgroup×1" in out.summary

    def test_failed_launches_warn(self) -> None:
        status = cluster_status({"smallgroup": 1}, failed=[{"nodeType": "smallgroup"}])
        assert autoscaler(FY23, dashboard_facts(status)).status is Status.WARN

    def test_no_dashboard_means_skip(self) -> None:
        out = autoscaler(AUTO, dashboard_facts(ok=False, error="behind a sign-in page"))
        assert out.status is Status.SKIP and "sign-in" in out.summary


def _answer(status: int, body: bytes = b"", ctype: str = "application/json", **headers: str) -> HttpAnswer:
    return HttpAnswer("https://ray-dashboard.example.com/api/version", status, {"content-type": ctype, **headers}, body, 0.01)


class TestDashboard:
    @pytest.mark.parametrize(
        "answer, kind",
        [
            (_answer(200, b'{"ray_version": "2.2.0"}'), "json"),
            (_answer(302, location="https://sso.example.com/oauth2/authorize?x=1"), "sign-in"),
            (_answer(301, location="https://elsewhere.example.com/"), "redirect"),
            (_answer(200, b"<!DOCTYPE html><form><input type=password></form>", "text/html"), "sign-in"),
            (_answer(200, b"<html><body>hello</body></html>", "text/html"), "html"),
            (_answer(401), "sign-in"),
            (_answer(404, b"nope", "text/plain"), "not-found"),
            (_answer(500, b"boom", "text/plain"), "http-error"),
            (_answer(200, b"\x00\xffgarbage"), "garbage"),
            (_answer(200, b'{"ray_version": "2.2'), "garbage"),
        ],
    )
    def test_classify_says_what_came_instead_of_json(self, answer: HttpAnswer, kind: str) -> None:
        assert classify(answer, answer.url)["kind"] == kind

    def test_sign_in_page_is_reported_as_such(self) -> None:
        facts = dashboard_facts(ok=False, error_kind="sign-in", error="behind a sign-in page at https://ray-dashboard.x/")
        out = dashboard_check(facts, TARGET, {"ok": True}, None)
        assert out.status is Status.WARN and "sign-in" in out.summary

    def test_unreachable_dashboard_on_a_dead_head_is_skipped_not_failed_twice(self) -> None:
        facts = dashboard_facts(ok=False, error_kind="refused", error="refused", unreachable=True)
        out = dashboard_check(facts, TARGET, Missing("cluster unreachable (refused)"), None)
        assert out.status is Status.SKIP
        alive = dashboard_check(facts, TARGET, {"ok": True}, None)
        assert alive.status is Status.FAIL

    def test_dashboard_of_another_cluster_warns(self) -> None:
        out = dashboard_check(dashboard_facts(), TARGET, {"ok": True}, server_facts(ray="2.9.0"))
        assert out.status is Status.WARN


class TestReachability:
    @pytest.mark.parametrize(
        "endpoint, client, words",
        [
            ({"ok": False, "error_kind": "dns", "error": "name 'x' does not resolve"}, None, "does not resolve"),
            ({"ok": False, "error_kind": "refused", "error": "connection to head:10001 refused"}, None, "refused"),
            ({"ok": True}, {"ok": False, "error_kind": "silent", "error": "head:10001 accepted the connection but sent no answer within 3 s"},
             "no Ray Client answer within 3 s"),
            ({"ok": True}, {"ok": False, "error_kind": "http1", "error": "speaks HTTP/1.x"}, "is not a Ray Client server"),
        ],
    )
    def test_distinct_summaries(self, endpoint: dict, client: dict, words: str) -> None:
        out = reachability({"host": "head", "port": 10001, **endpoint}, TARGET, FY23, client)
        assert out.status is Status.FAIL and words in out.summary and out.remedy

    def test_ping_answer_passes(self) -> None:
        out = reachability({"ok": True, "addresses": ["10.0.0.1"]}, TARGET, AUTO, {"ok": True, "ping_ms": 4.0})
        assert out.status is Status.PASS


class TestFibonacci:
    CFG = config.build("ray://head:10001", environ={})

    def test_verified_run_passes_with_timings_and_nodes(self) -> None:
        run = {"ok": True, "stage": "done", "size": 10000, "tasks": 2, "init_s": 3.1, "local_s": 0.03, "remote_s": 0.05,
               "nodes": ["a", "b"], "mismatches": 0}
        out = fibonacci(run, self.CFG)
        assert out.status is Status.PASS and "2 node(s)" in out.summary

    def test_mismatch_fails(self) -> None:
        run = {"ok": False, "stage": "done", "size": 10, "tasks": 2, "mismatches": 1}
        assert fibonacci(run, self.CFG).status is Status.FAIL

    def test_init_error_is_quoted(self) -> None:
        run = {"ok": False, "stage": "init", "error": "RuntimeError: Python minor versions differ between client and server"}
        out = fibonacci(run, self.CFG)
        assert out.status is Status.FAIL and "Python minor versions differ" in out.summary


def _req(name: str, specifier: str, installed, extra: str = "") -> dict:  # type: ignore[no-untyped-def]
    return {"name": name, "specifier": specifier, "installed": installed, "extra": extra}


class TestClientPackages:
    def test_requirements_met_pass(self) -> None:
        facts = client_facts(requirements=[_req("grpcio", ">=1.32.0", "1.70.0"), _req("protobuf", "!=3.19.5,>=3.15.3", "3.20.3")])
        out = client_packages(facts)
        assert out.status is Status.PASS and "grpcio 1.70.0" in out.summary

    def test_out_of_range_and_missing_each_get_their_pip_argument(self) -> None:
        facts = client_facts(ray="2.60.0", requirements=[
            _req("protobuf", "!=3.19.5,>=3.15.3", "3.19.5"),
            _req("grpcio", ">=1.42.0", None, extra="client"),
        ])
        out = client_packages(facts)
        assert out.status is Status.FAIL
        assert "protobuf 3.19.5 is outside !=3.19.5,>=3.15.3" in out.summary
        assert "grpcio is missing (ray[client] requires grpcio>=1.42.0)" in out.summary
        assert out.remedy == 'pip install "protobuf!=3.19.5,>=3.15.3" "grpcio>=1.42.0"'

    def test_pydantic_2_breaks_ray_before_2_5_only(self) -> None:
        out = client_packages(client_facts(ray="2.2.0", pydantic="2.10.6"))
        assert out.status is Status.FAIL and "pydantic 2.10.6 breaks Ray 2.2.0" in out.summary
        assert out.remedy == 'pip install "pydantic<2"'
        assert client_packages(client_facts(ray="2.2.0", pydantic="1.10.21")).status is Status.PASS
        assert client_packages(client_facts(ray="2.60.0", pydantic="2.10.6")).status is Status.PASS

    def test_no_ray_is_a_skip_not_a_pass(self) -> None:
        assert client_packages(client_facts(ray=None)).status is Status.SKIP


class TestPackageParity:
    def test_same_minor_passes_and_names_the_versions(self) -> None:
        run = {"ok": True, "server_packages": {"numpy": "1.24.3", "pandas": None, "pyarrow": None, "cloudpickle": None}}
        out = package_parity(run, client_facts(numpy="1.24.4"))
        assert out.status is Status.PASS and "numpy 1.24.4 (server 1.24.3)" in out.summary

    def test_differences_warn_with_the_pins_to_match(self) -> None:
        run = {"ok": True, "server_packages": {"numpy": "1.24.4", "pandas": None, "pyarrow": "6.0.1", "cloudpickle": None}}
        out = package_parity(run, client_facts(numpy="2.2.1", pandas="2.0.3", pyarrow="6.0.0"))
        assert out.status is Status.WARN
        assert "numpy 2.2.1 on the client, 1.24.4 on the server" in out.summary
        assert "pandas 2.0.3 on the client, not installed on the server" in out.summary
        assert "pyarrow" not in out.summary
        assert 'pip install "numpy==1.24.4"' in (out.remedy or "") and "pandas" in (out.remedy or "")

    def test_unknown_server_packages_skip_with_the_reason(self) -> None:
        out = package_parity({"ok": True, "server_packages_error": "GetTimeoutError: 30 s"}, client_facts(numpy="1.24.4"))
        assert out.status is Status.SKIP and "GetTimeoutError" in out.summary
