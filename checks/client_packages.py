"""The client's packages that break a Ray Client session for the installed Ray.

Two sources: what the installed Ray declares in its own metadata (its base requirements and the
``client`` extra), and breakages it does not declare, each one seen happen (``KNOWN_BREAKAGES``, in ``preflight.ray_pins``,
which ``ray-preflight fix`` reads too).
Every finding comes with the ``pip install`` argument that fixes it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from preflight.checks.client import ways_out
from preflight.model import Outcome, as_dict, dicts, dig, failed, passed, skipped, unreadable
from preflight.ray_pins import KNOWN_BREAKAGES
from preflight.ray_pins import within as _within
from preflight.registry import CLIENT_ROUTE, check


def _quoted(requirement: str) -> str:
    return f'"{requirement}"'


def declared_findings(requirements: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    """Ray's own requirements that this Python does not meet."""
    findings = []
    for req in requirements:
        name, spec, have = req["name"], req.get("specifier") or "", req.get("installed")
        where = "ray[client]" if req.get("extra") == "client" else "ray"
        if have is None:
            findings.append({"package": name, "problem": f"{name} is missing ({where} requires {name}{spec})",
                             "fix": f"{name}{spec}"})
        elif spec and _within(have, spec) is False:
            findings.append({"package": name, "problem": f"{name} {have} is outside {spec}, the range {where} declares",
                             "fix": f"{name}{spec}"})
    return findings


def known_findings(ray: str, packages: Dict[str, Optional[str]]) -> List[Dict[str, str]]:
    """Undeclared breakages that apply to this Ray and these packages."""
    findings = []
    for rule in KNOWN_BREAKAGES:
        if _within(ray, rule.ray) is not True:
            continue
        have = packages.get(rule.package)
        if have is not None and _within(have, rule.bad):
            findings.append({"package": rule.package, "problem": f"{rule.package} {have} breaks Ray {ray}: {rule.why}",
                             "fix": rule.fix})
    return findings


@check("client-packages", "Client packages suit the installed Ray", routes=CLIENT_ROUTE)
def client_packages(client, server=None, dashboard=None, profile=None) -> Outcome:  # type: ignore[no-untyped-def]
    """Ray's declared requirements (base and ``client`` extra) and the known undeclared breakages, read from metadata."""
    problem = unreadable(client=client)
    if problem:
        return problem
    ray = dig(client, "ray", "version")
    if ray is None:
        return skipped("Ray is not installed (ray-version says what to install)")
    requirements = [r for r in dicts(dig(client, "ray", "requirements")) if r.get("name")]
    findings = declared_findings(requirements) + known_findings(ray, as_dict(client.get("packages")))
    if findings:
        fixes = list(dict.fromkeys(f["fix"] for f in findings))
        summary = "; ".join(f["problem"] for f in findings)
        return failed(summary, "pip install " + " ".join(_quoted(f) for f in fixes) + ways_out(dashboard, server, profile),
                      findings=findings, ray=ray)
    shown = ", ".join(f"{r['name']} {r.get('installed')}" for r in requirements if r["name"] in ("grpcio", "protobuf"))
    return passed(
        f"the {len(requirements)} requirements Ray {ray} declares for its client are met"
        + (f" ({shown})" if shown else "") + "; no known-bad package installed",
        ray=ray, requirements=len(requirements),
    )
