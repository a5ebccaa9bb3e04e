"""Loopback stand-ins for broken clusters, shared by the test suite and the benchmarks:
free and closed ports, and a listener that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional

from preflight.net import free_port


def closed_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """``count`` distinct ports that were free a moment ago and on which nothing listens (connect: refused)."""
    ports: List[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def closed_port(host: str = "127.0.0.1") -> int:
    return closed_ports(1, host)[0]


class LoopbackServer:
    """A TCP server on a free loopback port that hands every accepted connection to ``behaviour`` in a thread
    of its own; with no behaviour, connections are kept open and never answered. Accepted connections stay
    referenced (and open) until the server closes.

    Use as a context manager, or call ``start()`` and ``close()``.
    """

    def __init__(self, behaviour: Optional[Callable[[socket.socket], None]] = None, host: str = "127.0.0.1"):
        self.behaviour = behaviour
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.accepted: List[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=type(self).__name__, daemon=True)

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted.append(conn)
            if self.behaviour is not None:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)  # type: ignore[misc]
        except OSError:
            pass

    def start(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        for conn in self.accepted + [self.sock]:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class SilentListener(LoopbackServer):
    """A TCP listener that accepts every connection and never sends a byte."""

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__(None, host)
