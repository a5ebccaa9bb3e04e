"""TLS on the Ray Client and GCS ports, as Ray reads it (RAY_USE_TLS and the RAY_TLS_* files): the ``tls`` check.

What Ray does (``ray._private.tls_utils`` / ``ray._common.tls_utils``, the same in 2.2.0 and 2.60): with
``RAY_USE_TLS`` set to ``1`` or ``true`` (any case), every gRPC channel it opens, the Ray Client's included, is a TLS
channel made from three files read as written (no ``~`` expansion): ``RAY_TLS_SERVER_CERT`` and
``RAY_TLS_SERVER_KEY``, presented as the client's own certificate, and ``RAY_TLS_CA_CERT``, the only CA trusted to
verify the server. If one of the three is not set, ``ray.init`` raises Ray's RuntimeError ("If the environment
variable RAY_USE_TLS is set to true then RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY and RAY_TLS_CA_CERT must also be
set."). A Ray server with TLS asks for the client's certificate and verifies it against its own CA. gRPC checks that
the host name of the address is in the server's certificate ("Peer name <host> is not in peer certificate").
Every other mismatch (a plain client and a TLS server, a TLS client and a plain server, an unknown CA, a refused or
expired certificate) shows in ``ray.init`` only as a 30 s wait and "ray client connection timeout".

The probe reads the files the way Ray would (facts are paths, names, dates and yes/no answers: never key material),
checks locally what can be checked (the key belongs to the certificate, the certificate is valid today and a server
trusting RAY_TLS_CA_CERT accepts it: OpenSSL's own verification, in memory), then asks the server: one TLS handshake
that reads the certificate it presents (its names, issuer and expiry) and, when this client is set up for TLS, one
Ray Client PING over TLS with the client's files, verified as gRPC verifies it.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from preflight.checks.reachability import unreachable
from preflight.errors import Unavailable
from preflight.model import Outcome, as_dict, as_list, failed, passed, said, skipped, unreadable, warned
from preflight.net import CERT_VERIFY_FAILED, CLOSED_IN_HANDSHAKE, NetError, tls_connect
from preflight.ray_rpc import ping
from preflight.ray_security import TLS_EXPORTS, TLS_VARIABLES, channel, no_passphrase, tls_files
from preflight.registry import CLIENT_ROUTE, check, probe
from preflight.target import join_host_port

USE_TLS, CERT, KEY, CA = TLS_VARIABLES
#: Ray's own words when RAY_USE_TLS is on and a file variable is not set (``load_certs_from_env``).
RAY_MISSING_FILES = ("If the environment variable RAY_USE_TLS is set to true then RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY and "
                     "RAY_TLS_CA_CERT must also be set.")
#: A certificate that expires within this many days is a warning.
EXPIRY_WARNING_DAYS = 14
#: How the probe knows that the server does not speak TLS, when the run's plain-text call was answered.
PLAIN_CALL = "a plain-text gRPC call was answered"
#: gRPC's words when the address's host is not among the server certificate's names.
PEER_NAME = "Peer name {host} is not in peer certificate"
_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
          "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "emailAddress"}
#: OpenSSL verify codes: expired, not yet valid, and "the CA does not verify this certificate".
_EXPIRED, _NOT_YET_VALID = 10, 9
_UNKNOWN_ISSUER = (2, 18, 19, 20, 21)
_NAME_MISMATCH = (62, 64)


# ---- reading certificates (no crypto library: OpenSSL through the ssl module) --------------------------------


def _name(rdns: Any) -> str:
    parts = []
    for rdn in rdns or ():
        for key, value in rdn:
            parts.append(f"{_NAMES.get(key, key)}={value}")
    return ", ".join(parts)


def _iso(stamp: Optional[float]) -> Optional[str]:
    return None if stamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def describe_certificate(decoded: Mapping[str, Any], now: float) -> Dict[str, Any]:
    """Plain facts of a certificate as ``ssl`` decodes it: subject, issuer, names, validity (ISO dates, UTC)."""
    not_before = _when(decoded.get("notBefore"))
    not_after = _when(decoded.get("notAfter"))
    names = [f"{'IP' if kind == 'IP Address' else kind}:{value}" for kind, value in decoded.get("subjectAltName") or ()]
    facts: Dict[str, Any] = {"subject": _name(decoded.get("subject")), "issuer": _name(decoded.get("issuer")), "names": names,
                             "not_before": _iso(not_before), "not_after": _iso(not_after)}
    if not_after is not None:
        facts["expired"] = not_after < now
        facts["days_left"] = int((not_after - now) // 86400)
    if not_before is not None:
        facts["not_yet_valid"] = not_before > now
    return facts


def _when(text: Any) -> Optional[float]:
    try:
        return float(ssl.cert_time_to_seconds(str(text)))
    except (ValueError, TypeError):
        return None


def decode_pem_file(path: str) -> Dict[str, Any]:
    """The first certificate of a PEM file, as ``ssl`` decodes it (the test helper every CPython 3.8-3.13 has)."""
    decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decoder is None:  # pragma: no cover - every CPython has it
        raise ValueError("this Python cannot decode certificates")
    try:
        return dict(decoder(path))
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"not a PEM certificate ({' '.join(str(exc).split())})") from None


def decode_der(der: bytes) -> Dict[str, Any]:
    handle, path = tempfile.mkstemp(prefix="rpf-peer-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(ssl.DER_cert_to_PEM_cert(der))
        return decode_pem_file(path)
    finally:
        os.unlink(path)


def _open_as_ray_does(variable: str, path: str) -> Tuple[Optional[bytes], Optional[str]]:
    """The file's bytes, or the problem Ray's ``open(os.environ[...], "rb")`` would hit."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1024 * 1024), None
    except FileNotFoundError:
        hint = ""
        if path.startswith("~") and os.path.exists(os.path.expanduser(path)):
            hint = f" (Ray opens the path as written and does not expand ~: use {os.path.expanduser(path)})"
        return None, f"{variable} {path}: no such file{hint}"
    except IsADirectoryError:
        return None, f"{variable} {path}: is a folder, not a file"
    except PermissionError:
        return None, f"{variable} {path}: cannot be read (permission denied)"
    except OSError as exc:
        return None, f"{variable} {path}: cannot be read ({exc.strerror or exc})"


