"""TLS on the Ray ports against a real Ray 2.2.0 head on Python 3.8, compared with what Ray itself does.

The head runs from the fy23-q2 server world (``ray[default]==2.2.0`` on Python 3.8, without this tool) with
``RAY_USE_TLS=1`` and a certificate from a private CA made at test time with the ``openssl`` command line. The
certificate names 127.0.0.1, localhost and this machine's own addresses: a 2.2.0 head's GCS advertises the
machine's address even with ``--node-ip-address=127.0.0.1``, and its own processes then check that name, so
without it ``ray start`` fails ("Peer name <ip> is not in peer certificate").

Each scenario is a client environment: the Python 3.8 + ``pip install ray==2.2.0`` world (the tool installed from a
wheel of the working tree), with a set of TLS variables. In each, ``ray-preflight`` runs as a user runs it, then the
platform's own smoke test (tests/seed_workflow.py: ``ray.init``, the Fibonacci job, ``ray.shutdown``) from the
same environment with the same variables; the tool's GO/NO-GO must agree with what really happened. The real
failures each take Ray's 30 s connection timeout, so the scenarios of one head run side by side (they are
independent clients). Then the TLS head stops and a plain 2.2.0 head starts for the client configured for TLS
against a plain cluster (two heads never run at once).

The README's TLS agreement table is written by this module (between its ``ray-tls-agreement`` markers) when every
scenario has run; the timings go to ``.cache/worlds/ray-tls-agreement.json``.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from preflight.local_head import LocalHead
from preflight.ray_security import TLS_EXPORTS, TLS_VARIABLES
from tests.real_runs import run
from tests.real_runs import run_seed as run_seed_workflow
from tests.tls_certs import OPENSSL, Pki, machine_addresses, tls_environment
from tests.worlds import CACHE, ROOT, SERVER, Env, child_env, world_env

pytestmark = [pytest.mark.live, pytest.mark.fy23q2, pytest.mark.timeout(1800),
              pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line to make the certificates")]

CLIENT_WORLD = "py38-ray2.2.0"
README = ROOT / "README.md"
BEGIN, END = "<!-- ray-tls-agreement:begin -->", "<!-- ray-tls-agreement:end -->"
#: The real workflow fails after Ray's 30 s connection timeout (3 attempts); this bounds a hang.
SEED_TIMEOUT_S = 150.0


@dataclass(frozen=True)
class Scenario:
    id: str
    label: str
    go: bool
    #: What the ``tls`` check's summary must contain.
    says: str
    head: str = "tls"  # "tls" or "plain"


SCENARIOS = [
    Scenario("right-files", "the four variables with the cluster's CA and a client certificate it signed", True, "TLS verified with"),
    Scenario("no-variables", "no TLS variables", False, "speaks TLS, and this client is not set up for it"),
    Scenario("wrong-ca", "`RAY_TLS_CA_CERT` names another CA", False, "the CA in RAY_TLS_CA_CERT (CN=another CA) does not verify"),
    Scenario("expired-client-cert", "a client certificate that expired in 2020", False, "expired on 2020-01-01"),
    Scenario("name-not-in-cert", "an address whose host name the server's certificate does not hold", False,
             "is not in peer certificate"),
    Scenario("tls-client-plain-head", "the four variables, against a plain Ray 2.2.0 head", False,
             "does not speak TLS, but RAY_USE_TLS=1 here", head="plain"),
    Scenario("plain-both", "no TLS variables, against a plain Ray 2.2.0 head", True, "no TLS on the Ray ports", head="plain"),
]
BY_ID = {s.id: s for s in SCENARIOS}


@dataclass
class Run:
    scenario: Scenario
    report: Dict[str, Any]
    exit_code: int
    tool_s: float
    seed: Dict[str, Any]

    def result(self, check_id: str) -> Dict[str, Any]:
        return next(r for r in self.report["results"] if r["id"] == check_id)

    def failing(self) -> List[str]:
        return [r["id"] for r in self.report["results"] if r["status"] in ("fail", "error")]


def local_alias() -> Optional[str]:
    """A name of this machine that resolves to a loopback address and is neither localhost nor an address."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return None
    return name if name != "localhost" and address.startswith("127.") else None


@pytest.fixture(scope="module")
def pki() -> Iterator[Dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="rpf-tls-") as folder:
        root = Path(folder)
        ca = Pki(root / "ca")
        other = Pki(root / "other", "another CA")
        addresses = ["127.0.0.1", *machine_addresses()]
        yield {
            "ca": ca.ca,
            "other_ca": other.ca,
            "addresses": addresses,
            "head": ca.issue("head", ips=addresses, dns=["localhost"]),
            "client": ca.issue("client"),
            "expired": ca.issue("expired-client", period=("20190101000000Z", "20200101000000Z")),
        }


