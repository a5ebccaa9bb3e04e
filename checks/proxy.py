"""Would gRPC send the Ray Client connection through an HTTP proxy, and would that proxy let it through?

``ray.init("ray://host:port")`` opens a gRPC channel, and gRPC core reads proxy variables from the environment:
when one applies, it opens a TCP connection to the proxy and sends ``CONNECT host:port`` (HTTP CONNECT) instead
of connecting to the head. This tool's own probes speak HTTP/2 over plain sockets and ignore proxies, so
without this check the tool could say "reachable" while ``ray.init`` goes to a proxy that cannot reach the
in-cluster service and fails, or retries until it gives up.

The rules below were read from gRPC core's proxy mapper (``src/core/ext/filters/client_channel/http_proxy.cc``,
later ``http_proxy_mapper.cc`` under ``src/core/client_channel/`` and ``src/core/handshaker/http_connect/``,
and ``doc/core/default_http_proxy_mapper.md``), then confirmed with the grpcio wheels from PyPI: a child process
opens ``grpc.insecure_channel`` to one loopback listener with the proxy variables pointing at another, and the
listener that receives the connection (a ``CONNECT`` line or the HTTP/2 preface) gives the answer. Versions
tried: 1.32.0, 1.43.0, 1.44.0, 1.46.3, 1.47.0, 1.51.3, 1.54.0, 1.55.3, 1.56.0, 1.57.0, 1.60.0, 1.70.0, 1.72.1,
1.73.1, 1.74.0, 1.78.0, 1.82.1, 1.83.0, 1.84.0, 1.85.3 (Linux, CPython 3.8 and 3.11).

The proxy (every version tried):

* gRPC reads ``grpc_proxy``, then ``https_proxy``, then ``http_proxy``, and uses the first that is *set*, even
  when its value is unusable (it never falls through to the next). Names are read as written: upper-case
  ``GRPC_PROXY``, ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``ALL_PROXY``/``all_proxy`` are never read.
* An empty value means "no proxy". A value gRPC cannot use (no ``scheme://host``, a scheme other than
  ``http``, e.g. ``https://`` or a bare ``proxy:3128``) is logged as an error and ignored: gRPC connects directly.
* ``http://user:password@host:port``: the user info goes, percent-decoded, in ``Proxy-Authorization: Basic``.
  Without a port gRPC uses 443. Before grpcio 1.73 the scheme must be exactly ``http`` (``HTTP://`` is ignored)
  and a second ``@`` in the decoded authority makes gRPC ignore the value; from 1.73 the scheme is matched
  without case and the user info ends at the last ``@``.
* The channel option ``grpc.enable_http_proxy=0`` turns all of this off. Ray's Ray Client channel sets it from
  Ray 2.9.0 on (``GRPC_OPTIONS`` in ``ray/util/client/common.py`` includes ``GLOBAL_GRPC_OPTIONS``, Ray PR
  #40490), to 0 unless ``RAY_grpc_enable_http_proxy`` is ``1`` or ``true`` when Ray is imported. Ray 2.8.0 and
  older (so the fleet's Ray 2.2.0) do not set it: gRPC uses the proxy. Confirmed by running ``ray.init`` with
  ``grpc_proxy`` set: Ray 2.2.0 sends ``CONNECT`` to the proxy, Ray 2.60.0 goes straight to the head unless
  ``RAY_grpc_enable_http_proxy=1``. This check reads that list from the installed Ray's file (it never
  imports Ray); with no Ray installed it assumes the older behaviour.
* gRPC reads the variables when the channel is created, so setting ``os.environ`` before ``ray.init()`` is
  enough.

The exclusions (``no_grpc_proxy`` if it is set, even to an empty value, else ``no_proxy``; upper-case
``NO_PROXY`` and ``NO_GRPC_PROXY`` are never read) are a comma-separated list matched against the host as
written in the address (no DNS lookup, no port; an entry with a port never matches). ``*`` is not a wildcard
and ``*.example.com`` matches nothing. Trailing dots are not removed. How entries match changed:

* grpcio before 1.46: entries are not trimmed, and an empty entry (``no_proxy=""``, ``a,,b``, a trailing
  comma) matches every host. The match is a case-insensitive suffix match: ``example.com`` also covers
  ``notexample.com``, and ``.example.com`` does not cover ``example.com``.
* 1.46 to 1.54: empty entries are skipped; still no trimming (``a, b`` has the entry `` b``, which matches no
  host) and the same suffix match.
* 1.55 to 1.83: entries are trimmed of whitespace (so an entry of only spaces, as in ``"a, "``, is empty and
  matches every host); entries ``address/bits`` match targets written as IP addresses in that block (``bits``
  beyond the address size compares the whole address).
* 1.84 and later: the suffix must start at a label (``example.com`` and ``.example.com`` both cover
  ``example.com`` and ``a.example.com``, not ``notexample.com``); empty entries match nothing.

Not verified: grpcio on other platforms; Ray releases between 2.2.0 and 2.60.0 other than 2.8.0 and 2.9.0
(their ``GRPC_OPTIONS`` was read from the wheels); proxies that speak TLS (gRPC does not support them).
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import unquote

from packaging.version import InvalidVersion, Version

from preflight.environment import version_of
from preflight.model import Outcome, as_dict, as_list, dig, failed, passed, unreadable, warned
from preflight.net import NetError, connect
from preflight.registry import CLIENT_ROUTE, check, probe
from preflight.target import join_host_port

#: The variables gRPC reads for the proxy, in the order it reads them.
PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy")
#: The variables gRPC reads for exclusions: the first that is set wins.
EXCLUSION_VARIABLES = ("no_grpc_proxy", "no_proxy")
#: Names that look relevant but that gRPC never reads.
UNREAD_VARIABLES = ("GRPC_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "all_proxy", "NO_GRPC_PROXY", "NO_PROXY")
#: Ray 2.9+ reads this when it is imported; 1 or true lets gRPC use the proxy again.
RAY_SWITCH = "RAY_grpc_enable_http_proxy"
#: gRPC's port for a proxy given without one.
DEFAULT_PROXY_PORT = 443
#: The most of the proxy's answer read while looking for its status line.
MAX_STATUS_BYTES = 8192
_WHITESPACE = " \t\n\v\f\r"


@dataclass(frozen=True)
class Rules:
    """How one range of grpcio versions reads the proxy variables."""

    name: str
    #: ``a,,b``: the empty entry matches every host.
    keep_empty: bool
    #: Entries are trimmed of ASCII whitespace.
    strip: bool
    #: ``address/bits`` entries match targets written as IP addresses.
    cidr: bool
    #: The suffix must start at a label; a leading dot is optional.
    boundary: bool
    #: The scheme is matched without case, and the user info ends at the last ``@``.
    lenient_url: bool


#: (first grpcio version, rules), oldest first.
RULE_SETS: Tuple[Tuple[str, Rules], ...] = (
    ("0", Rules("grpcio before 1.46", keep_empty=True, strip=False, cidr=False, boundary=False, lenient_url=False)),
    ("1.46", Rules("grpcio 1.46 to 1.54", keep_empty=False, strip=False, cidr=False, boundary=False, lenient_url=False)),
    ("1.55", Rules("grpcio 1.55 to 1.72", keep_empty=False, strip=True, cidr=True, boundary=False, lenient_url=False)),
    ("1.73", Rules("grpcio 1.73 to 1.83", keep_empty=False, strip=True, cidr=True, boundary=False, lenient_url=True)),
    ("1.84", Rules("grpcio 1.84 and later", keep_empty=False, strip=True, cidr=True, boundary=True, lenient_url=True)),
)


def rules_for(grpcio: Optional[str]) -> Optional[Rules]:
    """The rules of grpcio ``grpcio`` (pre-releases count as their release); None when the version is unknown."""
    if not grpcio:
        return None
    try:
        release = Version(grpcio).release
    except InvalidVersion:
        return None
    mine = Version(".".join(str(part) for part in release[:2]))
    chosen = RULE_SETS[0][1]
    for since, rules in RULE_SETS:
        if mine >= Version(since):
            chosen = rules
    return chosen


@dataclass(frozen=True)
class ProxyUrl:
    host: str
    port: Optional[int]
    #: The decoded ``user:password``: sent to the proxy as gRPC does, never shown or stored in facts.
    userinfo: Optional[str] = None
    #: The URL has an ``@`` after its host part (a password with ``/``, ``?`` or ``#`` in it): the host and port
    #: gRPC takes from it may be pieces of the credentials, so they are never shown either.
    hidden: bool = False

    @property
    def where(self) -> str:
        """``host:port`` (never the user info)."""
        if self.hidden:
            return HIDDEN
        return join_host_port(self.host, self.port) if self.port is not None else self.host

    def scrub(self, text: str) -> str:
        """``text`` without the host and port, when they may be pieces of the credentials."""
        if not self.hidden:
            return text
        for piece in sorted({join_host_port(self.host, self.port or 0), f"{self.host}:{self.port}", self.host}, key=len, reverse=True):
            if piece:
                text = re.sub(rf"(?<![\w.-]){re.escape(piece)}(?![\w.-])", HIDDEN, text)
        return text


HIDDEN = "address hidden"


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.S)


def parse_proxy_url(value: str, rules: Rules) -> Tuple[Optional[ProxyUrl], str]:
    """``(proxy, "")``, or ``(None, why gRPC ignores the value)``; the reason never quotes the value."""
    if value == "":
        return None, "an empty value means no proxy to gRPC"
    match = _SCHEME.fullmatch(value)
    if match is None or not match.group(2).startswith("//"):
        return None, "it is not an http://host:port URL"
    scheme, rest = match.group(1), match.group(2)[2:]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hidden = "@" in rest[len(authority):]
    if not authority:
        return None, "it names no host"
    if (scheme.lower() if rules.lenient_url else scheme) != "http":
        shown = scheme if len(scheme) <= 12 else scheme[:12] + "..."
        return None, f"gRPC supports only http:// proxies, not {shown}://"
    userinfo: Optional[str] = None
    if rules.lenient_url:
        if "@" in authority:
            raw_user, _, authority = authority.rpartition("@")
            userinfo = unquote(raw_user)
        hostport = unquote(authority)
    else:
        parts = unquote(authority).split("@")
        if len(parts) > 2:
            return None, "its user:password part contains '@' (this grpcio then ignores the value)"
        if len(parts) == 2:
            userinfo = parts[0]
        hostport = parts[-1]
    host, port = _split_host_port(hostport)
    return ProxyUrl(host, port, userinfo, hidden), ""


def _split_host_port(hostport: str) -> Tuple[str, Optional[int]]:
    """``host``, ``host:port``, ``[v6]:port``; the port is None when it is not a number (no connection then)."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    if not port_text:
        return host, DEFAULT_PROXY_PORT
    return host, int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None


