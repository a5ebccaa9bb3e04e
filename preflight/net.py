"""Bounded network steps: DNS, TCP, one unary gRPC call over HTTP/2, one HTTP GET (or POST).

Every function takes a timeout and raises ``NetError`` with a ``kind`` a check can judge:
``dns``, ``refused``, ``connect-timeout``, ``unreachable``, ``silent``, ``closed``,
``http1`` (an HTTP/1.x server where gRPC was expected), ``not-grpc``, ``tls``.

``http_get`` verifies HTTPS certificates as ``TlsOptions`` say: the default trust store (which honours
``SSL_CERT_FILE``), one CA file, or no verification at all.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple


class NetError(Exception):
    def __init__(self, kind: str, message: str, cause: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        #: For ``tls``: the cause in one line, e.g. "certificate verify failed: self-signed certificate".
        self.cause = cause


def _in_thread(func, timeout: float):  # type: ignore[no-untyped-def]
    """Run a blocking call that has no timeout of its own (getaddrinfo) in a daemon thread."""
    box: Dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="preflight-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def resolve(host: str, port: int, timeout: float) -> List[Tuple[int, str]]:
    """Resolve ``host``: a list of (family, address). Raises ``NetError('dns')``."""
    try:
        infos = _in_thread(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except TimeoutError:
        raise NetError("dns", f"name {host!r} did not resolve within {timeout:g} s") from None
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise NetError("dns", f"name {host!r} does not resolve ({_reason(exc)})") from None
    seen: List[Tuple[int, str]] = []
    for family, _, _, _, sockaddr in infos:
        item = (family, sockaddr[0])
        if item not in seen:
            seen.append(item)
    return seen


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def connect(host: str, port: int, timeout: float, addresses: Optional[List[Tuple[int, str]]] = None) -> socket.socket:
    """Open a TCP connection within ``timeout`` seconds (DNS included)."""
    started = time.monotonic()
    addresses = addresses or resolve(host, port, timeout)
    last: Optional[NetError] = None
    for family, address in addresses:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            break
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect((address, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except ConnectionRefusedError:
            last = NetError("refused", f"connection to {_hp(host, port)} refused: nothing listens there")
        except socket.timeout:
            last = NetError("connect-timeout", f"no TCP answer from {_hp(host, port)} within {timeout:g} s")
        except OSError as exc:
            last = NetError("unreachable", f"{_hp(host, port)} is unreachable ({_reason(exc)})")
        sock.close()
    raise last or NetError("connect-timeout", f"no TCP answer from {_hp(host, port)} within {timeout:g} s")


def _hp(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class GrpcReply:
    status: int
    message: str
    payload: bytes
    elapsed_s: float


GRPC_CODES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


def grpc_unary(
    host: str,
    port: int,
    path: str,
    request: bytes,
    timeout: float,
    metadata: Optional[List[Tuple[str, str]]] = None,
    tls: Any = None,
) -> GrpcReply:
    """One unary gRPC call over HTTP/2, bounded by ``timeout`` from the first byte: plain text, or TLS with the
    ``ssl.SSLContext`` given (ALPN h2; the server's name checked against ``host``, as gRPC does).

    Implemented on ``h2`` so that the tool needs neither grpcio nor protobuf.
    """
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    started = time.monotonic()
    sock = connect(host, port, timeout)
    if tls is not None:
        sock = _tls_handshake(sock, tls, host, port, max(0.05, timeout - (time.monotonic() - started)))
    try:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "https" if tls is not None else "http"),
            (":path", path),
            (":authority", _hp(host, port)),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", f"{max(1, int(timeout * 1000))}m"),
            ("user-agent", "ray-preflight"),
        ] + list(metadata or [])
        conn.send_headers(stream, headers)
        conn.send_data(stream, b"\x00" + struct.pack(">I", len(request)) + request, end_stream=True)
        try:
            sock.sendall(conn.data_to_send())
        except OSError as exc:
            _closed_before_answer(host, port, tls, exc, timeout - (time.monotonic() - started))
            raise NetError("closed", f"{_hp(host, port)} dropped the connection ({_reason(exc)})") from None

        received: Dict[str, str] = {}
        body = bytearray()
        got_any = False
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                if got_any:
                    raise NetError("silent", f"{_hp(host, port)} answered but did not finish the call within {timeout:g} s")
                raise NetError("silent", f"{_hp(host, port)} accepted the connection but sent no answer within {timeout:g} s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as exc:
                if not got_any:
                    _closed_before_answer(host, port, tls, exc, remaining)
                raise NetError("closed", f"{_hp(host, port)} dropped the connection ({_reason(exc)})") from None
            if not chunk:
                if not got_any:
                    _closed_before_answer(host, port, tls, None, remaining)
                raise NetError("closed", f"{_hp(host, port)} closed the connection without answering")
            if not got_any and chunk[:5] == b"HTTP/":
                first = chunk.split(b"\r\n", 1)[0].decode("latin-1", "replace")
                raise NetError("http1", f"{_hp(host, port)} speaks HTTP/1.x ({first!r}), not gRPC")
            if not got_any and chunk[:1] == b"\x16":
                raise NetError("tls-required", f"{_hp(host, port)} expects TLS")
            got_any = True
            try:
                events = conn.receive_data(chunk)
            except h2.exceptions.ProtocolError as exc:
                raise NetError("not-grpc", f"{_hp(host, port)} does not speak HTTP/2 ({exc.__class__.__name__})") from None
            done = False
            for event in events:
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    received.update({str(k): str(v) for k, v in event.headers})
                elif isinstance(event, h2.events.DataReceived):
                    body.extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    done = True
                elif isinstance(event, h2.events.StreamReset):
                    raise NetError("not-grpc", f"{_hp(host, port)} reset the call (HTTP/2 error {event.error_code})")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise NetError("closed", f"{_hp(host, port)} ended the HTTP/2 connection (error {event.error_code})")
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)
            if done:
                break
        if received.get(":status", "200") != "200" or "grpc-status" not in received:
            raise NetError(
                "not-grpc",
                f"{_hp(host, port)} answered HTTP/2 status {received.get(':status', '?')} without a gRPC status",
            )
        payload = bytes(body[5:]) if len(body) >= 5 else b""
        return GrpcReply(
            status=int(received.get("grpc-status", "2") or 2),
            message=received.get("grpc-message", ""),
            payload=payload,
            elapsed_s=time.monotonic() - started,
        )
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _closed_before_answer(host: str, port: int, tls: Any, exc: Optional[BaseException], timeout: float) -> None:
    """A gRPC server with TLS closes a fresh connection without a byte in two cases, and sends no TLS alert in either:
    a plain-text client (``tls-required``, found by trying a handshake), and, after a TLS 1.3 handshake, a client
    certificate it does not accept (``tls``). Returns when neither explains the close."""
    import ssl

    if tls is not None:
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
            raise _tls_error(_hp(host, port), exc) from None
        raise NetError("tls", f"{_hp(host, port)} closed the connection right after the TLS handshake, without an answer: "
                              "it did not accept this client's certificate", "the server did not accept this client's certificate")
    if answers_tls(host, port, max(0.05, timeout)):
        raise NetError("tls-required", f"{_hp(host, port)} expects TLS (it closed the plain-text connection and answers a TLS handshake)")


def answers_tls(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` answers a TLS handshake (any certificate; an alert is an answer too)."""
    try:
        tls_connect(host, port, timeout, None).close()
    except NetError as exc:
        return exc.kind == "tls"
    return True


def tls_connect(host: str, port: int, timeout: float, context: Any) -> Any:
    """A TCP connection and a TLS handshake within ``timeout`` (``NetError`` kinds as for ``grpc_unary``). ``context``
    None: no verification, ALPN h2 (to read what a server presents)."""
    import ssl

    started = time.monotonic()
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
    sock = connect(host, port, timeout)
    return _tls_handshake(sock, context, host, port, max(0.05, timeout - (time.monotonic() - started)))


def _tls_handshake(sock: socket.socket, context: Any, host: str, port: int, timeout: float) -> socket.socket:
    """TLS over a connected socket within ``timeout``; ``NetError('tls')`` with the cause in one line. A server that
    answers the handshake with plain bytes (or closes: cause ``CLOSED_IN_HANDSHAKE``) is ``tls-plain``: it does not
    speak TLS."""
    import ssl

    sock.settimeout(timeout)
    try:
        return context.wrap_socket(sock, server_hostname=host)  # type: ignore[no-any-return]
    except ssl.SSLError as exc:
        sock.close()
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):  # closed without a TLS byte
            raise NetError("tls-plain", f"{_hp(host, port)} closed the connection during the TLS handshake: it does not speak TLS, "
                                        "or refused this client's certificate", CLOSED_IN_HANDSHAKE) from None
        cause = _tls_cause(exc)
        if "wrong version number" in cause or "record layer failure" in cause or "packet length too long" in cause:
            raise NetError("tls-plain", f"{_hp(host, port)} does not speak TLS ({cause})", cause) from None
        raise NetError("tls", f"TLS with {_hp(host, port)} failed: {cause}", cause) from None
    except (socket.timeout, TimeoutError):
        sock.close()
        raise NetError("silent", f"{_hp(host, port)} accepted the connection but did not finish a TLS handshake within {timeout:g} s") from None
    except OSError as exc:
        sock.close()
        raise NetError("tls-plain", f"{_hp(host, port)} closed the connection during the TLS handshake ({_reason(exc)}): "
                                    "it does not speak TLS, or refused this client's certificate", CLOSED_IN_HANDSHAKE) from None


