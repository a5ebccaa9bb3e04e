"""How the checks judge each form of address (a Ray Client address, a GCS address, a Ray Jobs URL), with plain facts."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from preflight import config, profiles
from preflight.checks.e2e import fibonacci, fibonacci_run
from preflight.checks.reachability import node_here, reachability
from preflight.errors import Unavailable
from preflight.model import Missing, Status
from preflight.target import resolve

AUTO = profiles.get("auto")
GCS_TARGET = resolve(AUTO, "10.0.0.5:6379", environ={})
JOBS_FLAG = resolve(AUTO, "http://10.0.0.5:8265", environ={})
JOBS_ENV = resolve(AUTO, None, environ={"RAY_ADDRESS": "http://10.0.0.5:8265"})
UP = {"host": "10.0.0.5", "ok": True, "addresses": ["10.0.0.5"], "dns_ms": 0.1, "tcp_ms": 0.4}


def gcs_answer(raylets: Any = ("10.0.0.5:6379",)) -> Dict[str, Any]:
    return {"service": "gcs", "ok": True, "gcs_ms": 3.0, "cluster_metadata": True,
            "local_raylets": list(raylets) if raylets is not None else None}


class TestGcsAddress:
    def test_with_a_node_of_the_cluster_here_it_warns_and_says_what_a_driver_needs_and_what_to_type(self) -> None:
        out = reachability(dict(UP, port=6379), GCS_TARGET, AUTO, gcs_answer())
        assert out.status is Status.WARN
        assert out.summary.startswith("10.0.0.5:6379 is a GCS address: ray.init('10.0.0.5:6379') joins the cluster as a driver, "
                                      "not through the Ray Client (GCS answered in 3 ms)")
        assert "(one runs here)" in out.summary
        assert "every node able to reach this machine" in out.summary and "the cluster's exact Ray and Python" in out.summary
        assert out.remedy == ('from outside the cluster use the Ray Client: --address ray://10.0.0.5:10001, or export '
                              'RAY_ADDRESS=ray://10.0.0.5:10001 (in a notebook: ray.init("ray://10.0.0.5:10001"))')
        assert out.details["address_form"] == "gcs" and out.details["address"] == "10.0.0.5:6379"

    def test_without_a_node_of_the_cluster_here_it_fails_as_ray_init_would(self) -> None:
        for raylets in ([], ["10.0.0.9:7000"]):  # none, or only another cluster's
            out = reachability(dict(UP, port=6379), GCS_TARGET, AUTO, gcs_answer(raylets))
            assert out.status is Status.FAIL
            assert "no Ray node of that cluster runs on this machine" in out.summary
            assert "Failed to connect to Ray cluster" in out.summary
            assert "--address ray://10.0.0.5:10001" in (out.remedy or "")

    def test_when_the_processes_cannot_be_read_it_warns_without_claiming_a_node(self) -> None:
        out = reachability(dict(UP, port=6379), GCS_TARGET, AUTO, gcs_answer(None))
        assert out.status is Status.WARN and "(one runs here)" not in out.summary
        assert "a driver needs a Ray node of that cluster on its machine" in out.summary

    @pytest.mark.parametrize("endpoint, answer, words, remedy", [
        ({"ok": False, "error_kind": "refused", "error": "connection to 10.0.0.5:6379 refused: nothing listens there"}, None,
         "refused", "GCS port (6379 on KubeRay)"),
        ({"ok": False, "error_kind": "dns", "error": "name 'x' does not resolve"}, None, "does not resolve", "nslookup"),
        (UP, {"service": "gcs", "ok": False, "error_kind": "not-gcs", "error": "10.0.0.5:6379 answers gRPC but not as a Ray GCS "
                                                                                "(UNIMPLEMENTED)"},
         "answers, but is not a Ray GCS", "is not the GCS port"),
        (UP, Missing("cluster unreachable"), "no answer from the GCS", "Raise --connect-timeout"),
    ])
    def test_failures_name_the_gcs_and_offer_the_ray_client(self, endpoint: Dict[str, Any], answer: Any, words: str,
                                                           remedy: str) -> None:
        out = reachability(dict(endpoint, host="10.0.0.5", port=6379), GCS_TARGET, AUTO, answer)
        assert out.status is Status.FAIL and words in out.summary, out.summary
        assert remedy in (out.remedy or "") and "ray://10.0.0.5:" in (out.remedy or "")

    def test_a_ray_client_port_written_without_ray_is_named(self) -> None:
        target = resolve(AUTO, "head:10001", environ={})
        answer = {"service": "gcs", "ok": False, "error_kind": "not-gcs", "error": "head:10001 answers gRPC but not as a Ray GCS"}
        out = reachability(dict(UP, host="head", port=10001), target, AUTO, answer)
        assert out.status is Status.FAIL and "if it is the Ray Client's, write --address ray://head:10001" in (out.remedy or "")

    def test_a_node_of_the_cluster_is_a_raylet_of_a_gcs_on_the_same_port(self) -> None:
        assert node_here(gcs_answer(["192.0.2.2:6379"]), GCS_TARGET) is True  # Ray advertises the node's own address
        assert node_here(gcs_answer(["192.0.2.2:6380"]), GCS_TARGET) is False
        assert node_here(gcs_answer(None), GCS_TARGET) is None
        assert node_here(Missing("x"), GCS_TARGET) is None

    def test_the_fibonacci_job_gets_the_address_as_given_and_is_not_started_without_a_node_here(self) -> None:
        run = config.build(" 10.0.0.5:6379 ", environ={}, fib_tasks=2)
        assert run.target.init_address == "10.0.0.5:6379"

        class Ctx:
            def remaining(self) -> float:
                return 30.0

        with pytest.raises(Unavailable, match="no Ray node of that cluster runs on this machine"):
            fibonacci_run(run.target, run, Ctx(), gcs_answer([]))

    def test_the_fibonacci_result_says_it_joined_as_a_driver(self) -> None:
        run = config.build("10.0.0.5:6379", environ={}, fib_tasks=2)
        done = {"ok": True, "stage": "done", "connected_as": "driver", "size": 10, "tasks": 2, "init_s": 0.4, "local_s": 0.1,
                "remote_s": 0.2, "nodes": ["n"], "mismatches": 0}
        out = fibonacci(done, run)
        assert out.status is Status.PASS and "ray.init('10.0.0.5:6379') as a driver 0.4 s" in out.summary
        assert out.details["connected_as"] == "driver" and out.details["init_address"] == "10.0.0.5:6379"
        broken = fibonacci({"ok": False, "stage": "init", "error": "RuntimeError: Version mismatch: The cluster was started with..."}, run)
        assert broken.status is Status.FAIL and "failed to join the cluster as a driver: RuntimeError: Version mismatch" in broken.summary
        assert "--address ray://10.0.0.5:10001" in (broken.remedy or "")
        late = fibonacci({"ok": False, "stage": "timeout", "error": "the job did not finish within 59 s; it was stopped"}, run)
        assert late.status is Status.FAIL and "joins as a driver, and waits up to 60 s" in late.summary


class TestJobsAddress:
    def test_the_derived_ray_client_address_is_said(self) -> None:
        out = reachability(dict(UP, port=10001), JOBS_FLAG, AUTO, {"ok": True, "ping_ms": 2.0})
        assert out.status is Status.PASS
        assert out.summary == ("Ray Client server answers at 10.0.0.5:10001 (PING 2 ms); ray://10.0.0.5:10001 was derived from "
                               "the Ray Jobs address http://10.0.0.5:8265/")
        assert out.details["address_form"] == "jobs" and out.details["client_address"] == "ray://10.0.0.5:10001"
        assert out.details["address_source"] == "derived from the Ray Jobs address (--address)"

    def test_from_ray_address_it_warns_that_ray_init_refuses_an_http_ray_address(self) -> None:
        out = reachability(dict(UP, port=10001), JOBS_ENV, AUTO, {"ok": True, "ping_ms": 2.0})
        assert out.status is Status.WARN
        assert "ray.init() without an address reads RAY_ADDRESS and refuses an http:// one" in out.summary
        assert 'ray.init("ray://10.0.0.5:10001")' in (out.remedy or "") and "export RAY_ADDRESS=ray://10.0.0.5:10001" in (out.remedy or "")

    def test_an_unreachable_derived_address_says_it_was_derived(self) -> None:
        endpoint = {"host": "10.0.0.5", "port": 10001, "ok": False, "error_kind": "refused",
                    "error": "connection to 10.0.0.5:10001 refused: nothing listens there"}
        out = reachability(endpoint, JOBS_ENV, AUTO, Missing("cluster unreachable"))
        assert out.status is Status.FAIL
        assert out.summary == ("connection to 10.0.0.5:10001 refused: nothing listens there (ray://10.0.0.5:10001, derived from the "
                               "Ray Jobs address http://10.0.0.5:8265/)")
        assert (out.remedy or "").endswith("; if the Ray Client is served elsewhere, give it with --address ray://host:port")

    def test_the_fibonacci_job_uses_the_derived_ray_client_address(self) -> None:
        assert JOBS_ENV.init_address == "ray://10.0.0.5:10001"
