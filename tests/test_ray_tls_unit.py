"""The ``tls`` check without a Ray head.

1. The check is a pure function of the ``ray_tls`` facts: judged here with plain data.
2. The probe's reading of the client's files (``client_files``) against real files: certificates and keys made at
   test time by the ``openssl`` command line (a CA, certificates it issues, one that expired in 2020, an unrelated
   CA, a key with a passphrase), read the way Ray reads them.
3. The whole probe and check through the CLI (a child process, as a user runs it) against a real gRPC server with
   TLS made with the installed grpcio (``grpc.ssl_server_credentials`` with ``require_client_auth``, as Ray's
   ``add_port_to_grpc_server`` makes it) answering any call with an empty message, like a Ray Client PING.
   The real Ray 2.2.0 head with TLS is in tests/test_ray_tls.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from preflight.checks.ray_tls import PEER_NAME, PLAIN_CALL, RAY_MISSING_FILES, client_certificate_verdict, client_files, tls
from preflight.model import Missing, Status
from preflight.net import free_port
from preflight.ray_security import TLS_EXPORTS
from tests.conftest import run_cli
from tests.faultservers import FaultServer, close_at_once, garbage, say_nothing
from tests.tls_certs import OPENSSL, Pki, tls_environment

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line to make the test certificates")

WHERE = "head:10001"
SERVER_CERT = {"subject": "CN=head", "issuer": "CN=Acme Ray CA", "names": ["IP:10.0.0.5", "DNS:ray-head"],
               "not_after": "2027-06-01T00:00:00Z", "expired": False, "days_left": 180}
CA_FACTS = {"variable": "RAY_TLS_CA_CERT", "path": "/certs/ca.crt", "subject": "CN=Acme Ray CA", "issuer": "CN=Acme Ray CA",
            "not_after": "2030-01-01T00:00:00Z", "expired": False, "days_left": 1000, "certificates": 1}
CERT_FACTS = {"variable": "RAY_TLS_SERVER_CERT", "path": "/certs/client.crt", "subject": "CN=alice", "issuer": "CN=Acme Ray CA",
              "not_after": "2027-01-01T00:00:00Z", "expired": False, "days_left": 30, "certificates": 1}
KEY_FACTS = {"variable": "RAY_TLS_SERVER_KEY", "path": "/certs/client.key", "pem_private_key": True, "encrypted": False}


def facts(client_tls: bool = False, server_tls: Optional[bool] = False, files: bool = True, problems: Optional[List[Dict[str, str]]] = None,
          verified: Optional[Dict[str, Any]] = None, use_tls: Optional[str] = None, **server: Any) -> Dict[str, Any]:
    """``ray_tls`` facts as the probe gives them."""
    client: Dict[str, Any] = {"enabled": client_tls, "use_tls": use_tls if use_tls is not None else ("1" if client_tls else None),
                              "set": [], "problems": problems or []}
    if files:
        client.update(set=["RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT"], cert=dict(CERT_FACTS), key=dict(KEY_FACTS),
                      ca=dict(CA_FACTS), pair_ok=True, ca_accepts_cert=True)
    server_facts: Dict[str, Any] = {"speaks_tls": server_tls}
    if server_tls is False:
        server_facts["how"] = PLAIN_CALL
    if server_tls:
        server_facts.update(version="TLSv1.3", alpn="h2", certificate=dict(SERVER_CERT))
    server_facts.update(server)
    made: Dict[str, Any] = {"where": WHERE, "host": "head", "port": 10001, "client": client, "server": server_facts,
                            "channel_ready": client_tls and not problems}
    if verified is not None:
        made["verified"] = verified
    return made


class TestJudgement:
    def test_no_tls_anywhere_passes(self) -> None:
        out = tls(facts(files=False))
        assert out.status is Status.PASS and out.summary == f"no TLS on the Ray ports: {WHERE} speaks plain gRPC and RAY_USE_TLS is not set"

    def test_files_without_ray_use_tls_are_ignored_as_ray_ignores_them(self) -> None:
        out = tls(facts())
        assert out.status is Status.PASS and "which Ray ignores without RAY_USE_TLS=1" in out.summary

    def test_a_tls_server_and_a_client_without_tls_fails_with_the_exports(self) -> None:
        out = tls(facts(server_tls=True, files=False))
        assert out.status is Status.FAIL
        assert "speaks TLS, and this client is not set up for it (RAY_USE_TLS is not set)" in out.summary
        assert "ray client connection timeout" in out.summary and "issued by CN=Acme Ray CA" in out.summary
        assert out.remedy and TLS_EXPORTS in out.remedy and "(CN=Acme Ray CA)" in out.remedy

    def test_files_in_place_but_ray_use_tls_off_needs_one_export(self) -> None:
        out = tls(facts(server_tls=True, use_tls="yes"))
        assert out.status is Status.FAIL and "RAY_USE_TLS is 'yes', which Ray reads as off: it takes 1 or true" in out.summary
        assert out.remedy and out.remedy.startswith("export RAY_USE_TLS=1 (") and "are set already" in out.remedy

    def test_a_tls_client_and_a_plain_server_fails(self) -> None:
        out = tls(facts(client_tls=True, server_tls=False))
        assert out.status is Status.FAIL and f"{WHERE} does not speak TLS, but RAY_USE_TLS=1 here" in out.summary
        assert out.remedy and out.remedy.startswith("for this cluster, unset RAY_USE_TLS RAY_TLS_SERVER_CERT")

    def test_the_clients_own_problem_comes_first_with_its_remedy(self) -> None:
        problems = [{"text": f"{RAY_MISSING_FILES} (not set: RAY_TLS_CA_CERT)", "remedy": TLS_EXPORTS},
                    {"text": "the key in RAY_TLS_SERVER_KEY (k) does not belong to the certificate in RAY_TLS_SERVER_CERT (c)", "remedy": "x"}]
        out = tls(facts(client_tls=True, server_tls=True, problems=problems))
        assert out.status is Status.FAIL and RAY_MISSING_FILES in out.summary and "(and 1 more: see details)" in out.summary
        assert out.remedy == TLS_EXPORTS and len(out.details["problems"]) == 2

    def test_a_verified_handshake_passes_naming_the_ca_and_the_certificates(self) -> None:
        out = tls(facts(client_tls=True, server_tls=True, verified={"ok": True, "grpc_status": 0}))
        assert out.status is Status.PASS
        assert out.summary == (f"TLS verified with {WHERE}: the server's certificate CN=head (valid until 2027-06-01) checked against the CA "
                               "in RAY_TLS_CA_CERT (CN=Acme Ray CA); client certificate CN=alice (valid until 2027-01-01)")
        assert out.details["server_certificate"]["names"] == SERVER_CERT["names"] and out.details["tls_version"] == "TLSv1.3"

    def test_a_certificate_about_to_expire_warns(self) -> None:
        soon = facts(client_tls=True, server_tls=True, verified={"ok": True, "grpc_status": 0})
        soon["server"]["certificate"].update(days_left=3, not_after="2026-12-03T00:00:00Z")
        out = tls(soon)
        assert out.status is Status.WARN and "the server's certificate (CN=head) expires on 2026-12-03" in out.summary

    def test_a_host_name_the_certificate_lacks_is_named_in_grpcs_words(self) -> None:
        cause = "certificate verify failed: hostname mismatch, certificate is not valid for 'head'"
        out = tls(facts(client_tls=True, server_tls=True, verified={"ok": False, "error_kind": "tls", "error": cause, "cause": cause}))
        assert out.status is Status.FAIL
        assert out.summary == f"{PEER_NAME.format(host='head')}: the server's certificate at {WHERE} names 10.0.0.5, ray-head"
        assert out.remedy and "ray://10.0.0.5:10001" in out.remedy and "also names head" in out.remedy

    def test_a_ca_that_did_not_sign_the_servers_certificate_is_named(self) -> None:
        cause = "certificate verify failed: unable to get local issuer certificate (signed by a CA this machine does not trust)"
        other = facts(client_tls=True, server_tls=True, verified={"ok": False, "error_kind": "tls", "cause": cause})
        other["client"]["ca"]["subject"] = "CN=Other CA"
        out = tls(other)
        assert out.status is Status.FAIL
        assert out.summary == (f"the CA in RAY_TLS_CA_CERT (CN=Other CA) does not verify the server's certificate at {WHERE} (issued by "
                               "CN=Acme Ray CA): certificate verify failed: unable to get local issuer certificate")
        assert out.remedy and "set RAY_TLS_CA_CERT to the CA that issued the head's certificate (CN=Acme Ray CA)" in out.remedy

    def test_an_expired_server_certificate_is_named(self) -> None:
        old = facts(client_tls=True, server_tls=True, verified={"ok": False, "cause": "certificate verify failed: certificate has expired"})
        old["server"]["certificate"].update(expired=True, not_after="2020-01-01T00:00:00Z")
        out = tls(old)
        assert out.status is Status.FAIL and "expired on 2020-01-01" in out.summary and "renew" in (out.remedy or "")

    def test_a_client_certificate_the_server_refused_is_named_with_the_local_reason(self) -> None:
        refused = facts(client_tls=True, server_tls=True,
                        verified={"ok": False, "error_kind": "tls", "cause": "the server did not accept this client's certificate"})
        refused["client"].update(ca_accepts_cert=False, ca_verdict="unable to get local issuer certificate")
        out = tls(refused)
        assert out.status is Status.FAIL
        assert "did not accept the client certificate in RAY_TLS_SERVER_CERT (CN=alice, issued by CN=Acme Ray CA)" in out.summary
        assert "checked against RAY_TLS_CA_CERT: unable to get local issuer certificate" in out.summary

    def test_never_a_pass_without_an_answer(self) -> None:
        assert tls(facts(server_tls=None, error="no answer within 3 s")).status is Status.SKIP
        assert tls({}).status is Status.SKIP
        unverified = tls(facts(client_tls=True, server_tls=True))  # TLS on both sides, but no verified handshake
        assert unverified.status is Status.SKIP
        assert tls(Missing("cluster unreachable (refused)")).summary == "skipped: cluster unreachable (refused)"
        assert tls(None).status is Status.ERROR


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    root = tmp_path_factory.mktemp("pki")
    ca = Pki(root / "ca")
    other = Pki(root / "other", "another CA")
    made: Dict[str, Any] = {"ca": ca.ca, "other_ca": other.ca, "server": ca.issue("server", ips=["127.0.0.1"], dns=["localhost"]),
                            "client": ca.issue("client"), "expired": ca.issue("expired", period=("20190101000000Z", "20200101000000Z")),
                            "stranger": other.issue("stranger"), "root": root}
    encrypted = root / "encrypted.key"
    subprocess.run([str(OPENSSL), "genrsa", "-aes256", "-passout", "pass:secret", "-out", str(encrypted), "2048"], check=True,
                   capture_output=True, timeout=60)
    made["encrypted"] = str(encrypted)
    yield made



class TestClientFiles:
    def test_a_good_set_has_no_problem_and_no_key_material(self, pki: Dict[str, Any]) -> None:
        cert, key = pki["client"]
        found = client_files(tls_environment(cert, key, pki["ca"]), time.time())
        assert found["enabled"] and found["problems"] == [] and found["pair_ok"] and found["ca_accepts_cert"]
        assert found["cert"]["subject"] == "CN=client" and found["cert"]["issuer"] == "CN=ray-preflight test CA"
        assert found["ca"]["subject"] == "CN=ray-preflight test CA" and found["ca"]["certificates"] == 1
        assert found["key"] == {"variable": "RAY_TLS_SERVER_KEY", "path": key, "pem_private_key": True, "encrypted": False}
        body = "".join(Path(key).read_text().splitlines()[1:-1])
        assert body[:40] not in json.dumps(found)

    def test_a_missing_variable_is_rays_own_error(self, pki: Dict[str, Any]) -> None:
        cert, key = pki["client"]
        env = tls_environment(cert, key, pki["ca"])
        del env["RAY_TLS_CA_CERT"]
        found = client_files(env, time.time())
        assert found["problems"][0]["text"] == f"{RAY_MISSING_FILES} (not set: RAY_TLS_CA_CERT)"

    def test_files_ray_cannot_open(self, pki: Dict[str, Any], tmp_path: Path) -> None:
        cert, key = pki["client"]
        texts = [p["text"] for p in client_files(tls_environment(cert, key, "/no/such/ca.crt"), time.time())["problems"]]
        assert texts == ["RAY_TLS_CA_CERT /no/such/ca.crt: no such file"]
        texts = [p["text"] for p in client_files(tls_environment(cert, key, str(tmp_path)), time.time())["problems"]]
        assert texts == [f"RAY_TLS_CA_CERT {tmp_path}: is a folder, not a file"]
        home = tmp_path / "home"
        home.mkdir()
        (home / "ca.crt").write_text(Path(pki["ca"]).read_text())
        env = dict(tls_environment(cert, key, "~/ca.crt"), HOME=str(home))
        saved = os.environ.get("HOME")
        os.environ["HOME"] = str(home)
        try:
            texts = [p["text"] for p in client_files(env, time.time())["problems"]]
        finally:
            if saved is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved
        assert texts == [f"RAY_TLS_CA_CERT ~/ca.crt: no such file (Ray opens the path as written and does not expand ~: use {home}/ca.crt)"]

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
    def test_an_unreadable_key(self, pki: Dict[str, Any], tmp_path: Path) -> None:
        cert, key = pki["client"]
        locked = tmp_path / "locked.key"
        locked.write_text(Path(key).read_text())
        locked.chmod(0)
        try:
            texts = [p["text"] for p in client_files(tls_environment(cert, str(locked), pki["ca"]), time.time())["problems"]]
        finally:
            locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
        assert texts == [f"RAY_TLS_SERVER_KEY {locked}: cannot be read (permission denied)"]

    def test_not_pem_not_a_pair_and_a_passphrase(self, pki: Dict[str, Any]) -> None:
        cert, key = pki["client"]
        other_cert, other_key = pki["server"]
        found = client_files(tls_environment(cert, other_key, pki["ca"]), time.time())
        assert found["pair_ok"] is False
        assert [p["text"] for p in found["problems"]] == [
            f"the key in RAY_TLS_SERVER_KEY ({other_key}) does not belong to the certificate in RAY_TLS_SERVER_CERT ({cert})"]
        swapped = client_files(tls_environment(key, cert, pki["ca"]), time.time())
        assert [p["text"] for p in swapped["problems"]] == [
            f"RAY_TLS_SERVER_CERT {key}: holds no PEM certificate (-----BEGIN CERTIFICATE-----); Ray's gRPC reads PEM only",
            f"RAY_TLS_SERVER_KEY {cert}: holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)"]
        locked = client_files(tls_environment(cert, pki["encrypted"], pki["ca"]), time.time())
        assert locked["key"]["encrypted"] and "has a passphrase" in locked["problems"][0]["text"]

    def test_an_expired_certificate_and_one_from_another_ca(self, pki: Dict[str, Any]) -> None:
        cert, key = pki["expired"]
        found = client_files(tls_environment(cert, key, pki["ca"]), time.time())
        assert found["cert"]["expired"] and found["cert"]["not_after"] == "2020-01-01T00:00:00Z"
        assert [p["text"] for p in found["problems"]] == ["the client certificate in RAY_TLS_SERVER_CERT (CN=expired) expired on 2020-01-01"]
        assert found["ca_accepts_cert"] is False and found["ca_verdict"] == "certificate has expired"
        cert, key = pki["stranger"]
        found = client_files(tls_environment(cert, key, pki["ca"]), time.time())
        assert found["problems"] == [] and found["ca_accepts_cert"] is False
        assert found["ca_verdict"] == "unable to get local issuer certificate"
        assert client_certificate_verdict(cert, key, pki["other_ca"]) is None

    def test_variables_without_ray_use_tls_are_read_but_change_nothing(self, pki: Dict[str, Any]) -> None:
        cert, key = pki["client"]
        env = tls_environment(cert, key, pki["ca"])
        env["RAY_USE_TLS"] = "0"
        found = client_files(env, time.time())
        assert not found["enabled"] and found["set"] == ["RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT"]
        assert client_files({"RAY_USE_TLS": "TRUE"}, time.time())["enabled"]  # Ray: "1" or "true", any case


# ---- the probe and the check against a real gRPC TLS server (grpcio), through the CLI ----------------------------

SERVER = """
import sys, time
from concurrent import futures
import grpc
cert, key, ca, tls_port, plain_port = sys.argv[1:]
class Any(grpc.GenericRpcHandler):
    def service(self, details):
        return grpc.unary_unary_rpc_method_handler(lambda request, context: b"")
