"""How the client's Ray would prove itself to a secured cluster, read from the run's environment the way Ray reads
it, and the channel settings the tool's own probes use so they speak to the cluster as Ray would.

- **Token authentication** (Ray 2.52+): with ``RAY_AUTH_MODE=token``, Ray sends ``authorization: Bearer <token>`` as
  gRPC metadata (and the dashboard takes the same HTTP header). The token comes from, in order (Ray's C++
  ``AuthenticationTokenLoader::TryLoadTokenFromSources``): ``RAY_AUTH_TOKEN``; the first line of the file
  ``RAY_AUTH_TOKEN_PATH`` names (set but unreadable or empty is an error, not a fall-through); ``~/.ray/auth_token``.
  Whitespace around it is trimmed. A token is a secret: it is never a fact, never printed; facts name its source.
- **TLS on the Ray ports** (``RAY_USE_TLS=1`` with ``RAY_TLS_SERVER_CERT``, ``RAY_TLS_SERVER_KEY``, ``RAY_TLS_CA_CERT``):
  Ray's gRPC channels then use TLS with that certificate and key as the client's own and that CA to verify the
  server (``ray._private.tls_utils``); the server asks for the client certificate when it has a CA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

AUTH_MODE = "RAY_AUTH_MODE"
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
TOKEN_PATH_VARIABLE = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
#: The first Ray release with token authentication.
TOKEN_AUTH_SINCE = "2.52.0"
TLS_VARIABLES = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")


@dataclass(frozen=True)
class Token:
    """A token found where Ray looks. ``value`` never appears in a repr, a fact or a report."""

    source: str
    path: Optional[str] = None
    value: str = field(default="", repr=False)

    def describe(self) -> str:
        return self.source + (f" ({self.path})" if self.path and self.source != self.path else "")


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def default_token_path(environ: Mapping[str, str]) -> str:
    return os.path.join(_home(environ), ".ray", "auth_token")


def _first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def find_token(environ: Mapping[str, str]) -> Tuple[Optional[Token], Optional[str]]:
    """The token Ray would send from this environment, and the problem Ray would report instead (one of them is
    None; both are None when there is no token anywhere)."""
    value = (environ.get(TOKEN_VARIABLE) or "").strip()
    if value:
        return Token(TOKEN_VARIABLE, None, value), None
    path = environ.get(TOKEN_PATH_VARIABLE)
    if path:
        value = _first_line(path)  # as written: Ray (C++) does not expand '~'
        if not value:
            return None, f"{TOKEN_PATH_VARIABLE} is set but the file cannot be opened or is empty: {path}"
        return Token(TOKEN_PATH_VARIABLE, path, value), None
    default = default_token_path(environ)
    value = _first_line(default)
    if value:
        return Token(DEFAULT_TOKEN_FILE, default, value), None
    return None, None


def token_mode(environ: Mapping[str, str]) -> bool:
    """Whether Ray in this environment runs with token authentication (and so sends its token)."""
    return (environ.get(AUTH_MODE) or "").strip().lower() == "token"


@dataclass(frozen=True)
class TlsFiles:
    """The TLS settings Ray reads from the environment (paths as given)."""

    enabled: bool
    cert: Optional[str] = None
    key: Optional[str] = None
    ca: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"enabled": self.enabled, "cert": self.cert, "key": self.key, "ca": self.ca}


def tls_files(environ: Mapping[str, str]) -> TlsFiles:
    """``RAY_USE_TLS`` as Ray reads it (``ray_constants.env_bool``: "1" or "true", any case) and the three files."""
    enabled = (environ.get("RAY_USE_TLS") or "0").strip().lower() in ("1", "true")
    return TlsFiles(enabled, environ.get("RAY_TLS_SERVER_CERT") or None, environ.get("RAY_TLS_SERVER_KEY") or None,
                    environ.get("RAY_TLS_CA_CERT") or None)


class TlsConfigError(Exception):
    """The TLS files Ray would use cannot be loaded; the message names which and why."""


def tls_context(files: TlsFiles) -> Any:
    """A client ``ssl.SSLContext`` holding what Ray's gRPC channel would hold: the CA to verify the server (else the
    system's), the certificate and key to present, HTTP/2 by ALPN. ``TlsConfigError`` when a file cannot be used."""
    import ssl

    # Like gRPC's root_certificates: with a CA file, only that CA is trusted (not the system's as well).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_alpn_protocols(["h2"])
    if files.ca:
        try:
            context.load_verify_locations(cafile=files.ca)  # paths as written: Ray does not expand '~'
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"RAY_TLS_CA_CERT {files.ca}: {_why(exc)}") from None
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if files.cert or files.key:
        if not (files.cert and files.key):
            missing = "RAY_TLS_SERVER_KEY" if files.cert else "RAY_TLS_SERVER_CERT"
            raise TlsConfigError(f"{missing} is not set (Ray needs the certificate and its key)")
        try:
            # A key with a passphrase fails here (gRPC cannot use one either) instead of OpenSSL asking on the terminal.
            context.load_cert_chain(files.cert, files.key, password=no_passphrase)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"RAY_TLS_SERVER_CERT {files.cert} with RAY_TLS_SERVER_KEY {files.key}: {_why(exc)}") from None
    return context


