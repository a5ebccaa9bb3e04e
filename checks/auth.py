"""Ray token authentication (Ray 2.52+), as Ray reads it: the ``client_auth`` probe and the ``auth`` check.

The client side is read the way the installed Ray would read it (``preflight.ray_security``): ``RAY_AUTH_MODE=token``
makes Ray send ``authorization: Bearer <token>``, the token coming from ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token``. The server side is what the Ray port answered the run's PING (sent as Ray would send it):
UNAUTHENTICATED means the cluster demands a token. When the PING went through with a token, one more PING without
it tells whether the cluster demands one at all. The token itself is never a fact and never printed: facts name
its source.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from preflight.environment import version_of
from preflight.errors import Unavailable
from preflight.model import Outcome, as_dict, dig, failed, passed, undecided, unreadable
from preflight.net import NetError
from preflight.ray_rpc import kv_get, ping
from preflight.ray_security import (
    AUTH_MODE,
    DEFAULT_TOKEN_FILE,
    TOKEN_AUTH_SINCE,
    TOKEN_PATH_VARIABLE,
    TOKEN_VARIABLE,
    Channel,
    channel,
    find_token,
    token_mode,
)
from preflight.registry import CLIENT_ROUTE, check, probe
from preflight.target import GCS

WHERE_RAY_LOOKS = f"{TOKEN_VARIABLE}, then the file {TOKEN_PATH_VARIABLE} names, then {DEFAULT_TOKEN_FILE}"


def _supports_tokens(ray: Optional[str]) -> Optional[bool]:
    if not ray:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        return Version(ray) >= Version(TOKEN_AUTH_SINCE)
    except InvalidVersion:
        return None


@probe()
def client_auth(config, target, ray_client, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Where Ray would find a token here (its source, never its value), whether Ray here sends it, and whether the
    cluster demands one (a PING without the token, only when the run's PING carried one)."""
    environ = config.environ
    token, problem = find_token(environ)
    ray = version_of("ray")
    facts: Dict[str, Any] = {
        "mode": (environ.get(AUTH_MODE) or None),
        "sends_token": token_mode(environ) and token is not None,
        "token_source": token.describe() if token else None,
        "token_problem": problem,
        "ray": ray,
        "ray_supports_tokens": _supports_tokens(ray),
    }
    if not isinstance(ray_client, dict):
        raise Unavailable("the cluster's answer cannot be read")
    if ray_client.get("error_kind") == "unauthenticated":
        facts.update(server_demands_token=True, server_message=ray_client.get("error"))
    elif not ray_client.get("ok"):
        raise Unavailable(f"the Ray port did not answer ({ray_client.get('error') or 'no answer'})")
    elif facts["sends_token"]:
        facts["accepted"] = True
        try:
            facts["server_demands_token"] = _refused_without_token(target, ctx)
        except NetError as exc:
            facts.update(server_demands_token=None, probe_error=exc.message)
    else:
        facts["server_demands_token"] = False
    return facts


def _refused_without_token(target: Any, ctx: Any) -> bool:
    """One more call as the run's (TLS as Ray would), without the token: does the cluster refuse it (UNAUTHENTICATED)?"""
    bare = Channel(tls=channel(ctx).tls)
    if target.form == GCS:
        try:
            kv_get(target.host, target.port, "CLUSTER_METADATA", "cluster", ctx.timeout(), bare)
        except NetError as exc:
            if exc.kind == "unauthenticated":
                return True
            raise
        return False
    return ping(target.host, target.port, ctx.timeout(), bare).status == 16


def _secret_line(kuberay: Any) -> str:
    """The line that reads the token KubeRay keeps for the cluster (authOptions: a Secret named after the cluster, or
    ``authOptions.secretName``; key ``auth_token``), never read by this tool."""
    cluster = as_dict(dig(kuberay, "raycluster", "value"))
    auth = as_dict(cluster.get("auth"))
    secret = auth.get("secret") or cluster.get("name") or dig(kuberay, "cluster") or "<cluster>"
    namespace = dig(kuberay, "namespace") or "<namespace>"
    return (f"export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$(kubectl -n {namespace} get secret {secret} "
            "-o jsonpath='{.data.auth_token}' | base64 -d)")


@check("auth", "Token authentication", routes=CLIENT_ROUTE)
def auth(client_auth, target, kuberay=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The cluster's token authentication (Ray 2.52+) against what this client's Ray would send."""
    problem = unreadable(client_auth=client_auth)
    if problem:
        return problem
    demands = client_auth.get("server_demands_token")
    source = client_auth.get("token_source")
    ray = client_auth.get("ray")
    details = {k: client_auth.get(k) for k in ("mode", "token_source", "ray") if client_auth.get(k)}
    get_token = _secret_line(kuberay)
    if demands is None:
        return undecided(f"could not tell whether the cluster demands a token: {client_auth.get('probe_error') or 'no answer'}",
                         **details)
    if not demands:
        if client_auth.get("sends_token"):
            return passed(f"the cluster does not demand a token; this client sends one (from {source}), which it ignores",
                          **details)
        return passed("no token authentication: the cluster does not demand a token", **details)
    if client_auth.get("accepted"):
        return passed(f"the cluster demands a Ray auth token and accepted this client's (from {source})", **details)
    if client_auth.get("ray_supports_tokens") is False:
        return failed(f"the cluster demands a Ray auth token (token authentication), and Ray {ray} here cannot send one "
                      f"(token authentication came with Ray {TOKEN_AUTH_SINCE})",
                      "install the cluster's Ray release here: pip install 'ray[client]==<the cluster's Ray version>' "
                      f"(at least {TOKEN_AUTH_SINCE}), then {get_token}", **details)
    if client_auth.get("sends_token"):
        return failed(f"the cluster rejected this client's token (from {source}): "
                      f"{client_auth.get('server_message') or 'UNAUTHENTICATED'}",
                      f"the token is not this cluster's: {get_token}", **details)
    if client_auth.get("token_problem"):
        return failed(f"the cluster demands a Ray auth token, and Ray cannot read one here: {client_auth['token_problem']}",
                      f"fix {TOKEN_PATH_VARIABLE} or unset it; or {get_token}", **details)
    if source:
        return failed(f"the cluster demands a Ray auth token; one is here (from {source}), but Ray sends it only with "
                      f"{AUTH_MODE}=token, which is {client_auth.get('mode') or 'not set'}",
                      f"export {AUTH_MODE}=token", **details)
    return failed(f"the cluster demands a Ray auth token (token authentication), and this client has none (Ray looks in "
                  f"{WHERE_RAY_LOOKS})", get_token, **details)
