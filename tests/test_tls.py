"""TLS for the dashboard: ``--ca-bundle FILE`` and ``--insecure``, against a real HTTPS server.

What is real: the certificates (a private CA, a server certificate it signs and a second, unrelated CA, all
made at test time by the ``openssl`` command line; no Python crypto library, ``cryptography`` is not needed),
the HTTPS server (``http.server`` + ``ssl`` in a thread on a free loopback port, answering Ray 2.2.0-shaped
JSON for ``/api/version`` and ``/api/cluster_status``), the TLS handshakes and certificate verification
(Python's ``ssl``, i.e. OpenSSL), and the CLI (``python -m preflight`` in a child process, as a user runs it).
What is not: no Ray head runs; the dashboard is a stand-in that answers like Ray's.

Why the dashboard check really runs although no Ray head does: the dashboard probe gives up when the head's
Ray Client port is unreachable *and* the dashboard is on the head's own host (``require_head`` in
checks/reachability.py compares the two host names as written). So ``--address`` names ``127.0.0.1`` on a
closed port while the dashboard URL names ``localhost``: the same machine under another name, so the probe
goes ahead and the check judges what the dashboard answered. The server certificate names only
``DNS:localhost``; swapping the two names (address ``localhost``, dashboard ``https://127.0.0.1:<port>/``)
therefore gives a real IP-address mismatch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import preflight
from preflight.model import Status
from preflight.net import CERT_VERIFY_FAILED, NetError, TlsOptions, http_get
from preflight.settings import merge
from preflight.testing import closed_port
from tests.facts import cluster_status

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line to make the test certificates")

RAY_VERSION = {"version": "3", "ray_version": "2.2.0", "ray_commit": "b6af0887ee5f2e460202133791ad941a41f15beb"}
CLUSTER_STATUS = {"result": True, "msg": "Got cluster status.", "data": cluster_status({"smallgroup": 1})}
#: Environment that would change which certificates the default context trusts.
TRUST_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "RAY_PREFLIGHT_CA_BUNDLE", "RAY_ADDRESS")

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[self_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([str(OPENSSL), *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """ca.pem signs server.pem (for DNS:localhost only); other-ca.pem signs nothing we serve."""
    folder = tmp_path_factory.mktemp("pki")
    (folder / "openssl.cnf").write_text(OPENSSL_CNF)
    for name, subject in (("ca", "/CN=ray-preflight test CA"), ("other-ca", "/CN=some other CA")):
        _openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext", "-newkey", "rsa:2048", "-nodes",
                 "-days", "2", "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)
    _openssl("req", "-new", "-config", "openssl.cnf", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "server.key", "-out", "server.csr", cwd=folder)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "0x5eed",
             "-days", "2", "-extfile", "openssl.cnf", "-extensions", "server_ext", "-out", "server.pem", cwd=folder)
    _openssl("req", "-x509", "-config", "openssl.cnf", "-extensions", "self_ext", "-newkey", "rsa:2048", "-nodes",
             "-days", "2", "-subj", "/CN=localhost", "-keyout", "self-signed.key", "-out", "self-signed.pem", cwd=folder)
    (folder / "not-pem.pem").write_bytes(b"this is not a certificate\n")
    (folder / "run").mkdir()  # where the CLI runs
    names = ("ca", "other-ca", "server", "self-signed", "not-pem")
    keys = {"server_key": folder / "server.key", "self_signed_key": folder / "self-signed.key"}
    return {"folder": folder, "run": folder / "run", **keys, **{n: folder / f"{n}.pem" for n in names}}


class _Dashboard(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/api/version":
            self._json(200, RAY_VERSION)
        elif self.path == "/api/cluster_status":
            self._json(200, CLUSTER_STATUS)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/api/version")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(404, {"error": "not found"})

    def _json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(cert: Optional[Path] = None, key: Optional[Path] = None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dashboard)
    server.daemon_threads = True
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="tls-dashboard", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def https_port(pki: Dict[str, Path]) -> Iterator[int]:
    """A dashboard on https://localhost:<port>/ whose certificate ca.pem signed."""
    yield from _serve(pki["server"], pki["server_key"])


@pytest.fixture(scope="module")
def self_signed_port(pki: Dict[str, Path]) -> Iterator[int]:
    """A dashboard on https://localhost:<port>/ whose certificate signs itself (no CA at all)."""
    yield from _serve(pki["self-signed"], pki["self_signed_key"])


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """The same dashboard over plain HTTP."""
    yield from _serve()


def _cli(args: List[str], cwd: Path, env_extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in TRUST_ENV}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def _results(proc: subprocess.CompletedProcess) -> Dict[str, Dict[str, Any]]:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    return {r["id"]: r for r in report["results"]}


