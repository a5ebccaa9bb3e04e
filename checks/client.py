"""The client side: the installed Ray and Python, judged against the server and the profile."""

from __future__ import annotations

from typing import Any, Dict, Optional

from preflight.environment import WATCHED, host_facts, python_facts, ray_client_protocol, ray_requirements, version_of
from preflight.model import Outcome, dig, failed, passed, reason_of, skipped, undecided, unreadable, warned
from preflight.ray_pins import (
    SERVER_PROTOCOLS,  # noqa: F401 - the table lives with the other version rules; kept importable here
    ray_requirement,
    speaks_protocol_of,
)
from preflight.ray_pins import minor as _minor
from preflight.ray_pins import same_version as _same_version
from preflight.registry import CLIENT_ROUTE, check, probe


@probe()
def client() -> Dict[str, Any]:
    """The client's Python, Ray and the packages a Ray Client session depends on."""
    ray_version = version_of("ray")
    return {
        "python": python_facts(),
        "ray": {"version": ray_version, "requirements": ray_requirements() if ray_version else [],
                "protocol": ray_client_protocol() if ray_version else None},
        "packages": {name: version_of(name) for name in WATCHED},
        "host": host_facts(),
    }


def pip_install_ray(version: Optional[str]) -> str:
    """The install line for a Ray Client of ``version`` (``ray==2.2.0``; ``ray[client]==2.6.0`` and later)."""
    return f'pip install "{ray_requirement(version)}"'


def server_ray_version(server: Optional[Dict[str, Any]], dashboard: Optional[Dict[str, Any]]) -> Optional[str]:
    if dig(server, "ray_version"):
        return str(dig(server, "ray_version"))
    if dig(dashboard, "ray_version"):
        return str(dig(dashboard, "ray_version"))
    return None


#: Where a client-side remedy goes on to name the two ways out of matching this machine to the cluster.
WAYS_OUT = "; or take a way out: "


def ways_out(dashboard: Any, server: Any = None, profile: Any = None) -> str:
    """The two ways out of a client-side mismatch, to add to a remedy when the dashboard answers (both go through it):
    ``ray-preflight fix`` builds an environment with the cluster's Python and Ray (and a Jupyter kernel), and the Ray
    Jobs route submits from any Python. "" when the dashboard did not answer."""
    if dig(dashboard, "ok") is not True:
        return ""
    python = dig(server, "python_version") or getattr(profile, "python_version", None)
    ray = server_ray_version(server, dashboard) or getattr(profile, "ray_version", None)
    if python:
        made = f"a Python {_minor(python)} environment" + (f" with Ray {ray}" if ray else " with the cluster's Ray")
    else:
        made = "an environment with the cluster's Python and " + (f"Ray {ray}" if ray else "Ray")
    return (f"{WAYS_OUT}run `ray-preflight fix` ({made} and a Jupyter kernel), or submit through the Ray Jobs API from "
            "any Python: `ray-preflight --route jobs`")


