"""Server package parity: the packages that (de)serialise task arguments and results, client against server.

The server's versions come from a worker, asked by the Fibonacci job once it is connected; the client's
from this Python's metadata. A difference in major or minor version (or a package the client has and
the server lacks) can make objects that cross the wire fail to load on the other side.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from preflight.checks.fib_job import PARITY
from preflight.model import Outcome, as_dict, passed, skipped, unreadable, warned
from preflight.registry import CLIENT_ROUTE, check


def _major_minor(version: object) -> str:
    return ".".join(str(version).split(".")[:2])


def differences(client: Dict[str, Optional[str]], server: Dict[str, Optional[str]]) -> List[Dict[str, Optional[str]]]:
    """The PARITY packages whose versions can break (de)serialisation between the two sides."""
    found = []
    for name in PARITY:
        mine, theirs = client.get(name), server.get(name)
        if mine is None:
            continue  # the client cannot send what it does not have
        if theirs is None:
            found.append({"package": name, "client": mine, "server": None,
                          "problem": f"{name} {mine} on the client, not installed on the server"})
        elif _major_minor(mine) != _major_minor(theirs):
            found.append({"package": name, "client": mine, "server": theirs,
                          "problem": f"{name} {mine} on the client, {theirs} on the server"})
    return found


def _fix(found: List[Dict[str, Optional[str]]]) -> str:
    pins = [f'"{d["package"]}=={d["server"]}"' for d in found if d["server"]]
    absent = [str(d["package"]) for d in found if not d["server"]]
    parts = []
    if pins:
        parts.append("match the server on the client: pip install " + " ".join(pins))
    if absent:
        parts.append(f"do not pass {', '.join(absent)} objects to tasks, or have them installed in the cluster's image")
    return "; ".join(parts)


@check("package-parity", "Server packages match the client's", routes=CLIENT_ROUTE)
def package_parity(fibonacci_run, client) -> Outcome:  # type: ignore[no-untyped-def]
    """cloudpickle, numpy, pandas and pyarrow on the server's workers against the client's."""
    problem = unreadable(fibonacci_run=fibonacci_run, client=client)
    if problem:
        return problem
    server = fibonacci_run.get("server_packages")
    if not isinstance(server, dict):
        reason = fibonacci_run.get("server_packages_error") or "the Fibonacci job did not get that far"
        return skipped(f"the server's packages are unknown ({reason})")
    mine = {name: as_dict(client.get("packages")).get(name) for name in PARITY}
    details = {"client": mine, "server": {name: server.get(name) for name in PARITY}}
    found = differences(mine, server)
    if found:
        return warned("; ".join(str(d["problem"]) for d in found) + ": objects of these types may not (de)serialise",
                      _fix(found), differences=found, **details)
    same = [f"{name} {mine[name]}" + ("" if server.get(name) == mine[name] else f" (server {server.get(name)})")
            for name in PARITY if mine[name]]
    return passed(("client and server agree: " + ", ".join(same)) if same else
                  f"none of {', '.join(PARITY)} is installed on the client", **details)