def _certificate_file(variable: str, path: str, now: float) -> Dict[str, Any]:
    facts: Dict[str, Any] = {"variable": variable, "path": path}
    data, problem = _open_as_ray_does(variable, path)
    if problem:
        facts["problem"] = problem
        return facts
    assert data is not None
    facts["certificates"] = data.count(b"-----BEGIN CERTIFICATE-----")
    if not facts["certificates"]:
        facts["problem"] = f"{variable} {path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----); Ray's gRPC reads PEM only"
        return facts
    try:
        facts.update(describe_certificate(decode_pem_file(path), now))
    except ValueError as exc:
        facts["problem"] = f"{variable} {path}: {exc}"
    return facts


def _key_file(path: str) -> Dict[str, Any]:
    """Whether the key file opens and what kind of PEM it is: never its contents."""
    facts: Dict[str, Any] = {"variable": KEY, "path": path}
    data, problem = _open_as_ray_does(KEY, path)
    if problem:
        facts["problem"] = problem
        return facts
    assert data is not None
    headers = [line for line in data.splitlines() if line.startswith(b"-----BEGIN ") or line.startswith(b"Proc-Type:")]
    facts["pem_private_key"] = any(b"PRIVATE KEY" in line for line in headers)
    facts["encrypted"] = any(b"ENCRYPTED" in line for line in headers)
    del data
    if not facts["pem_private_key"]:
        facts["problem"] = f"{KEY} {path}: holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)"
    elif facts["encrypted"]:
        facts["problem"] = f"{KEY} {path}: the key has a passphrase, which Ray's gRPC cannot use (it needs the key unencrypted)"
    return facts