server = grpc.server(futures.ThreadPoolExecutor(2))
server.add_generic_rpc_handlers((Any(),))
read = lambda path: open(path, "rb").read()
server.add_secure_port("127.0.0.1:" + tls_port, grpc.ssl_server_credentials([(read(key), read(cert))], root_certificates=read(ca),
                       require_client_auth=True))
server.add_insecure_port("127.0.0.1:" + plain_port)
server.start()
print("READY", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def grpc_server(pki: Dict[str, Any]) -> Iterator[Dict[str, int]]:
    import sys

    pytest.importorskip("grpc")
    ports = {"tls": free_port(), "plain": free_port()}
    cert, key = pki["server"]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, cert, key, pki["ca"], str(ports["tls"]), str(ports["plain"])],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        yield ports
    finally:
        proc.kill()
        proc.wait(timeout=10)


def tool(address: str, env: Dict[str, str]) -> Dict[str, Dict[str, Any]]:
    done = run_cli(["--address", address, "--only", "reachability,tls", "--format", "json", "--timeout", "20"], env)
    assert done.returncode in (0, 1), done.stderr
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}


class TestAgainstAGrpcTlsServer:
    def test_the_right_files_pass(self, grpc_server: Dict[str, int], pki: Dict[str, Any]) -> None:
        results = tool(f"ray://127.0.0.1:{grpc_server['tls']}", tls_environment(*pki["client"], pki["ca"]))
        assert results["reachability"]["status"] == "pass"
        found = results["tls"]
        assert found["status"] == "pass" and "TLS verified with 127.0.0.1" in found["summary"], found
        assert "(CN=ray-preflight test CA)" in found["summary"] and "CN=server (valid until" in found["summary"]

    def test_no_tls_here_against_tls_there(self, grpc_server: Dict[str, int]) -> None:
        results = tool(f"ray://127.0.0.1:{grpc_server['tls']}", {"RAY_USE_TLS": "0"})
        assert results["reachability"]["details"]["error_kind"] == "tls-required"
        assert results["tls"]["status"] == "fail" and TLS_EXPORTS in results["tls"]["remedy"]

    def test_tls_here_against_plain_there(self, grpc_server: Dict[str, int], pki: Dict[str, Any]) -> None:
        results = tool(f"ray://127.0.0.1:{grpc_server['plain']}", tls_environment(*pki["client"], pki["ca"]))
        assert results["tls"]["status"] == "fail" and "does not speak TLS, but RAY_USE_TLS=1 here" in results["tls"]["summary"]

    def test_plain_on_both_sides(self, grpc_server: Dict[str, int]) -> None:
        results = tool(f"ray://127.0.0.1:{grpc_server['plain']}", {"RAY_USE_TLS": "0"})
        assert results["tls"]["status"] == "pass" and results["tls"]["summary"].startswith("no TLS on the Ray ports")

    def test_a_wrong_ca_a_stranger_certificate_an_expired_one_and_a_wrong_name(self, grpc_server: Dict[str, int], pki: Dict[str, Any]) -> None:
        address = f"ray://127.0.0.1:{grpc_server['tls']}"
        wrong_ca = tool(address, tls_environment(*pki["client"], pki["other_ca"]))["tls"]
        assert wrong_ca["status"] == "fail" and wrong_ca["summary"].startswith("the CA in RAY_TLS_CA_CERT (CN=another CA) does not verify")
        stranger = tool(address, tls_environment(*pki["stranger"], pki["ca"]))
        assert stranger["reachability"]["details"]["error_kind"] == "tls"
        assert "did not accept the client certificate in RAY_TLS_SERVER_CERT (CN=stranger, issued by CN=another CA)" in stranger["tls"]["summary"]
        expired = tool(address, tls_environment(*pki["expired"], pki["ca"]))["tls"]
        assert expired["status"] == "fail" and "(CN=expired) expired on 2020-01-01" in expired["summary"]
        named = tool(f"ray://localhost:{grpc_server['tls']}", tls_environment(*pki["client"], pki["ca"]))["tls"]
        assert named["status"] == "pass"  # localhost is in the certificate