def _dashboard_run(pki: Dict[str, Path], port: int, *extra: str, host: str = "localhost", head: str = "127.0.0.1",
                   only: str = "dashboard", env_extra: Optional[Dict[str, str]] = None) -> Dict[str, Dict[str, Any]]:
    proc = _cli(["--address", f"ray://{head}:{closed_port()}", "--dashboard-url", f"https://{host}:{port}/", "--only", only,
                 "--format", "json", "--connect-timeout", "10", *extra], pki["run"], env_extra)
    results = _results(proc)
    # GO (exit 0) needs evidence: nothing failed or errored, and at least one check passed (a lone warning is NO-GO)
    go = not any(r["status"] in ("fail", "error") for r in results.values()) and any(r["status"] == "pass" for r in results.values())
    assert proc.returncode == (0 if go else 1), proc.stdout + proc.stderr
    return results


# -- the CLI against the HTTPS dashboard ------------------------------------------------------------------


def test_an_untrusted_certificate_fails_and_names_both_options(pki: Dict[str, Path], https_port: int) -> None:
    result = _dashboard_run(pki, https_port)["dashboard"]
    assert result["status"] == "fail", result
    assert "certificate verify failed" in result["summary"] and "not trusted" in result["summary"], result
    assert "unable to get local issuer certificate" in result["summary"]
    assert "\n" not in result["summary"]
    assert result["remedy"].startswith("pass --ca-bundle FILE (the CA that signed the dashboard's certificate), "
                                       "or --insecure to skip verification")
    assert f"openssl s_client -showcerts -connect localhost:{https_port} </dev/null" in result["remedy"]
    assert result["details"]["error_kind"] == "tls"


def test_the_ca_bundle_verifies_it_without_any_python_crypto_library(pki: Dict[str, Path], https_port: int) -> None:
    no_crypto = pki["folder"] / "no-crypto"
    (no_crypto / "cryptography").mkdir(parents=True, exist_ok=True)
    (no_crypto / "cryptography" / "__init__.py").write_text("raise ImportError('cryptography is not installed here')\n")
    result = _dashboard_run(pki, https_port, "--ca-bundle", str(pki["ca"]), env_extra={"PYTHONPATH": str(no_crypto)})["dashboard"]
    assert result["status"] == "pass", result
    assert result["summary"].startswith(f"dashboard at https://localhost:{https_port}/ answers: Ray 2.2.0")
    assert result["details"]["ca_bundle"] == str(pki["ca"])


def test_a_relative_ca_bundle_is_read_from_the_working_directory(pki: Dict[str, Path], https_port: int) -> None:
    relative = os.path.relpath(pki["ca"], pki["run"])
    assert _dashboard_run(pki, https_port, "--ca-bundle", relative)["dashboard"]["status"] == "pass"


def test_insecure_answers_but_warns_that_nothing_was_verified(pki: Dict[str, Path], https_port: int) -> None:
    result = _dashboard_run(pki, https_port, "--insecure")["dashboard"]
    assert result["status"] == "warn", result
    assert "Ray 2.2.0" in result["summary"] and "NOT verified" in result["summary"]
    assert result["remedy"].startswith("pass --ca-bundle FILE instead of --insecure")
    assert f"openssl s_client -showcerts -connect localhost:{https_port} </dev/null" in result["remedy"]


def test_a_self_signed_certificate_is_its_own_ca_bundle(pki: Dict[str, Path], self_signed_port: int) -> None:
    untrusted = _dashboard_run(pki, self_signed_port)["dashboard"]
    assert untrusted["status"] == "fail", untrusted
    assert re.search(r"certificate verify failed: self.signed certificate", untrusted["summary"]), untrusted
    assert "--ca-bundle FILE" in untrusted["remedy"]
    trusted = _dashboard_run(pki, self_signed_port, "--ca-bundle", str(pki["self-signed"]))["dashboard"]
    assert trusted["status"] == "pass", trusted


def test_a_ca_that_did_not_sign_the_certificate_fails(pki: Dict[str, Path], https_port: int) -> None:
    result = _dashboard_run(pki, https_port, "--ca-bundle", str(pki["other-ca"]))["dashboard"]
    assert result["status"] == "fail", result
    assert f"not signed by the CA in --ca-bundle {pki['other-ca']}" in result["summary"]
    assert "certificate verify failed" in result["summary"]
    assert "--ca-bundle FILE" in result["remedy"]