def _pair_problem(cert: str, key: str) -> Optional[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            return f"the key in {KEY} ({key}) does not belong to the certificate in {CERT} ({cert})"
        return f"{CERT} ({cert}) with {KEY} ({key}) cannot be loaded ({' '.join(str(exc).split())})"
    except (OSError, ValueError) as exc:
        return f"{CERT} ({cert}) with {KEY} ({key}) cannot be loaded ({exc})"
    return None


def _pump(source: "ssl.MemoryBIO", sink: "ssl.MemoryBIO") -> None:
    data = source.read()
    if data:
        sink.write(data)


def client_certificate_verdict(cert: str, key: str, ca: str) -> Optional[str]:
    """None when a server that trusts only ``ca`` accepts ``cert`` as a client certificate (OpenSSL's verification,
    over an in-memory handshake: no network, no crypto library); else OpenSSL's reason ("certificate has expired",
    "unable to get local issuer certificate")."""
    try:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key, password=no_passphrase)  # only to complete the handshake: never checked
        server.verify_mode = ssl.CERT_REQUIRED
        server.load_verify_locations(cafile=ca)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.load_cert_chain(cert, key, password=no_passphrase)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"cannot be checked ({' '.join(str(exc).split())})"
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [client.wrap_bio(to_client, from_client), server.wrap_bio(to_server, from_server, server_side=True)]
    done = [False, False]
    for _ in range(12):
        for i, end in enumerate(ends):
            if done[i]:
                continue
            try:
                end.do_handshake()
                done[i] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                return " ".join(str(exc.verify_message or exc).split()).rstrip(".")
            except ssl.SSLError as exc:
                if i == 1:
                    return " ".join(str(getattr(exc, "reason", None) or exc).lower().replace("_", " ").split())
                done[i] = True  # the client gave up because the server did: the server's reason is what matters
        _pump(from_client, to_server)
        _pump(from_server, to_client)
        if done[1]:
            return None
    return "the in-memory handshake did not finish"


def client_files(environ: Mapping[str, str], now: float) -> Dict[str, Any]:
    """What Ray would use from ``environ``, as plain facts, and the problems Ray would run into, in its order."""
    files = tls_files(environ)
    raw = environ.get(USE_TLS)
    facts: Dict[str, Any] = {"enabled": files.enabled, "use_tls": raw, "set": [v for v in (CERT, KEY, CA) if v in environ]}
    problems: List[Dict[str, str]] = []
    if files.enabled:
        missing = [v for v in (CERT, KEY, CA) if v not in environ]
        if missing:
            facts["missing"] = missing
            problems.append({"text": f"{RAY_MISSING_FILES} (not set: {', '.join(missing)})", "remedy": TLS_EXPORTS})
    paths = {CERT: environ.get(CERT), KEY: environ.get(KEY), CA: environ.get(CA)}
    if paths[CERT] is not None:
        facts["cert"] = _certificate_file(CERT, paths[CERT] or "", now)
    if paths[KEY] is not None:
        facts["key"] = _key_file(paths[KEY] or "")
    if paths[CA] is not None:
        facts["ca"] = _certificate_file(CA, paths[CA] or "", now)
    for name, remedy in (("cert", f"point {CERT} at your client certificate (PEM), as given by the cluster's administrators"),
                         ("key", f"point {KEY} at the unencrypted PEM key of that certificate"),
                         ("ca", f"point {CA} at the cluster's CA certificate (PEM)")):
        problem = as_dict(facts.get(name)).get("problem")
        if problem:
            problems.append({"text": problem, "remedy": remedy})
    usable = {name: name in facts and not facts[name].get("problem") for name in ("cert", "key", "ca")}
    if usable["cert"] and usable["key"]:
        pair = _pair_problem(paths[CERT] or "", paths[KEY] or "")
        facts["pair_ok"] = pair is None
        if pair:
            problems.append({"text": pair, "remedy": f"set {KEY} to the key made with that certificate (`openssl x509 -noout -pubkey -in "
                                                     f"CERT` and `openssl pkey -pubout -in KEY` print the same key for a pair)"})
        elif usable["ca"]:
            verdict = client_certificate_verdict(paths[CERT] or "", paths[KEY] or "", paths[CA] or "")
            facts["ca_accepts_cert"] = verdict is None
            if verdict:
                facts["ca_verdict"] = verdict
    for name, role in (("cert", "client certificate"), ("ca", "CA certificate")):
        found = as_dict(facts.get(name))
        variable = found.get("variable")
        renew = f"ask the cluster's administrators for a new {role} and point {variable} at it"
        if found.get("expired"):
            problems.append({"text": f"the {role} in {variable} ({found.get('subject')}) expired on {_day(found.get('not_after'))}",
                             "remedy": renew})
        elif found.get("not_yet_valid"):
            problems.append({"text": f"the {role} in {variable} ({found.get('subject')}) is not valid before "
                                     f"{_day(found.get('not_before'))}", "remedy": f"check this machine's clock, or {renew}"})
    facts["problems"] = problems
    return facts