def exclusion_entries(value: str, rules: Rules) -> List[str]:
    """The entries of a ``no_proxy`` value as gRPC sees them."""
    parts = value.split(",")
    if not rules.keep_empty:
        parts = [p for p in parts if p]
    if rules.strip:
        parts = [p.strip(_WHITESPACE) for p in parts]
    return parts


def entry_matches(host: str, entry: str, rules: Rules) -> bool:
    """Does one exclusion entry cover ``host`` (the host as written in the address)?"""
    name, wanted = host.lower(), entry.lower()
    if rules.boundary:
        wanted = wanted[1:] if wanted.startswith(".") else wanted
        if wanted and (name == wanted or name.endswith("." + wanted)):
            return True
    elif name.endswith(wanted):  # the empty entry too
        return True
    return rules.cidr and in_cidr(host, entry)


def in_cidr(host: str, entry: str) -> bool:
    """``entry`` is ``address/bits`` and ``host`` is an IP address in that block (bits beyond the size: the address)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    base, slash, bits = entry.partition("/")
    if not slash or not re.fullmatch(r"\s*\+?\d+\s*", bits):
        return False
    try:
        network_base = ipaddress.ip_address(base)
    except ValueError:
        return False
    if network_base.version != address.version:
        return False
    prefix = min(int(bits), network_base.max_prefixlen)
    return address in ipaddress.ip_network((network_base, prefix), strict=False)


def covering_entry(host: str, value: str, rules: Rules) -> Optional[str]:
    """The first entry of ``value`` that covers ``host``, else None."""
    for entry in exclusion_entries(value, rules):
        if entry_matches(host, entry, rules):
            return entry
    return None


@dataclass(frozen=True)
class Route:
    """What gRPC does with the environment for a connection to ``host``."""

    #: The proxy variable gRPC reads (the first that is set), else None.
    variable: Optional[str] = None
    proxy: Optional[ProxyUrl] = None
    #: Why gRPC ignores the variable's value ("" when it uses it).
    unusable: str = ""
    #: The exclusion variable gRPC consults, if one is set.
    exclusion_variable: Optional[str] = None
    #: The entry of the exclusion variable that covers the host.
    excluded_by: Optional[str] = None

    @property
    def proxied(self) -> bool:
        return self.proxy is not None and self.excluded_by is None


def grpc_route(environ: Mapping[str, str], host: str, rules: Rules) -> Route:
    """gRPC's decision for a channel to ``host`` (ignoring the channel option; see ``ray_switch``)."""
    variable = next((name for name in PROXY_VARIABLES if name in environ), None)
    if variable is None:
        return Route()
    proxy, unusable = parse_proxy_url(environ[variable], rules)
    if proxy is None:
        return Route(variable, None, unusable)
    exclusion = next((name for name in EXCLUSION_VARIABLES if name in environ), None)
    if exclusion is None:
        return Route(variable, proxy)
    return Route(variable, proxy, "", exclusion, covering_entry(host, environ[exclusion], rules))


