"""Hostile input, table-driven, through the real command in a child process: malformed addresses, unknown
profiles and check ids, conflicting flags, bad numbers, a malformed ``RAY_ADDRESS``, unreadable or malformed
kubeconfigs, non-UTF-8 bytes in the environment.

A usage error ends with exit 2, exactly one line on stderr (``ray-preflight: error: …``) that says what was
wrong, and nothing on stdout. Input that is usable but describes a broken setup (a kubeconfig that is not
YAML, a context that does not exist) is a finding instead: the right check reports it and the run exits 1.
No case may print a traceback on any stream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Union

import pytest

from preflight.testing import closed_port

EnvValue = Union[str, bytes]
CLOSED = f"ray://127.0.0.1:{closed_port()}"
FAST = ["--address", CLOSED, "--connect-timeout", "1"]


def run(args: List[str], env_extra: Mapping[str, EnvValue] = None, cwd: Path = None) -> subprocess.CompletedProcess:  # type: ignore[assignment]
    """The command as a user runs it; bytes values go into the environment as they are (not UTF-8 when so planted)."""
    env: Dict[Union[str, bytes], EnvValue] = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_PREFLIGHT_"))}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, env=env, timeout=60, cwd=cwd)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert b"Traceback" not in stream and b'File "' not in stream, stream.decode(errors="replace")


# (id, arguments, environment, words the one line must contain)
USAGE = [
    ("no-colon-slashes", ["--address", "ray//h"], {}, "nothing after the port"),
    ("no-host", ["--address", "ray://"], {}, "no host name"),
    ("port-0", ["--address", "ray://h:0"], {}, "outside 1-65535"),
    ("port-too-big", ["--address", "ray://h:99999"], {}, "outside 1-65535"),
    ("port-word", ["--address", "ray://h:port"], {}, "not a number"),
    ("port-negative", ["--address", "ray://h:-1"], {}, "not a number"),
    ("port-float", ["--address", "ray://h:1e3"], {}, "not a number"),
    ("port-fullwidth-digits", ["--address", "ray://h:１０００１"], {}, "not a number"),
    ("blank", ["--address", "   "], {}, "empty"),
    ("inner-space", ["--address", "ray://h a:1"], {}, "spaces"),
    ("unicode-host", ["--address", "ray://hé.example:1"], {}, "ASCII"),
    ("ten-kilobytes", ["--address", "ray://" + "a" * 10_000], {}, "characters long"),
    ("ipv6-no-brackets", ["--address", "ray://::1:10001"], {}, "brackets"),
    ("ipv6-open-bracket", ["--address", "ray://[::1"], {}, "missing ']'"),
    ("ipv6-not-an-address", ["--address", "ray://[nothost]:1"], {}, "not an IPv6"),
    ("bare-host", ["--address", "head"], {}, "has no port"),  # ray.init("head"): "Invalid address format"
    ("bare-ipv6", ["--address", "[::1]"], {}, "has no port"),
    ("http-credentials-bad-percent", ["--address", "http://alice:planted-pw%zz@h:8265"], {}, "write a literal % as %25"),
    ("ray-client-credentials", ["--address", "ray://alice:planted-pw@h:10001"], {}, "nothing after the port"),
    ("http-port-0", ["--address", "http://h:0"], {}, "port 0 is not usable"),
    ("jobs-and-dashboard-url", ["--address", "http://a:8265", "--dashboard-url", "http://b:8265"], {}, "names another"),
    ("gcs-and-gcs-address", ["--address", "a:6379", "--gcs-address", "b:6379"], {}, "names another"),
    ("grpc-scheme", ["--address", "grpc://h:10001"], {}, "expected ray://"),
    ("path-after-port", ["--address", "ray://h:10001/path"], {}, "nothing after the port"),
    ("bad-label", ["--address", "ray://-bad-.host:1"], {}, "not a valid host name"),
    ("dash", ["--address", "-"], {}, "not a valid host name"),
    ("auto-address", ["--address", "auto"], {}, "--local"),
    ("missing-value", ["--address"], {}, "requires an argument"),
    ("no-address-anywhere", [], {}, "no address"),
    ("unknown-profile", FAST + ["--profile", "nope"], {}, "unknown profile 'nope'"),
    ("empty-profile", FAST + ["--profile", ""], {}, "--profile needs a name"),
    ("unknown-only", FAST + ["--only", "nope"], {}, "unknown check id 'nope'"),
    ("unknown-skip", FAST + ["--skip", "reachability,nope"], {}, "unknown check id 'nope'"),
    ("empty-only", FAST + ["--only", ""], {}, "at least one check id"),
    ("unknown-ignore", FAST + ["--ignore", "nope"], {}, "unknown check id 'nope'"),
    ("only-minus-skip-is-nothing", FAST + ["--only", "reachability", "--skip", "reachability"], {}, "leave no check"),
    ("local-and-address", ["--local", "--address", "ray://h:1"], {}, "--local starts its own head"),
    ("unknown-format", FAST + ["--format", "yaml"], {}, "yaml"),
    ("unknown-flag", ["--bogus-flag"], {}, "--bogus-flag"),
    ("extra-argument", FAST + ["surplus"], {}, "surplus"),
    ("scale-test-value", FAST + ["--scale-test=sideways"], {}, "--scale-test"),
    ("timeout-zero", FAST + ["--timeout", "0"], {}, "positive number"),
    ("timeout-negative", FAST + ["--timeout", "-1"], {}, "positive number"),
    ("timeout-nan", FAST + ["--timeout", "nan"], {}, "positive number"),
    ("timeout-inf", FAST + ["--timeout", "inf"], {}, "positive number"),
    ("timeout-overflow", FAST + ["--timeout", "1e309"], {}, "positive number"),
    ("timeout-word", FAST + ["--timeout", "abc"], {}, "number of seconds"),
    ("timeout-empty", FAST + ["--timeout", ""], {}, "number of seconds"),
    ("timeout-week", FAST + ["--timeout", "604800"], {}, "more than a day"),
    ("connect-timeout-negative", FAST + ["--connect-timeout", "-3"], {}, "positive number"),
    ("fib-size-zero", FAST + ["--fib-size", "0"], {}, "between 1 and 1,000,000"),
    ("fib-size-huge", FAST + ["--fib-size", "1000000000"], {}, "between 1 and 1,000,000"),
    ("fib-size-fraction", FAST + ["--fib-size", "1.5"], {}, "whole number"),
    ("fib-tasks-zero", FAST + ["--fib-tasks", "0"], {}, "between 1 and 1,024"),
    ("dashboard-ftp", FAST + ["--dashboard-url", "ftp://x"], {}, "dashboard"),
    ("dashboard-credentials-slash", FAST + ["--dashboard-url", "https://alice:planted/pw@dash.example.com/"], {}, "percent-encoded"),
    ("dashboard-credentials-colon-user", FAST + ["--dashboard-url", "https://a%3Ab:planted-pw@dash.example.com/"], {}, "holds ':'"),
    ("dashboard-header-no-colon", FAST + ["--dashboard-header", "Bearer planted-pw"], {}, "expected 'Name: value'"),
    ("dashboard-header-bad-name", FAST + ["--dashboard-header", "Auth planted-pw: x"], {}, "not a valid HTTP header name"),
    ("dashboard-header-line-break", FAST + ["--dashboard-header", "X-Auth: planted-pw\r\nX-Evil: 1"], {}, "line break"),
    ("dashboard-header-empty", FAST + ["--dashboard-header", "X-Auth:"], {}, "the value is empty"),
    ("dashboard-header-and-basic-auth", FAST + ["--dashboard-url", "https://u:planted-pw@dash.example.com/",
                                                "--dashboard-header", "Authorization: Bearer planted-pw"], {}, "keep one"),
    ("gcs-port", FAST + ["--gcs-address", "h:99999"], {}, "outside 1-65535"),
    ("domain-space", FAST + ["--domain", "bad domain"], {}, "not a valid host name"),
    ("namespace-bad", FAST + ["--namespace", "Bad_Name!"], {}, "not a Kubernetes namespace name"),
    ("namespace-empty", FAST + ["-n", ""], {}, "non-empty"),
    ("kubeconfig-missing", FAST + ["--kubeconfig", "/nonexistent/kubeconfig"], {}, "no such file"),
    ("kubeconfig-directory", FAST + ["--kubeconfig", "/"], {}, "a directory"),
    ("junit-unwritable", FAST + ["--junit-xml", "/nonexistent/dir/out.xml"], {}, "--junit-xml"),
    ("ray-address-bare-host", [], {"RAY_ADDRESS": "oops"}, "RAY_ADDRESS 'oops' has no port"),
    ("ray-address-http-credentials", [], {"RAY_ADDRESS": "https://ops:planted-pw@oops:0"}, "RAY_ADDRESS"),
    ("ray-address-local", [], {"RAY_ADDRESS": "local"}, "--local"),
    ("ray-address-port", [], {"RAY_ADDRESS": "ray://h:notaport"}, "RAY_ADDRESS"),
    ("ray-address-empty-host", [], {"RAY_ADDRESS": "ray://"}, "RAY_ADDRESS"),
    ("ray-address-not-utf8", [], {"RAY_ADDRESS": b"ray://h\xff:1"}, "RAY_ADDRESS"),
    ("profile-env-not-utf8", FAST, {"RAY_PREFLIGHT_PROFILE": b"\xff\xfe"}, "unknown profile"),
    ("timeout-env-word", FAST, {"RAY_PREFLIGHT_TIMEOUT": "abc"}, "--timeout"),
    ("ignore-env-unknown", FAST, {"RAY_PREFLIGHT_IGNORE": "nope"}, "unknown check id 'nope'"),
    ("list-unknown-flag", ["list", "--bogus"], {}, "--bogus"),
    ("profiles-extra", ["profiles", "extra"], {}, "extra"),
]


@pytest.mark.parametrize("args, env, words", [c[1:] for c in USAGE], ids=[c[0] for c in USAGE])
def test_unusable_input_exits_2_with_one_clear_line(args: List[str], env: Mapping[str, EnvValue], words: str) -> None:
    proc = run(args, env)
    no_traceback(proc)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert proc.stdout == b""
    lines = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ray-preflight: error: "), lines
    assert words in lines[0], lines[0]
    assert len(lines[0]) < 400
    assert b"planted-pw" not in proc.stderr


def test_the_table_is_at_least_forty_cases() -> None:
    assert len(USAGE) + len(FINDINGS) >= 40 and len({c[0] for c in USAGE}) == len(USAGE)


def kubeconfig(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


VALID_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: planted-kube-token}}]
contexts: [{name: here, context: {cluster: c, user: u}}]
current-context: here
"""