@check("ray-version", "Client Ray matches the cluster", routes=CLIENT_ROUTE)
def ray_version(client, profile, server=None, dashboard=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The installed Ray against the profile's pin and the live server's Ray version."""
    problem = unreadable(client=client)
    if problem:
        return problem
    mine = dig(client, "ray", "version")
    theirs = server_ray_version(server, dashboard)
    pin = profile.ray_version
    wanted = pin or theirs
    python = dig(client, "python", "executable")
    out = ways_out(dashboard, server, profile)
    if mine is None:
        return failed(
            f"Ray is not installed in this Python ({python})",
            pip_install_ray(wanted) + out,
            expected=wanted,
            server=theirs,
        )
    details = {"client": mine, "server": theirs, "profile": pin}
    wrong_pin = bool(pin) and not _same_version(mine, str(pin))
    wrong_server = bool(theirs) and not _same_version(mine, str(theirs))
    if wrong_pin or wrong_server:
        protocol = dig(client, "ray", "protocol")
        if speaks_protocol_of(theirs, protocol) and not (pin and not _same_version(theirs, pin)):
            return warned(
                f"client Ray is {mine}, the server runs {theirs}: Ray {mine} connects (same client protocol, {protocol}), "
                f"but Ray supports only matching versions",
                pip_install_ray(theirs),
                protocol=protocol,
                **details,
            )
    if wrong_pin:
        note = f"; the server runs {theirs}" if theirs and not _same_version(theirs, str(pin)) else ""
        return failed(
            f"client Ray is {mine}, profile {profile.name} expects {pin}{note}",
            pip_install_ray(pin) + out,
            **details,
        )
    if wrong_server:
        return failed(
            f"client Ray is {mine}, the server runs {theirs}: the Ray Client needs the same version",
            pip_install_ray(theirs) + out,
            **details,
        )
    if theirs is None and pin is None:
        return skipped(reason_of(server, "the server's Ray version is unknown (neither the GCS nor the dashboard answered)"), **details)
    if pin and theirs and not _same_version(theirs, pin):
        return warned(
            f"client Ray {mine} matches profile {profile.name}, but the server runs {theirs}",
            f"check that {profile.name} is the right profile (or use --profile auto)",
            **details,
        )
    against = " and ".join(x for x in ("the server" if theirs else "", f"profile {profile.name}" if pin else "") if x)
    return passed(f"client Ray {mine} matches {against}", **details)


def python_remedy(wanted_minor: str, ray: Optional[str]) -> str:
    return (
        f"use Python {wanted_minor} on the client, e.g. "
        f"`python{wanted_minor} -m venv ray-py{wanted_minor.replace('.', '')} && "
        f". ray-py{wanted_minor.replace('.', '')}/bin/activate && {pip_install_ray(ray)}` "
        f"(in Jupyter, pick a Python {wanted_minor} kernel)"
    )


@check("python-version", "Client Python matches the cluster", routes=CLIENT_ROUTE)
def python_version(client, profile, server=None, dashboard=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The client's Python against the server's (read from the GCS, no Ray Client session)."""
    problem = unreadable(client=client)
    if problem:
        return problem
    out = ways_out(dashboard, server, profile)
    mine = dig(client, "python", "version")
    if not mine:
        return undecided("this Python's version is unknown (the client facts do not say)")
    theirs = dig(server, "python_version")
    pin = profile.python_version
    ray_wanted = profile.ray_version or dig(server, "ray_version")
    details = {"client": mine, "server": theirs, "profile": pin}
    if theirs:
        if _minor(mine) != _minor(theirs):
            return failed(
                f"Python minor versions differ: client is {mine}, server is {theirs}",
                python_remedy(_minor(theirs), ray_wanted) + out,
                **details,
            )
        if pin and _minor(mine) != _minor(pin):
            return failed(
                f"client is {mine}, server is {theirs}, but profile {profile.name} expects Python {pin}",
                python_remedy(_minor(pin), ray_wanted) + out,
                **details,
            )
        if mine != theirs:
            return warned(
                f"Python patch versions differ: client is {mine}, server is {theirs} (pickled code may not load)",
                f"use Python {theirs} on the client if tasks fail to deserialize",
                **details,
            )
        return passed(f"client and server both run Python {mine}", **details)
    if pin:
        if _minor(mine) != _minor(pin):
            return failed(
                f"client is {mine}, profile {profile.name} expects Python {pin} (server not reached)",
                python_remedy(_minor(pin), ray_wanted) + out,
                **details,
            )
        return skipped(
            f"{reason_of(server, 'server not reached')}; client Python {mine} matches profile {profile.name}",
            **details,
        )
    if not server:
        return skipped(reason_of(server, "the server's Python version is unknown (GCS not reached)"), **details)
    return undecided("the server did not report its Python version", **details)
