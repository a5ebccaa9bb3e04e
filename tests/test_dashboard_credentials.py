"""A dashboard behind a sign-in: basic auth from the URL's ``user:password@`` and ``--dashboard-header``, and the
secrets of a run (those credentials, the Ray auth token, the TLS private key) never coming out of any output.

What is real: the Ray head (``ray start --head`` on loopback, the module's ``ray_head``, Ray 2.60) and its dashboard;
the command (``python -m preflight`` in a child process, as a user runs it); the support bundle it writes. What stands
in: ``Ingress`` (tests/ingress.py), a small threaded reverse proxy on loopback in front of that dashboard, stands in
for a Kubernetes ingress with basic auth or for an OAuth proxy that takes a header. It checks the credentials,
forwards what passes to the real dashboard without them, and records what each request carried. The "echoing" one
also writes planted secrets into the cluster status it forwards, as a misbehaving server may echo a secret back (an
autoscaler error): the outputs must mask them.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import preflight
from preflight import config, profiles
from preflight.checks.dashboard import dashboard_check
from preflight.dashboard_api import Credentials
from preflight.errors import UsageError
from preflight.local_head import LocalHead
from preflight.model import Status
from preflight.redaction import MASK
from preflight.target import BasicAuth, resolve, split_dashboard_url
from tests.bundles import open_bundle
from tests.conftest import run_cli
from tests.facts import dashboard_facts
from tests.ingress import HEADER, Ingress

pytestmark = pytest.mark.live  # a real Ray head for the module

USER = "alice"
#: Percent-encoded in the URL (RFC 3986): '/', '@', ':' and '%' in a password are legal once encoded.
PASSWORD = "pl4nted/p@ss:w0rd%9"
HEADER_VALUE = "pl4nted-H3ader-v4lue-0123"
TOKEN = "pl4nted-R4y-t0ken-4567"
FAST_SKIP = ["--skip", "fibonacci,package-parity", "--connect-timeout", "3"]


def with_credentials(url: str, user: str = USER, password: str = PASSWORD) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


@pytest.fixture(scope="module")
def key_file(tls_pair: Tuple[str, str]) -> Tuple[str, str, str]:
    """A real TLS private key (openssl) as ``RAY_TLS_SERVER_KEY`` names it: (path, content, one line of its body)."""
    path = tls_pair[1]
    content = Path(path).read_text()
    line = content.splitlines()[3]
    assert len(line) >= 60 and not line.startswith("-----")
    return path, content, line


@pytest.fixture(scope="module")
def ingresses(ray_head: LocalHead, key_file: Tuple[str, str, str]) -> Iterator[Dict[str, Ingress]]:
    echo = f"could not sign in with {PASSWORD} or {HEADER_VALUE} or {TOKEN}; key material {key_file[2]}"
    made = {"basic": Ingress(ray_head.dashboard_url, basic=(USER, PASSWORD)),
            "header": Ingress(ray_head.dashboard_url, header=(HEADER, HEADER_VALUE)),
            "echoing": Ingress(ray_head.dashboard_url, basic=(USER, PASSWORD), echo=echo)}
    yield made
    for ingress in made.values():
        ingress.close()


def planted(key_file: Tuple[str, str, str]) -> List[str]:
    """Every secret of the runs, as typed and as sent."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [PASSWORD, quote(PASSWORD, safe=""), HEADER_VALUE, TOKEN, basic, key_file[1].strip(), key_file[2]]


def secret_env(key_file: Tuple[str, str, str]) -> Dict[str, str]:
    """The Ray token and TLS key where Ray reads them (no RAY_AUTH_MODE, no RAY_USE_TLS: this head wants neither)."""
    return {"RAY_AUTH_TOKEN": TOKEN, "RAY_TLS_SERVER_KEY": key_file[0]}


def _dashboard(stdout: str) -> Dict[str, Any]:
    return next(r for r in json.loads(stdout)["results"] if r["id"] == "dashboard")


def _head(ray_head: LocalHead) -> List[str]:
    return ["--address", ray_head.address, "--gcs-address", ray_head.gcs_address]


# --- through the command, against the real dashboard behind the sign-in ------------------------------------------

