"""The engine: concurrency, skips that name their cause, errors that never stop the run,
gates, and the whole-run deadline. Probes here are small local functions (no network).
"""

from __future__ import annotations

import dataclasses
import threading
import time

from preflight import config
from preflight.errors import Unavailable
from preflight.model import Status, failed, passed
from preflight.registry import make_check, make_probe
from preflight.runner import run

CFG = config.build("ray://head:10001", environ={})


def _run(probe_funcs, check_defs, **overrides):  # type: ignore[no-untyped-def]
    probes = {p.name: p for p in (make_probe(f, gate=g) for f, g in probe_funcs)}
    checks = {c.id: c for c in (make_check(cid, cid, f) for cid, f in check_defs)}
    cfg = config.build("ray://head:10001", environ={}, **overrides) if overrides else CFG
    return run(cfg, checks=checks, probes=probes)


def test_unavailable_probe_skips_its_checks_with_the_reason_once() -> None:
    def cluster():  # type: ignore[no-untyped-def]
        raise Unavailable("cluster unreachable (refused)")

    def local():  # type: ignore[no-untyped-def]
        return {"x": 1}

    report = _run(
        [(cluster, ()), (local, ())],
        [("a", lambda cluster: passed("never")), ("b", lambda cluster, local: passed("never")), ("c", lambda local: passed("ok"))],
    )
    assert [r.status for r in report] == [Status.SKIP, Status.SKIP, Status.PASS]
    assert report["a"].summary == "skipped: cluster unreachable (refused)"
    assert report.ok  # skips are not failures
    assert report.facts["cluster"] == {"unavailable": "cluster unreachable (refused)"}


def test_a_check_that_raises_becomes_an_error_and_the_others_still_run() -> None:
    def facts():  # type: ignore[no-untyped-def]
        return {}

    def broken(facts):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("oops")

    report = _run([(facts, ())], [("broken", broken), ("fine", lambda facts: passed("ok"))])
    assert report["broken"].status is Status.ERROR and "ZeroDivisionError" in report["broken"].summary
    assert report["fine"].status is Status.PASS
    assert not report.ok


def test_a_crashing_probe_makes_its_checks_error_not_pass() -> None:
    def facts():  # type: ignore[no-untyped-def]
        raise KeyError("boom")

    report = _run([(facts, ())], [("x", lambda facts: passed("never"))])
    assert report["x"].status is Status.ERROR and "crashed" in report["x"].summary


def test_optional_facts_arrive_as_falsy_missing_with_the_reason() -> None:
    def extra():  # type: ignore[no-untyped-def]
        raise Unavailable("GCS down")

    def check(extra=None):  # type: ignore[no-untyped-def]
        return passed(f"bool={bool(extra)} reason={extra.reason}")

    report = _run([(extra, ())], [("x", check)])
    assert report["x"].summary == "bool=False reason=GCS down"


def test_probes_run_concurrently_and_once() -> None:
    calls = []
    barrier = threading.Barrier(2, timeout=5)

    def left():  # type: ignore[no-untyped-def]
        calls.append("left")
        barrier.wait()  # deadlocks unless both probes run at the same time
        return 1

    def right():  # type: ignore[no-untyped-def]
        calls.append("right")
        barrier.wait()
        return 2

    report = _run([(left, ()), (right, ())],
                  [("a", lambda left, right: passed("ok")), ("b", lambda left: passed("ok")), ("c", lambda right: passed("ok"))])
    assert report.ok and sorted(calls) == ["left", "right"]


def test_gate_keeps_a_probe_from_running_until_checks_pass() -> None:
    ran = []

    def base():  # type: ignore[no-untyped-def]
        return "2.60.0"

    def job():  # type: ignore[no-untyped-def]
        ran.append(True)
        return {}

    report = _run([(base, ()), (job, ("version",))],
                  [("version", lambda base: failed("mismatch")), ("job", lambda job: passed("ran"))])
    assert not ran
    assert report["job"].status is Status.SKIP and "needs version to pass (version: fail)" in report["job"].summary


def test_a_probe_owned_by_a_left_out_check_does_not_run() -> None:
    ran = []

    def job():  # type: ignore[no-untyped-def]
        ran.append(True)
        return {"versions": 1}

    probes = {"job": make_probe(job, owner="job-check")}
    checks = {c.id: c for c in (make_check("job-check", "t", lambda job: passed("ran")),
                                make_check("parity", "t", lambda job: passed("compared")))}
    report = run(dataclasses.replace(CFG, skip=("job-check",)), checks=checks, probes=probes)
    assert not ran
    assert [r.id for r in report] == ["parity"]
    assert report["parity"].status is Status.SKIP
    assert report["parity"].summary == "skipped: needs the job-check check, which this run leaves out"
    report = run(CFG, checks=checks, probes=probes)
    assert ran and report["parity"].status is Status.PASS


def test_deadline_holds_and_unfinished_checks_error() -> None:
    def slow():  # type: ignore[no-untyped-def]
        time.sleep(30)

    def quick():  # type: ignore[no-untyped-def]
        return 1

    started = time.monotonic()
    report = _run([(slow, ()), (quick, ())], [("slow", lambda slow: passed("never")), ("quick", lambda quick: passed("ok"))],
                  timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed  # generous bound: the deadline is honoured
    assert report["slow"].status is Status.ERROR and "timed out after 1 s" in report["slow"].summary
    assert report["quick"].status is Status.PASS


def test_only_and_skip_select_checks() -> None:
    def facts():  # type: ignore[no-untyped-def]
        return 1

    defs = [("a", lambda facts: passed("a")), ("b", lambda facts: passed("b"))]
    probes = [(facts, ())]
    assert [r.id for r in _run(probes, defs)] == ["a", "b"]
    assert [r.id for r in run(dataclasses.replace(CFG, only=("b",)),
                              checks={c.id: c for c in (make_check(i, i, f) for i, f in defs)},
                              probes={"facts": make_probe(facts)})] == ["b"]
