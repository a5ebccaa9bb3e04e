"""What a Ray Client of a given Ray release needs from pip: the requirement that installs it, and the pins that keep
packages its metadata does not forbid from breaking it. Data, shared by the ``client-packages`` check and ``fix``.
Also the rules by which a client's Ray and Python can use a server's, shared by the ``ray-version`` and
``python-version`` checks and ``clusters``.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version


class Breakage(NamedTuple):
    """``package`` at ``bad`` versions breaks Ray at ``ray`` versions; ``fix`` is the pip requirement that avoids it."""

    package: str
    bad: str
    ray: str
    fix: str
    why: str


#: Breakages that Ray's metadata does not declare, each reproduced against a Ray 2.2.0 server. (Ray 2.1 also
#: imports ``six`` without declaring it, but this tool's own dependencies bring six, so it never shows.)
KNOWN_BREAKAGES = (
    Breakage("pydantic", ">=2", "<2.5", "pydantic<2",
             "Ray before 2.5 uses pydantic 1's API: ray.init fails with "
             "\"module 'pydantic.fields' has no attribute 'ModelField'\""),
)

#: The first Ray with a ``client`` extra (it holds grpcio). Older releases, 2.2.0 among them, declare no such extra
#: (their wheels' metadata lists none) and put grpcio in the base requirements: ``ray==2.2.0`` is the whole client.
CLIENT_EXTRA_SINCE = "2.6.0"


def within(version: str, specifier: str) -> Optional[bool]:
    """Whether ``version`` satisfies ``specifier``; None when either cannot be parsed."""
    try:
        return SpecifierSet(str(specifier)).contains(Version(str(version)), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def ray_requirement(version: Optional[str]) -> str:
    """The pip requirement of a Ray Client of ``version``: ``ray==2.2.0``; ``ray[client]==2.6.0`` and later."""
    if not version:
        return "ray[client]"
    try:
        extra = "[client]" if Version(str(version)) >= Version(CLIENT_EXTRA_SINCE) else ""
    except InvalidVersion:
        extra = "[client]"
    return f"ray{extra}=={version}"


def known_good_pins(ray_version: str) -> List[str]:
    """The pins a Ray Client of ``ray_version`` needs beside its own requirements (``["pydantic<2"]`` below 2.5)."""
    return list(dict.fromkeys(rule.fix for rule in KNOWN_BREAKAGES if within(ray_version, rule.ray) is True))


#: The Ray Client protocol date of server releases, read from their wheels. A client Ray of the 2.x line that
#: checks a protocol date (not the Ray version) connects to a server with the same date.
SERVER_PROTOCOLS = {"2.1.0": "2022-10-05", "2.2.0": "2022-10-05"}


def same_version(a: Any, b: Any) -> bool:
    """Whether two versions are the same release (``2.2`` is ``2.2.0``); compared as text when either is not a version."""
    try:
        return Version(str(a)) == Version(str(b))
    except InvalidVersion:
        return str(a).strip() == str(b).strip()


def minor(version: Any) -> str:
    """``3.8.13`` → ``3.8``: what the Ray Client compares of two Pythons."""
    return ".".join(str(version).split(".")[:2])


def speaks_protocol_of(server_ray: Optional[str], client_protocol: Optional[str]) -> bool:
    """Whether a client whose Ray speaks ``client_protocol`` connects to a server of Ray ``server_ray`` although the two
    Rays differ (Ray 2.1.0's client and a 2.2.0 server share the protocol date 2022-10-05)."""
    return bool(server_ray and client_protocol and SERVER_PROTOCOLS.get(server_ray) == client_protocol)