def _other_local_name() -> Optional[str]:
    """A name of this machine that resolves to a loopback or local address and is not in the test certificate."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return None
    return name if name not in ("localhost", "127.0.0.1") and address.startswith("127.") else None


def test_a_name_the_servers_certificate_lacks_is_named_in_grpcs_words(grpc_server: Dict[str, int], pki: Dict[str, Any]) -> None:
    name = _other_local_name()
    if name is None:
        pytest.skip("this machine's host name does not resolve to a loopback address")
    results = tool(f"ray://{name}:{grpc_server['tls']}", tls_environment(*pki["client"], pki["ca"]))
    found = results["tls"]
    assert found["status"] == "fail"
    where = f"{name}:{grpc_server['tls']}"
    assert found["summary"] == f"Peer name {name} is not in peer certificate: the server's certificate at {where} names 127.0.0.1, localhost"
    assert f"ray://127.0.0.1:{grpc_server['tls']}" in found["remedy"]


@pytest.mark.parametrize("behaviour, status, words", [
    (close_at_once, "skip", "cannot tell whether"),  # closes at once, also on a TLS handshake: no evidence either way
    (garbage, "pass", "does not speak TLS (it answered a TLS handshake with plain bytes) and RAY_USE_TLS is not set"),
    (say_nothing, "skip", "cannot tell whether"),
], ids=["closes-at-once", "not-tls-not-grpc", "silent"])
def test_a_port_that_is_not_ray_never_passes_for_a_tls_answer(behaviour: Any, status: str, words: str) -> None:
    with FaultServer(behaviour) as server:
        results = tool(f"ray://127.0.0.1:{server.port}", {"RAY_USE_TLS": "0"})
    assert results["reachability"]["status"] == "fail"
    assert results["tls"]["status"] == status and words in results["tls"]["summary"], results["tls"]


def test_the_tls_check_is_quick_and_gates_the_fibonacci_job(grpc_server: Dict[str, int]) -> None:
    done = run_cli(["--address", f"ray://127.0.0.1:{grpc_server['tls']}", "--only", "tls,fibonacci", "--format", "json"],
                   {"RAY_USE_TLS": "0"})
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert results["tls"]["status"] == "fail" and results["fibonacci"]["status"] == "skip"
    assert "tls: fail" in results["fibonacci"]["summary"] and results["tls"]["duration_s"] < 5