CASES = [
    # (id, ingress, credentials: "right"/"wrong"/None, status, the summary's words)
    ("basic-right", "basic", "right", "pass", " ms), with basic auth as user alice"),
    ("basic-wrong", "basic", "wrong", "fail", "refused the credentials sent (basic auth as user alice): HTTP 401"),
    ("basic-none", "basic", None, "warn", "needs a sign-in (HTTP 401)"),
    ("header-right", "header", "right", "pass", f" ms), with 1 header: {HEADER}"),
    ("header-wrong", "header", "wrong", "fail", f"the credentials sent (1 header: {HEADER}) did not get past the sign-in in front "
                                                "of the dashboard: http://127.0.0.1:"),
    ("header-none", "header", None, "warn", "behind a sign-in page"),
]


@pytest.mark.parametrize("ingress, credentials, status, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_dashboard_behind_a_sign_in(ray_head: LocalHead, ingresses: Dict[str, Ingress], ingress: str,
                                        credentials: Optional[str], status: str, words: str) -> None:
    proxy = ingresses[ingress]
    url, extra = proxy.url, []
    if ingress == "basic" and credentials:
        url = with_credentials(proxy.url, password=PASSWORD if credentials == "right" else "not-" + PASSWORD)
    if ingress == "header" and credentials:
        extra = ["--dashboard-header", f"{HEADER}: {HEADER_VALUE if credentials == 'right' else 'expired-' + HEADER_VALUE}"]
    before = len(proxy.seen)
    done = run_cli([*_head(ray_head), "--dashboard-url", url, *extra, "--only", "dashboard", "--format", "json"])
    result = _dashboard(done.stdout)
    assert result["status"] == status, result
    assert words in result["summary"], result["summary"]
    assert proxy.url in result["summary"] and quote(PASSWORD, safe="") not in done.stdout and PASSWORD not in done.stdout + done.stderr
    assert HEADER_VALUE not in done.stdout + done.stderr
    seen = proxy.seen[before:]
    assert seen and seen[0]["path"] == "/api/version"
    if status == "pass":
        assert ray_head.ray_version and f"Ray {ray_head.ray_version}" in result["summary"]
        assert [s["path"] for s in seen] == ["/api/version", "/api/cluster_status"] and all(s["allowed"] for s in seen)
        assert result["details"]["credentials_sent"] in result["summary"]
    if status == "fail":
        assert result["details"]["error_kind"] == "credentials-refused"
        assert "curl -sS -o /dev/null" in result["remedy"] and "api/version" in result["remedy"]
        assert ("-u alice" if ingress == "basic" else f"-H '{HEADER}: …'") in result["remedy"]
    if ingress == "basic" and credentials is None:
        assert "USER:PASSWORD@127.0.0.1" in result["remedy"], result["remedy"]
    if ingress == "basic" and credentials:  # sent as basic auth, and only that
        assert seen[0]["authorization"].startswith("Basic ") and seen[0]["header"] is None
    if ingress == "header" and credentials:
        assert seen[0]["authorization"] is None and seen[0]["header"]


def test_the_ray_token_still_goes_as_x_ray_authorization_beside_basic_auth(ray_head: LocalHead, ingresses: Dict[str, Ingress],
                                                                          key_file: Tuple[str, str, str]) -> None:
    proxy = ingresses["basic"]
    before = len(proxy.seen)
    done = run_cli([*_head(ray_head), "--dashboard-url", with_credentials(proxy.url), "--only", "dashboard", "--format", "json"],
                   dict(secret_env(key_file), RAY_AUTH_MODE="token"))
    assert _dashboard(done.stdout)["status"] == "pass", done.stdout
    first = proxy.seen[before]
    assert first["ray_token"] == f"Bearer {TOKEN}" and first["authorization"].startswith("Basic ")


