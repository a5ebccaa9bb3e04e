"""Real loopback servers that misbehave on purpose, for tests/test_faults.py: each accepted connection is
handed to a behaviour (close at once, say nothing, answer HTTP/1.1 on a gRPC port, send bytes that are not
HTTP, serve a fixed HTTP answer)."""

from __future__ import annotations

import socket
from typing import Callable, Dict, Optional

from preflight.testing import LoopbackServer

Behaviour = Callable[[socket.socket], None]


def close_at_once(conn: socket.socket) -> None:
    conn.close()


def say_nothing(conn: socket.socket) -> None:
    """Keep the connection open and never send a byte (closed when the server stops)."""


def garbage(conn: socket.socket) -> None:
    _drain(conn)
    conn.sendall(b"\x00\xff\xfeSSH-2.0-not-http\r\n\x13\x37" * 8)
    conn.close()


def http_answer(status: int, headers: Dict[str, str], body: bytes, truncate_to: Optional[int] = None) -> Behaviour:
    """One HTTP/1.1 answer to whatever request comes; ``truncate_to`` closes after that many body bytes
    while Content-Length announces the whole body."""
    def behave(conn: socket.socket) -> None:
        _drain(conn)
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode() + (body if truncate_to is None else body[:truncate_to]))
        conn.close()
    return behave


def _drain(conn: socket.socket) -> None:
    """Read what the client sent first (a request line, an HTTP/2 preface), briefly."""
    conn.settimeout(1.0)
    try:
        conn.recv(65536)
    except OSError:
        pass


#: A loopback server handing each connection to one of the behaviours above.
FaultServer = LoopbackServer
