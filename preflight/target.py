"""Where to look: the address as Ray reads it, the GCS address and the dashboard URL.

Resolution follows ``ray.init``: ``--address`` > ``RAY_ADDRESS`` > the profile's default. An address takes one of
three forms, each read the way Ray reads it:

* ``ray://host[:port]``: the Ray Client (port 10001 when left out). ``ray.init`` connects through the Ray Client
  server, from any machine that reaches it.
* ``host:port`` (no scheme): the cluster's GCS. ``ray.init`` then joins the cluster *as a driver*: that works only
  on a machine that runs a Ray node of that cluster, which every node can reach back, with the cluster's exact Ray
  and Python. A bare ``host`` (no port) is refused by ``ray.init`` ("Invalid address format"), and so here.
* ``http(s)://host[:port]``: the dashboard, which serves the Ray Jobs API (what ``ray job submit`` reads from
  ``RAY_ADDRESS``). ``ray.init`` refuses it; the Ray Client address is derived as ``ray://host:10001``.

A dashboard URL (a Ray Jobs address, ``--dashboard-url``, the profile's pattern) may carry ``user:password@``: both
are percent-decoded (RFC 3986), taken out of the URL the tool shows and stores, and kept as ``BasicAuth``, which only
the dashboard's requests send.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit

from preflight.errors import UsageError, shown
from preflight.profiles import Profile

CLIENT_PORT = 10001
GCS_PORT = 6379
DASHBOARD_PORT = 8265
#: The forms of an address (``Target.form``, ``address_form`` in the JSON output).
RAY_CLIENT = "ray-client"
GCS = "gcs"
JOBS = "jobs"
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_MAX_INPUT = 1024


@dataclass(frozen=True)
class BasicAuth:
    """The ``user:password@`` of a dashboard URL, percent-decoded: sent as HTTP basic auth to the dashboard only.

    The password never appears in a repr, a fact or a report. Neither does a user given without a password
    (``https://<token>@host/``, the way many services take a token), which is treated as a secret too."""

    user: str = field(repr=False)
    password: Optional[str] = field(default=None, repr=False)

    @property
    def shown_user(self) -> Optional[str]:
        """The user name as messages may show it: None when it may itself be the secret (no password given)."""
        return self.user if self.password is not None and self.user else None

    def header(self) -> str:
        """The ``Authorization`` header's value (RFC 7617: ``user:password`` in UTF-8, base64)."""
        pair = f"{self.user}:{self.password or ''}".encode("utf-8")
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def secrets(self) -> Tuple[str, ...]:
        """The values no output may show."""
        hidden = [self.password] if self.password else []
        return tuple(hidden + ([self.user] if self.shown_user is None and self.user else []))

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.shown_user!r})" if self.shown_user else "BasicAuth(user hidden)"


@dataclass(frozen=True)
class Target:
    #: Where ``ray.init`` connects: the Ray Client server (given, or derived from a Ray Jobs address) or, for a GCS
    #: address, the GCS.
    host: str
    port: int
    gcs_host: str
    gcs_port: int
    dashboard_url: str
    address_source: str
    dashboard_source: str
    #: ``ray-client``, ``gcs`` or ``jobs``: the form the address was given in.
    form: str = RAY_CLIENT
    #: The address as given (surrounding whitespace removed; credentials of a Ray Jobs URL taken out).
    given: str = ""
    #: ``user:password@`` taken out of the dashboard URL, sent as basic auth with the dashboard's requests only.
    dashboard_auth: Optional[BasicAuth] = None

    @property
    def address(self) -> str:
        """The address in the form it was given: ``ray://host:port``, ``host:port`` (a GCS) or the Ray Jobs URL."""
        if self.form == GCS:
            return join_host_port(self.host, self.port)
        if self.form == JOBS:
            return self.dashboard_url
        return f"ray://{join_host_port(self.host, self.port)}"

    @property
    def client_address(self) -> Optional[str]:
        """The Ray Client address, given or derived; None for a GCS address (``ray.init`` does not use the Ray Client then)."""
        return None if self.form == GCS else f"ray://{join_host_port(self.host, self.port)}"

    @property
    def init_address(self) -> str:
        """What the tool's jobs hand ``ray.init`` to do what the user's ``ray.init`` does: the GCS address exactly as
        given, else the Ray Client address."""
        return (self.given or self.address) if self.form == GCS else f"ray://{join_host_port(self.host, self.port)}"

    @property
    def gcs_address(self) -> str:
        return join_host_port(self.gcs_host, self.gcs_port)

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "address_form": self.form,
            "address_source": self.address_source,
            "client_address": self.client_address,
            "init_address": self.init_address,
            "gcs_address": self.gcs_address,
            "dashboard_url": self.dashboard_url,
            "dashboard_source": self.dashboard_source,
        }


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: Credentials in a URL: everything after the scheme (or from the start when there is none) up to the last '@',
#: so a password holding '/', '@' or a space is hidden too.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.S)
#: A '%' that does not start a percent-encoded octet (RFC 3986 ``pct-encoded``).
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _shown(text: str) -> str:
    """The input as quoted in an error message: shortened, with URL credentials hidden."""
    return shown(_USERINFO.sub(r"\1***@", text), 62)