def no_passphrase() -> bytes:
    """The ``password`` for ``load_cert_chain``: none, so an encrypted key fails at once."""
    return b""


def _why(exc: BaseException) -> str:
    import ssl

    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        if reason == "KEY_VALUES_MISMATCH":
            return "the key does not belong to the certificate"
        return str(reason or exc).lower().replace("_", " ")
    return " ".join(str(exc).split())


@dataclass
class Channel:
    """What every gRPC probe of a run sends with its call: the token's metadata and the TLS context. Built once per
    run (``channel(ctx)``); what cannot be set up is left out (the auth and tls checks say why)."""

    metadata: List[Tuple[str, str]] = field(default_factory=list, repr=False)
    tls: Any = None

    def http_headers(self) -> Dict[str, str]:
        """The dashboard's form of the token: ``X-Ray-Authorization: Bearer <token>``, which Ray's dashboard reads
        when no ``Authorization`` header is sent (that one stays free for a proxy's own sign-in)."""
        bearer = [v for k, v in self.metadata if k == "authorization"]
        return {"X-Ray-Authorization": bearer[0]} if bearer else {}


def build_channel(environ: Mapping[str, str]) -> Channel:
    """The channel Ray would open from ``environ``: the token only in token mode (Ray sends none otherwise), TLS only
    with ``RAY_USE_TLS``."""
    made = Channel()
    if token_mode(environ):
        token, _ = find_token(environ)
        if token is not None:
            made.metadata.append(("authorization", f"Bearer {token.value}"))
    files = tls_files(environ)
    if files.enabled:
        try:
            made.tls = tls_context(files)
        except TlsConfigError:
            pass  # the probes then go plain, as nothing else is possible; the tls check names the file and why
    return made


#: The ``NetError`` kinds (and a Ray Client PING's UNAUTHENTICATED) that mean "secured, and this client does not
#: meet it": the checks name that cause instead of "not a Ray Client server".
SECURITY_KINDS = ("unauthenticated", "tls-required", "tls-plain", "tls")

TLS_EXPORTS = ("export RAY_USE_TLS=1 RAY_TLS_SERVER_CERT=<client.crt> RAY_TLS_SERVER_KEY=<client.key> "
               "RAY_TLS_CA_CERT=<ca.crt>")


def security_finding(kind: str, error: str, where: str) -> Optional[Tuple[str, str]]:
    """(summary, remedy) for a Ray port that refused this client for a security reason, or None for any other kind.
    The ``auth`` and ``tls`` checks say the rest (where the token or the files come from)."""
    if kind == "unauthenticated":
        return (f"{where} demands a Ray auth token (token authentication, Ray 2.52+) and refused this client's call: {error}",
                "see the auth check: Ray sends the token with RAY_AUTH_MODE=token, from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH "
                "or ~/.ray/auth_token")
    if kind == "tls-required":
        return (f"{where} speaks TLS on the Ray port, and this client does not (RAY_USE_TLS is not 1, or the RAY_TLS_* files "
                "it names cannot be used)",
                f"get the cluster's CA and a client certificate from its administrators, then {TLS_EXPORTS} (see the tls check)")
    if kind == "tls-plain":
        return (f"{where} does not speak TLS, but this client has RAY_USE_TLS=1 ({error})",
                "unset RAY_USE_TLS (and the RAY_TLS_* variables) for this cluster, or check that the address is the TLS one")
    if kind == "tls":
        return (error, "check RAY_TLS_CA_CERT, RAY_TLS_SERVER_CERT and RAY_TLS_SERVER_KEY (see the tls check)")
    return None


def channel(ctx: Any) -> Channel:
    """The run's channel, built on first use and shared by every probe (``ctx.resources``)."""
    resources = ctx.resources
    with resources.lock:
        if resources.ray_channel is None:
            resources.ray_channel = build_channel(ctx.config.environ)
        return resources.ray_channel  # type: ignore[no-any-return]