# (id, arguments (with {dir} for the test's folder), environment, {check: status}, words in that check's summary)
FINDINGS = [
    ("kubeconfig-not-yaml", ["--kubeconfig", "{dir}/bad.yaml"], {}, {"kubernetes": "fail"}, "is not valid YAML at line 1"),
    ("kubeconfig-a-list", ["--kubeconfig", "{dir}/list.yaml"], {}, {"kubernetes": "fail"}, "its top level is a list"),
    ("kubeconfig-no-context", ["--kubeconfig", "{dir}/empty.yaml"], {}, {"kubernetes": "fail"}, "current-context"),
    ("context-unknown", ["--kubeconfig", "{dir}/ok.yaml", "--context", "nope"], {}, {"kubernetes": "fail"}, "no such context"),
    ("env-kubeconfig-not-yaml", [], {"KUBECONFIG": "{dir}/bad.yaml"}, {"kubernetes": "warn"}, "is not valid YAML"),
    ("env-kubeconfig-binary", [], {"KUBECONFIG": "{dir}/binary.yaml"}, {"kubernetes": "warn"}, "kubeconfig"),
    ("bytes-in-unrelated-env", [], {"SOME_VAR": b"\xff\xfe\xfd", "MY_TOKEN": b"\xc3\x28"}, {"reachability": "fail"}, "refused"),
    ("scheme-in-capitals", ["--address", CLOSED.replace("ray://", "RAY://")], {}, {"reachability": "fail"}, "refused"),
    # what was a usage error before: an http(s):// address is the Ray Jobs address, a host:port one the GCS
    ("jobs-address", ["--address", "http://ray-head.invalid:8265"], {}, {"reachability": "fail"},
     "(ray://ray-head.invalid:10001, derived from the Ray Jobs address http://ray-head.invalid:8265/)"),
    # credentials in a Ray Jobs URL are taken out of it (and sent to the dashboard alone)
    ("jobs-address-with-credentials", ["--address", "http://alice:planted-pw@ray-head.invalid:8265"], {}, {"reachability": "fail"},
     "(ray://ray-head.invalid:10001, derived from the Ray Jobs address http://ray-head.invalid:8265/)"),
    ("gcs-address", ["--address", CLOSED.replace("ray://", "")], {}, {"reachability": "fail"}, "refused"),
    ("address-padded", ["--address", f"  {CLOSED}  "], {}, {"reachability": "fail"}, "refused"),
    ("connect-timeout-above-timeout", ["--connect-timeout", "100", "--timeout", "5"], {}, {"reachability": "fail"}, "refused"),
]


