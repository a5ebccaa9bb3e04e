"""The Ray dashboard: does it answer its REST API, or is something else in the way?

The dashboard's requests carry the user's credentials for a sign-in in front of it (basic auth from the URL's
``user:password@``, ``--dashboard-header``) besides the Ray auth token (``X-Ray-Authorization``); the facts and the
messages name what was sent (a user name, header names), never a value."""

from __future__ import annotations

from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from preflight.checks.reachability import require_head
from preflight.dashboard_api import Credentials, read_api
from preflight.model import Missing, Outcome, dig, failed, passed, reason_of, said, skipped, unreadable, warned
from preflight.net import CERT_VERIFY_FAILED, TlsOptions
from preflight.ray_security import channel
from preflight.registry import check, probe
from preflight.target import JOBS, join_host_port


@probe()
def dashboard(target, endpoint, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """GET /api/version and /api/cluster_status from the dashboard."""
    if target.form != JOBS and ctx.config.route != "jobs":  # for the Jobs route the dashboard is the way in: read it anyway
        require_head(endpoint, urlsplit(target.dashboard_url).hostname or "")
    base = target.dashboard_url
    tls = TlsOptions(ctx.config.ca_bundle, ctx.config.insecure)
    facts: Dict[str, Any] = {"url": base, "ok": False}
    if urlsplit(base).scheme == "https":
        facts["tls"] = {"verified": not tls.insecure, "ca_bundle": tls.ca_bundle}
    credentials = getattr(ctx.config, "dashboard_credentials", None) or Credentials()
    if credentials:
        facts["credentials"] = credentials.to_dict()
    headers = credentials.http_headers(channel(ctx).http_headers())
    version = read_api(base + "api/version", ctx.timeout(), tls, headers)
    if version["kind"] != "json":
        facts.update(error_kind=version["kind"], error=version["error"], unreachable=version.get("unreachable", False))
        facts.update({name: version[k] for k, name in (("status", "http_status"), ("challenge", "challenge")) if k in version})
        if "tls_error" in version:
            facts["tls_error"] = version["tls_error"]
        return facts
    body = version["json"]
    if not isinstance(body, dict) or "ray_version" not in body:
        facts.update(error_kind="not-ray", error=f"{base}api/version answers JSON, but not the Ray dashboard's")
        return facts
    facts.update(ok=True, ray_version=body.get("ray_version"), ray_commit=body.get("ray_commit"), version_ms=version["ms"])
    status = read_api(base + "api/cluster_status", ctx.timeout(), tls, headers)
    if status["kind"] == "json" and isinstance(status["json"], dict):
        facts["cluster_status"] = status["json"].get("data", status["json"])
    else:
        facts["cluster_status_error"] = status.get("error", "unexpected answer")
    return facts


@check("dashboard", "Ray dashboard answers")
def dashboard_check(dashboard, target, ray_client=None, server=None, config=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The dashboard URL answers /api/version with the server's Ray version."""
    problem = unreadable(dashboard=dashboard)
    if problem:
        return problem
    url = said(dashboard.get("url"), target.dashboard_url)
    remedy_url = _open_in_browser(url) if target.form != JOBS else (  # a Ray Jobs address is the dashboard's URL itself
        f"open {url} in a browser; if it is not the Ray dashboard, give the dashboard's URL as --address (http://<head-svc>:8265)")
    if not dashboard.get("ok"):
        head_down = isinstance(ray_client, Missing) or (isinstance(ray_client, dict) and not ray_client.get("ok"))
        same_host = urlsplit(target.dashboard_url).hostname == target.host
        jobs_route = getattr(config, "route", "client") == "jobs"  # the dashboard is the way in: its own failure counts
        if dashboard.get("unreachable") and head_down and same_host and not jobs_route:
            return skipped(f"cluster unreachable ({reason_of(ray_client, 'no Ray Client answer')})", url=url)
        kind = dashboard.get("error_kind")
        remedy = remedy_url
        sent = said(dig(dashboard, "credentials", "sent"), "")
        if kind == "sign-in" and sent:
            return _refused(dashboard, url, sent)
        if kind == "sign-in":
            remedy = (
                "the dashboard sits behind single sign-on: that is expected in a browser; for the API, reach it "
                "in-cluster (http://<head-svc>:8265) or pass --dashboard-url, or give what the sign-in takes: "
                "--dashboard-header 'Authorization: Bearer <token>' (or its cookie), or --dashboard-url https://USER:PASSWORD@host/"
            )
            if str(dashboard.get("challenge", "")).lower() == "basic":
                remedy = (f"the dashboard asks for a user name and password (HTTP basic auth): give them in the URL, "
                          f"--dashboard-url {_with_userinfo(url)} (percent-encode @ : / ? # % in them), or pass "
                          "--dashboard-header 'Authorization: Basic <base64 of USER:PASSWORD>'")
            return warned(said(dashboard.get("error"), f"{url} needs a sign-in"), remedy, url=url)
        if kind == "tls":
            return tls_failure(dashboard)
        if kind == "ray-token":  # Ray's own token check: the auth check says where the token comes from
            return failed(said(dashboard.get("error"), f"{url} demands a Ray auth token"),
                          ("set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as Ray reads them"
                           if jobs_route else "see the auth check") +  # the auth check judges the Ray Client route only
                          ": with RAY_AUTH_MODE=token the tool sends the token Ray would send, as "
                          "X-Ray-Authorization", url=url, error_kind=kind)
        return failed(said(dashboard.get("error"), f"no answer from {url}"), remedy, url=url, error_kind=kind)
    version = dashboard.get("ray_version")
    gcs_version: Optional[str] = dig(server, "ray_version")
    unverified = dig(dashboard, "tls", "verified") is False
    if gcs_version and version and gcs_version != version:
        return warned(
            f"{url} serves Ray {version}, but the cluster at {target.address} runs {gcs_version}: another cluster?"
            + (" (and its TLS certificate was NOT verified: --insecure)" if unverified else ""),
            remedy_url,
            url=url,
        )
    sent = said(dig(dashboard, "credentials", "sent"), "")
    answers = f"dashboard at {url} answers: Ray {version} ({dashboard.get('version_ms')} ms)" + (f", with {sent}" if sent else "")
    if unverified:
        return warned(
            f"{answers}, but its TLS certificate was NOT verified (--insecure): anyone in between could answer instead",
            f"pass --ca-bundle FILE instead of --insecure, FILE being the CA that signed the dashboard's certificate; "
            f"{_show_chain(url)}",
            url=url, tls_verified=False, ray_commit=dashboard.get("ray_commit"),
        )
    details: Dict[str, Any] = {"url": url, "ray_commit": dashboard.get("ray_commit")}
    if sent:
        details["credentials_sent"] = sent
    if dig(dashboard, "tls", "ca_bundle"):
        details["ca_bundle"] = dig(dashboard, "tls", "ca_bundle")
    return passed(answers, **details)


def _refused(dashboard: Dict[str, Any], url: str, sent: str) -> Outcome:
    """The sign-in in front of the dashboard did not take the credentials the user gave (never shown: only what
    kind they were and their names)."""
    status = dashboard.get("http_status")
    if status in (401, 403):
        summary = f"the dashboard at {url} refused the credentials sent ({sent}): HTTP {status}"
    else:
        error = said(dashboard.get("error"), f"{url} answers with a sign-in page")
        error = error[len("behind a sign-in page: "):] if error.startswith("behind a sign-in page: ") else error
        summary = f"the credentials sent ({sent}) did not get past the sign-in in front of the dashboard: {error}"
    what = []
    if dig(dashboard, "credentials", "basic_auth"):
        what.append("the user name and password in the dashboard URL (percent-encode @ : / ? # % in them)")
    names = [str(n) for n in (dig(dashboard, "credentials", "headers") or []) if isinstance(n, str)]
    if names:
        what.append(f"the value{'s' if len(names) > 1 else ''} of --dashboard-header {', '.join(names)} (expired?)")
    user = dig(dashboard, "credentials", "user")
    curl = " ".join(([f"-u {user}"] if user else []) + [f"-H '{n}: …'" for n in names])
    remedy = (f"check {' and '.join(what) or 'the credentials'}; try them by hand: "
              f"`curl -sS -o /dev/null -w '%{{http_code}}\\n' {curl} {url}api/version` (200: accepted)")
    return failed(summary, remedy, url=url, error_kind="credentials-refused", credentials_sent=sent, http_status=status)


def _with_userinfo(url: str) -> str:
    """``url`` with ``USER:PASSWORD@`` written in, as the remedy shows it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://USER:PASSWORD@{rest}" if sep else url


def _open_in_browser(url: str) -> str:
    return f"open {url} in a browser; if it is not the dashboard, pass --dashboard-url (or --domain)"


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL
        return "<host>:443"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443
    return join_host_port(parts.hostname or "<host>", port)


def _show_chain(url: str) -> str:
    return (f"`openssl s_client -showcerts -connect {_host_port(url)} </dev/null` prints the certificates the server sends "
            "(the CA is usually the last one; your platform team has it too)")


def tls_failure(dashboard: Dict[str, Any]) -> Outcome:
    """The dashboard's TLS failed: say why, and which option fixes it."""
    url = said(dashboard.get("url"), "the dashboard")
    cause = str(dashboard.get("tls_error") or dashboard.get("error") or "TLS failed")
    ca_bundle = dig(dashboard, "tls", "ca_bundle")
    details = {"url": url, "error_kind": "tls", "tls_error": cause}
    if not cause.startswith(CERT_VERIFY_FAILED):
        if "wrong version number" in cause:
            return failed(f"{_host_port(url)} does not speak TLS ({cause})",
                          f"if the dashboard serves plain HTTP, pass --dashboard-url http://{_host_port(url)}/", **details)
        return failed(said(dashboard.get("error"), f"TLS with {url} failed: {cause}"),
                      _open_in_browser(url), **details)
    if "mismatch" in cause:
        return failed(
            f"the dashboard's TLS certificate does not name the host in {url}: {cause}",
            f"put a host name the certificate names in --dashboard-url (`openssl s_client -connect {_host_port(url)} </dev/null "
            "2>/dev/null | openssl x509 -noout -ext subjectAltName` lists them), or pass --insecure to skip verification",
            **details,
        )
    if ca_bundle:
        return failed(
            f"the dashboard's TLS certificate at {url} is not signed by the CA in --ca-bundle {ca_bundle}: {cause}",
            f"pass --ca-bundle FILE with the CA that signed the dashboard's certificate; {_show_chain(url)}",
            ca_bundle=ca_bundle, **details,
        )
    return failed(
        f"the dashboard's TLS certificate at {url} is not trusted: {cause}",
        "pass --ca-bundle FILE (the CA that signed the dashboard's certificate), or --insecure to skip verification; "
        + _show_chain(url),
        **details,
    )
