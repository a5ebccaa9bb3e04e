"""Running the real thing a verdict predicts, the way a user would, with a hard timeout: a Python script (the user's
own, or the platform's seed workflow) as a child process in its own process group, killed whole when it overruns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional


@dataclass
class RealRun:
    #: "finished" (with ``code``) or "timeout" (it was still running at the limit and was stopped).
    ended: str
    code: Optional[int]
    stdout: str
    stderr: str
    wall_s: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_real(argv: List[str], timeout: float, cwd: Optional[str] = None, env_extra: Optional[Dict[str, str]] = None,
             python: Optional[str] = None) -> RealRun:
    """``python argv...`` in ``cwd``; stopped (SIGINT, then SIGKILL to its group) after ``timeout`` seconds."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.update(env_extra or {})
    t0 = time.monotonic()
    proc = subprocess.Popen([python or sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return RealRun("finished", proc.returncode, out, err, time.monotonic() - t0)
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGINT, 5), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                out, err = proc.communicate(timeout=wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                out, err = "", ""
        return RealRun("timeout", None, out or "", err or "", time.monotonic() - t0)
