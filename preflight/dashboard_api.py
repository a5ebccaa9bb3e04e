"""Reading the Ray dashboard's REST API: one GET, and what came back described plainly (JSON we can use, or a
sign-in page, a redirect, an error, garbage). Shared by the dashboard probe and the support bundle.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Optional
from urllib.parse import urljoin

from preflight.net import HttpAnswer, NetError, TlsOptions, http_get

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
    if status in (401, 403):
        return {"kind": "sign-in", "error": f"{what} needs a sign-in (HTTP {status})"}
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
    try:
        answer = http_get(url, timeout, tls=tls, headers=headers)
    except NetError as exc:
        # a TLS failure or bytes that are not HTTP are answers: something listens there
        failure = {"kind": exc.kind, "error": exc.message, "unreachable": exc.kind not in ("tls", "garbage")}
        if exc.kind == "tls":
            failure["tls_error"] = exc.cause or exc.message
        return failure
    result = classify(answer, url)
    result["status"] = answer.status
    result["ms"] = round(answer.elapsed_s * 1000, 1)
    return result
