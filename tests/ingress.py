"""``Ingress``: a sign-in in front of a real Ray dashboard, for the tests (tests/test_dashboard_credentials.py,
tests/test_jobs_route_secured.py).

A small threaded reverse proxy on loopback. It stands in for a Kubernetes ingress with basic auth
(``nginx.ingress.kubernetes.io/auth-type: basic`` answers 401 with ``WWW-Authenticate: Basic``) or for an OAuth proxy
that takes a header (``oauth2-proxy`` answers a 302 to its sign-in page). It checks the credentials, forwards what
passes (GET and POST, with the body, its Content-Type and Ray's own ``X-Ray-Authorization``) to the real dashboard
without them, and records what each request carried.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

#: The header an OAuth proxy takes (``--dashboard-header``).
HEADER = "X-Auth-Request-Token"
#: What the ingress passes on to the dashboard besides the body: nothing of its own sign-in.
_FORWARDED = ("Content-Type", "X-Ray-Authorization")


class Ingress:
    """Lets a request through when it carries ``basic`` (user, password) as HTTP basic auth, or ``header`` (name,
    value); else answers 401 with a Basic challenge (basic) or a 302 to ``/oauth2/sign_in`` (header). ``echo`` is
    written into ``/api/cluster_status`` answers as the autoscaler's error (a server that echoes a secret back)."""

    def __init__(self, upstream: str, basic: Optional[Tuple[str, str]] = None, header: Optional[Tuple[str, str]] = None,
                 echo: Optional[str] = None):
        self.upstream, self.basic, self.header, self.echo = upstream, basic, header, echo
        self.seen: List[Dict[str, Any]] = []
        ingress = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                ingress.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                ingress.handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _allowed(self, request: BaseHTTPRequestHandler) -> bool:
        if self.basic is not None:
            expected = base64.b64encode(":".join(self.basic).encode("utf-8")).decode("ascii")
            if request.headers.get("Authorization") == f"Basic {expected}":
                return True
        return self.header is not None and request.headers.get(self.header[0]) == self.header[1]

    def handle(self, request: BaseHTTPRequestHandler, method: str = "GET") -> None:
        length = int(request.headers.get("Content-Length") or 0)
        data = request.rfile.read(length) if length else b""
        allowed = self._allowed(request)
        self.seen.append({"method": method, "path": request.path, "allowed": allowed,
                          "authorization": request.headers.get("Authorization"), "header": request.headers.get(HEADER),
                          "ray_token": request.headers.get("X-Ray-Authorization")})
        if not allowed and self.basic is not None:
            return send(request, 401, b"<html><head><title>401 Authorization Required</title></head></html>", "text/html",
                        {"WWW-Authenticate": 'Basic realm="Authentication Required - ray"'})
        if not allowed:
            return send(request, 302, b"", "text/html", {"Location": f"/oauth2/sign_in?rd={quote(request.path)}"})
        forwarded = {name: request.headers[name] for name in _FORWARDED if request.headers.get(name)}
        upstream = urllib.request.Request(self.upstream + request.path.lstrip("/"), data=data if method == "POST" else None,
                                          headers=forwarded, method=method)
        try:
            with urllib.request.urlopen(upstream, timeout=15) as answer:
                status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as exc:
            status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain")
        if self.echo and request.path.startswith("/api/cluster_status"):
            parsed = json.loads(body)
            parsed.setdefault("data", {})["autoscalingError"] = self.echo
            body = json.dumps(parsed).encode("utf-8")
        send(request, status, body, kind)


def send(request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, headers: Optional[Dict[str, str]] = None) -> None:
    request.send_response(status)
    for name, value in dict({"Content-Type": kind, "Content-Length": str(len(body))}, **(headers or {})).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)
