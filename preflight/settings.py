"""Defaults a team shares: ``[tool.ray-preflight]`` in ``pyproject.toml``, or a ``ray-preflight.toml``.

The nearest file from the working directory upwards is used (in one folder, ``ray-preflight.toml`` wins).
Command-line flags win over environment variables, which win over the file. An unknown key or a value of
the wrong type is a usage error naming the file and the key. A relative ``ca-bundle`` in the file is read
from the file's folder. ``ca-bundle`` and ``insecure`` are one choice (how to verify the dashboard's
certificate): one given at a higher level replaces the other from a lower level. ``dashboard-header`` adds up: the
file's headers, then those given as flags or keywords (a name given again replaces the file's). A wrong type under a
key that may hold a secret (``dashboard-header``, ``dashboard-url``, ``address``) is named without the value.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from preflight.errors import UsageError

#: key in the file → (keyword of config.build, environment variable or None, accepted types)
KEYS: Dict[str, Tuple[str, Optional[str], Tuple[type, ...]]] = {
    "address": ("address", None, (str,)),  # RAY_ADDRESS is read where the address is resolved
    "profile": ("profile", "RAY_PREFLIGHT_PROFILE", (str,)),
    "domain": ("domain", "RAY_PREFLIGHT_DOMAIN", (str,)),
    "dashboard-url": ("dashboard_url", None, (str,)),
    "gcs-address": ("gcs_address", None, (str,)),
    "namespace": ("namespace", "RAY_PREFLIGHT_NAMESPACE", (str,)),
    "ignore": ("ignore", "RAY_PREFLIGHT_IGNORE", (str, list)),
    "timeout": ("timeout", "RAY_PREFLIGHT_TIMEOUT", (int, float)),
    "connect-timeout": ("connect_timeout", None, (int, float)),
    "strict": ("strict", None, (bool,)),
    "ca-bundle": ("ca_bundle", "RAY_PREFLIGHT_CA_BUNDLE", (str,)),
    "insecure": ("insecure", None, (bool,)),
    "dashboard-header": ("dashboard_headers", None, (str, list)),
    "route": ("route", "RAY_PREFLIGHT_ROUTE", (str,)),
}
#: Keys whose value may hold a secret (credentials in a URL, a header's value): never repeated in an error.
_SECRET_KEYS = ("dashboard-header", "dashboard-url", "address")

#: Keywords that choose the same thing (how the dashboard's certificate is verified): a higher level's choice
#: replaces the other keyword from a lower level, so ``--ca-bundle`` overrides ``insecure = true`` in the file.
_ONE_CHOICE = (("ca_bundle", "insecure"), ("insecure", "ca_bundle"))


def _override(lower: Dict[str, Any], higher: Mapping[str, Any]) -> None:
    for chosen, other in _ONE_CHOICE:
        if higher.get(chosen) not in (None, False):
            lower.pop(other, None)


def _toml(path: Path) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.8 to 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data: Dict[str, Any] = tomllib.load(handle)
            return data
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def find(start: Optional[Path] = None) -> Optional[Tuple[Path, Dict[str, Any]]]:
    """The nearest settings file and its ``ray-preflight`` table, or None."""
    folder = (start or Path.cwd()).resolve()
    for here in (folder, *folder.parents):
        own = here / "ray-preflight.toml"
        if own.is_file():
            return own, _toml(own)
        project = here / "pyproject.toml"
        if project.is_file():
            table = (_toml(project).get("tool") or {}).get("ray-preflight")
            if table is not None:
                if not isinstance(table, dict):
                    raise UsageError(f"{project}: [tool.ray-preflight] must be a table")
                return project, table
    return None


def _check(path: Path, key: str, value: Any) -> Any:
    where = f"{path}: {'[tool.ray-preflight] ' if path.name == 'pyproject.toml' else ''}{key}"
    if key not in KEYS:
        raise UsageError(f"{where}: unknown key (known: {', '.join(KEYS)})")
    types = KEYS[key][2]
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        names = {str: "a string", list: "a list of check ids", int: "a number", float: "a number", bool: "true or false"}
        if key == "dashboard-header":
            names = {str: "a 'Name: value' string", list: "a list of them"}
        wanted = " or ".join(dict.fromkeys(names[t] for t in types))
        raise UsageError(f"{where}: must be {wanted}, not {type(value).__name__ if key in _SECRET_KEYS else repr(value)}")
    if key == "ignore" and isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: must be a list of check ids")
    if key == "dashboard-header" and isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: must be a list of 'Name: value' strings")
    return value


def defaults(environ: Mapping[str, str], start: Optional[Path] = None) -> Dict[str, Any]:
    """``config.build`` keywords from the environment, over the settings file (flags are applied by the caller)."""
    found = find(start)
    values: Dict[str, Any] = {}
    if found:
        path, table = found
        for key, value in table.items():
            values[KEYS[key][0] if key in KEYS else key] = _check(path, key, value)
        if values.get("ca_bundle"):  # relative to the file that names it, not to where the tool runs
            values["ca_bundle"] = os.path.join(path.parent, os.path.expanduser(values["ca_bundle"]))
        values["_source"] = str(path)
    if environ.get("RAY_ADDRESS"):
        values.pop("address", None)  # the environment wins over the file
    from_env = {keyword: environ[variable] for keyword, variable, _ in KEYS.values() if variable and environ.get(variable)}
    _override(values, from_env)
    values.update(from_env)
    return values


def merge(given: Dict[str, Any], environ: Optional[Mapping[str, str]] = None, start: Optional[Path] = None) -> Dict[str, Any]:
    """``given`` (None = not given) over the environment over the file."""
    base = defaults(os.environ if environ is None else environ, start)
    base.pop("_source", None)
    _override(base, given)
    merged = dict(base)
    merged.update({k: v for k, v in given.items() if v is not None and v is not False})
    for key in given:
        merged.setdefault(key, given[key])
    if base.get("dashboard_headers") and given.get("dashboard_headers"):  # the file's, then the flags' (which win by name)
        merged["dashboard_headers"] = _listed(base["dashboard_headers"]) + _listed(given["dashboard_headers"])
    return merged


def _listed(headers: Any) -> List[Any]:
    """Headers as a list: 'Name: value' strings, or (name, value) pairs from a dict (config.build validates them)."""
    if isinstance(headers, str):
        return [headers]
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers) if isinstance(headers, (list, tuple)) else [headers]
