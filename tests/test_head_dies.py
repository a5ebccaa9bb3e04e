"""The Ray head dies between the probes and the Fibonacci job (a real head of this module's own, stopped the
moment the job is about to start): the job fails with the cause, within the run's deadline, and nothing hangs.
A module of its own, so that no fixture head is alive beside this one (see ``conftest.py``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict

import pytest

from preflight.local_head import LocalHead

pytestmark = pytest.mark.live


def test_the_head_killed_between_the_probes_and_the_fibonacci_job_fails_it_with_the_cause() -> None:
    """A head of its own (the module's head must survive): the probes see it, then it dies before the job."""
    head = LocalHead(num_cpus=2)
    head.start()
    try:
        from preflight import config
        from preflight.runner import run

        cfg = config.build(head.address, dashboard_url=head.dashboard_url, gcs_address=head.gcs_address,
                           only=["reachability", "ray-version", "python-version", "client-packages", "fibonacci"],
                           fib_size=1000, fib_tasks=1, timeout=90, environ={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
        import preflight.checks.e2e as e2e

        real = e2e.run_script

        def head_dies_first(*args: Any, **kwargs: Any) -> Dict[str, Any]:
            head.stop()
            return real(*args, **kwargs)

        e2e.run_script = head_dies_first
        try:
            started = time.monotonic()
            report = run(cfg)
            elapsed = time.monotonic() - started
        finally:
            e2e.run_script = real
    finally:
        head.stop()
    assert report["reachability"].status.value == "pass"
    fib = report["fibonacci"]
    assert fib.status.value in ("fail", "error"), fib
    assert any(words in fib.summary.lower() for words in ("connect", "unreachable", "refused", "timed out", "failed")), fib.summary
    assert elapsed < 90 + 5
