"""A pytest gate: ``pytest --ray-preflight[=ADDRESS]`` runs the preflight once before the session and stops
the session with the preflight's summary when the verdict is NO-GO. The ``ray_preflight`` fixture returns
the report. Installed with the tool (entry point ``pytest11``); it does nothing unless asked.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

_KEY = "_ray_preflight_report"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("ray-preflight")
    group.addoption("--ray-preflight", action="store", nargs="?", const="", default=None, metavar="ADDRESS",
                    dest="ray_preflight",
                    help="Run ray-preflight before the tests (against ADDRESS, else RAY_ADDRESS or the settings file) "
                         "and stop when the verdict is NO-GO.")


def _report(config: Any) -> Any:
    report = getattr(config, _KEY, None)
    if report is None:
        from preflight.api import check

        address: Optional[str] = config.getoption("ray_preflight") or None
        report = check(address)
        setattr(config, _KEY, report)
    return report


def pytest_sessionstart(session: Any) -> None:
    if session.config.getoption("ray_preflight") is None:
        return
    from preflight.render.text import render

    report = _report(session.config)
    if not report.ok:
        pytest.exit("ray-preflight says NO-GO, so the tests did not start:\n" + render(report, color=False),
                    returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.fixture(scope="session")
def ray_preflight(request: Any) -> Any:
    """The preflight report (run now if ``--ray-preflight`` did not run it already)."""
    return _report(request.config)
