"""JUnit XML for CI pipelines: one testsuite, one testcase per check.

``fail`` becomes a ``<failure>``, ``error`` an ``<error>``, ``skip`` a ``<skipped>`` (each carrying the summary
and the remedy); ``pass`` and ``warn`` are passing testcases whose ``<system-out>`` holds the summary (with
``--strict`` a warning is a ``<failure>``). Times are in seconds. The shape follows the JUnit schema that
Jenkins, GitLab and GitHub test reporters read (``tests/junit.xsd``).
"""

from __future__ import annotations

import platform
import time
import xml.etree.ElementTree as ET

from preflight.model import Report, Result, Status
from preflight.redaction import masked


def _text(result: Result) -> str:
    return result.summary + (f"\nremedy: {result.remedy}" if result.remedy else "")


def render_junit(report: Report) -> str:
    report = masked(report)
    counts = report.counts()
    failures = counts["fail"] + (counts["warn"] if report.strict else 0)
    totals = {"tests": str(len(report)), "failures": str(failures), "errors": str(counts["error"]),
              "skipped": str(counts["skip"]), "time": f"{report.duration_s:.3f}"}
    root = ET.Element("testsuites", dict(totals, name="ray-preflight"))
    suite = ET.SubElement(root, "testsuite", dict(totals, name=f"ray-preflight ({report.profile})",
                                                  timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                                                  hostname=platform.node() or "localhost"))
    properties = ET.SubElement(suite, "properties")
    for name, value in (("profile", report.profile), ("address", report.address), ("verdict", "GO" if report.ok else "NO-GO"),
                        ("tool_version", report.tool_version), ("ignored", ",".join(report.ignored)),
                        ("strict", str(report.strict).lower())):
        ET.SubElement(properties, "property", name=name, value=value or "")
    for result in report:
        case = ET.SubElement(suite, "testcase", classname=f"ray-preflight.{report.profile}", name=result.id,
                             time=f"{result.duration_s:.3f}")
        if result.status is Status.FAIL or (report.strict and result.status is Status.WARN):
            ET.SubElement(case, "failure", message=result.summary, type=result.status.value).text = _text(result)
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", message=result.summary, type="error").text = _text(result)
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=result.summary)
        else:
            ET.SubElement(case, "system-out").text = f"{result.status.value}: {_text(result)}"
    if hasattr(ET, "indent"):  # Python 3.9+
        ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