def test_a_certificate_for_another_host_fails_even_with_the_right_ca(pki: Dict[str, Path], https_port: int) -> None:
    result = _dashboard_run(pki, https_port, "--ca-bundle", str(pki["ca"]), host="127.0.0.1", head="localhost")["dashboard"]
    assert result["status"] == "fail", result
    assert "IP address mismatch" in result["summary"] and "'127.0.0.1'" in result["summary"]
    assert "--dashboard-url" in result["remedy"] and "--insecure" in result["remedy"]
    insecure = _dashboard_run(pki, https_port, "--insecure", host="127.0.0.1", head="localhost")["dashboard"]
    assert insecure["status"] == "warn", insecure


def test_without_options_the_default_trust_store_honours_ssl_cert_file(pki: Dict[str, Path], https_port: int) -> None:
    result = _dashboard_run(pki, https_port, env_extra={"SSL_CERT_FILE": str(pki["ca"])})["dashboard"]
    assert result["status"] == "pass", result


def test_https_to_a_plain_http_dashboard_says_so(pki: Dict[str, Path], http_port: int) -> None:
    result = _dashboard_run(pki, http_port, "--insecure")["dashboard"]
    assert result["status"] == "fail", result
    assert "does not speak TLS" in result["summary"]
    assert f"--dashboard-url http://localhost:{http_port}/" in result["remedy"]


def test_insecure_does_not_touch_a_plain_http_dashboard(pki: Dict[str, Path], http_port: int) -> None:
    proc = _cli(["--address", f"ray://127.0.0.1:{closed_port()}", "--dashboard-url", f"http://localhost:{http_port}/",
                 "--only", "dashboard", "--format", "json", "--insecure"], pki["run"])
    assert _results(proc)["dashboard"]["status"] == "pass"


def test_the_autoscaler_still_reads_the_cluster_status_over_tls(pki: Dict[str, Path], https_port: int) -> None:
    results = _dashboard_run(pki, https_port, "--ca-bundle", str(pki["ca"]), only="dashboard,autoscaler")
    assert results["autoscaler"]["status"] == "pass", results["autoscaler"]
    assert "smallgroup" in results["autoscaler"]["summary"]
    insecure = _dashboard_run(pki, https_port, "--insecure", only="dashboard,autoscaler")
    assert insecure["autoscaler"]["status"] == "pass" and insecure["dashboard"]["status"] == "warn"
    untrusted = _dashboard_run(pki, https_port, only="dashboard,autoscaler")
    assert untrusted["autoscaler"]["status"] == "skip" and "certificate verify failed" in untrusted["autoscaler"]["summary"]