def _day(iso: Any) -> str:
    return str(iso)[:10] if iso else "?"


# ---- the probe ----------------------------------------------------------------------------------------------------


def server_certificate(host: str, port: int, timeout: float, cert: Optional[str], key: Optional[str], now: float) -> Dict[str, Any]:
    """One TLS handshake, without verification, that reads what the server presents (and whether it speaks TLS at all).
    The client's certificate goes along when it loads, as Ray would send it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    if cert and key:
        try:
            context.load_cert_chain(cert, key, password=no_passphrase)
        except (ssl.SSLError, OSError, ValueError):
            pass
    try:
        sock = tls_connect(host, port, timeout, context)
    except NetError as exc:
        if exc.kind == "tls-plain" and exc.cause == CLOSED_IN_HANDSHAKE:  # closed without a byte: TLS or not, it did not say
            return {"speaks_tls": None, "error_kind": "closed", "error": exc.message}
        if exc.kind == "tls-plain":
            return {"speaks_tls": False, "how": "it answered a TLS handshake with plain bytes", "error": exc.message}
        if exc.kind == "tls":  # an alert is TLS too: the server speaks it and refused this handshake
            return {"speaks_tls": True, "error": exc.message, "cause": exc.cause}
        return {"speaks_tls": None, "error_kind": exc.kind, "error": exc.message}
    try:
        facts: Dict[str, Any] = {"speaks_tls": True, "version": sock.version(), "alpn": sock.selected_alpn_protocol()}
        der = sock.getpeercert(binary_form=True)
    finally:
        sock.close()
    if der:
        try:
            facts["certificate"] = describe_certificate(decode_der(der), now)
        except ValueError as exc:
            facts["certificate_error"] = str(exc)
    return facts


@probe()
def ray_tls(config, target, endpoint, ctx, ray_client=None) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The client's TLS files as Ray reads them; whether the server at the address speaks TLS and what certificate it
    presents; with TLS set up here, a Ray Client PING over TLS verified as gRPC verifies it."""
    if not endpoint.get("ok"):
        raise Unavailable(unreachable(endpoint))
    now = time.time()
    environ: Mapping[str, str] = config.environ
    client = client_files(environ, now)
    made = channel(ctx)
    facts: Dict[str, Any] = {"where": join_host_port(target.host, target.port), "host": target.host, "port": target.port,
                             "checked_at": _iso(now),
                             "client": client, "channel_ready": made.tls is not None}
    answered = isinstance(ray_client, dict)
    if answered and ray_client.get("ok") and made.tls is None:
        # The run's plain-text call was answered: the server does not speak TLS; no handshake needed.
        facts["server"] = {"speaks_tls": False, "how": PLAIN_CALL}
        return facts
    if answered and ray_client.get("error_kind") == "silent":
        facts["server"] = {"speaks_tls": None, "error_kind": "silent", "error": ray_client.get("error")}
        return facts
    files = tls_files(environ)
    facts["server"] = server_certificate(target.host, target.port, ctx.timeout(), files.cert, files.key, now)
    if facts["server"].get("speaks_tls") and made.tls is not None:
        try:
            reply = ping(target.host, target.port, ctx.timeout(), made)
            # Any gRPC answer (UNIMPLEMENTED from a GCS, UNAUTHENTICATED from a token cluster) means TLS worked.
            facts["verified"] = {"ok": True, "grpc_status": reply.status}
        except NetError as exc:
            facts["verified"] = {"ok": False, "error_kind": exc.kind, "error": exc.message, "cause": exc.cause}
    return facts


# ---- the check ----------------------------------------------------------------------------------------------------


