"""Reading the Ray dashboard's REST API: one GET, and what came back described plainly (JSON we can use, or a
sign-in page, a redirect, an error, garbage). Shared by the dashboard probe and the support bundle, which both send
the user's ``Credentials`` (basic auth from the URL, ``--dashboard-header``) with every request; ``call_api`` does the
same for any method (the Ray Jobs route POSTs a job and its stop).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urljoin

from preflight.net import MAX_BODY, HttpAnswer, NetError, TlsOptions, http_post, http_request
from preflight.target import BasicAuth


@dataclass(frozen=True)
class Credentials:
    """What the dashboard's requests carry to get past a sign-in in front of it (an ingress, an OAuth proxy): basic
    auth from the URL's ``user:password@`` and the ``--dashboard-header`` headers. Sent to the dashboard only, never
    to the Ray ports or Kubernetes. Only names are ever shown (``describe``, ``to_dict``), never a value."""

    basic: Optional[BasicAuth] = None
    headers: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)

    def __bool__(self) -> bool:
        return self.basic is not None or bool(self.headers)

    @property
    def header_names(self) -> List[str]:
        return [name for name, _ in self.headers]

    def http_headers(self, token: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """A dashboard request's headers: ``token`` (the Ray auth token as ``X-Ray-Authorization``), basic auth, then
        the user's headers; a name given again (in any case) replaces the earlier one."""
        merged: Dict[str, Tuple[str, str]] = {}
        basic = [("Authorization", self.basic.header())] if self.basic is not None else []
        for name, value in list((token or {}).items()) + basic + list(self.headers):
            merged.pop(name.lower(), None)
            merged[name.lower()] = (name, value)
        return dict(merged.values())

    def describe(self) -> str:
        """What was sent, by name only: "basic auth as user alice and 1 header: X-Auth-Request-Token"."""
        parts = []
        if self.basic is not None:
            user = self.basic.shown_user
            parts.append(f"basic auth as user {user}" if user else "basic auth (a user name alone, not shown)")
        if self.headers:
            parts.append(f"{len(self.headers)} header{'' if len(self.headers) == 1 else 's'}: {', '.join(self.header_names)}")
        return " and ".join(parts)

    def to_dict(self) -> Dict[str, Any]:
        """For the facts: names, never values."""
        return {"basic_auth": self.basic is not None, "user": self.basic.shown_user if self.basic else None,
                "headers": self.header_names, "sent": self.describe()}

#: How Ray's dashboard answers a request without (401) or with a wrong (403) token (``http_token_authentication``).
_RAY_TOKEN = re.compile(rb"^\s*(Unauthorized: Missing authentication token|Forbidden: Invalid authentication token)")
_LOGIN = re.compile(rb"(?i)(sign[ -]?in|log[ -]?in|password|oauth|openid|saml|keycloak|<form)")
_LOGIN_URL = re.compile(r"(?i)(login|signin|sign_in|oauth|openid|sso|auth|saml|dex|keycloak)")


def classify(answer: HttpAnswer, what: str) -> Dict[str, Any]:
    """Read one HTTP answer: JSON we can use, or a plain description of what came instead."""
    status = answer.status
    if 300 <= status < 400:
        location = answer.headers.get("location", "")
        target = urljoin(answer.url, location) if location else "(no Location)"
        if target.split("#")[0] == answer.url:
            return {"kind": "redirect", "error": f"{what} redirects to itself (HTTP {status}): a redirect loop", "location": target}
        if _LOGIN_URL.search(location):
            return {"kind": "sign-in", "error": f"behind a sign-in page: {what} redirects to {target}", "location": target}
        return {"kind": "redirect", "error": f"{what} redirects (HTTP {status}) to {target}", "location": target}
    if status in (401, 403) and _RAY_TOKEN.match(answer.body[:200]):  # Ray's own token check (2.52+), not a proxy's
        message = answer.body[:200].decode("utf-8", "replace").strip()
        return {"kind": "ray-token", "error": f"{what} demands a Ray auth token (HTTP {status}: {message})"}
    if status in (401, 403):
        challenge = answer.headers.get("www-authenticate", "").split(" ", 1)[0].strip(",")[:20]
        return {"kind": "sign-in", "error": f"{what} needs a sign-in (HTTP {status})", **({"challenge": challenge} if challenge else {})}
    if status == 404:
        return {"kind": "not-found", "error": f"no Ray dashboard API at {answer.url} (HTTP 404)"}
    if status >= 400:
        return {"kind": "http-error", "error": f"{what} answered HTTP {status}"}
    body = answer.body
    looks_html = answer.content_type in ("text/html", "application/xhtml+xml") or body.lstrip()[:15].lower().startswith(
        (b"<!doctype html", b"<html")
    )
    if looks_html:
        if _LOGIN.search(body[:65536]):
            return {"kind": "sign-in", "error": f"behind a sign-in page at {answer.url} (HTML where JSON was expected)"}
        return {"kind": "html", "error": f"{answer.url} serves an HTML page, not the Ray dashboard API"}
    try:
        return {"kind": "json", "json": json.loads(body.decode("utf-8"))}
    except (ValueError, UnicodeDecodeError):
        return {"kind": "garbage", "error": f"{answer.url} answered HTTP {status} but not with JSON ({len(body)} bytes)"}


def read_api(url: str, timeout: float, tls: Optional[TlsOptions] = None, headers: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """GET ``url`` and describe the answer (``call_api``)."""
    return call_api("GET", url, timeout, tls, headers)


def call_api(method: str, url: str, timeout: float, tls: Optional[TlsOptions] = None,
             headers: Optional[Dict[str, str]] = None, body: Optional[Any] = None, max_body: int = MAX_BODY) -> Dict[str, Any]:
    """``read_api`` for any method: ``body`` (a JSON-able value) is sent as JSON. The answer is described the same
    way; an error answer (HTTP 400 and up, not a sign-in) also carries the last line of its text as ``said`` (a Ray
    dashboard puts its reason there: "Job ... does not exist", the last line of a traceback)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    try:
        if method == "POST":
            answer = http_post(url, timeout, data or b"", max_body=max_body, tls=tls, headers=headers)
        else:
            answer = http_request(method, url, timeout, data, max_body=max_body, tls=tls, headers=headers)
    except NetError as exc:
        failure = {"kind": exc.kind, "error": exc.message, "unreachable": exc.kind not in ("tls", "garbage")}
        if exc.kind == "tls":
            failure["tls_error"] = exc.cause or exc.message
        return failure
    result = classify(answer, url)
    result["status"] = answer.status
    result["ms"] = round(answer.elapsed_s * 1000, 1)
    if answer.status >= 400 and result["kind"] in ("http-error", "not-found"):
        lines = [line.strip() for line in answer.body[-4000:].decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            result["said"] = lines[-1][:500]
    return result
