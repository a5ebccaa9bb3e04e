"""An HTML table of results, for notebooks (``Report._repr_html_``)."""

from __future__ import annotations

from html import escape

from preflight.model import Report, Status

_COLORS = {Status.PASS: "#1a7f37", Status.WARN: "#9a6700", Status.FAIL: "#cf222e", Status.SKIP: "#6e7781",
           Status.ERROR: "#8250df"}


def render_table(report: Report) -> str:
    verdict = "GO" if report.ok else "NO-GO"
    color = _COLORS[Status.PASS] if report.ok else _COLORS[Status.FAIL]
    rows = []
    for r in report.results:
        c = _COLORS[r.status]
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
