"""Shared fixtures. ``ray_head`` starts a real Ray head (``ray start --head`` with the Ray
Client server and the dashboard on free loopback ports and its own short temp dir) once
per test session, with the Ray installed in this Python.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from typing import Iterator, List

import pytest

from preflight.local_head import LocalHead


@pytest.fixture(scope="session")
def ray_head() -> Iterator[LocalHead]:
    head = LocalHead(num_cpus=2)
    if head.ray_version is None:
        pytest.fail('the live tests need Ray in this Python: pip install -e ".[test]"')
    head.start()
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture
def head_args(ray_head: LocalHead) -> List[str]:
    return ["--address", ray_head.address, "--dashboard-url", ray_head.dashboard_url, "--gcs-address", ray_head.gcs_address]


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentListener:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: List[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    try:
        yield listener
    finally:
        listener.close()


def run_cli(args: List[str], env_extra: dict = None, timeout: float = 180) -> subprocess.CompletedProcess:  # type: ignore[assignment]
    """Run ``ray-preflight`` as a user would (a child process of this Python)."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True, env=env, timeout=timeout)
