"""Where to look: the Ray Client address, the GCS address and the dashboard URL.

Resolution follows ``ray.init``: ``--address`` > ``RAY_ADDRESS`` > the profile's default.
Accepted forms: ``ray://host:port``, ``host:port`` and ``host`` (port 10001).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple
from urllib.parse import urlsplit

from preflight.errors import UsageError, shown
from preflight.profiles import Profile

CLIENT_PORT = 10001
GCS_PORT = 6379
DASHBOARD_PORT = 8265
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_MAX_INPUT = 1024


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    gcs_host: str
    gcs_port: int
    dashboard_url: str
    address_source: str
    dashboard_source: str

    @property
    def address(self) -> str:
        return f"ray://{join_host_port(self.host, self.port)}"

    @property
    def gcs_address(self) -> str:
        return join_host_port(self.gcs_host, self.gcs_port)

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "address_source": self.address_source,
            "gcs_address": self.gcs_address,
            "dashboard_url": self.dashboard_url,
            "dashboard_source": self.dashboard_source,
        }


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: Credentials in a URL: everything after the scheme (or from the start when there is none) up to the last '@',
#: so a password holding '/', '@' or a space is hidden too.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.S)


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


def split_host_port(
    text: str, default_port: int, what: str = "address", original: Optional[str] = None
) -> Tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    original = text if original is None else original
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
            return host, default_port
        if not rest.startswith(":"):
            raise UsageError(f"{what} {_shown(original)}: unexpected {_shown(rest)} after the IPv6 address")
        return host, _check_port(rest[1:], what, original)
    if text.count(":") > 1:
        try:
            return str(ipaddress.IPv6Address(text)), default_port
        except ValueError:
            raise UsageError(
                f"{what} {_shown(original)}: write IPv6 addresses in brackets, e.g. ray://[::1]:{default_port}"
            ) from None
    host, sep, port_text = text.partition(":")
    port = _check_port(port_text, what, original) if sep else default_port
    return _check_host(host, what, original), port


def parse_address(text: str, what: str = "address") -> Tuple[str, int]:
    """Parse a Ray Client address into (host, port); raise ``UsageError`` with one clear line."""
    original = text = _text(text, what, "ray://host:port")
    text = text.strip()
    if not text:
        raise UsageError(f"{what} is empty: give ray://host:port")
    if len(text) > _MAX_INPUT:
        raise UsageError(f"{what} is {len(text)} characters long: give ray://host:port")
    if any(ch.isspace() for ch in text) or not text.isprintable():
        raise UsageError(f"{what} {_shown(original)} contains spaces or control characters")
    if text.lower() in ("auto", "local", "localhost:auto"):
        raise UsageError(
            f"{what} {text!r} means a Ray started on this machine; give ray://host:port, or use --local"
        )
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() != "ray":
            hint = " (a dashboard URL goes in --dashboard-url)" if scheme.lower() in ("http", "https") else ""
            named = f", not {scheme}://" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,15}", scheme) else ""
            raise UsageError(f"{what} {_shown(original)}: expected ray://host:port{named}{hint}")
        text = rest
    if "/" in text or "?" in text or "#" in text or "@" in text:
        raise UsageError(f"{what} {_shown(original)}: expected ray://host:port with nothing after the port")
    return split_host_port(text, CLIENT_PORT, what, original)


def parse_dashboard_url(text: str) -> str:
    original = _text(text, "dashboard URL", "http://host:8265")
    text = original.strip()
    if not text or any(ch.isspace() for ch in text) or not text.isprintable() or len(text) > _MAX_INPUT:
        raise UsageError(f"dashboard URL {_shown(original)} is not a URL")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # its text may repeat part of the URL, a password included: not shown
        why = "the port is not a number from 1 to 65535" if "port" in str(exc).lower() else "not a valid URL"
        raise UsageError(f"dashboard URL {_shown(original)}: {why}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"dashboard URL {_shown(original)}: expected http:// or https://")
    if not parts.hostname:
        raise UsageError(f"dashboard URL {_shown(original)} has no host name")
    if "@" in parts.netloc:  # the tool would not send them, and every report would repeat them
        raise UsageError(f"dashboard URL {_shown(original)}: leave the credentials (user:password@) out; "
                         "the dashboard's API is read without them")
    _check_host(parts.hostname, "dashboard URL", original)
    if port == 0:
        raise UsageError(f"dashboard URL {_shown(original)}: port 0 is not usable")
    return text if text.endswith("/") or parts.path else text + "/"


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
    host, port = parse_address(text, "address" if source != "RAY_ADDRESS" else "RAY_ADDRESS")

    if gcs_address:
        gcs_host, gcs_port = split_host_port(_text(gcs_address, "GCS address", "host:6379").strip(), GCS_PORT, "GCS address")
    else:
        gcs_host, gcs_port = host, GCS_PORT

    if domain is not None:
        domain = _text(domain, "domain", "example.com").strip().strip(".")
        _check_host(domain, "domain", domain)
    if dashboard_url:
        url, dash_source = parse_dashboard_url(dashboard_url), "flag"
    elif profile.dashboard_url and ("{domain}" not in profile.dashboard_url or domain):
        url = parse_dashboard_url(profile.dashboard_url.format(domain=domain or ""))
        dash_source = f"profile {profile.name}"
    else:
        url, dash_source = f"http://{join_host_port(host, DASHBOARD_PORT)}/", "head host"
    return Target(host, port, gcs_host, gcs_port, url, source, dash_source)
