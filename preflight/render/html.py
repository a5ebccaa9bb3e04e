"""An HTML table of results, for notebooks (``Report._repr_html_``)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from preflight.redaction import masked

if TYPE_CHECKING:  # the model calls this renderer; the renderer needs the model's names only for typing
    from preflight.model import Report

_COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#6e7781", "error": "#8250df"}


def render_table(report: "Report") -> str:
    report = masked(report)
    reason = report.verdict_reason()
    verdict = "GO" if reason is None else f"NO-GO ({escape(reason)})" if not any(not r.ok for r in report.results) else "NO-GO"
    color = _COLORS["pass"] if reason is None else _COLORS["fail"]
    rows = []
    for r in report.results:
        c = _COLORS[r.status.value]
        remedy = f"<code>{escape(r.remedy)}</code>" if r.remedy else ""
        rows.append(
            f"<tr><td><span style='color:#fff;background:{c};padding:1px 6px;border-radius:3px'>"
            f"{escape(r.status.value)}</span></td><td><code>{escape(r.id)}</code></td>"
            f"<td style='text-align:left'>{escape(r.summary)}</td><td style='text-align:left'>{remedy}</td></tr>"
        )
    return (
        f"<div class='ray-preflight'><p><b style='color:{color}'>{verdict}</b> &middot; "
        f"profile <code>{escape(report.profile)}</code> &middot; <code>{escape(report.address)}</code> &middot; "
        f"{report.duration_s:.1f} s</p>"
        "<table><thead><tr><th>status</th><th>check</th><th>summary</th><th>remedy</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