@pytest.mark.parametrize("args, env, statuses, words", [c[1:] for c in FINDINGS], ids=[c[0] for c in FINDINGS])
def test_usable_input_describing_a_broken_setup_is_a_finding(tmp_path: Path, args: List[str], env: Mapping[str, EnvValue],
                                                             statuses: Dict[str, str], words: str) -> None:
    kubeconfig(tmp_path, "bad.yaml", "not: [valid")
    kubeconfig(tmp_path, "list.yaml", "- a\n- b\n")
    kubeconfig(tmp_path, "empty.yaml", "apiVersion: v1\nkind: Config\n")
    kubeconfig(tmp_path, "ok.yaml", VALID_KUBECONFIG)
    (tmp_path / "binary.yaml").write_bytes(b"\x00\xff\xfe" * 100)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    env = {k: v.replace("{dir}", str(tmp_path)) if isinstance(v, str) else v for k, v in env.items()}
    address = [] if "--address" in args else ["--address", CLOSED]
    proc = run(address + ["--connect-timeout", "1", "--format", "json"] + args, env)
    no_traceback(proc)
    report = json.loads(proc.stdout)
    results = {r["id"]: r for r in report["results"]}
    for check_id, status in statuses.items():
        assert results[check_id]["status"] == status, results[check_id]
    first = next(iter(statuses))
    assert words in results[first]["summary"], results[first]
    assert proc.returncode == (0 if report["ok"] else 1)
    assert b"planted-kube-token" not in proc.stdout + proc.stderr and b"planted-pw" not in proc.stdout + proc.stderr


def test_a_malformed_settings_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "ray-preflight.toml").write_text("timeout = [unclosed\n")
    proc = run(FAST, cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 2
    line = proc.stderr.decode().strip()
    assert "ray-preflight.toml" in line and "\n" not in line
