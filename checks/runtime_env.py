"""``runtime-env``: the runtime_env a submission carries (``--runtime-env FILE``, a notebook's dict, or the literal
``runtime_env=`` of the script's ``ray.init``) judged before it is sent: its shape, its ``working_dir`` walked the way
the packing Ray walks it (excludes, .gitignore, .rayignore where that Ray reads one) and sized against that Ray's upload
limit, the script's own modules that packing would drop, and pip entries that would break the cluster's Ray.

The packing happens on this machine, in the Ray that uploads (``ray.init`` through the Ray Client, or ``ray job
submit``): its version and its ``packaging.py`` decide, read without importing Ray; the cluster's Ray and Python decide
the pip conflicts.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from preflight.checks.client import server_ray_version
from preflight.checks.script import where
from preflight.model import Outcome, as_list, dicts, dig, failed, passed, skipped, unreadable, warned
from preflight.registry import check, probe

#: Seconds the walk of one working_dir may take at most.
_WALK_S = 10.0


def _sources(config: Any, script: Any) -> List[Dict[str, Any]]:
    """Each runtime_env to judge: (where it came from, the env or why it cannot be read, the folder paths are relative to)."""
    found: List[Dict[str, Any]] = []
    if getattr(config, "runtime_env", None) is not None:
        found.append({"source": config.runtime_env_source, "env": config.runtime_env, "base": os.getcwd()})
    if isinstance(script, dict) and not script.get("error"):
        name = os.path.basename(str(script.get("path")))
        for init in dicts(script.get("inits")):
            label = f"{name} ray.init ({where(init)})"
            if init.get("runtime_env_literal") is False:
                found.append({"source": label, "not_literal": init.get("runtime_env_text") or "?"})
            elif isinstance(init.get("runtime_env"), dict):
                found.append({"source": label, "env": init["runtime_env"], "base": os.path.dirname(str(script.get("path")))})
    return found


def _judge_one(entry: Dict[str, Any], server_ray: Optional[str], server_python: Optional[str], ctx: Any,
               local_files: Dict[str, Any]) -> Dict[str, Any]:
    from preflight import runtime_env_judge as judge

    env, base = entry["env"], entry["base"]
    out: Dict[str, Any] = {"source": entry["source"], "problems": judge.validate_runtime_env(env, server_ray, base)}
    out["pip_conflicts"] = judge.pip_conflicts(judge.pip_entries_of(env, base), server_ray, server_python) if server_ray else []
    working_dir = env.get("working_dir") if isinstance(env, dict) else None
    if not isinstance(working_dir, str) or "://" in working_dir:
        return out
    folder = os.path.join(base, os.path.expanduser(working_dir))
    if not os.path.isdir(folder):
        return out  # validate_runtime_env said why
    installed = judge.installed_ray_version()
    packer = installed or server_ray or ""
    packaging = judge.packaging_file_of_installed_ray()
    excludes = [str(e) for e in env.get("excludes") or [] if isinstance(e, str)]
    budget = max(0.5, min(_WALK_S, ctx.remaining() - 1.0))
    walk = judge.walk_working_dir(folder, excludes, packer, budget, environ=ctx.config.environ, packaging_file=packaging)
    limit = judge.upload_limit(ctx.config.environ, packer, packaging)
    estimate = judge.estimate_zip_bytes(folder, walk, compression=limit.get("compression") or "stored",
                                        compresslevel=limit.get("compresslevel"), deadline_s=max(0.5, min(5.0, ctx.remaining() - 1.0)))
    out["upload"] = judge.judge_upload(walk, limit, estimate)
    out["packed_by"] = f"Ray {packer}" + (" (installed here)" if installed else " (the cluster's; none here)")
    dropped = []
    for module, paths in local_files.items():
        rels = [os.path.relpath(p, folder) for p in paths]
        outside = [r for r in rels if r.startswith("..")]
        inside = [r for r in rels if not r.startswith("..")]
        if inside and all(judge.is_included(walk, r) is False for r in inside):
            rule = next((e.get("rule") for e in dicts(dig(walk, "excluded", "sample")) if e.get("path") in inside), None)
            dropped.append({"module": module, "path": inside[0], "rule": rule})
        elif outside and not inside:
            dropped.append({"module": module, "path": rels[0], "rule": "outside the working_dir"})
    out["dropped_modules"] = dropped
    out["walk"] = {k: walk.get(k) for k in ("files", "bytes", "largest", "excluded", "truncated", "elapsed_s", "reads", "matcher")}
    return out


@probe()
def runtime_envs(config, ctx, script=None, server=None, dashboard=None) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Each runtime_env of the submission, checked for shape, packing, size and pip conflicts (files are stat-ed, not read)."""
    server_ray = server_ray_version(server if isinstance(server, dict) else None, dashboard if isinstance(dashboard, dict) else None)
    server_python = dig(server, "python_version") if isinstance(server, dict) else None
    script_folder = os.path.dirname(str(script.get("path"))) if isinstance(script, dict) else ""
    local_files = {m: [os.path.join(script_folder, p) for p in paths]
                   for m, paths in ((script or {}).get("local_files") or {}).items()} if isinstance(script, dict) else {}
    if isinstance(script, dict) and config.route != "jobs" and "remote_imports" in script:
        # through the Ray Client the script runs here: only what its tasks import must reach the workers
        local_files = {m: p for m, p in local_files.items() if m in (script.get("remote_imports") or [])}
    judged = []
    for entry in _sources(config, script):
        if "env" not in entry:
            judged.append({"source": entry["source"], "not_literal": entry["not_literal"]})
            continue
        judged.append(_judge_one(entry, server_ray, server_python, ctx, local_files))
    return {"server_ray": server_ray, "server_python": server_python, "judged": judged,
            "script_error": script.get("error") if isinstance(script, dict) else None}


