"""HTML for notebooks: the report as a table (``Report._repr_html_``), one result as a one-row table
(``Result._repr_html_``), and the table that fills in while a run goes on (``preflight.check()`` in Jupyter)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence

from preflight.redaction import masked

if TYPE_CHECKING:  # the model calls this renderer; the renderer needs the model's names only for typing
    from preflight.model import Report, Result, Running

_COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#6e7781", "error": "#8250df"}
#: A check still without its verdict, in the table that fills in.
_PENDING = "#afb8c1"
_HEAD = "<table><thead><tr><th>status</th><th>check</th><th>summary</th><th>remedy</th></tr></thead>"


def _badge(text: str, color: str) -> str:
    return f"<span style='color:#fff;background:{color};padding:1px 6px;border-radius:3px'>{escape(text)}</span>"


def _row(r: "Result") -> str:
    remedy = f"<code>{escape(r.remedy)}</code>" if r.remedy else ""
    return (f"<tr><td>{_badge(r.status.value, _COLORS[r.status.value])}</td><td><code>{escape(r.id)}</code></td>"
            f"<td style='text-align:left'>{escape(r.summary)}</td><td style='text-align:left'>{remedy}</td></tr>")


def _pending_row(check_id: str, what: str) -> str:
    return (f"<tr><td>{_badge('…', _PENDING)}</td><td><code>{escape(check_id)}</code></td>"
            f"<td style='text-align:left;color:#6e7781'>{escape(what)}</td><td></td></tr>")


def render_table(report: "Report") -> str:
    report = masked(report)
    reason = report.verdict_reason()
    verdict = "GO" if reason is None else f"NO-GO ({escape(reason)})" if not any(not r.ok for r in report.results) else "NO-GO"
    color = _COLORS["pass"] if reason is None else _COLORS["fail"]
    return (
        f"<div class='ray-preflight'><p><b style='color:{color}'>{verdict}</b> &middot; "
        f"profile <code>{escape(report.profile)}</code> &middot; <code>{escape(report.address)}</code> &middot; "
        f"{report.duration_s:.1f} s</p>"
        f"{_HEAD}<tbody>{''.join(_row(r) for r in report.results)}</tbody></table></div>"
    )


def render_result(result: "Result") -> str:
    """One result as the report's table shows it: a table of one row, under the same head."""
    return f"<div class='ray-preflight'>{_HEAD}<tbody>{_row(result)}</tbody></table></div>"


def render_live(profile: str, address: str, order: Sequence[str], done: Mapping[str, "Result"], running: Mapping[str, "Running"],
                now: float, elapsed: float, status_line: str) -> str:
    """The table while the run goes on: every selected check in display order, those with a verdict as in the report,
    the others as still waiting (or running, with the step their work says it is at); ``status_line`` under it.
    ``done`` holds results already masked."""
    by_label: Dict[str, "Running"] = {r.label: r for r in running.values()}
    rows: List[str] = []
    for cid in order:
        if cid in done:
            rows.append(_row(done[cid]))
            continue
        work: Optional["Running"] = by_label.get(cid)
        what = "waiting"
        if work is not None:
            what = f"running: {work.step + ' ' if work.step else ''}{now - work.since:.1f} s"
        rows.append(_pending_row(cid, what))
    count = f"{len(done)} of {len(order)} checks done" if order else "starting"
    return (
        f"<div class='ray-preflight'><p><b style='color:{_PENDING}'>running</b> &middot; {count} &middot; "
        f"profile <code>{escape(profile)}</code> &middot; <code>{escape(address)}</code> &middot; {elapsed:.1f} s</p>"
        f"{_HEAD}<tbody>{''.join(rows)}</tbody></table>"
        f"<p style='color:#6e7781'>{escape(status_line)}</p></div>"
    )