@dataclass
class HttpAnswer:
    url: str
    status: int
    headers: Dict[str, str]
    body: bytes
    elapsed_s: float

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


MAX_BODY = 32 * 1024 * 1024

#: The cause of a ``tls-plain`` error when the server closed during the handshake without sending a byte.
CLOSED_IN_HANDSHAKE = "closed during the TLS handshake"
#: How a ``tls`` cause starts when the server's certificate was refused (not another TLS problem).
CERT_VERIFY_FAILED = "certificate verify failed"


@dataclass(frozen=True)
class TlsOptions:
    """How ``http_get`` verifies an HTTPS server: against ``ca_bundle`` only, not at all (``insecure``),
    or (neither) against the default trust store, which honours ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``."""

    ca_bundle: Optional[str] = None
    insecure: bool = False

    def context(self):  # type: ignore[no-untyped-def]
        """The ``ssl.SSLContext`` to use, or None for urllib's default."""
        import ssl

        if self.ca_bundle:
            return ssl.create_default_context(cafile=self.ca_bundle)
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False  # before verify_mode: a context that checks host names must verify
            context.verify_mode = ssl.CERT_NONE
            return context
        return None


#: OpenSSL verify codes whose message does not say what to do about them.
_VERIFY_HINTS = {
    19: " (the chain ends in a CA this machine does not trust)",  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20: " (signed by a CA this machine does not trust)",  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: " (signed by a CA this machine does not trust)",  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
}


