"""Ray token authentication against a real head: the latest Ray started with ``RAY_AUTH_MODE=token`` and a token,
and clients that find the token where Ray looks (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``),
have none, have a wrong one, or have one without ``RAY_AUTH_MODE``. For every client the tool's verdict is compared
with the real seed workflow (``ray.init`` + the Fibonacci job + ``ray.shutdown``) run from the same environment,
and the token never appears in any output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from preflight.local_head import LocalHead
from tests.conftest import started
from tests.real_runs import run
from tests.real_runs import run_seed as run_seed_workflow

pytestmark = pytest.mark.live  # a real Ray head for the module

TOKEN = "rpf-token-4f1c2b9e8d7a6c5b4a39281706f5e4d3"
WRONG = "rpf-wrong-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def token_head() -> Iterator[LocalHead]:
    yield from started(LocalHead(num_cpus=2, env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}))


def _client_env(home: Path, **variables: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k not in ("PYTHONPATH",)}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0", **variables)
    return env


def _tool(head: LocalHead, env: Dict[str, str], fmt: str = "json") -> Tuple[subprocess.CompletedProcess, float]:
    args = ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address,
            "--format", fmt, "--timeout", "120"]
    t0 = time.monotonic()
    proc = run([sys.executable, "-m", "preflight", *args], "ray-preflight against the token head", env=env, timeout=240)
    return proc, time.monotonic() - t0


def _seed(head: LocalHead, env: Dict[str, str]) -> Dict[str, Any]:
    return run_seed_workflow(sys.executable, head.address, "1000", "2", timeout=120, env=env)


def _clients(home: Path) -> Dict[str, Dict[str, str]]:
    token_file = home / "token.txt"
    token_file.write_text(TOKEN + "\n")
    default_home = home / "default"
    (default_home / ".ray").mkdir(parents=True)
    (default_home / ".ray" / "auth_token").write_text(TOKEN)
    empty_home = home / "empty"
    empty_home.mkdir()
    return {
        "env-token": _client_env(empty_home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN),
        "token-file": _client_env(empty_home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file)),
        "default-file": _client_env(default_home, RAY_AUTH_MODE="token"),
        "no-token": _client_env(empty_home),
        "wrong-token": _client_env(empty_home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=WRONG),
        "no-mode": _client_env(empty_home, RAY_AUTH_TOKEN=TOKEN),
    }


@pytest.fixture(scope="module")
def outcomes(token_head: LocalHead) -> Iterator[Dict[str, Dict[str, Any]]]:
    """Every client: the tool's JSON verdict and the real seed workflow, run concurrently (the failing ones wait for
    Ray's 30 s connection timeout)."""
    with tempfile.TemporaryDirectory() as folder:
        clients = _clients(Path(folder))

        def one(name: str) -> Dict[str, Any]:
            env = clients[name]
            tool, tool_s = _tool(token_head, env)
            seed = _seed(token_head, env)
            return {"env": env, "tool": tool, "tool_s": tool_s, "report": json.loads(tool.stdout) if tool.stdout.strip() else {},
                    "seed": seed}

        # the working clients first, one at a time (a fresh head's first Ray Client sessions are the fragile ones)
        done = {name: one(name) for name in ("env-token", "token-file", "default-file")}
        with ThreadPoolExecutor(max_workers=3) as pool:
            done.update(zip(("no-token", "wrong-token", "no-mode"), pool.map(one, ("no-token", "wrong-token", "no-mode"))))
        yield done


def _results(outcome: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {r["id"]: r for r in outcome["report"]["results"]}


@pytest.mark.parametrize("client", ["env-token", "token-file", "default-file"])
def test_a_client_with_the_token_gets_go_and_the_real_workflow_works(outcomes: Dict[str, Dict[str, Any]], client: str) -> None:
    outcome = outcomes[client]
    results = _results(outcome)
    assert outcome["seed"]["ok"], outcome["seed"]
    assert outcome["tool"].returncode == 0, outcome["tool"].stdout[-3000:]
    assert results["auth"]["status"] == "pass" and "accepted this client's" in results["auth"]["summary"], results["auth"]
    source = {"env-token": "RAY_AUTH_TOKEN", "token-file": "RAY_AUTH_TOKEN_PATH", "default-file": "~/.ray/auth_token"}[client]
    assert f"(from {source}" in results["auth"]["summary"]
    assert results["reachability"]["status"] == "pass" and results["dashboard"]["status"] == "pass"
    assert results["ray-version"]["status"] == "pass" and results["fibonacci"]["status"] == "pass"


@pytest.mark.parametrize("client, words, remedy", [
    ("no-token", "demands a Ray auth token (token authentication), and this client has none",
     "get secret"),
    ("wrong-token", "the cluster rejected this client's token (from RAY_AUTH_TOKEN)", "the token is not this cluster's"),
    ("no-mode", "one is here (from RAY_AUTH_TOKEN), but Ray sends it only with RAY_AUTH_MODE=token",
     "export RAY_AUTH_MODE=token"),
])
def test_a_client_without_a_usable_token_is_no_go_naming_the_cause(outcomes: Dict[str, Dict[str, Any]], client: str,
                                                                    words: str, remedy: str) -> None:
    outcome = outcomes[client]
    results = _results(outcome)
    assert not outcome["seed"]["ok"] and outcome["seed"]["stage"] in ("init", "hang"), outcome["seed"]
    assert outcome["tool"].returncode == 1
    assert results["auth"]["status"] == "fail" and words in results["auth"]["summary"], results["auth"]
    assert remedy in results["auth"]["remedy"]
    assert "demands a Ray auth token" in results["reachability"]["summary"], results["reachability"]
    assert "not the Ray Client port" not in results["reachability"]["remedy"]
    assert "auth: fail" in results["fibonacci"]["summary"]  # the job waited for auth, not for Ray's 30 s timeout
    if client == "no-token":
        assert results["dashboard"]["status"] == "fail" and "demands a Ray auth token" in results["dashboard"]["summary"]
        assert "single sign-on" not in json.dumps(results["dashboard"])
        assert "cluster unreachable" not in results["ray-version"]["summary"]
        assert outcome["tool_s"] < 15, outcome["tool_s"]  # the verdict does not wait for Ray's 30 s timeout


def test_the_token_never_appears_in_any_output(outcomes: Dict[str, Dict[str, Any]], token_head: LocalHead) -> None:
    for name, outcome in outcomes.items():
        assert TOKEN not in outcome["tool"].stdout + outcome["tool"].stderr, name
        assert WRONG not in outcome["tool"].stdout + outcome["tool"].stderr, name
    for fmt in ("text", "junit"):
        proc, _ = _tool(token_head, outcomes["env-token"]["env"], fmt)
        assert TOKEN not in proc.stdout + proc.stderr


def test_a_ray_without_token_support_is_told_to_upgrade() -> None:
    """Plain facts (the probe's), as a Ray 2.2.0 client would have them against a token cluster."""
    from preflight import config
    from preflight.checks.auth import auth

    facts = {"mode": None, "sends_token": False, "token_source": None, "token_problem": None, "ray": "2.2.0",
             "ray_supports_tokens": False, "server_demands_token": True, "server_message": "Invalid or missing authentication token"}
    outcome = auth(facts, config.build("ray://h:10001", environ={}).target)
    assert outcome.status.value == "fail" and "Ray 2.2.0 here cannot send one" in outcome.summary
    assert "pip install 'ray[client]==" in str(outcome.remedy)