@pytest.mark.parametrize("output", ["text", "json", "junit"])
def test_no_secret_comes_out_of_a_run_even_when_the_server_echoes_them(ray_head: LocalHead, ingresses: Dict[str, Ingress],
                                                                       key_file: Tuple[str, str, str], output: str,
                                                                       tmp_path: Path) -> None:
    """The echoing sign-in writes the password, the header value, the token and a line of the key into the autoscaler's
    error: the autoscaler check shows that error, and every output masks what the run knows to be secret."""
    junit = tmp_path / "preflight.xml"
    done = run_cli([*_head(ray_head), "--dashboard-url", with_credentials(ingresses["echoing"].url),
                    "--dashboard-header", f"{HEADER}: {HEADER_VALUE}", *FAST_SKIP, "--format", output, "-v",
                    "--junit-xml", str(junit)], secret_env(key_file))
    assert done.returncode == 1, done.stderr  # the echoed autoscaler error fails its check
    written = junit.read_text()
    for secret in planted(key_file):
        assert secret not in done.stdout and secret not in done.stderr and secret not in written, secret
    assert "could not sign in with " + MASK in done.stdout and MASK in written
    if output == "json":
        report = json.loads(done.stdout)
        assert MASK in report["facts"]["dashboard"]["cluster_status"]["autoscalingError"]
        assert report["target"]["dashboard_url"] == ingresses["echoing"].url
        summary = _dashboard(done.stdout)["summary"]
        assert summary.startswith(f"dashboard at {ingresses['echoing'].url} answers: Ray ")
        assert summary.endswith(f" ms), with basic auth as user alice and 1 header: {HEADER}")


@pytest.mark.parametrize("args", [
    ["--dashboard-header", f"Not A Name: {HEADER_VALUE}"],
    ["--dashboard-header", HEADER_VALUE],
    ["--dashboard-header", f"{HEADER}: {HEADER_VALUE}\r\nX-Injected: 1"],
    ["--dashboard-url", f"http://{USER}:{PASSWORD}@127.0.0.1:1/"],  # '/' and '%' not percent-encoded
    ["--dashboard-url", with_credentials("http://127.0.0.1:1/"), "--dashboard-header", f"Authorization: Bearer {HEADER_VALUE}"],
    ["--dashboard-url", with_credentials("http://127.0.0.1:0/")],
], ids=["header-name", "header-no-colon", "header-line-break", "password-not-encoded", "basic-and-authorization", "port-0"])
def test_a_usage_error_never_repeats_a_secret(args: List[str], key_file: Tuple[str, str, str]) -> None:
    done = run_cli(["--address", "ray://127.0.0.1:1", *args], secret_env(key_file))
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert line.startswith("ray-preflight: error: ") and "\n" not in line, line
    for secret in planted(key_file):
        assert secret not in done.stderr, line


def test_a_notebook_report_its_repr_and_html_hold_no_secret(ray_head: LocalHead, ingresses: Dict[str, Ingress],
                                                            key_file: Tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in secret_env(key_file).items():
        monkeypatch.setenv(name, value)
    report = preflight.check(ray_head.address, gcs_address=ray_head.gcs_address, dashboard_url=with_credentials(ingresses["echoing"].url),
                             dashboard_headers={HEADER: HEADER_VALUE}, skip=["fibonacci", "package-parity"])
    assert report["dashboard"].status is Status.PASS, report["dashboard"]
    shown = [repr(report), report._repr_html_(), json.dumps(report.to_dict(), default=str), report["autoscaler"].summary]
    for secret in planted(key_file):
        assert all(secret not in text for text in shown), secret
    assert MASK in report._repr_html_() and MASK in report["autoscaler"].summary
    with pytest.raises(UsageError) as info:
        preflight.check(ray_head.address, dashboard_headers=[f"Bad Name: {HEADER_VALUE}"])
    assert HEADER_VALUE not in str(info.value)


def test_a_support_bundle_holds_no_secret_and_reads_the_dashboard_with_the_credentials(
        ray_head: LocalHead, ingresses: Dict[str, Ingress], key_file: Tuple[str, str, str], tmp_path: Path) -> None:
    """Planted too where only the known-value sweep can find them: in variables whose names say nothing."""
    proxy = ingresses["echoing"]
    before = len(proxy.seen)
    env = dict(secret_env(key_file), TEAM_NOTE=f"token {TOKEN} key {key_file[2]}", SHELL_HISTORY_HINT=f"hdr {HEADER_VALUE}")
    done = run_cli(["report", *_head(ray_head), "--dashboard-url", with_credentials(proxy.url),
                    "--dashboard-header", f"{HEADER}: {HEADER_VALUE}", *FAST_SKIP, "--output", str(tmp_path)], env)
    assert done.returncode == 0, done.stderr
    written = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("wrote ")]
    files = open_bundle(written[0])
    for name, data in files.items():
        for secret in planted(key_file):
            assert secret.encode() not in data, (name, secret)
    for secret in planted(key_file):
        assert secret not in done.stdout + done.stderr
    # the bundle's own dashboard reads went through the sign-in with the credentials
    reads = {s["path"].split("?")[0]: s["allowed"] for s in proxy.seen[before:]}
    assert reads.get("/nodes") and reads.get("/api/jobs/"), reads
    collected = {p["piece"]: p["collected"] for p in json.loads(files["cluster/collected.json"])}
    assert collected["cluster/nodes.json"] and collected["cluster/jobs.json"], collected
    report = json.loads(files["report.json"])
    assert f"--dashboard-header '{HEADER}: {MASK}'" in report["command_line"], report["command_line"]
    assert f"http://{USER}:{MASK}@127.0.0.1" in report["command_line"]
    environment = json.loads(files["environment.json"])
    assert json.dumps(environment).count(MASK) >= 3  # RAY_AUTH_TOKEN, TEAM_NOTE, SHELL_HISTORY_HINT
    rules = {e["rule"] for e in json.loads(files["redactions.json"])["redactions"]}
    assert {"TLS private key (RAY_TLS_SERVER_KEY)", f"--dashboard-header {HEADER} value", "secret environment variable RAY_AUTH_TOKEN",
            "dashboard credentials (user:password@ in the dashboard URL)", "url-credentials"} <= rules, rules