def ray_switch(environ: Mapping[str, str]) -> Dict[str, Any]:
    """Whether the installed Ray turns gRPC's proxy support off for ``ray://``: ``sets_option`` is True when its
    Ray Client channel passes ``grpc.enable_http_proxy`` (Ray 2.9+), False when it does not, None when unknown."""
    facts: Dict[str, Any] = {"version": version_of("ray"), "sets_option": None}
    override = environ.get(RAY_SWITCH)
    facts["override"] = override is not None and override.lower() in ("1", "true")
    if facts["version"] is None:
        return facts
    try:
        spec = importlib.util.find_spec("ray")  # finds the package without running it
        if spec is None or not spec.origin:
            return facts
        source = (Path(spec.origin).parent / "util" / "client" / "common.py").read_text("utf-8", "replace")
    except Exception:  # noqa: BLE001 - unreadable: unknown
        return facts
    block = re.search(r"^GRPC_OPTIONS\s*=\s*\[(.*?)^\]", source, re.M | re.S)
    if block is not None:
        facts["sets_option"] = "GLOBAL_GRPC_OPTIONS" in block.group(1) or "enable_http_proxy" in block.group(1)
    return facts


def try_connect(proxy: ProxyUrl, host: str, port: int, timeout: float) -> Dict[str, Any]:
    """Open a TCP connection to the proxy and ask it for a tunnel to ``host:port`` as gRPC does; read its status
    line. The connection and the exchange are each bounded by ``timeout``."""
    facts = _ask_proxy(proxy, host, port, timeout)
    if "error" in facts and facts.get("error_kind") != "bad-url":  # that message names no host
        facts["error"] = proxy.scrub(facts["error"])
    return facts