def _client_not_set_up(facts: Dict[str, Any], where: str, server: Dict[str, Any]) -> Outcome:
    client = as_dict(facts.get("client"))
    raw = client.get("use_tls")
    why = f"{USE_TLS} is not set" if raw is None else f"{USE_TLS} is {raw!r}, which Ray reads as off: it takes 1 or true"
    issuer = as_dict(server.get("certificate")).get("issuer")
    summary = (f"{where} speaks TLS, and this client is not set up for it ({why}); ray.init would wait 30 s and fail with "
               "\"ray client connection timeout\"")
    if issuer:
        summary += f". The server's certificate is issued by {issuer}"
    usable = all(name in client and not as_dict(client.get(name)).get("problem") for name in ("cert", "key", "ca"))
    if usable:
        remedy = f"export {USE_TLS}=1 ({CERT}, {KEY} and {CA} are set already; in a notebook: os.environ[\"{USE_TLS}\"] = \"1\" before ray.init())"
    else:
        remedy = (f"get the cluster's CA{f' ({issuer})' if issuer else ''} and a client certificate it signed from the cluster's "
                  f"administrators, then {TLS_EXPORTS} (in a notebook: set os.environ to the same values before ray.init())")
    return failed(summary, remedy, **_details(facts))


def _details(facts: Dict[str, Any]) -> Dict[str, Any]:
    client = as_dict(facts.get("client"))
    server = as_dict(facts.get("server"))
    details: Dict[str, Any] = {"where": facts.get("where"), "client_tls": bool(client.get("enabled")),
                               "server_tls": server.get("speaks_tls")}
    for name in ("cert", "ca"):
        found = as_dict(client.get(name))
        if found:
            details[f"client_{name}"] = {k: found.get(k) for k in ("path", "subject", "issuer", "not_after") if found.get(k) is not None}
    if "key" in client:
        details["client_key"] = as_dict(client.get("key")).get("path")
    certificate = as_dict(server.get("certificate"))
    if certificate:
        details["server_certificate"] = {k: certificate.get(k) for k in ("subject", "issuer", "names", "not_after")}
    if server.get("version"):
        details["tls_version"] = server.get("version")
    return details


def _names(certificate: Dict[str, Any]) -> str:
    names = [str(n).split(":", 1)[-1] for n in as_list(certificate.get("names"))]
    return ", ".join(names) if names else "no names (no subjectAltName)"


def _server_refused(facts: Dict[str, Any], where: str, verified: Dict[str, Any]) -> Outcome:
    """The handshake with the client's files failed: say which side and why, in gRPC's words where it has them."""
    client = as_dict(facts.get("client"))
    certificate = as_dict(as_dict(facts.get("server")).get("certificate"))
    ca = as_dict(client.get("ca"))
    cause = said(verified.get("cause"), said(verified.get("error"), "the TLS handshake failed"))
    host = str(facts.get("host") or where)
    if "hostname mismatch" in cause or "IP address mismatch" in cause:
        names = [str(n).split(":", 1)[-1] for n in as_list(certificate.get("names"))]
        instead = f" (e.g. ray://{join_host_port(names[0], facts['port'])})" if names and isinstance(facts.get("port"), int) else ""
        return failed(f"{PEER_NAME.format(host=host)}: the server's certificate at {where} names {_names(certificate)}",
                      f"connect with a name the certificate holds{instead}, or ask the cluster's administrators for a certificate that "
                      f"also names {host}", **_details(facts))
    if "certificate has expired" in cause:
        return failed(f"the server's certificate at {where} ({certificate.get('subject', '?')}) expired on {_day(certificate.get('not_after'))}: "
                      f"{cause}", "the cluster's administrators must renew the head's certificate", **_details(facts))
    if cause.startswith(CERT_VERIFY_FAILED) and any(w in cause for w in ("local issuer", "self-signed", "self signed", "issuer certificate")):
        issuer = certificate.get("issuer") or "?"
        reason = cause.split(" (", 1)[0]
        return failed(f"the CA in {CA} ({ca.get('subject', '?')}) does not verify the server's certificate at {where} "
                      f"(issued by {issuer}): {reason}",
                      f"set {CA} to the CA that issued the head's certificate ({issuer}); the cluster's administrators have it",
                      **_details(facts))
    if "did not accept this client's certificate" in cause or "alert" in cause:
        cert = as_dict(client.get("cert"))
        why = ""
        if client.get("ca_accepts_cert") is False:
            why = f"; checked against {CA}: {client.get('ca_verdict')}"
        return failed(f"the server at {where} did not accept the client certificate in {CERT} ({cert.get('subject', '?')}, issued by "
                      f"{cert.get('issuer', '?')}){why}",
                      f"get a client certificate signed by the cluster's CA (the one that issued the head's certificate: "
                      f"{certificate.get('issuer', '?')}) and point {CERT} and {KEY} at it and its key", **_details(facts))
    return failed(f"TLS with {where} failed: {cause}", f"check {CA}, {CERT} and {KEY}", **_details(facts))