# --- unit: parsing, what is sent, what is said ---------------------------------------------------------------------

def test_credentials_are_sent_as_basic_auth_with_the_headers_after_the_token() -> None:
    run = config.build("ray://head:10001", dashboard_url=with_credentials("https://dash.example.com/"), environ={},
                       dashboard_headers=[f"{HEADER}: {HEADER_VALUE}", "x-auth-request-token: later-wins-0001"])
    credentials = run.dashboard_credentials
    sent = credentials.http_headers({"X-Ray-Authorization": "Bearer tok"})
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert sent == {"X-Ray-Authorization": "Bearer tok", "Authorization": f"Basic {expected}",
                    "x-auth-request-token": "later-wins-0001"}
    assert credentials.describe() == "basic auth as user alice and 1 header: x-auth-request-token"
    for text in (repr(run), repr(credentials), repr(run.target), str(credentials.to_dict())):
        assert PASSWORD not in text and "later-wins" not in text and "Basic " not in text
    assert run.target.dashboard_url == "https://dash.example.com/"


def test_the_settings_file_headers_come_first_and_a_flag_replaces_one_by_name(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from preflight import settings

    (tmp_path / "ray-preflight.toml").write_text('dashboard-header = ["X-Team: team-7f3a9c", "X-Auth-Request-Token: old-0001"]\n')
    merged = settings.merge({"dashboard_headers": [f"{HEADER}: {HEADER_VALUE}"]}, environ={}, start=tmp_path)
    run = config.build("ray://head:10001", environ={}, dashboard_headers=merged["dashboard_headers"])
    assert dict(run.dashboard_headers) == {"X-Team": "team-7f3a9c", HEADER: HEADER_VALUE}
    (tmp_path / "ray-preflight.toml").write_text(f'dashboard-url = "{with_credentials("https://dash.example.com/")}"\n')
    from_file = config.build("ray://head:10001", environ={}, **settings.merge({}, environ={}, start=tmp_path))
    assert from_file.target.dashboard_url == "https://dash.example.com/"
    assert from_file.target.dashboard_auth == BasicAuth(USER, PASSWORD)
    (tmp_path / "ray-preflight.toml").write_text(f'dashboard-header = {{ "{HEADER}" = "{HEADER_VALUE}" }}\n')
    with pytest.raises(UsageError) as info:
        settings.merge({}, environ={}, start=tmp_path)
    assert "dashboard-header: must be a 'Name: value' string or a list of them, not dict" in str(info.value)
    assert HEADER_VALUE not in str(info.value)


PRINTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(user=PRINTABLE.filter(lambda u: ":" not in u and u), password=PRINTABLE, path=st.sampled_from(["", "/", "/ray/", "/x?y=1"]))
def test_any_user_and_password_percent_encoded_come_back_exactly(user: str, password: str, path: str) -> None:
    clean, auth = split_dashboard_url(f"https://{quote(user, safe='')}:{quote(password, safe='')}@dash.example.com:8443{path}")
    assert clean == "https://dash.example.com:8443" + (path or "/")
    assert auth == BasicAuth(user, password)


@PROPERTY
@given(before=st.text(max_size=8), after=st.text(max_size=8), tail=st.sampled_from(["", "/", ":8265/x", "/a@b", "?q#f"]))
def test_a_password_typed_as_is_never_stays_in_the_url_nor_in_an_error(before: str, after: str, tail: str) -> None:
    """Whatever surrounds it (unencoded '/', '@', '%', spaces, control characters), a password is either taken out of
    the URL or the URL is refused without repeating it."""
    secret = "Pl4nted-S3cret"
    try:
        clean, auth = split_dashboard_url(f"https://alice:{before}{secret}{after}@dash.example.com{tail}")
    except UsageError as exc:
        assert secret not in str(exc) and "\n" not in str(exc)
        return
    assert secret not in clean and auth is not None and auth.password is not None and secret in auth.password


@PROPERTY
@given(secret=PRINTABLE.filter(lambda t: len(t) >= 6 and t.strip() == t), before=PRINTABLE, after=PRINTABLE)
def test_a_remembered_secret_never_comes_out_of_any_renderer(secret: str, before: str, after: str) -> None:
    """Whatever a result or a fact holds around it, the text, JSON, JUnit and HTML renderers mask a secret the run knows
    (checked on what each output means: the text as printed, the JSON and the XML parsed back).

    A short secret may also be a piece of what every report prints ("durati" of the JSON key "duration_s", "REDACT" of
    the mask itself): such a secret is judged against the output a perfect masking would give, not left out."""
    _render_everything(secret, before + secret + after)


def _echoing_report(echoed: str, secrets: Tuple[str, ...]) -> Any:
    from preflight.model import Report, Result

    return Report("auto", "ray://head:10001", "http://head:8265/",
                  [Result("autoscaler", "t", Status.FAIL, f"the autoscaler reports an error: {echoed}", echoed, {"error": echoed})],
                  facts={"dashboard": {"cluster_status": {"autoscalingError": echoed, echoed: [echoed]}}}, secrets=secrets)


def _outputs(report: Any) -> List[str]:
    """What each renderer means: the text as printed, the JSON parsed back, each JUnit element's text and attributes."""
    import xml.etree.ElementTree as ET

    from preflight.render.junit import render_junit
    from preflight.render.text import render, render_json

    junit = ET.fromstring(render_junit(report))
    return [render(report, verbose=True, color=False), json.dumps(json.loads(render_json(report)), ensure_ascii=False),
            *((element.text or "") + " " + " ".join(element.attrib.values()) for element in junit.iter())]


def _render_everything(secret: str, echoed: str) -> None:
    from preflight.render.html import render_table

    perfect = _outputs(_echoing_report(echoed.replace(secret, MASK), ()))  # what no secret leaks from
    report = _echoing_report(echoed, (secret,))
    for shown, ideal in zip(_outputs(report), perfect):
        assert shown.count(secret) <= ideal.count(secret), (secret, shown)
    assert report.results[0].summary.endswith(echoed)  # the renderers mask a copy: the report itself is left as it was
    assert MASK in render_table(report)


def test_a_user_alone_may_be_a_token_and_is_never_shown() -> None:
    target = resolve(profiles.get("auto"), "ray://head:10001", dashboard_url="https://tok3n-as-user-42@dash.example.com", environ={})
    assert target.dashboard_auth == BasicAuth("tok3n-as-user-42", None)
    credentials = Credentials(target.dashboard_auth)
    assert credentials.describe() == "basic auth (a user name alone, not shown)"
    assert "tok3n" not in repr(target) + str(credentials.to_dict())
    assert target.dashboard_auth.secrets() == ("tok3n-as-user-42",)


def _judge(**facts: Any) -> Any:
    target = resolve(profiles.get("auto"), "ray://head:10001", dashboard_url="https://dash.example.com/", environ={})
    return dashboard_check(dashboard_facts(**dict({"url": "https://dash.example.com/"}, **facts)), target)


def test_refused_credentials_are_a_failure_naming_what_was_sent_never_a_value() -> None:
    sent = Credentials(BasicAuth(USER, PASSWORD), ((HEADER, HEADER_VALUE),)).to_dict()
    out = _judge(ok=False, error_kind="sign-in", error="https://dash.example.com/api/version needs a sign-in (HTTP 403)",
                 http_status=403, credentials=sent)
    assert out.status is Status.FAIL
    assert out.summary == ("the dashboard at https://dash.example.com/ refused the credentials sent (basic auth as user alice "
                           f"and 1 header: {HEADER}): HTTP 403")
    assert out.remedy == ("check the user name and password in the dashboard URL (percent-encode @ : / ? # % in them) and "
                          f"the value of --dashboard-header {HEADER} (expired?); try them by hand: `curl -sS -o /dev/null -w "
                          f"'%{{http_code}}\\n' -u alice -H '{HEADER}: …' https://dash.example.com/api/version` (200: accepted)")
    passed = _judge(credentials=sent)
    assert passed.status is Status.PASS and passed.summary == (
        f"dashboard at https://dash.example.com/ answers: Ray 2.2.0 (3.0 ms), with basic auth as user alice and 1 header: {HEADER}")
    challenge = _judge(ok=False, error_kind="sign-in", error="x needs a sign-in (HTTP 401)", http_status=401, challenge="Basic")
    assert challenge.status is Status.WARN and "--dashboard-url https://USER:PASSWORD@dash.example.com/" in challenge.remedy


def test_headers_that_cannot_be_sent_are_usage_errors_that_never_show_the_value() -> None:
    for bad, words in [(f"{HEADER}", "expected 'Name: value'"), (f"Bad Name: {HEADER_VALUE}", "not a valid HTTP header name"),
                       (f"{HEADER}: {HEADER_VALUE}\n", None), (f"{HEADER}: a\rb{HEADER_VALUE}", "line break"),
                       (f"{HEADER}: {HEADER_VALUE}é", "outside ASCII"), (f"{HEADER}:   ", "the value is empty"),
                       (["X: 1"] * 1 + [f"H{i}: v" for i in range(40)], "more than 32 headers"), (42, "not int")]:
        if words is None:  # a trailing line break is whitespace around the value, not a second header
            assert dict(config.build("ray://h:1", environ={}, dashboard_headers=bad).dashboard_headers) == {HEADER: HEADER_VALUE}
            continue
        with pytest.raises(UsageError) as info:
            config.build("ray://h:1", environ={}, dashboard_headers=bad)
        assert words in str(info.value) and HEADER_VALUE not in str(info.value), str(info.value)


def test_the_notebook_bundle_records_header_names_never_values(tmp_path: Path) -> None:
    """``preflight.report()`` with credentials, against ports where nothing listens: the call it records keeps names."""
    from preflight.testing import closed_port

    path = preflight.report(f"ray://127.0.0.1:{closed_port()}", output=str(tmp_path), connect_timeout=1,
                            dashboard_url=with_credentials(f"http://127.0.0.1:{closed_port()}/"),
                            dashboard_headers={HEADER: HEADER_VALUE}, skip=["fibonacci", "package-parity"])
    files = open_bundle(path)
    for name, data in files.items():
        for secret in (PASSWORD, quote(PASSWORD, safe=""), HEADER_VALUE):
            assert secret.encode() not in data, (name, secret)
    call = json.loads(files["report.json"])["command_line"]
    assert f"dashboard_headers={{'{HEADER}': '{MASK}'}}" in call and f"'http://{USER}:{MASK}@127.0.0.1:" in call, call


def test_the_token_and_the_tls_key_are_known_secrets_of_a_run(tmp_path: Path, key_file: Tuple[str, str, str]) -> None:
    token_file = tmp_path / "auth_token"
    token_file.write_text(f"  {TOKEN}-from-file \n")
    run = config.build("ray://h:1", environ={"RAY_AUTH_TOKEN_PATH": str(token_file), "RAY_TLS_SERVER_KEY": key_file[0]})
    known = dict(run.secrets)
    assert known[f"{TOKEN}-from-file"] == f"Ray auth token (RAY_AUTH_TOKEN_PATH ({token_file}))"
    assert known[key_file[1].strip()] == known[key_file[2]] == "TLS private key (RAY_TLS_SERVER_KEY)"
    assert os.environ.get("RAY_AUTH_TOKEN") != TOKEN  # this test planted nothing in the process's environment
