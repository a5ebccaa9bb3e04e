"""An example ray-preflight plugin: a probe and a check that join the built-in ones.

Importing this module (ray-preflight does, through the ``ray_preflight.checks`` entry point) registers
them. The probe gathers facts (all I/O lives in probes); the check is a pure function of facts, named
by parameter: ``site_policy`` is this plugin's probe, ``server`` is the built-in GCS probe's facts.
"""

import os

from preflight.model import failed, passed, skipped
from preflight.registry import check, probe


@probe()
def site_policy():
    """The Ray releases this site allows (here from SITE_ALLOWED_RAY, comma-separated)."""
    allowed = os.environ.get("SITE_ALLOWED_RAY", "2.2.0")
    return {"allowed": [v.strip() for v in allowed.split(",") if v.strip()]}


@check("site-ray-release", "The cluster runs a Ray release this site allows")
def site_ray_release(site_policy, server=None):
    """The server's Ray (read from the GCS) is on the site's list."""
    if not server:
        return skipped("the server's Ray version is unknown")
    version = server["ray_version"]
    if version in site_policy["allowed"]:
        return passed(f"Ray {version} is allowed here")
    return failed(f"Ray {version} is not allowed here (allowed: {', '.join(site_policy['allowed'])})",
                  "ask the platform team which cluster to use")