def _text(value: object, what: str, example: str) -> str:
    """``value`` when it is a str, else a usage error (a notebook may pass a number or None)."""
    if value is None:
        raise UsageError(f"{what} is missing")
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text such as {example}, not {type(value).__name__}")
    return value


def _check_host(host: str, what: str, original: str) -> str:
    if not host:
        raise UsageError(f"{what} {_shown(original)} has no host name")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        raise UsageError(f"{what} {_shown(original)}: host {_shown(host)} is not an ASCII DNS name")
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise UsageError(f"{what} {_shown(original)}: {_shown(host)} is not a valid host name")
    return host


def _check_port(text: str, what: str, original: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise UsageError(f"{what} {_shown(original)}: port {_shown(text)} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise UsageError(f"{what} {_shown(original)}: port {port} is outside 1-65535")
    return port


def _split(text: str, what: str, original: str, example_port: int) -> Tuple[str, Optional[int]]:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address; the port is None when absent."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"{what} {_shown(original)}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"{what} {_shown(original)}: {_shown(host)} is not an IPv6 address") from None
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"{what} {_shown(original)}: unexpected {_shown(rest)} after the IPv6 address")
        return host, _check_port(rest[1:], what, original)
    if text.count(":") > 1:
        try:
            return str(ipaddress.IPv6Address(text)), None
        except ValueError:
            raise UsageError(
                f"{what} {_shown(original)}: write IPv6 addresses in brackets, e.g. "
                + (f"ray://[::1]:{example_port}" if example_port == CLIENT_PORT else f"[::1]:{example_port}")
            ) from None
    host, sep, port_text = text.partition(":")
    port = _check_port(port_text, what, original) if sep else None
    return _check_host(host, what, original), port


