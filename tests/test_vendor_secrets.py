"""Vendor token shapes and private keys in the support bundle's Redactor: each shape is masked wherever it appears (a
log line, a command line, a JSON value) and recorded by its rule, never its value; the words and package names that
share a prefix with a token (``sk-learn``, ``hf_hub_download``, ``xoxo``, ``risk-free``) stay readable. The tokens
here are made up with each vendor's published shape (prefix, alphabet, length); none is real."""

from __future__ import annotations

import json
import string
from typing import List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.bundle import command_line_of
from preflight.redaction import MASK, Redactor

ALNUM = string.ascii_letters + string.digits
GITHUB = "ghp_" + "R4yPr3fl1ghtT0k3nF0rT3st1ngOnlyAbC9"[:36].ljust(36, "x")
GITHUB_PAT = "github_pat_11ABCDEFG0abcdefghijkl_" + "a1B2c3D4e5F6g7H8i9J0" * 3
SLACK = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
HUGGING_FACE = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"
OPENAI = "sk-" + "T3BlbkFJ" + "a1B2c3D4e5" * 4
OPENAI_PROJECT = "sk-proj-" + "Ab3_xY9-" * 12 + "T3BlbkFJ" + "Qw7_" * 10
GITLAB = "glpat-" + "xY9_zA1-bC2dE3fG4hI5"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
AZURE_KEY = "Zm9vYmFyYmF6cXV4" * 5 + "Zm9vYg=="
PYPI = "pypi-AgEIcHlwaS5vcmc" + "CJDk3ZjA1NzY2LWE5YjEtNDY0Ny1hNDA3LTQ3MDQ5ODQwNTQ0OQ"
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7V"

CAUGHT = [
    (f"export GITHUB_PAT_FOR_CI={GITHUB} # ci", "github-token", GITHUB),
    (f"git clone https://x-access-token:{GITHUB}@github.com/org/repo", "github-token", GITHUB),
    (f"using {GITHUB_PAT} for the registry", "github-token", GITHUB_PAT),
    (f"slack client = WebClient(token='{SLACK}')", "slack-token", SLACK),
    (f"hub login with {HUGGING_FACE} ok", "huggingface-token", HUGGING_FACE),
    (f"openai.api_base=x openai.key {OPENAI}", "openai-key", OPENAI),
    (f"client = OpenAI(api_key=\"{OPENAI_PROJECT}\")", "openai-key", OPENAI_PROJECT),
    (f"glab auth login --stdin <<< {GITLAB}", "gitlab-token", GITLAB),
    (f"maps?key={GOOGLE}&q=1", "google-api-key", GOOGLE),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net",
     "azure-storage-key", AZURE_KEY),
    ("GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2030&sig=Zm9vYmFyYmF6cXV4Zm9vYmFy%3D 200",
     "azure-sas-signature", "Zm9vYmFyYmF6cXV4Zm9vYmFy%3D"),
    (f"twine upload -p {PYPI} dist/*", "pypi-token", PYPI),
    ("ray-preflight report --dashboard-header 'X-Api-Key: k3y-v4lue'", "header-flag", "k3y-v4lue"),
    ("curl -H 'Cookie: _oauth2_proxy=c00kie-v4lue' https://dash/", "header-flag", "_oauth2_proxy=c00kie-v4lue"),
    (f"client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk{KEY_BODY}", "pem-base64", KEY_BODY),
]

