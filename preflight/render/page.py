"""``index.html`` of a support bundle: one self-contained page (inline style, no script, nothing fetched) that a
person opens from the extracted folder. It is built from the already-redacted files."""

from __future__ import annotations

from html import escape
from typing import Any, Dict, List, Optional

from preflight.model import as_dict, dicts, dig, formatted

_COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#6e7781", "error": "#8250df"}
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1f2328}
h1{font-size:1.5em;margin:.2em 0} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:1px 3px}
.status{color:#fff;padding:1px 7px;border-radius:3px;font-weight:600} .verdict{font-size:1.4em;font-weight:700}
.muted{color:#57606a} dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px} dt{font-weight:600}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _status(status: str) -> str:
    return f"<span class='status' style='background:{_COLORS.get(status, '#57606a')}'>{_e(status)}</span>"


def _verdict(summary: Dict[str, Any], report: Dict[str, Any]) -> str:
    if summary.get("usage_error"):
        return (f"<p id='verdict' class='verdict' style='color:{_COLORS['fail']}'>NO-GO: the input is unusable</p>"
                f"<p><code>{_e(summary['usage_error'])}</code></p>")
    ok = bool(report.get("ok"))
    counts: Dict[str, int] = {}
    for result in dicts(report.get("results")):
        counts[str(result.get("status"))] = counts.get(str(result.get("status")), 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (f"<p id='verdict' class='verdict' style='color:{_COLORS['pass' if ok else 'fail']}'>"
            f"{'GO' if ok else 'NO-GO'}</p><p class='muted'>{_e(shown)} · {formatted(report.get('duration_s'), '.1f')} s</p>")


def _checks(report: Dict[str, Any]) -> str:
    rows = []
    for r in dicts(report.get("results")):
        remedy = f"<code>{_e(r.get('remedy'))}</code>" if r.get("remedy") else ""
        rows.append(f"<tr data-check='{_e(r.get('id'))}' data-status='{_e(r.get('status'))}'><td>{_status(str(r.get('status')))}</td>"
                    f"<td><code>{_e(r.get('id'))}</code><br><span class='muted'>{_e(r.get('title'))}</span></td>"
                    f"<td>{_e(r.get('summary'))}</td><td>{remedy}</td></tr>")
    if not rows:
        return "<p>No checks ran.</p>"
    return ("<table id='checks'><thead><tr><th>status</th><th>check</th><th>summary</th><th>remedy</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _key_facts(report: Dict[str, Any], environment: Dict[str, Any]) -> str:
    facts = as_dict(report.get("facts"))
    target = as_dict(report.get("target"))
    kube = as_dict(dig(environment, "kubernetes", "used"))
    rows: List[tuple] = [
        ("address", target.get("address")), ("dashboard", target.get("dashboard_url")), ("profile", report.get("profile")),
        ("client Python", dig(facts, "client", "python", "version") or dig(environment, "python", "version")),
        ("client Ray", dig(facts, "client", "ray", "version") or dig(environment, "versions", "ray")),
        ("server Python", dig(facts, "server", "python_version")), ("server Ray", dig(facts, "server", "ray_version")),
        ("dashboard Ray", dig(facts, "dashboard", "ray_version")),
        ("Kubernetes", kube.get("source") or kube.get("broken") or kube.get("unavailable")),
        ("namespace", kube.get("namespace")), ("RayCluster", dig(facts, "kuberay", "cluster")),
        ("OS", dig(environment, "os", "platform")), ("Python executable", dig(environment, "python", "executable")),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd><code>{_e(v)}</code></dd>" for k, v in rows if v not in (None, ""))
    return f"<dl id='facts'>{items}</dl>"


def _cluster(collected: List[Dict[str, Any]]) -> str:
    rows = []
    for piece in collected:
        name = str(piece.get("piece"))
        if piece.get("collected"):
            rows.append(f"<tr data-piece='{_e(name)}'><td><a href='{_e(name)}'>{_e(name)}</a></td><td>collected</td><td></td></tr>")
        else:
            rows.append(f"<tr data-piece='{_e(name)}'><td>{_e(name)}</td><td>not collected</td><td>{_e(piece.get('reason'))}</td></tr>")
    return ("<table id='cluster'><thead><tr><th>piece</th><th></th><th>why not</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _files(sizes: Dict[str, int]) -> str:
    items = "".join(f"<li><a href='{_e(n)}'>{_e(n)}</a> <span class='muted'>({s:,} bytes)</span></li>" for n, s in sorted(sizes.items()))
    return f"<ul id='files'><li><a href='index.html'>index.html</a> <span class='muted'>(this page)</span></li>{items}</ul>"


def _redactions(summary: Dict[str, Any]) -> str:
    rules = "".join(f"<li>{_e(rule)}: {n}</li>" for rule, n in sorted(as_dict(summary.get("by_rule")).items()))
    return (f"<p id='redactions'>{int(summary.get('count') or 0)} values were replaced with <code>{_e(summary.get('mask'))}</code> "
            f"(where and by which rule: <a href='redactions.json'>redactions.json</a>).</p><ul>{rules}</ul>")


def render_page(files: Dict[str, Any], sizes: Dict[str, int], redactions: Dict[str, Any]) -> str:
    summary = as_dict(files.get("report.json"))
    report = as_dict(summary.get("report"))
    environment = as_dict(files.get("environment.json"))
    collected = dicts(files.get("cluster/collected.json"))
    target: Optional[str] = as_dict(report.get("target")).get("address")
    title = f"ray-preflight report{': ' + target if target else ''}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f"<p class='muted'>ray-preflight {_e(dig(summary, 'tool', 'version'))} · created {_e(summary.get('created'))} · "
        f"<code>{_e(summary.get('command_line'))}</code></p>"
        f"{_verdict(summary, report)}"
        f"<h2>Checks</h2>{_checks(report)}"
        f"<h2>Key facts</h2>{_key_facts(report, environment)}"
        f"<h2>Cluster</h2>{_cluster(collected)}"
        f"<h2>Redactions</h2>{_redactions(redactions)}"
        f"<h2>Files</h2>{_files(sizes)}"
        "</body></html>\n"
    )
