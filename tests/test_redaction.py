"""The redaction rules of support bundles: what each catches, what it must leave readable, and that a known
secret never survives whatever surrounds it (property-based)."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from preflight.errors import UsageError
from preflight.redaction import MASK, Redactor, secret_name

CAUGHT = [
    ("Authorization: Bearer abcdefgh.ijklmnop-qrst", "Authorization: Bearer " + MASK, "bearer-token"),
    ("Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: Basic " + MASK, "basic-auth"),
    ("https://bob:hunter2@proxy.corp:3128/", "https://bob:" + MASK + "@proxy.corp:3128/", "url-credentials"),
    ("postgres://u:p%40ss/word@db/x", "postgres://u:" + MASK + "@db/x", "url-credentials"),
    ("key AKIAIOSFODNN7EXAMPLE in use", f"key {MASK} in use", "aws-access-key"),
    ("REDIS_PASSWORD=5241590000000000", "REDIS_PASSWORD=" + MASK, "secret-assignment"),
    ('{"client_secret": "abc123"}', '{"client_secret": "' + MASK + '"}', "secret-assignment"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = " + MASK, "secret-assignment"),
    ("ray job submit -- python x.py --db-password s3cr3t", "ray job submit -- python x.py --db-password " + MASK, "secret-flag"),
    ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl", "token " + MASK, "jwt"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", MASK, "pem-block"),
]

LEFT_ALONE = [
    "no Kubernetes credentials: run inside the cluster or set KUBECONFIG",
    "ray://ray-cluster-kuberay-head-svc.kuberay:10001",
    "https://ray-dashboard.example.com/api/version",
    "secretstorage==3.3.3",
    "num_tokens: 12345",
    "the token file is missing",
    "Python minor versions differ between client and server: client is 3.10.6, server is 3.8.13",
    'pip install "ray==2.2.0"',
    "export no_proxy=ray-cluster-kuberay-head-svc.kuberay",
]


@pytest.mark.parametrize("text, expected, rule", CAUGHT, ids=[c[2] + str(i) for i, c in enumerate(CAUGHT)])
def test_each_shape_is_masked_and_recorded_by_its_rule(text: str, expected: str, rule: str) -> None:
    redactor = Redactor()
    assert redactor.text(text, "f", "w") == expected
    assert [e["rule"] for e in redactor.entries] == [rule]


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_what_support_needs_to_read_is_left_alone(text: str) -> None:
    redactor = Redactor()
    assert redactor.text(text, "f", "w") == text and redactor.entries == []


def test_secret_names_and_kubernetes_env_pairs_mask_whole_values() -> None:
    redactor = Redactor()
    data = {"env": [{"name": "DB_PASSWORD", "value": "x"}, {"name": "HOME", "value": "/home/u"}],
            "AWS_SECRET_ACCESS_KEY": "zzz", "count": 3, "KEY_COUNT": 4, "ok": True}
    out = redactor.value(data, "f.json")
    assert out == {"env": [{"name": "DB_PASSWORD", "value": MASK}, {"name": "HOME", "value": "/home/u"}],
                   "AWS_SECRET_ACCESS_KEY": MASK, "count": 3, "KEY_COUNT": 4, "ok": True}
    assert [(e["where"], e["rule"]) for e in redactor.entries] == [
        ("$.env[0].value", "secret name DB_PASSWORD"), ("$.AWS_SECRET_ACCESS_KEY", "secret name AWS_SECRET_ACCESS_KEY")]


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWD", "api_key", "client-key-data",
                                  "REDIS_PASSWORD", "OAUTH_CLIENT", "MY_CREDENTIALS", "SSH_PASSPHRASE"])
def test_secret_looking_names(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "RAY_ADDRESS", "KUBECONFIG", "no_proxy", "PYTHONPATH", "version", 7])
def test_plain_names(name: Any) -> None:
    assert not secret_name(name)


def test_known_values_are_caught_anywhere_and_short_ones_only_by_name() -> None:
    redactor = Redactor()
    redactor.add_environment({"SERVICE_TOKEN": "tok-7f3a9c2e", "FLAG_SECRET": "1", "https_proxy": "http://u:pr0xy-pw@p:3128"})
    redactor.add_kubeconfig({"users": [{"user": {"token": "kc-token-5d1e", "exec": {
        "args": ["get-token", "--client-secret", "exec-arg-4e5f"],
        "env": [{"name": "VAULT_TOKEN", "value": "vault-9b8c7d"}]}}}]}, "kc")
    log = "sent tok-7f3a9c2e to p; kc-token-5d1e; vault-9b8c7d; pr0xy-pw; exec-arg-4e5f; 1 node\n"
    out = redactor.lines(log, "x.log")
    assert out == f"sent {MASK} to p; {MASK}; {MASK}; {MASK}; {MASK}; 1 node\n"
    assert {e["rule"] for e in redactor.entries} == {
        "secret environment variable SERVICE_TOKEN", "kubeconfig credential token (kc)", "kubeconfig credential VAULT_TOKEN (kc)",
        "url-credentials in environment variable https_proxy", "kubeconfig credential --client-secret (kc)"}
    assert all(e["where"] == "line 1" for e in redactor.entries)


@pytest.mark.parametrize("pattern, words", [("(", "not a regular expression"), ("", "non-empty"), ("a?", "empty string")])
def test_bad_user_patterns_are_usage_errors(pattern: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        Redactor().add_patterns([pattern])


def test_entries_are_capped_and_the_rest_counted() -> None:
    redactor = Redactor(max_entries=5)
    redactor.lines("password=abcdef\n" * 8, "f")
    summary = redactor.summary()
    assert len(summary["redactions"]) == 5 and summary["not_listed"] == 3 and summary["count"] == 8


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=20)
_secret = st.text(alphabet=string.ascii_letters + string.digits + "-_./+=@:", min_size=6, max_size=40).filter(
    lambda s: s.strip() == s and len(s.strip()) >= 6 and any(c.isalpha() for c in s)  # digits alone: part of a number
    and s not in MASK)  # "REDACT" is in every masked output: a piece of the mask is not a leak


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_json, secret=_secret, before=st.text(max_size=20), after=st.text(max_size=20))
@example(data={"00000A": None}, secret="00000A", before="", after="")  # a secret used as a key once came out
def test_a_known_secret_never_survives_and_the_output_stays_json(data: Any, secret: str, before: str, after: str) -> None:
    redactor = Redactor()
    redactor.add_environment({"PLANTED_TOKEN": secret})
    planted = {"data": data, "line": before + secret + after, "list": [secret, data]}
    out = redactor.value(planted, "f.json")
    text = json.dumps(out)
    assert secret not in text
    assert secret not in json.dumps(redactor.summary())  # nor in the list of what was masked where
    assert json.loads(text) == out
    assert len(redactor.entries) >= 2
    assert secret not in redactor.lines(f"{before}{secret}{after}\n{data}\n", "f.log")


def test_a_known_secret_used_as_a_key_is_masked_in_the_key_and_in_the_recorded_path() -> None:
    token = "rpf-label-7c1e9a2b5d"
    redactor = Redactor()
    redactor.add_environment({"RAY_AUTH_TOKEN": token})
    out = redactor.value({"labels": {token: "team-a", f"x-{token}": "b", "team": "finance"}}, "cluster.json")
    assert out == {"labels": {MASK: "team-a", f"x-{MASK}": "b", "team": "finance"}}
    recorded = json.dumps(redactor.summary())
    assert token not in recorded and "a key in $.labels" in recorded