PRIVATE_KEYS = [
    ("pkcs8", f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----", "pem-block"),
    ("rsa", f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----", "pem-block"),
    ("ec", f"-----BEGIN EC PRIVATE KEY-----\n{KEY_BODY}\n-----END EC PRIVATE KEY-----", "pem-block"),
    ("openssh", f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----",
     "pem-block"),
    ("encrypted-pkcs8", f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{KEY_BODY}\n-----END ENCRYPTED PRIVATE KEY-----", "pem-block"),
    ("encrypted-legacy", f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0A1B2C\n\n{KEY_BODY}\n"
                         "-----END RSA PRIVATE KEY-----", "pem-block"),
    ("ssh2", f"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key\"\n{KEY_BODY}\n---- END SSH2 ENCRYPTED PRIVATE KEY ----",
     "ssh2-private-key"),
    ("putty", f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\n{KEY_BODY}\nPrivate-MAC: 0a1b2c3d4e",
     "putty-private-key"),
]

LEFT_ALONE = [
    "pip install sk-learn scikit-learn scikit-image",
    "sk-learn-contrib-imbalanced-learn",
    "from huggingface_hub import hf_hub_download, hf_hub_url",
    "HF_HUB_ENABLE_HF_TRANSFER=1 hf_transfer",
    "xoxo from the team",
    "a risk-free upgrade, disk-0123456789abcdefghij, task-1234567890abcdef12345",
    "ghp_short and gh_pages and github_pat_short",
    "glpat-short, AIzaTooShort, AccountKey=short",
    "xoxb-example",
    "the header: value, --header-size 10, content-type: application/json",
    "https://ray-dashboard.example.com/?sig=1",
    "ray-cluster-kuberay-head-svc.kuberay:10001 (PING 6.2 ms)",
    'pip install "ray[client]==2.60.0" "pydantic<2"',
]


@pytest.mark.parametrize("text, rule, secret", CAUGHT, ids=[f"{c[1]}-{i}" for i, c in enumerate(CAUGHT)])
def test_each_vendor_shape_is_masked_in_a_line_and_recorded_by_its_rule(text: str, rule: str, secret: str) -> None:
    redactor = Redactor()
    out = redactor.lines(text + "\n", "cluster/logs/head.autoscaler.log")
    assert secret not in out and MASK in out, out
    assert [e["rule"] for e in redactor.entries] == [rule]
    assert redactor.entries[0]["where"] == "line 1"
    assert secret not in json.dumps(redactor.summary())  # redactions.json: the rule and where, never the value


@pytest.mark.parametrize("name, text, rule", PRIVATE_KEYS, ids=[k[0] for k in PRIVATE_KEYS])
def test_private_keys_are_masked_whole_in_a_log_and_in_a_json_value(name: str, text: str, rule: str) -> None:
    redactor = Redactor()
    log = redactor.lines(f"2026-11-25 loaded key:\n{text}\nnext line\n", "x.log")
    assert KEY_BODY not in log and log.startswith("2026-11-25 loaded key:\n") and log.endswith("next line\n")
    assert [e["rule"] for e in redactor.entries] == [rule]
    value = redactor.value({"env": {"TLS_MATERIAL": text.replace("\n", "\\n")}, "raw": text}, "f.json")
    assert KEY_BODY not in json.dumps(value)


def test_a_private_key_cut_off_before_its_end_is_masked_to_the_end() -> None:
    """A log tail may end inside a key: without its END line, nothing after BEGIN can be told apart from the key."""
    redactor = Redactor()
    log = redactor.lines(f"loaded:\n-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n{KEY_BODY[::-1]}\n", "x.log")
    assert log == f"loaded:\n{MASK}" and [e["rule"] for e in redactor.entries] == ["pem-block"]


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_words_sharing_a_prefix_with_a_token_stay_readable(text: str) -> None:
    redactor = Redactor()
    assert redactor.text(text, "f", "w") == text and redactor.entries == []


def test_a_command_line_with_dashboard_credentials_keeps_only_names() -> None:
    """The bundle's command line, as ``ray-preflight report`` records it."""
    line = command_line_of(["report", "--dashboard-url", "https://alice:pw-0f9e8d@dash.example.com/",
                            "--dashboard-header", "Authorization: Bearer b34rer-t0ken",
                            "--dashboard-header=X-Auth-Request-Token: h34der-v4lue", "-H", "Cookie: s=c00kie-v4lue"])
    redactor = Redactor()
    out = redactor.text(line, "report.json", "$.command_line")
    for secret in ("pw-0f9e8d", "b34rer-t0ken", "h34der-v4lue", "c00kie-v4lue"):
        assert secret not in out
    assert "https://alice:" in out and "X-Auth-Request-Token: " in out and "--dashboard-header 'Authorization: " in out
    assert {e["rule"] for e in redactor.entries} == {"url-credentials", "header-flag"}


# --- properties --------------------------------------------------------------------------------------------------

def _token(prefix: str, alphabet: str, size: int, must: str = "") -> st.SearchStrategy[str]:
    body = st.text(alphabet=alphabet, min_size=size, max_size=size)
    if must:
        body = body.filter(lambda b: all(any(c in group for c in b) for group in must.split("|")))
    return body.map(lambda b: prefix + b)


TOKENS = st.one_of(
    st.sampled_from("pousr").flatmap(lambda kind: _token(f"gh{kind}_", ALNUM, 36)),
    _token("github_pat_", ALNUM + "_", 82),
    st.sampled_from("baprs").flatmap(lambda kind: _token(f"xox{kind}-", string.digits, 12).flatmap(
        lambda head: _token(head + "-", ALNUM, 24))),
    _token("hf_", string.ascii_letters, 34, must=string.ascii_uppercase + "|" + string.ascii_lowercase),
    _token("sk-", ALNUM, 48, must=string.digits),
    _token("sk-proj-", ALNUM + "_-", 120, must=string.digits),
    _token("glpat-", ALNUM + "_-", 20, must=string.digits + string.ascii_uppercase),
    _token("AIza", ALNUM + "_-", 35, must=string.digits + string.ascii_uppercase),
    _token("AccountKey=", ALNUM + "+/", 86).map(lambda t: t + "=="),
)
#: What may sit right before or after a token: anything that does not continue it (not a letter, digit, '_' or '-').
EDGE = st.sampled_from([" ", "\t", "=", ":", "'", '"', ",", ";", "(", ")", "[", "]", "/", "@", "\n", "|", "<", ">"])
WORDS = st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8), min_size=1, max_size=6)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FAST
@given(token=TOKENS, before=st.text(max_size=12), left=EDGE, right=EDGE, after=st.text(max_size=12))
def test_a_vendor_token_never_survives_whatever_surrounds_it(token: str, before: str, left: str, right: str, after: str) -> None:
    secret = token.split("=", 1)[1] if token.startswith("AccountKey=") else token
    redactor = Redactor()
    assert secret not in redactor.lines(f"{before}{left}{token}{right}{after}\n", "f.log")
    assert secret not in json.dumps(redactor.value({"line": f"{before}{left}{token}{right}{after}"}, "f.json"))
    assert secret not in json.dumps(redactor.summary())


@FAST
@given(prefix=st.sampled_from(["sk-", "hf_", "xoxo", "xoxb-", "gh", "ghp_", "glpat-", "github_", "AIza", "risk-", "task-", ""]),
       words=WORDS, joiner=st.sampled_from(["-", "_", " ", "."]))
def test_words_with_a_token_prefix_are_left_alone(prefix: str, words: List[str], joiner: str) -> None:
    """Package names, identifiers and prose (lower-case words, no digits) never look like a token to these rules."""
    text = prefix + joiner.join(words)
    redactor = Redactor()
    assert redactor.text(text, "f", "w") == text, redactor.entries
