"""Real loopback servers that misbehave on purpose, for tests/test_faults.py: each accepted connection is
handed to a behaviour (close at once, say nothing, answer HTTP/1.1 on a gRPC port, send bytes that are not
HTTP, serve a fixed HTTP answer)."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Dict, List, Optional, Tuple

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


class FaultServer:
    """A TCP server on a free loopback port that hands every connection to ``behaviour`` in its own thread."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1"):
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.connections: List[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass

    @property
    def address(self) -> Tuple[str, int]:
        return self.host, self.port

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.connections + [self.sock]:
            try:
                conn.close()
            except OSError:
                pass
