"""Running the real thing a verdict predicts, the way a user would, with a hard timeout: a Python script (the user's
own, or the platform's seed workflow) as a child process in its own process group, killed whole when it overruns.

A head's hiccup is run once more, visibly. Two Ray heads on one machine hand out the same per-client server ports
(23000 up, in order) and gRPC binds them with SO_REUSEPORT, so when sessions start on both at the same moment, a
session can lose its server or land on the other head's: "Starting Ray client server failed", "Perhaps you called
ray.init twice by accident?", or the proxier's ``psutil.ZombieProcess``. Measured with two heads and sessions started
in pairs: 4 of 24 failed so. The suite runs one head at a time, yet a head's first sessions just after it started
have failed the same way (once in a full run: ``--local``'s own head). That says nothing about the verdict under
test, so wherever the suite runs something against a head (the tool, a user's script, the seed workflow) a failed
run that shows one of these is repeated once, with a warning carrying the lost server's log. A failure that repeats
is judged as it is.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from tests import seed_workflow

#: Ray's words when a head's proxier lost the per-client server of a new Ray Client session.
HEAD_HICCUPS = ("Starting Ray client server failed", "Perhaps you called ray.init twice by accident?", "psutil.ZombieProcess")

T = TypeVar("T")


def hiccup_log(output: str, limit: int = 2000) -> str:
    """The end of the per-client server's log that Ray's message names, found in the suite's heads' temp dirs."""
    named = re.search(r"ray_client_server_\d+\.err", output)
    if not named:
        return "(Ray named no log)"
    found = sorted(glob.glob(f"/tmp/rpf-*/session_*/logs/{named.group(0)}"), key=os.path.getmtime)
    if not found:
        return f"({named.group(0)} is no longer on disk)"
    with open(found[-1], errors="replace") as log:
        return f"{found[-1]}:\n{log.read()[-limit:]}"


def once_more_after_a_hiccup(run: Callable[[], T], output: Callable[[T], str], what: str) -> T:
    """``run()``; when it failed and its output shows a head's hiccup, warn (with the lost server's log) and return a
    second run. ``output`` gives a failed run's output, and "" for a run that worked (the tool's report of a run that
    worked may quote a hiccup its own ``ray.init`` retry got past)."""
    first = run()
    text = output(first)
    said = next((words for words in HEAD_HICCUPS if words in text), None)
    if said is None:
        return first
    warnings.warn(f"{what}: the head lost the Ray Client server of its session ({said}); running it once more. "
                  f"{hiccup_log(text)}", RuntimeWarning, stacklevel=2)
    return run()


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


def run(argv: Sequence[str], what: str, **options: Any) -> "subprocess.CompletedProcess[str]":
    """``subprocess.run(argv)`` with its output captured as text; once more after a head's hiccup."""
    return once_more_after_a_hiccup(lambda: subprocess.run(list(argv), capture_output=True, text=True, **options),
                                    lambda done: done.stdout + done.stderr if done.returncode else "", what)


def run_real(argv: List[str], timeout: float, cwd: Optional[str] = None, env_extra: Optional[Dict[str, str]] = None,
             python: Optional[str] = None) -> RealRun:
    """``python argv...`` in ``cwd``; stopped (SIGINT, then SIGKILL to its group) after ``timeout`` seconds; once more
    after a head's hiccup."""
    return once_more_after_a_hiccup(lambda: _run_real(argv, timeout, cwd, env_extra, python),
                                    lambda real: real.output if (real.ended, real.code) != ("finished", 0) else "",
                                    f"the real run of {' '.join(argv)[:80]}")


def _run_real(argv: List[str], timeout: float, cwd: Optional[str], env_extra: Optional[Dict[str, str]],
              python: Optional[str]) -> RealRun:
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


def run_seed(python: str, address: str, *args: str, timeout: float, env: Optional[Dict[str, str]] = None,
             cwd: Optional[str] = None) -> Dict[str, Any]:
    """The platform's seed workflow (``tests/seed_workflow.py``) with ``python`` against ``address``: its result line,
    or ``ok: False`` with the ``stage`` (``hang``: no answer within ``timeout``; ``crash``: no result line)."""
    return once_more_after_a_hiccup(lambda: _run_seed(python, [address, *args], timeout, env, cwd),
                                    lambda found: "" if found.get("ok") else json.dumps(found),
                                    f"the seed workflow against {address}")


def _run_seed(python: str, args: Sequence[str], timeout: float, env: Optional[Dict[str, str]], cwd: Optional[str]) -> Dict[str, Any]:
    t0 = time.monotonic()
    try:
        done = subprocess.run([python, seed_workflow.__file__, *args], capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "hang", "error": f"no answer within {timeout:.0f} s", "wall_s": time.monotonic() - t0}
    found = marked(done.stdout, seed_workflow.MARKER)
    if found is None:
        return {"ok": False, "stage": "crash", "error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}",
                "wall_s": time.monotonic() - t0}
    return found


def marked(text: str, marker: str) -> Optional[Dict[str, Any]]:
    """The JSON of the last line of ``text`` that starts with ``marker``."""
    for line in reversed(text.splitlines()):
        if line.startswith(marker):
            found: Dict[str, Any] = json.loads(line[len(marker):])
            return found
    return None