def _environment(variables: Dict[str, str]) -> Dict[str, str]:
    env = child_env()
    for name in TLS_VARIABLES:
        env.pop(name, None)
    env.update(variables)
    return env


def run_tool(client: Env, head: LocalHead, address: str, env: Dict[str, str]) -> Tuple[Dict[str, Any], int, float]:
    args = ["--address", address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address, "--format", "json"]
    t0 = time.monotonic()
    done = run([client.bin("ray-preflight"), *args], f"ray-preflight against {address}", timeout=300, env=env, cwd=str(CACHE))
    took = time.monotonic() - t0
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout), done.returncode, took


def run_seed(client: Env, address: str, env: Dict[str, str]) -> Dict[str, Any]:
    return run_seed_workflow(client.python, address, timeout=SEED_TIMEOUT_S, env=env, cwd=str(CACHE))


def run_all(client: Env, head: LocalHead, plans: Dict[str, Tuple[str, Dict[str, str]]]) -> Dict[str, Run]:
    """Each scenario's tool run and then its real workflow; the scenarios side by side."""

    def one(item: Tuple[str, Tuple[str, Dict[str, str]]]) -> Tuple[str, Run]:
        scenario_id, (address, variables) = item
        env = _environment(variables)
        report, code, took = run_tool(client, head, address, env)
        return scenario_id, Run(BY_ID[scenario_id], report, code, took, run_seed(client, address, env))

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        return dict(pool.map(one, plans.items()))


def started(server: Env, env: Optional[Dict[str, str]] = None) -> LocalHead:
    head = LocalHead(python=server.python, num_cpus=2, env=env)
    assert head.ray_version == "2.2.0"
    head.start()
    return head


_RUNS: Dict[str, Run] = {}


@pytest.fixture(scope="module")
def tls_runs(worlds: Dict[str, Any], pki: Dict[str, Any]) -> Dict[str, Run]:
    """The TLS head's scenarios; the head is stopped before this returns."""
    server, client = world_env(worlds, SERVER.name), world_env(worlds, CLIENT_WORLD)
    head = started(server, tls_environment(*pki["head"], pki["ca"]))
    try:
        port = head.ports["client"]
        plans = {
            "right-files": (head.address, tls_environment(*pki["client"], pki["ca"])),
            "no-variables": (head.address, {}),
            "wrong-ca": (head.address, tls_environment(*pki["client"], pki["other_ca"])),
            "expired-client-cert": (head.address, tls_environment(*pki["expired"], pki["ca"])),
        }
        alias = local_alias()
        if alias is not None:
            plans["name-not-in-cert"] = (f"ray://{alias}:{port}", tls_environment(*pki["client"], pki["ca"]))
        runs = run_all(client, head, plans)
    finally:
        head.stop()
    _RUNS.update(runs)
    return runs


@pytest.fixture(scope="module")
def plain_runs(tls_runs: Dict[str, Run], worlds: Dict[str, Any], pki: Dict[str, Any]) -> Dict[str, Run]:
    """The plain head's scenarios, after the TLS head has stopped (``tls_runs`` comes first)."""
    server, client = world_env(worlds, SERVER.name), world_env(worlds, CLIENT_WORLD)
    head = started(server)
    try:
        runs = run_all(client, head, {"tls-client-plain-head": (head.address, tls_environment(*pki["client"], pki["ca"])),
                                      "plain-both": (head.address, {})})
    finally:
        head.stop()
    _RUNS.update(runs)
    return runs


@pytest.fixture
def get_run(tls_runs: Dict[str, Run], plain_runs: Dict[str, Run]) -> Callable[[str], Run]:
    def get(scenario_id: str) -> Run:
        if scenario_id not in _RUNS:
            pytest.skip(f"{scenario_id}: this machine's host name does not resolve to a loopback address")
        return _RUNS[scenario_id]

    return get


@pytest.mark.parametrize("scenario_id", list(BY_ID))
def test_verdict_agrees_with_what_really_happens(get_run: Callable[[str], Run], scenario_id: str) -> None:
    run = get_run(scenario_id)
    scenario = run.scenario
    found = run.result("tls")
    assert scenario.says in found["summary"], found
    assert run.report["ok"] is scenario.go, json.dumps(run.report["results"], indent=1)
    assert run.exit_code == (0 if scenario.go else 1)
    assert run.seed["ok"] is scenario.go, run.seed  # the real workflow did what the verdict said
    fib = run.result("fibonacci")
    if scenario.go:
        assert found["status"] == "pass" and fib["status"] == "pass", fib
    else:
        assert found["status"] == "fail" and found["remedy"], found
        # fibonacci waits for tls: the tool answers at once instead of ray.init's 30 s timeout
        assert fib["status"] == "skip" and "tls: fail" in fib["summary"], fib
        assert run.tool_s < 20, run.tool_s
        assert run.seed["stage"] in ("init", "hang"), run.seed