def _ask_proxy(proxy: ProxyUrl, host: str, port: int, timeout: float) -> Dict[str, Any]:
    authority = join_host_port(host, port)
    if proxy.hidden:
        return {"ok": False, "error_kind": "bad-url",
                "error": "a '/', '?' or '#' in its user:password ends the URL's host part early, so gRPC takes a piece of "
                         "the credentials for the proxy's address (percent-encode them: %2F, %3F, %23)"}
    if proxy.port is None:
        return {"ok": False, "error_kind": "bad-port", "error": f"the port of the proxy {proxy.where} is not a port number"}
    if not proxy.host:
        return {"ok": False, "error_kind": "bad-host", "error": "the proxy URL names no host"}
    started = time.monotonic()
    try:
        sock = connect(proxy.host, proxy.port, timeout)
    except NetError as exc:
        return {"ok": False, "error_kind": exc.kind, "error": exc.message}
    facts: Dict[str, Any] = {"tcp_ms": round((time.monotonic() - started) * 1000, 1)}
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}", "User-Agent: ray-preflight"]
    if proxy.userinfo is not None:
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(proxy.userinfo.encode("utf-8")).decode("ascii"))
    try:
        sent = time.monotonic()
        answer = bytearray()
        sock.settimeout(timeout)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        while b"\n" not in answer and len(answer) < MAX_STATUS_BYTES:
            remaining = timeout - (time.monotonic() - sent)
            if remaining <= 0:
                raise socket.timeout
            sock.settimeout(remaining)
            chunk = sock.recv(MAX_STATUS_BYTES - len(answer))
            if not chunk:
                break
            answer.extend(chunk)
    except socket.timeout:
        facts.update(ok=False, error_kind="silent", error=f"no answer to CONNECT {authority} within {timeout:g} s")
        return facts
    except OSError as exc:
        facts.update(ok=False, error_kind="closed", error=f"the proxy dropped the connection ({exc.strerror or exc})")
        return facts
    finally:
        try:
            sock.close()
        except OSError:
            pass
    facts["connect_ms"] = round((time.monotonic() - sent) * 1000, 1)
    if not answer:
        facts.update(ok=False, error_kind="closed", error=f"the proxy closed the connection without answering CONNECT {authority}")
        return facts
    first = bytes(answer).split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
    status = re.fullmatch(r"HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?", first)
    if status is None:
        facts.update(ok=False, error_kind="not-http", error=f"the proxy's answer to CONNECT is not HTTP ({_printable(first)!r})")
        return facts
    code, reason = int(status.group(1)), _printable(status.group(2) or "")
    facts.update(ok=200 <= code < 300, status=code, reason=reason)
    if not facts["ok"]:
        facts.update(error_kind="status", error=f"the proxy answered CONNECT {authority} with HTTP {code}" + (f" {reason}" if reason else ""))
    return facts