def split_host_port(
    text: str, default_port: int, what: str = "address", original: Optional[str] = None
) -> Tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address (``default_port`` when it has none)."""
    host, port = _split(text, what, text if original is None else original, default_port)
    return host, default_port if port is None else port


def _typed(host: str) -> str:
    """A host as the user would type it in an address (IPv6 in brackets); a long one as ``<host>``."""
    if len(host) > 60:
        return "<host>"
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Address:
    """One address, parsed as Ray reads it."""

    form: str
    #: Where ``ray.init`` connects: the Ray Client server (given, or derived from a Ray Jobs URL) or the GCS.
    host: str
    port: int
    #: The Ray Jobs URL (the dashboard) of a ``jobs`` address, without credentials.
    url: Optional[str] = None
    #: The credentials that were in that URL.
    auth: Optional[BasicAuth] = None


def parse(text: str, what: str = "address") -> Address:
    """Parse an address as ``ray.init`` (and ``ray job submit``) would read it; raise ``UsageError`` with one clear line."""
    original = text = _text(text, what, "ray://host:port")
    text = text.strip()
    if not text:
        raise UsageError(f"{what} is empty: give ray://host:port")
    if len(text) > _MAX_INPUT:
        raise UsageError(f"{what} is {len(text)} characters long: give ray://host:port")
    if any(ch.isspace() for ch in text) or not text.isprintable():
        raise UsageError(f"{what} {_shown(original)} contains spaces or control characters")
    lowered = text.lower()
    if lowered == "auto":
        raise UsageError(f"{what} 'auto' makes ray.init join the Ray started on this machine with `ray start`: "
                         "give that cluster's address (ray://host:10001), or use --local to check a throwaway head")
    if lowered == "local":
        raise UsageError(f"{what} 'local' makes ray.init start a new Ray on this machine, so there is no cluster to check: "
                         "give ray://host:10001, or use --local to check a throwaway head")
    if lowered == "localhost:auto":
        raise UsageError(f"{what} {text!r} means a Ray started on this machine; give ray://host:port, or use --local")
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() in ("http", "https"):
            url, auth = split_dashboard_url(text, what)
            return Address(JOBS, _check_host(urlsplit(url).hostname or "", what, original), CLIENT_PORT, url, auth)
        if scheme.lower() != "ray":
            named = f", not {scheme}://" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,15}", scheme) else ""
            raise UsageError(f"{what} {_shown(original)}: expected ray://host:port (Ray Client), host:port (GCS) "
                             f"or http(s)://host:port (Ray Jobs){named}")
        if "/" in rest or "?" in rest or "#" in rest or "@" in rest:
            raise UsageError(f"{what} {_shown(original)}: expected ray://host:port with nothing after the port")
        host, port = split_host_port(rest, CLIENT_PORT, what, original)
        return Address(RAY_CLIENT, host, port)
    if "/" in text or "?" in text or "#" in text or "@" in text:
        raise UsageError(f"{what} {_shown(original)}: expected ray://host:port or host:port with nothing after the port")
    host, maybe_port = _split(text, what, original, GCS_PORT)
    if maybe_port is None:
        brackets = " (IPv6 addresses go in brackets)" if ":" in host and not text.startswith("[") else ""
        raise UsageError(f"{what} {_shown(original)} has no port, and ray.init refuses an address without one "
                         f"(\"Invalid address format\"): give ray://{_typed(host)}:{CLIENT_PORT} for the Ray Client, "
                         f"or {_typed(host)}:{GCS_PORT} to join as a driver through the GCS{brackets}")
    return Address(GCS, host, maybe_port)


def parse_address(text: str, what: str = "address") -> Tuple[str, int]:
    """Parse an address into the (host, port) ``ray.init`` connects to (the Ray Client server, or the GCS of a
    ``host:port`` address); raise ``UsageError`` with one clear line."""
    parsed = parse(text, what)
    return parsed.host, parsed.port


def parse_dashboard_url(text: str, what: str = "dashboard URL") -> str:
    """The dashboard URL without credentials (``split_dashboard_url`` gives them too)."""
    return split_dashboard_url(text, what)[0]


def split_dashboard_url(text: str, what: str = "dashboard URL") -> Tuple[str, Optional[BasicAuth]]:
    """The dashboard URL without its ``user:password@`` (ending in '/' when it has no path), and those credentials
    percent-decoded as RFC 3986 says; ``UsageError`` (one line, never repeating the credentials) when unusable."""
    original = _text(text, what, "http://host:8265")
    text = original.strip()
    if not text or any(ch.isspace() for ch in text) or not text.isprintable() or len(text) > _MAX_INPUT:
        raise UsageError(f"{what} {_shown(original)} is not a URL")
    if "://" not in text:
        text = "http://" + text
    start = text.index("://") + 3
    authority = re.split(r"[/?#]", text[start:], maxsplit=1)[0]
    if "@" in text[start + len(authority):]:  # a '/', '?' or '#' in a password ended the host early: the rest would show
        raise UsageError(f"{what} {_shown(original)}: '@' after the host; a '/', '?', '#' or '%' in a user name or "
                         "password must be percent-encoded (%2F, %3F, %23, %25)")
    userinfo, at, _ = authority.rpartition("@")
    auth = _credentials(userinfo, what, original) if at else None
    if at:
        text = text[:start] + text[start + len(userinfo) + 1:]
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # its text may repeat part of the URL, a password included: not shown
        why = "the port is not a number from 1 to 65535" if "port" in str(exc).lower() else "not a valid URL"
        raise UsageError(f"{what} {_shown(original)}: {why}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"{what} {_shown(original)}: expected http:// or https://")
    if not parts.hostname:
        raise UsageError(f"{what} {_shown(original)} has no host name")
    if "@" in parts.netloc:
        raise UsageError(f"{what} {_shown(original)}: not a valid URL")
    _check_host(parts.hostname, what, original)
    if port == 0:
        raise UsageError(f"{what} {_shown(original)}: port 0 is not usable")
    return (text if text.endswith("/") or parts.path else text + "/"), auth


def _credentials(userinfo: str, what: str, original: str) -> Optional[BasicAuth]:
    """``user[:password]`` of a URL, each part percent-decoded (UTF-8); None when empty (``https://@host/``)."""
    if not userinfo:
        return None
    if _BAD_PERCENT.search(userinfo):
        raise UsageError(f"{what} {_shown(original)}: a '%' in the credentials does not start a percent-encoded "
                         "character (write a literal % as %25)")
    user, colon, password = userinfo.partition(":")
    try:
        user, password = unquote(user, errors="strict"), unquote(password, errors="strict")
    except UnicodeDecodeError:
        raise UsageError(f"{what} {_shown(original)}: the credentials are not UTF-8 once percent-decoded") from None
    if ":" in user:
        raise UsageError(f"{what} {_shown(original)}: the user name holds ':' (%3A), which basic auth cannot send")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user + password):
        raise UsageError(f"{what} {_shown(original)}: the credentials hold control characters")
    return BasicAuth(user, password if colon else None)