def _tls_cause(exc: BaseException) -> str:
    """One line: "certificate verify failed: self-signed certificate", "... hostname mismatch, ...", "wrong version number"."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        message = " ".join(str(exc.verify_message or "").split()).rstrip(".") or "unknown reason"
        if message[:1].isupper() and message[1:2].islower():  # "Hostname mismatch" (not "IP address mismatch")
            message = message[0].lower() + message[1:]
        return f"{CERT_VERIFY_FAILED}: {message}{_VERIFY_HINTS.get(exc.verify_code, '')}"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return " ".join(_reason(exc).split())


def _tls_error(where: str, exc: BaseException) -> NetError:
    cause = _tls_cause(exc)
    return NetError("tls", f"TLS with {where} failed: {cause}", cause)


def http_get(url: str, timeout: float, max_body: int = MAX_BODY, tls: Optional[TlsOptions] = None,
             headers: Optional[Dict[str, str]] = None) -> HttpAnswer:
    """GET ``url`` without following redirects; the whole exchange is bounded by ``timeout``.

    ``tls`` says how an HTTPS server's certificate is verified (default: the default trust store); ``headers`` are
    sent as well (credentials: never part of an error message).
    """
    return http_request("GET", url, timeout, max_body=max_body, tls=tls, headers=headers)


def http_post(url: str, timeout: float, body: bytes = b"", max_body: int = MAX_BODY, tls: Optional[TlsOptions] = None,
              headers: Optional[Dict[str, str]] = None) -> HttpAnswer:
    """POST ``body`` (JSON unless ``headers`` name another Content-Type) to ``url``, as ``http_get`` GETs: no
    redirect followed, the whole exchange bounded by ``timeout``, the same ``NetError`` kinds."""
    sent = {"Content-Type": "application/json"}
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            sent.pop("Content-Type", None)
        sent[name] = value
    return http_request("POST", url, timeout, body, max_body=max_body, tls=tls, headers=sent)


def http_request(method: str, url: str, timeout: float, body: Optional[bytes] = None, max_body: int = MAX_BODY,
                 tls: Optional[TlsOptions] = None, headers: Optional[Dict[str, str]] = None) -> HttpAnswer:
    """One HTTP request (``method``, with ``body`` if given) without following redirects; the whole exchange is
    bounded by ``timeout``; any answer (3xx, 4xx, 5xx included) is an ``HttpAnswer``, the rest a ``NetError``."""
    import http.client
    import ssl
    import urllib.error
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    handlers: List[urllib.request.BaseHandler] = [_NoRedirect()]
    try:
        context = tls.context() if tls is not None else None
    except (ssl.SSLError, OSError, ValueError) as exc:  # the CA file changed since the input was validated
        cause = " ".join(_reason(exc).split())
        raise NetError("tls", f"cannot load the CA file {tls.ca_bundle if tls else ''}: {cause}", cause) from None
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, method=method,
                                     headers=dict({"Accept": "application/json", "User-Agent": "ray-preflight"}, **(headers or {})))
    started = time.monotonic()
    where = url.split("?")[0]
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx: still an answer
            response = exc
        with response:
            body = _read_bounded(response, max_body, started, timeout)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return HttpAnswer(url, int(response.status or response.code), headers, body, time.monotonic() - started)
    except NetError:
        raise
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise NetError("refused", f"connection to {where} refused: nothing listens there") from None
        if isinstance(reason, socket.gaierror):
            raise NetError("dns", f"the host of {where} does not resolve ({_reason(reason)})") from None
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise NetError("connect-timeout", f"no answer from {where} within {timeout:g} s") from None
        if isinstance(reason, ssl.SSLError):
            raise _tls_error(where, reason) from None
        raise NetError("unreachable", f"{where} is unreachable ({_reason(reason) if isinstance(reason, BaseException) else reason})") from None
    except (socket.timeout, TimeoutError):
        raise NetError("silent", f"{where} accepted the connection but sent no answer within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise _tls_error(where, exc) from None
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise NetError("garbage", f"{where} did not answer HTTP ({type(exc).__name__}: {_reason(exc)})") from None


def _read_bounded(response, max_body: int, started: float, timeout: float) -> bytes:  # type: ignore[no-untyped-def]
    chunks: List[bytes] = []
    size = 0
    while True:
        if time.monotonic() - started > timeout:
            raise NetError("silent", f"{response.geturl()} did not finish its answer within {timeout:g} s")
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            raise NetError("garbage", f"{response.geturl()} sent more than {max_body // (1024 * 1024)} MB")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on a moment ago (the kernel's choice), for a head this tool starts itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
