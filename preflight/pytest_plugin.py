"""A pytest gate: ``pytest --ray-preflight[=ADDRESS]`` runs the preflight once before the session and stops
the session with the preflight's summary when the verdict is NO-GO. The ``ray_preflight`` fixture returns
the report. Installed with the tool (entry point ``pytest11``); it does nothing unless asked.

Under pytest-xdist (``pytest -n 2 --ray-preflight``) the preflight runs once, in the controller, before any worker
starts: a NO-GO stops the session there, and no worker is started. On GO each worker's ``ray_preflight`` fixture
returns the controller's report, handed over as JSON: the report ``--format json`` prints, rebuilt (the run's secrets
masked, facts that are not JSON as strings).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

_KEY = "_ray_preflight_report"
#: Where the controller's report travels to the xdist workers (``workerinput``), as the JSON of ``--format json``.
_WORKER_KEY = "ray_preflight_report"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("ray-preflight")
    group.addoption("--ray-preflight", action="store", nargs="?", const="", default=None, metavar="ADDRESS",
                    dest="ray_preflight",
                    help="Run ray-preflight before the tests (against ADDRESS, else RAY_ADDRESS or the settings file) "
                         "and stop when the verdict is NO-GO.")


def _is_worker(config: Any) -> bool:
    """An xdist worker: the controller ran the preflight (or will be asked to) and judged the session."""
    return hasattr(config, "workerinput")


def _report(config: Any) -> Any:
    report = getattr(config, _KEY, None)
    if report is None:
        handed = config.workerinput.get(_WORKER_KEY) if _is_worker(config) else None
        if handed is not None:
            report = rebuilt(handed)
        else:
            from preflight.api import check

            address: Optional[str] = config.getoption("ray_preflight") or None
            report = check(address)
        setattr(config, _KEY, report)
    return report


def rebuilt(data: Dict[str, Any]) -> Any:
    """A Report from the object ``--format json`` prints (``Report.to_dict()``): its verdict is the same."""
    from preflight.model import Report, Result, Status

    target = dict(data.get("target") or {})
    address, dashboard_url, gcs_address = target.pop("address", ""), target.pop("dashboard_url", None), target.pop("gcs_address", None)
    results = [Result(r["id"], r["title"], Status(r["status"]), r["summary"], r.get("remedy"), dict(r.get("details") or {}),
                      float(r.get("duration_s") or 0.0)) for r in data.get("results") or []]
    return Report(profile=data.get("profile") or "", address=address or "", dashboard_url=dashboard_url, results=results,
                  facts=dict(data.get("facts") or {}), timings=dict(data.get("timings") or {}),
                  duration_s=float(data.get("duration_s") or 0.0), tool_version=data.get("tool_version") or "",
                  gcs_address=gcs_address, ignored=list(data.get("ignored") or []), strict=bool(data.get("strict")), target=target)


def pytest_configure(config: Any) -> None:
    # The hook that hands the report to xdist's workers exists only where xdist does (an unknown hook is an error).
    if not _is_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistController(), "ray-preflight-xdist")


class _XdistController:
    def pytest_configure_node(self, node: Any) -> None:
        """Each worker, as xdist starts it (after the session started here, so after the preflight ran)."""
        report = getattr(node.config, _KEY, None)
        if report is not None:
            from preflight.render.text import render_json

            node.workerinput[_WORKER_KEY] = json.loads(render_json(report))


def pytest_sessionstart(session: Any) -> None:
    if session.config.getoption("ray_preflight") is None or _is_worker(session.config):
        return
    from preflight.render.text import render

    report = _report(session.config)
    if not report.ok:
        pytest.exit("ray-preflight says NO-GO, so the tests did not start:\n" + render(report, color=False),
                    returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.fixture(scope="session")
def ray_preflight(request: Any) -> Any:
    """The preflight report: the one ``--ray-preflight`` ran (in an xdist worker, the controller's, rebuilt), else run now."""
    return _report(request.config)