def _printable(text: str, limit: int = 80) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _route_facts(route: Route) -> Dict[str, Any]:
    return {
        "variable": route.variable,
        "proxy": route.proxy.where if route.proxy else None,
        "credentials": bool(route.proxy and route.proxy.userinfo is not None),
        "unusable": route.unusable or None,
        "exclusion_variable": route.exclusion_variable,
        "excluded_by": route.excluded_by,
    }


@probe()
def proxy_route(config, target, ctx) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Read the proxy variables as gRPC would for the Ray Client address; if a proxy applies, ask it for a tunnel."""
    environ: Mapping[str, str] = config.environ
    host, port = target.host, target.port
    grpcio = version_of("grpcio")
    rules = rules_for(grpcio)
    candidates = [rules] if rules is not None else [r for _, r in RULE_SETS]
    routes = [grpc_route(environ, host, r) for r in candidates]
    proxied = [r for r in routes if r.proxied]
    route = proxied[0] if proxied else routes[-1]
    switch = ray_switch(environ)
    ray_off = bool(switch["sets_option"]) and not switch["override"]
    facts: Dict[str, Any] = {
        "target": join_host_port(host, port),
        "grpcio": grpcio,
        "rules": rules.name if rules is not None else "grpcio not installed: every grpcio version's rules",
        "set": [name for name in PROXY_VARIABLES + EXCLUSION_VARIABLES if name in environ],
        "empty": [name for name in PROXY_VARIABLES + EXCLUSION_VARIABLES if environ.get(name) == ""],
        "unread": [name for name in UNREAD_VARIABLES if name in environ],
        "ray": switch,
        "ray_turns_proxy_off": ray_off,
        **_route_facts(route),
        # gRPC's own rules send the channel to the proxy...
        "grpc_uses_proxy": bool(proxied),
        # ...and Ray does not turn that off.
        "applies": bool(proxied) and not ray_off,
        "depends_on_grpcio": 0 < len(proxied) < len(routes),
    }
    unread_exclusion = next((n for n in ("NO_GRPC_PROXY", "NO_PROXY") if n in environ), None)
    if route.proxied and unread_exclusion is not None:
        entry = covering_entry(host, environ[unread_exclusion], candidates[-1])
        if entry is not None:
            facts["unread_exclusion"] = unread_exclusion
    if facts["applies"] and route.proxy is not None:
        facts["connect"] = try_connect(route.proxy, host, port, ctx.timeout())
    return facts


def _remedy(facts: Dict[str, Any], host: str) -> str:
    variable = facts.get("exclusion_variable") if facts.get("exclusion_variable") == "no_grpc_proxy" else "no_proxy"
    current = variable in as_list(facts.get("set")) and variable not in as_list(facts.get("empty"))
    shell = f'export {variable}="${variable},{host}"' if current else f"export {variable}={host}"
    notebook = (f'os.environ["{variable}"] = os.environ["{variable}"] + ",{host}"' if current
                else f'os.environ["{variable}"] = "{host}"')
    lines = [f"{shell} (lower case: gRPC does not read NO_PROXY)"]
    if variable == "no_proxy":
        lines.append(f"or, for gRPC only, export no_grpc_proxy={host} (gRPC then ignores no_proxy)")
    else:
        lines.append("(no_grpc_proxy is set, so gRPC ignores no_proxy)")
    lines.append(f"in a notebook: {notebook} before ray.init()")
    if dig(facts, "ray", "override"):
        lines.append(f"or unset {RAY_SWITCH}, so that Ray {dig(facts, 'ray', 'version')} keeps gRPC off the proxy")
    return "; ".join(lines)


def _not_proxied_summary(facts: Dict[str, Any], host: str) -> str:
    variable = facts.get("variable")
    if variable is None:
        summary = "no proxy applies: none of grpc_proxy, https_proxy, http_proxy is set"
        unread = [str(n) for n in as_list(facts.get("unread")) if str(n).upper() in ("GRPC_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")]
        if unread:
            summary += f" ({', '.join(unread)} {'is' if len(unread) == 1 else 'are'} set, but gRPC reads only the lower-case names)"
        return summary
    if facts.get("unusable"):
        return f"no proxy applies: {variable} is set, but gRPC does not use it ({facts['unusable']}) and connects directly"
    return (f"no proxy applies: {facts.get('exclusion_variable')} covers {host} (entry {facts.get('excluded_by')!r}), "
            f"so gRPC does not use the proxy in {variable}")


def _failure(facts: Dict[str, Any]) -> str:
    connect_facts = as_dict(facts.get("connect"))
    kind = connect_facts.get("error_kind", "")
    where = f"the proxy in {facts.get('variable')} ({facts.get('proxy')})"
    error = connect_facts.get("error", "no answer")
    if kind == "refused":
        return f"{where}, which refuses connections"
    if kind == "dns":
        return f"{where}, whose name does not resolve"
    if kind in ("connect-timeout", "unreachable"):
        return f"{where}, which cannot be reached ({error})"
    return f"{where}: {error}"


@check("proxy", "gRPC proxy settings let ray.init reach the head", routes=CLIENT_ROUTE)
def proxy(proxy_route, target) -> Outcome:  # type: ignore[no-untyped-def]
    """Whether gRPC would send ray.init through a proxy (grpc_proxy, https_proxy, http_proxy), and whether it gets through."""
    problem = unreadable(proxy_route=proxy_route)
    if problem:
        return problem
    facts: Dict[str, Any] = proxy_route
    host = target.host
    details = {k: facts.get(k) for k in ("variable", "proxy", "exclusion_variable", "excluded_by", "grpcio", "rules")
               if facts.get(k) is not None}
    if not facts.get("grpc_uses_proxy"):
        return passed(_not_proxied_summary(facts, host), **details)
    if not facts.get("applies"):
        return passed(f"no proxy applies: Ray {dig(facts, 'ray', 'version')} turns gRPC's proxy support off for ray:// "
                      f"({RAY_SWITCH} is not set to 1), so {facts.get('variable')} ({facts.get('proxy')}) is not used", **details)
    connect_facts = as_dict(facts.get("connect"))
    details.update({k: connect_facts[k] for k in ("status", "reason", "tcp_ms", "connect_ms") if connect_facts.get(k) is not None})
    if connect_facts.get("ok"):
        return passed(f"ray.init goes through the proxy in {facts.get('variable')} ({facts.get('proxy')}), which opens a tunnel to "
                      f"{facts.get('target')} (CONNECT: HTTP {connect_facts.get('status')})", **details)
    summary = f"ray.init would go through {_failure(facts)}"
    if facts.get("unread_exclusion"):
        summary += f" ({facts['unread_exclusion']} covers {host}, but gRPC reads only the lower-case name)"
    remedy = _remedy(facts, host)
    if facts.get("depends_on_grpcio"):
        return warned(f"with some grpcio versions (none is installed here), {summary}", remedy, **details)
    return failed(summary, remedy, error_kind=connect_facts.get("error_kind"), **details)