def test_the_right_files_name_the_ca_and_both_certificates(get_run: Callable[[str], Run], pki: Dict[str, Any]) -> None:
    run = get_run("right-files")
    found = run.result("tls")
    assert "(CN=ray-preflight test CA)" in found["summary"] and "CN=head (valid until" in found["summary"]
    assert "client certificate CN=client" in found["summary"]
    names = found["details"]["server_certificate"]["names"]
    assert {f"IP:{a}" for a in pki["addresses"]} <= set(names) and "DNS:localhost" in names
    assert run.report["facts"]["server"]["ray_version"] == "2.2.0"  # the GCS was read over TLS
    assert run.result("dashboard")["status"] == "pass"  # the 2.2.0 dashboard stays plain HTTP


def test_no_variables_get_the_exports_to_type(get_run: Callable[[str], Run]) -> None:
    run = get_run("no-variables")
    found = run.result("tls")
    assert TLS_EXPORTS in found["remedy"] and "CN=ray-preflight test CA" in found["remedy"]
    assert run.result("reachability")["details"]["error_kind"] == "tls-required"
    assert "ray client connection timeout" in run.seed.get("error", "") or run.seed["stage"] == "hang", run.seed


def test_a_wrong_ca_and_an_expired_certificate_are_named(get_run: Callable[[str], Run]) -> None:
    wrong = get_run("wrong-ca").result("tls")
    assert "set RAY_TLS_CA_CERT to the CA that issued the head's certificate (CN=ray-preflight test CA)" in wrong["remedy"]
    expired = get_run("expired-client-cert").result("tls")
    assert "the client certificate in RAY_TLS_SERVER_CERT (CN=expired-client) expired on 2020-01-01" in expired["summary"]


def test_a_name_not_in_the_certificate_is_named_as_grpc_names_it(get_run: Callable[[str], Run]) -> None:
    run = get_run("name-not-in-cert")
    alias = local_alias()
    assert run.result("tls")["summary"].startswith(f"Peer name {alias} is not in peer certificate: the server's certificate at ")


@pytest.fixture(scope="module", autouse=True)
def agreement_table() -> Iterator[None]:
    """After the module: the README's TLS agreement table and the timings, from the runs (when every scenario ran)."""
    yield
    if set(_RUNS) != set(BY_ID):
        return
    rows = ["| Client set-up | Tool verdict | Failed checks | `tls` says | Real outcome of `ray.init` + Fibonacci job | Agree |",
            "|---|---|---|---|---|---|"]
    timings = []
    for scenario in SCENARIOS:
        run = _RUNS[scenario.id]
        verdict = "GO" if run.report["ok"] else "NO-GO"
        says = _cell(f"{run.result('tls')['status']}: {run.result('tls')['summary']}", 400)
        failed = ", ".join(f"`{c}`" for c in run.failing()) or "none"
        outcome = "works" if run.seed["ok"] else f"fails at {run.seed['stage']}: `{_cell(run.seed.get('error', ''), 120)}`"
        agree = "yes" if run.report["ok"] is run.seed["ok"] else "**NO**"
        head = "TLS" if scenario.head == "tls" else "plain"
        rows.append(f"| {scenario.label} ({head} head) | {verdict} | {failed} | {says} | {outcome} | {agree} |")
        timings.append({"scenario": scenario.id, "verdict": verdict, "real_ok": run.seed["ok"], "tool_s": round(run.tool_s, 2),
                        "seed_wall_s": round(run.seed.get("wall_s", 0), 2), "seed_error": run.seed.get("error"),
                        "tls": run.result("tls")["summary"]})
    (CACHE / "ray-tls-agreement.json").write_text(json.dumps(timings, indent=1))
    text = README.read_text()
    if BEGIN in text and END in text:
        head_text, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = head_text + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail
        if new != text:
            README.write_text(new)


def _cell(text: str, limit: int) -> str:
    """One line for the README: without what changes from run to run or machine to machine (ports, this machine's
    name and addresses, the fresh certificates' dates)."""
    line = next((x.strip() for x in str(text).splitlines() if x.strip()), "")
    alias = local_alias()
    if alias:
        line = re.sub(rf"\b{re.escape(alias)}\b", "<host name>", line)
    line = re.sub(r"\b(?!127\.0\.0\.1\b)\d{1,3}(\.\d{1,3}){3}\b", "<this machine's address>", line)
    line = re.sub(r"(127\.0\.0\.1|<host name>):\d+", r"\1:<port>", line)
    line = re.sub(r"valid until \d{4}-\d{2}-\d{2}", "valid until <date>", line)
    line = line.replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 1] + "…"
