"""The terminal view: one line per check, the remedy under each problem, a verdict last."""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any, List, Optional

from preflight.model import Report, Result, Status
from preflight.redaction import masked

_MARKS = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "?"}
_ASCII = {Status.PASS: "ok", Status.WARN: "!!", Status.FAIL: "XX", Status.SKIP: "--", Status.ERROR: "??"}
_COLORS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "90", Status.ERROR: "35"}


def _can_encode(stream: IO[str], text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def use_color(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


class Style:
    def __init__(self, stream: IO[str], color: Optional[bool] = None):
        self.color = use_color(stream) if color is None else color
        self.unicode = _can_encode(stream, "✓✗→…")

    def mark(self, status: Status) -> str:
        mark = (_MARKS if self.unicode else _ASCII)[status]
        return self.paint(mark, _COLORS[status])

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    @property
    def arrow(self) -> str:
        return "→" if self.unicode else "->"


def verdict_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{n} {name}" for name, n in (("passed", counts["pass"]), ("warned", counts["warn"]),
             ("failed", counts["fail"]), ("errored", counts["error"]), ("skipped", counts["skip"])) if n]
    head = "GO" if report.ok else "NO-GO"
    calm = "nothing failed: " if report.ok else ""
    if not report.ok and not (counts["fail"] or counts["error"]):
        # NO-GO without a failure: warnings under --strict, or no evidence (nothing could be checked)
        head = "NO-GO (--strict: warnings fail)" if report.strict and counts["warn"] else f"NO-GO ({report.verdict_reason()})"
    ignored = f" ({len(report.ignored)} failure(s) ignored: {', '.join(report.ignored)})" if report.ignored else ""
    return f"{head}: {calm}{', '.join(parts) or 'no checks ran'}{ignored} in {report.duration_s:.1f} s"


def _details(result: Result) -> List[str]:
    lines = []
    for key, value in result.details.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        text = str(value)
        if "\n" in text:
            lines.append(f"{key}:")
            lines.extend("    " + line for line in text.rstrip().splitlines()[-20:])
        else:
            lines.append(f"{key}: {text if len(text) < 400 else text[:397] + '...'}")
    return lines


def render(report: Report, verbose: bool = False, stream: Optional[IO[str]] = None, color: Optional[bool] = None) -> str:
    report = masked(report)
    style = Style(stream or sys.stdout, color)
    width = max([len(r.id) for r in report.results] + [10])
    lines = [f"ray-preflight {report.tool_version} · profile {report.profile} · {report.address}"
             if style.unicode else f"ray-preflight {report.tool_version} - profile {report.profile} - {report.address}"]
    for result in report.results:
        line = f" {style.mark(result.status)} {result.id.ljust(width)}  {result.summary}"
        if verbose:
            line += style.paint(f"  ({result.duration_s:.2f} s)", "90")
        lines.append(line)
        if result.remedy and result.status in (Status.FAIL, Status.ERROR, Status.WARN):
            lines.append(f"   {' ' * width}  {style.arrow} {result.remedy}")
        if verbose:
            lines.extend(f"   {' ' * width}    {d}" for d in _details(result))
    verdict = verdict_line(report)
    lines.append(style.paint(verdict, "1;32" if report.ok else "1;31"))
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(masked(report).to_dict(), default=_jsonable, sort_keys=False) + "\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
