"""A throwaway Ray head on loopback, started with the installed Ray (``--local`` and the tests).

It runs ``ray start --head --block`` in its own process group with the Ray Client server
and the dashboard on free ports and a short temporary directory, and stops that group
(and only that group: ``ray stop`` would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from preflight.errors import UsageError
from preflight.net import NetError, free_port, http_get
from preflight.ray_rpc import ping
from preflight.ray_security import build_channel

T = TypeVar("T")
_RAY_MAIN = "from ray.scripts.scripts import main; main()"


def _ray_version(python: str) -> Optional[str]:
    if python == sys.executable:
        from importlib import metadata

        try:
            return metadata.version("ray")
        except metadata.PackageNotFoundError:
            return None
    try:
        out = subprocess.run([python, "-c", "from importlib.metadata import version; print(version('ray'))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


class HeadError(RuntimeError):
    pass


class LocalHead:
    """``with LocalHead() as head: ...`` gives ``head.address``, ``head.dashboard_url``, ``head.gcs_address``."""

    def __init__(self, python: Optional[str] = None, num_cpus: int = 2, env: Optional[Dict[str, str]] = None,
                 gcs_port: Optional[int] = None, extra_args: Sequence[str] = ()):
        self.python = python or sys.executable
        self.num_cpus = num_cpus
        self.extra_env = dict(env or {})
        #: How to speak to this head as a client with its own settings would (a token head, a TLS head): set by start().
        self.channel = build_channel({})
        self.gcs_port = gcs_port  # a fixed GCS port (Ray's fake multi-node autoscaler needs 6379)
        self.extra_args = list(extra_args)
        self.host = "127.0.0.1"
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.temp_dir: Optional[str] = None
        self.log_path: Optional[str] = None
        self.ports: Dict[str, int] = {}
        self.ray_version = _ray_version(self.python)

    @property
    def address(self) -> str:
        return f"ray://{self.host}:{self.ports['client']}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.host}:{self.ports['dashboard']}/"

    @property
    def gcs_address(self) -> str:
        return f"{self.host}:{self.ports['gcs']}"

    def _command(self, runtime_env_port: bool) -> List[str]:
        p = self.ports
        # Workers get 100 ports between Ray's per-client servers (23000-24000) and the ephemeral range.
        base = random.randrange(24100, 32000, 100)
        cmd = [
            self.python, "-c", _RAY_MAIN, "start", "--head", "--block",
            f"--node-ip-address={self.host}", f"--port={p['gcs']}",
            f"--ray-client-server-port={p['client']}", "--include-dashboard=true",
            f"--dashboard-host={self.host}", f"--dashboard-port={p['dashboard']}",
            f"--dashboard-agent-listen-port={p['agent_http']}", f"--dashboard-agent-grpc-port={p['agent_grpc']}",
            f"--node-manager-port={p['node_manager']}", f"--object-manager-port={p['object_manager']}",
            f"--metrics-export-port={p['metrics']}", f"--min-worker-port={base}", f"--max-worker-port={base + 99}",
            f"--num-cpus={self.num_cpus}", f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
        ]
        if runtime_env_port:
            cmd.append(f"--runtime-env-agent-port={p['runtime_env']}")
        return cmd + self.extra_args

    def start(self, timeout: float = 120.0, port_wait: float = 0.0) -> "LocalHead":
        """Start the head; ``port_wait``: how long to wait for a fixed GCS port that is still taken."""
        if self.ray_version is None:
            raise UsageError(f'--local needs Ray in this Python ({self.python}): pip install "ray[default]"')
        names = ("gcs", "client", "dashboard", "agent_http", "agent_grpc", "node_manager", "object_manager",
                 "metrics", "runtime_env")
        ports: List[int] = []
        while len(ports) < len(names):
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.ports = dict(zip(names, ports))
        if self.gcs_port is not None:
            waited = time.monotonic() + port_wait
            while not _port_free(self.host, self.gcs_port) and time.monotonic() < waited:
                time.sleep(1.0)  # a server that just closed leaves the port in TIME_WAIT for up to 60 s
            if not _port_free(self.host, self.gcs_port):
                raise HeadError(f"port {self.gcs_port} is in use on {self.host}{_holder(self.gcs_port)}; "
                                "this head needs it for its GCS")
            self.ports["gcs"] = self.gcs_port
        # Ray appends ~62 characters for its sockets; AF_UNIX paths stop at 107 bytes.
        self.temp_dir = tempfile.mkdtemp(prefix="rpf-", dir="/tmp" if os.path.isdir("/tmp") else None)
        self.log_path = os.path.join(self.temp_dir, "head.log")
        env = dict(os.environ)
        for key in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
            env.pop(key, None)
        env.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"})
        # The head's Python first on PATH, as a KubeRay image has Ray's: a Ray Job's `python ...` entrypoint runs it.
        env["PATH"] = os.path.dirname(os.path.abspath(self.python)) + os.pathsep + env.get("PATH", "")
        env.update(self.extra_env)
        self.channel = build_channel(env)
        new_enough = _at_least(self.ray_version, (2, 8))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self._command(new_enough), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self) -> str:
        try:
            with open(self.log_path or "", "rb") as handle:
                return handle.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        ready = {"client": False, "dashboard": False}
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise HeadError(f"ray start exited with code {self.proc.returncode}:\n{self._log_tail()}")
            if not ready["client"]:
                try:
                    ready["client"] = ping(self.host, self.ports["client"], 2.0, self.channel).status == 0
                except NetError:
                    pass
            if not ready["dashboard"]:
                ready["dashboard"] = self._dashboard_sees_a_node()
            if all(ready.values()):
                self._settle(min(20.0, max(0.0, deadline - time.monotonic())))
                return
            time.sleep(0.25)
        raise HeadError(f"the local Ray head was not ready within {timeout:.0f} s ({ready}):\n{self._log_tail()}")

    def _settle(self, limit: float) -> None:
        """Ray 2.8+: wait (at most ``limit`` s) until the runtime-env agent listens; a Ray Client session's first
        per-client server needs it, and a head that has just started sometimes fails that session without it.
        The agent binds the machine's address, not necessarily loopback, so every local address is tried."""
        port = self.ports.get("runtime_env")
        if not port or not _at_least(self.ray_version, (2, 8)):
            return
        import socket

        import psutil

        hosts = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET]
        end = time.monotonic() + limit
        while time.monotonic() < end:
            for host in hosts or [self.host]:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.settimeout(0.2)
                    if probe.connect_ex((host, port)) == 0:
                        return
            time.sleep(0.25)

    def _dashboard_sees_a_node(self) -> bool:
        """The dashboard answers and the cluster status already counts the head's CPUs (or, for a head started with
        no CPUs, its memory)."""
        try:
            answer = http_get(self.dashboard_url + "api/cluster_status", 2.0, headers=self.channel.http_headers())
            status = json.loads(answer.body.decode("utf-8")) if answer.status == 200 else {}
        except (NetError, ValueError, UnicodeDecodeError):
            return False
        data = status.get("data") or {}
        usage = ((data.get("clusterStatus") or {}).get("loadMetricsReport") or {}).get("usage") or {}
        return bool(usage.get("CPU")) if self.num_cpus else bool(usage.get("memory") or usage.get("object_store_memory"))

    def _group_alive(self, pgid: int) -> bool:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a dependency
            try:
                os.killpg(pgid, 0)
                return True
            except OSError:
                return False
        for proc in psutil.process_iter(["status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    return True
            except (OSError, psutil.Error):
                continue
        return False

    def stop(self, grace: float = 5.0) -> None:
        """Stop the head's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
        proc, self.proc = self.proc, None
        if proc is not None:
            pgid = proc.pid
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self._group_alive(pgid):
                time.sleep(0.2)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None

    def __enter__(self) -> "LocalHead":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) != 0


def _holder(port: int) -> str:
    """Who holds ``port`` (" (held by pid 123: redis-server, LISTEN)"), as far as this user may see; "" when unknown."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port:
                name = psutil.Process(conn.pid).name() if conn.pid else "no process"
                return f" (held by {'pid ' + str(conn.pid) + ': ' if conn.pid else ''}{name}, {conn.status})"
    except Exception:  # noqa: BLE001 - a diagnostic only
        return ""
    return ""


def _at_least(version: Optional[str], wanted: tuple) -> bool:
    try:
        parts = tuple(int(x) for x in (version or "0").split(".")[:2])
    except ValueError:
        return True
    return parts >= wanted


def against_local_head(options: Dict[str, Any], use: Callable[[str, Dict[str, Any]], T],
                       announce: Optional[Callable[[str], None]] = None) -> T:
    """``--local`` / ``local=True``: check ``options`` (a usage error before any head starts), start a throwaway head,
    call ``use(address, options)`` with the head's dashboard and GCS filled in, and stop the head whatever happens.
    A head that does not start is a ``UsageError``."""
    from preflight import config

    config.build("ray://127.0.0.1:10001", **options)
    head = LocalHead()
    if announce is not None:
        announce(f"starting a throwaway Ray {head.ray_version} head on 127.0.0.1 …")
    try:
        head.start()
    except HeadError as exc:
        raise UsageError(f"the local Ray head did not start: {str(exc).splitlines()[0]}") from None
    try:
        return use(head.address, dict(options, dashboard_url=head.dashboard_url, gcs_address=head.gcs_address))
    finally:
        head.stop()


def refuse_targets(given: bool, notebook: bool = False) -> None:
    """A local head is its own target: an address, dashboard URL or GCS address given with it is a usage error."""
    if given:
        raise UsageError("local=True starts its own head: leave address, dashboard_url and gcs_address out" if notebook
                         else "--local starts its own head: leave out --address, --dashboard-url and --gcs-address")
