"""The terminal view: one line per check, the remedy under each problem, a verdict last; and the pieces the live
progress shows while a run goes on (a check's line, what still runs)."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import IO, Any, Dict, Iterable, List, Mapping, Optional

from preflight.model import Report, Result, Running, Status
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


def header_line(tool_version: str, profile: str, address: str, style: Style) -> str:
    dot = "·" if style.unicode else "-"
    return f"ray-preflight {tool_version} {dot} profile {profile} {dot} {address}"


def id_width(ids: Iterable[str]) -> int:
    """The width of the check-id column."""
    return max([len(i) for i in ids] + [10])


def result_line(result: Result, width: int, style: Style, verbose: bool = False) -> str:
    """A check's line: its mark, its id in a column ``width`` wide, its summary (and its time with ``verbose``)."""
    line = f" {style.mark(result.status)} {result.id.ljust(width)}  {result.summary}"
    if verbose:
        line += style.paint(f"  ({result.duration_s:.2f} s)", "90")
    return line


def group_line(group: List[Result], style: Style) -> str:
    """One line for checks skipped for the same cause: ``- kubernetes, raycluster skipped: no Kubernetes credentials``."""
    return f" {style.mark(group[0].status)} {', '.join(r.id for r in group)} {group[0].summary}"


def grouped(results: List[Result]) -> List[List[Result]]:
    """The results in order, skips with the same summary (the same cause) together where the first of them stands."""
    groups: List[List[Result]] = []
    skips: Dict[str, List[Result]] = {}
    for result in results:
        if result.status is Status.SKIP and result.summary in skips:
            skips[result.summary].append(result)
            continue
        groups.append([result])
        if result.status is Status.SKIP:
            skips[result.summary] = groups[-1]
    return groups


def render(report: Report, verbose: bool = False, stream: Optional[IO[str]] = None, color: Optional[bool] = None) -> str:
    """The report: a line per check (one line for the checks skipped for the same cause, unless ``verbose``), the
    remedy under each problem, the verdict last."""
    report = masked(report)
    style = Style(stream or sys.stdout, color)
    width = id_width(r.id for r in report.results)
    lines = [header_line(report.tool_version, report.profile, report.address, style)]
    for group in ([r] for r in report.results) if verbose else grouped(report.results):
        result = group[0]
        if len(group) > 1:  # "kubernetes, kuberay-operator, raycluster skipped: no Kubernetes credentials: ..."
            lines.append(group_line(group, style))
            continue
        lines.append(result_line(result, width, style, verbose))
        if result.remedy and result.status in (Status.FAIL, Status.ERROR, Status.WARN):
            lines.append(f"   {' ' * width}  {style.arrow} {result.remedy}")
        if verbose:
            lines.extend(f"   {' ' * width}    {d}" for d in _details(result))
    verdict = verdict_line(report)
    lines.append(style.paint(verdict, "1;32" if report.ok else "1;31"))
    return "\n".join(lines) + "\n"


def running_line(running: Mapping[str, Running], now: float) -> str:
    """What still runs, longest first: ``running: fibonacci: remote tasks 3.2 s, kubernetes 0.4 s`` ('' when nothing does)."""
    if not running:
        return ""
    items: List[Running] = []
    for work in sorted(running.values(), key=lambda r: (r.since, r.label)):
        if not any(seen.label == work.label for seen in items):  # the longest-running of those a check waits for
            items.append(work)
    return "running: " + ", ".join(f"{r.label}: {r.step} {now - r.since:.1f} s" if r.step else f"{r.label} {now - r.since:.1f} s"
                                   for r in items)


_SGR = re.compile(r"\033\[[0-9;]*m")


def fit(line: str, columns: int, ellipsis: str = "…") -> str:
    """``line`` cut to ``columns`` visible characters (colour codes kept, not counted), ending in ``ellipsis`` when cut."""
    if len(_SGR.sub("", line)) <= columns:
        return line
    out, seen, i = [], 0, 0
    keep = max(0, columns - len(ellipsis))
    while i < len(line) and seen < keep:
        code = _SGR.match(line, i)
        if code:
            out.append(code.group())
            i = code.end()
            continue
        out.append(line[i])
        seen += 1
        i += 1
    tail = "\033[0m" if _SGR.search(line) else ""
    return "".join(out) + ellipsis[:columns] + tail


def render_json(report: Report) -> str:
    return json.dumps(masked(report).to_dict(), default=_jsonable, sort_keys=False) + "\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