def _without_userinfo(text: str) -> str:
    """A URL as given, with its ``user:password@`` taken out."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1", text)


def resolve(
    profile: Profile,
    address: Optional[str] = None,
    dashboard_url: Optional[str] = None,
    domain: Optional[str] = None,
    gcs_address: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Target:
    environ = environ if environ is not None else {}
    if address is not None:
        source, text = "flag", address
    elif environ.get("RAY_ADDRESS"):
        source, text = "RAY_ADDRESS", environ["RAY_ADDRESS"]
    elif profile.address:
        source, text = f"profile {profile.name}", profile.address
    else:
        raise UsageError(
            "no address: pass --address ray://host:port, set RAY_ADDRESS, or choose a profile with a default (fy23-q2)"
        )
    what = "RAY_ADDRESS" if source == "RAY_ADDRESS" else "address"
    parsed = parse(text, what)
    host, port = parsed.host, parsed.port
    given = text.strip()

    if gcs_address:
        gcs_host, gcs_port = split_host_port(_text(gcs_address, "GCS address", "host:6379").strip(), GCS_PORT, "GCS address")
        if parsed.form == GCS and (gcs_host, gcs_port) != (host, port):
            raise UsageError(f"{what} {_shown(given)} is itself a GCS address, and --gcs-address "
                             f"{join_host_port(gcs_host, gcs_port)} names another: leave --gcs-address out")
    else:
        gcs_host, gcs_port = host, (port if parsed.form == GCS else GCS_PORT)

    if domain is not None:
        domain = _text(domain, "domain", "example.com").strip().strip(".")
        _check_host(domain, "domain", domain)
    named = "--address" if source == "flag" else source
    auth: Optional[BasicAuth] = None
    if parsed.form == JOBS and parsed.url is not None:
        url, auth, dash_source = parsed.url, parsed.auth, f"the Ray Jobs address ({named})"
        given = _without_userinfo(given)
        if dashboard_url:
            other, other_auth = split_dashboard_url(dashboard_url)
            if other != url:
                raise UsageError(f"{what} {_shown(given)} is a Ray Jobs address (the dashboard), and --dashboard-url "
                                 f"{_shown(other)} names another: give one of them")
            if auth and other_auth and auth != other_auth:
                raise UsageError(f"{what} and --dashboard-url carry different credentials for the same dashboard: "
                                 "give them once")
            auth = auth or other_auth
        source = f"derived from the Ray Jobs address ({named})"
    elif dashboard_url:
        (url, auth), dash_source = split_dashboard_url(dashboard_url), "flag"
    elif profile.dashboard_url and ("{domain}" not in profile.dashboard_url or domain):
        url, auth = split_dashboard_url(profile.dashboard_url.format(domain=domain or ""))
        dash_source = f"profile {profile.name}"
    else:
        url, dash_source = f"http://{join_host_port(host, DASHBOARD_PORT)}/", "head host"
    return Target(host, port, gcs_host, gcs_port, url, source, dash_source, parsed.form, given, auth)