# -- unusable input: exit 2, one line, no traceback -------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--ca-bundle", "{folder}/missing.pem"], "--ca-bundle {folder}/missing.pem: no such file"),
        (["--ca-bundle", "{not-pem}"], "--ca-bundle {not-pem}: not a PEM certificate file"),
        (["--ca-bundle", "{folder}"], "--ca-bundle {folder}: a directory, not a file"),
        (["--ca-bundle", "{server_key}"], "not a PEM certificate file"),
        (["--ca-bundle", "{ca}", "--insecure"], "--ca-bundle and --insecure contradict each other: choose one"),
        (["--insecure", "--ca-bundle", "{folder}/missing.pem"], "--ca-bundle and --insecure contradict each other"),
    ],
)
def test_an_unusable_ca_bundle_is_one_line_and_exit_2(pki: Dict[str, Path], https_port: int, args: List[str], words: str) -> None:
    names = {k: str(v) for k, v in pki.items()}
    proc = _cli(["--address", f"ray://127.0.0.1:{closed_port()}", "--dashboard-url", f"https://localhost:{https_port}/",
                 "--only", "dashboard", *[a.format(**names) for a in args]], pki["run"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("ray-preflight: error: "), proc.stderr
    assert words.format(**names) in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


# -- the team settings file --------------------------------------------------------------------------------


def test_settings_file_ca_bundle_is_relative_to_the_file(pki: Dict[str, Path], https_port: int, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    shutil.copy(pki["ca"], tmp_path / "certs" / "corp-ca.pem")
    (tmp_path / "ray-preflight.toml").write_text('ca-bundle = "certs/corp-ca.pem"\n')
    (tmp_path / "notebooks").mkdir()
    proc = _cli(["--address", f"ray://127.0.0.1:{closed_port()}", "--dashboard-url", f"https://localhost:{https_port}/",
                 "--only", "dashboard", "--format", "json"], tmp_path / "notebooks")
    result = _results(proc)["dashboard"]
    assert result["status"] == "pass", result
    assert result["details"]["ca_bundle"] == str(tmp_path / "certs" / "corp-ca.pem")


def test_a_flag_replaces_the_files_other_choice(pki: Dict[str, Path], https_port: int, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ray-preflight]\ninsecure = true\n')
    base = ["--address", f"ray://127.0.0.1:{closed_port()}", "--dashboard-url", f"https://localhost:{https_port}/",
            "--only", "dashboard", "--format", "json"]
    assert _results(_cli(base, tmp_path))["dashboard"]["status"] == "warn"  # the file's insecure = true
    assert _results(_cli([*base, "--ca-bundle", str(pki["ca"])], tmp_path))["dashboard"]["status"] == "pass"
    env = _results(_cli(base, tmp_path, {"RAY_PREFLIGHT_CA_BUNDLE": str(pki["ca"])}))["dashboard"]
    assert env["status"] == "pass", env


def test_settings_keys_are_typed_and_merged(tmp_path: Path) -> None:
    (tmp_path / "ray-preflight.toml").write_text('insecure = "yes"\n')
    with pytest.raises(preflight.UsageError, match=r"insecure: must be true or false, not 'yes'"):
        merge({}, environ={}, start=tmp_path)
    (tmp_path / "ray-preflight.toml").write_text('ca-bundle = "ca.pem"\ninsecure = false\n')
    merged = merge({"ca_bundle": None, "insecure": False}, environ={}, start=tmp_path)
    assert merged["ca_bundle"] == str(tmp_path.resolve() / "ca.pem") and merged["insecure"] is False
    assert "ca_bundle" not in merge({"insecure": True}, environ={}, start=tmp_path)
    env = merge({}, environ={"RAY_PREFLIGHT_CA_BUNDLE": "/etc/corp-ca.pem"}, start=tmp_path)
    assert env["ca_bundle"] == "/etc/corp-ca.pem"


# -- the notebook API and http_get themselves --------------------------------------------------------------


@pytest.fixture
def clean_trust(monkeypatch: pytest.MonkeyPatch, pki: Dict[str, Path]) -> None:
    for name in TRUST_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(pki["run"])


@pytest.mark.usefixtures("clean_trust")
def test_the_notebook_api_takes_ca_bundle_and_insecure(pki: Dict[str, Path], https_port: int) -> None:
    where = dict(dashboard_url=f"https://localhost:{https_port}/", only="dashboard", connect_timeout=10)
    report = preflight.check(f"ray://127.0.0.1:{closed_port()}", ca_bundle=str(pki["ca"]), **where)
    assert report["dashboard"].status is Status.PASS, report.to_dict()
    assert report.ok
    insecure = preflight.check(f"ray://127.0.0.1:{closed_port()}", insecure=True, **where)
    assert insecure["dashboard"].status is Status.WARN and not insecure.ok  # a lone warning is no evidence for GO
    assert insecure.verdict_reason() == "no check passed (1 warn)"
    untrusted = preflight.check(f"ray://127.0.0.1:{closed_port()}", **where)
    assert untrusted["dashboard"].status is Status.FAIL and not untrusted.ok
    with pytest.raises(ValueError, match="--ca-bundle .*: no such file"):
        preflight.check(f"ray://127.0.0.1:{closed_port()}", ca_bundle=str(pki["folder"] / "missing.pem"), **where)
    with pytest.raises(ValueError, match="contradict each other"):
        preflight.check(f"ray://127.0.0.1:{closed_port()}", ca_bundle=str(pki["ca"]), insecure=True, **where)


@pytest.mark.usefixtures("clean_trust")
def test_http_get_verifies_as_told_and_keeps_its_habits(pki: Dict[str, Path], https_port: int) -> None:
    url = f"https://localhost:{https_port}/api/version"
    with pytest.raises(NetError) as refused:
        http_get(url, 10)
    assert refused.value.kind == "tls" and refused.value.cause.startswith(CERT_VERIFY_FAILED)
    assert refused.value.message == f"TLS with {url} failed: {refused.value.cause}" and "\n" not in refused.value.message
    assert json.loads(http_get(url, 10, tls=TlsOptions(ca_bundle=str(pki["ca"]))).body) == RAY_VERSION
    assert json.loads(http_get(url, 10, tls=TlsOptions(insecure=True)).body) == RAY_VERSION
    with pytest.raises(NetError, match="certificate verify failed"):
        http_get(url, 10, tls=TlsOptions())  # neither option: the default trust store, which does not know ca.pem
    moved = http_get(f"https://localhost:{https_port}/moved", 10, tls=TlsOptions(insecure=True))
    assert moved.status == 302 and moved.headers["location"] == "/api/version"  # redirects are still not followed
    with pytest.raises(NetError) as other:
        http_get(url, 10, tls=TlsOptions(ca_bundle=str(pki["other-ca"])))
    assert other.value.kind == "tls" and CERT_VERIFY_FAILED in other.value.message
    with pytest.raises(NetError) as mismatch:
        http_get(f"https://127.0.0.1:{https_port}/api/version", 10, tls=TlsOptions(ca_bundle=str(pki["ca"])))
    assert "IP address mismatch" in mismatch.value.cause