def _expiring(facts: Dict[str, Any]) -> List[str]:
    client = as_dict(facts.get("client"))
    found = []
    for label, cert in (("the client certificate", as_dict(client.get("cert"))), ("the CA certificate", as_dict(client.get("ca"))),
                        ("the server's certificate", as_dict(as_dict(facts.get("server")).get("certificate")))):
        days = cert.get("days_left")
        if isinstance(days, int) and not cert.get("expired") and days < EXPIRY_WARNING_DAYS:
            found.append(f"{label} ({cert.get('subject')}) expires on {_day(cert.get('not_after'))}")
    return found


@check("tls", "TLS on the Ray ports", routes=CLIENT_ROUTE)
def tls(ray_tls) -> Outcome:  # type: ignore[no-untyped-def]
    """Whether the client's TLS set-up (RAY_USE_TLS, RAY_TLS_*) matches the server's, and whether the handshake verifies."""
    problem = unreadable(ray_tls=ray_tls)
    if problem:
        return problem
    facts: Dict[str, Any] = ray_tls
    where = str(facts.get("where") or "the server")
    client = as_dict(facts.get("client"))
    server = as_dict(facts.get("server"))
    speaks = server.get("speaks_tls")
    enabled = bool(client.get("enabled"))
    if speaks is None:
        return skipped(f"cannot tell whether {where} speaks TLS: {said(server.get('error'), 'no answer')} (see reachability)",
                       **_details(facts))
    if speaks is False:
        if enabled:
            return failed(f"{where} does not speak TLS, but {USE_TLS}={client.get('use_tls')} here: Ray would open a TLS channel "
                          "and ray.init would wait 30 s and fail with \"ray client connection timeout\"",
                          f"for this cluster, unset {USE_TLS} {CERT} {KEY} {CA} (in a notebook: os.environ.pop(\"{USE_TLS}\") before "
                          "ray.init()), or check that the address is the cluster's TLS one", **_details(facts))
        ignored = [str(v) for v in as_list(client.get("set"))]
        how = said(server.get("how"), "")
        how = "speaks plain gRPC" if how == PLAIN_CALL else "does not speak TLS" + (f" ({how})" if how else "")
        summary = f"no TLS on the Ray ports: {where} {how} and {USE_TLS} is not set"
        if ignored:
            summary += f" ({', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} set, which Ray ignores without {USE_TLS}=1)"
        return passed(summary, **_details(facts))
    if not enabled:
        return _client_not_set_up(facts, where, server)
    problems = [p for p in as_list(client.get("problems")) if isinstance(p, dict)]
    if problems:
        more = f" (and {len(problems) - 1} more: see details)" if len(problems) > 1 else ""
        details = _details(facts)
        details["problems"] = [str(p.get("text")) for p in problems]
        return failed(f"{where} speaks TLS, and this client's TLS set-up would fail: {said(problems[0].get('text'), '?')}{more}",
                      said(problems[0].get("remedy"), TLS_EXPORTS), **details)
    verified = as_dict(facts.get("verified"))
    if not verified:
        return skipped(f"the TLS handshake with {where} was not tried (the client's TLS set-up could not be loaded)", **_details(facts))
    if not verified.get("ok"):
        return _server_refused(facts, where, verified)
    certificate = as_dict(server.get("certificate"))
    ca = as_dict(client.get("ca"))
    cert = as_dict(client.get("cert"))
    summary = (f"TLS verified with {where}: the server's certificate {certificate.get('subject', '?')} (valid until "
               f"{_day(certificate.get('not_after'))}) checked against the CA in {CA} ({ca.get('subject', '?')}); client certificate "
               f"{cert.get('subject', '?')} (valid until {_day(cert.get('not_after'))})")
    soon = _expiring(facts)
    if soon:
        return warned(f"{summary}; but {'; '.join(soon)}", "ask the cluster's administrators for renewed certificates before then",
                      **_details(facts))
    return passed(summary, **_details(facts))