@check("runtime-env", "The runtime_env can be sent and works on the cluster", opt_in=True)
def runtime_env(runtime_envs) -> Outcome:  # type: ignore[no-untyped-def]
    """Shape, working_dir size against the upload limit, modules packing would drop, pip entries that break the cluster's Ray."""
    problem = unreadable(runtime_envs=runtime_envs)
    if problem:
        return problem
    if runtime_envs.get("script_error"):
        return skipped("the script cannot be read (see script-modules)")
    judged = dicts(runtime_envs.get("judged"))
    if not judged:
        return passed("no runtime_env: nothing is uploaded with the job")
    fails: List[str] = []
    warns: List[str] = []
    remedies: List[str] = []
    fine: List[str] = []
    for item in judged:
        label = item.get("source")
        if item.get("not_literal"):
            warns.append(f"{label}: runtime_env={item['not_literal']} is computed at run time, not judged")
            continue
        problems = [str(p) for p in as_list(item.get("problems"))]
        fails += [f"{label}: {p}" for p in problems if "ignores it with a warning" not in p]
        warns += [f"{label}: {p}" for p in problems if "ignores it with a warning" in p]
        for conflict in dicts(item.get("pip_conflicts")):
            fails.append(f"{label}: pip {conflict.get('entry')}: {conflict.get('why')}")
            remedies.append(str(conflict.get("fix")))
        for drop in dicts(item.get("dropped_modules")):
            rule = drop.get("rule") or "an exclude rule"
            fails.append(f"{label}: the script imports {drop.get('module')}, and packing drops {drop.get('path')} ({rule}): "
                         "ModuleNotFoundError on a worker")
            remedies.append(f"take {drop.get('path')} out of that rule, or ship it with py_modules")
        upload = item.get("upload")
        if isinstance(upload, dict):
            verdict = upload.get("verdict")
            text = f"{label}: {upload.get('message')} (packed by {item.get('packed_by')})"
            if verdict == "too-big":
                fails.append(text)
                remedies.append(str(upload.get("remedy") or ""))
            elif verdict in ("near", "unknown"):
                warns.append(text)
                remedies.append(str(upload.get("remedy") or ""))
            else:
                fine.append(text)
            fails += [f"{label}: {p}" for p in as_list(upload.get("problems"))]
        if not any(str(s).startswith(f"{label}:") for s in fails + warns) and not isinstance(upload, dict):
            fine.append(f"{label}: well-formed" + (f", nothing conflicts with Ray {runtime_envs.get('server_ray')}"
                                                   if runtime_envs.get("server_ray") else ""))
    remedy = "; ".join(r for r in dict.fromkeys(remedies) if r) or None
    if fails:
        return failed("; ".join(fails), remedy, judged=judged)
    if warns:
        return warned("; ".join(warns), remedy, judged=judged)
    return passed("; ".join(fine), judged=judged)
