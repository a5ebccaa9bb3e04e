"""The user's own script or notebook (``--script``), read with ``ast`` and never run, judged against the cluster:
the modules its tasks import (a worker answers, in the question the Fibonacci job already asks), the resources its
tasks and actors ask for, and the libraries it uses over the Ray Client. Its runtime_env is ``runtime_env``'s.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from preflight.checks.cluster_resources import count_of, kube_view, largest_node, obtainable, ray_view
from preflight.errors import Unavailable
from preflight.model import (
    Outcome,
    as_dict,
    as_list,
    dicts,
    dig,
    failed,
    formatted,
    number,
    passed,
    reason_of,
    said,
    skipped,
    undecided,
    unreadable,
    warned,
)
from preflight.registry import check, probe
from preflight.target import RAY_CLIENT


@probe()
def script(config) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """The script's imports, resource requests, ray.init calls and libraries, read statically."""
    if not config.script:
        raise Unavailable("no --script given")
    from preflight.runtime_env_judge import without_secrets
    from preflight.script_reading import read_script

    facts = read_script(config.script)
    facts["client_modules"] = {m: here(m) for m in as_list(facts.get("third_party")) if isinstance(m, str) and m != "ray"}
    for init in dicts(facts.get("inits")):  # env_vars values hold API keys: the judge needs their names and types only
        if isinstance(init.get("runtime_env"), dict):
            init["runtime_env"] = without_secrets(init["runtime_env"])
    return facts


def script_problem(script: Any) -> Optional[Outcome]:
    """The outcome when the script cannot be judged: not read (skip), or not Python that runs (fail: so would the real run)."""
    problem = unreadable(script=script)
    if problem:
        return problem
    error = script.get("error")
    if error:
        return failed(f"{os.path.basename(str(script.get('path')))} cannot run as it is: {error}",
                      "fix it and run the preflight again", path=script.get("path"))
    return None


def texts(value: Any) -> List[str]:
    """The strings in a list from the facts (anything else in it left out)."""
    return [item for item in as_list(value) if isinstance(item, str)]


def where(entry: Dict[str, Any]) -> str:
    """``line 12`` or ``cell 3, line 2``."""
    cell = entry.get("cell")
    return f"cell {cell}, line {entry.get('line')}" if cell else f"line {entry.get('line')}"


def first_use(script: Dict[str, Any], module: str) -> str:
    uses = [i for i in dicts(script.get("imports")) if i.get("module") == module]
    return where(uses[0]) if uses else "?"


def here(module: str) -> Dict[str, Any]:
    """How this machine provides ``module``: its distribution and version, else whether it imports at all (a folder on
    PYTHONPATH). Read by the ``script`` probe, so that the check judges facts only."""
    from importlib.util import find_spec

    from preflight.script_reading import distribution_for

    dist = distribution_for(module)
    if dist:
        return {"distribution": dist[0], "version": dist[1]}
    try:
        return {"importable": find_spec(module) is not None}
    except (ImportError, ValueError):
        return {"importable": False}


def pins(modules: List[str], client: Dict[str, Any]) -> Tuple[List[str], List[str], List[str]]:
    """(``dist==version`` for the modules installed here as distributions, the modules importable here without one (a
    folder on PYTHONPATH), the modules not importable here either), from the script facts' ``client_modules``."""
    found: List[str] = []
    loose: List[str] = []
    absent: List[str] = []
    for module in modules:
        known = as_dict(client.get(module))
        if known.get("distribution"):
            found.append(f"{known['distribution']}=={known.get('version')}")
        else:
            (loose if known.get("importable") else absent).append(module)
    return sorted(set(found)), loose, absent


# -- script-modules ----------------------------------------------------------------------------------------------


def _ships_code(script: Dict[str, Any], config: Any) -> bool:
    """Does a runtime_env ship the script's folder to the workers (a working_dir or py_modules)?"""
    envs = [i.get("runtime_env") for i in dicts(script.get("inits"))] + [getattr(config, "runtime_env", None)]
    return any(isinstance(e, dict) and (e.get("working_dir") or e.get("py_modules")) for e in envs)


@check("script-modules", "The cluster can import what your script imports", opt_in=True)
def script_modules(script, config, fibonacci_run=None, job_fibonacci_run=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The script's third-party imports, asked of a worker; its own modules, shipped (working_dir) or not."""
    problem = script_problem(script)
    if problem:
        return problem
    name = os.path.basename(str(script.get("path")))
    wanted = [m for m in texts(script.get("third_party")) if m != "ray"]
    local = texts(script.get("local"))
    in_tasks = set(texts(script.get("remote_imports"))) if "remote_imports" in script else None
    details: Dict[str, Any] = {"third_party": wanted, "local": local}
    lines: List[str] = []
    if local and not _ships_code(script, config):
        used = sorted(set(local) & in_tasks) if in_tasks is not None else local
        if used:
            return failed(f"{name}'s tasks use its own module(s) {', '.join(used)} ({first_use(script, used[0])}), and nothing ships "
                          "them to the cluster: ModuleNotFoundError on a worker",
                          'ship the script\'s folder: ray.init(..., runtime_env={"working_dir": "."}) '
                          '(or "py_modules": [...]); see runtime-env for what would be uploaded', **details)
    if not wanted:
        return passed(f"{name} imports only the standard library, Ray" + (f" and its own modules ({', '.join(local)})" if local else ""),
                      **details)
    run = fibonacci_run if config.route != "jobs" else job_fibonacci_run
    answers = dig(run, "server_modules") if config.route != "jobs" else dig(run, "result", "server_modules")
    if not isinstance(answers, dict):
        why = reason_of(run, "") or said(dig(run, "server_packages_error"), "") or "the job did not get that far"
        return skipped(f"needs a worker's answer, which the Fibonacci job asks: {why}", **details)
    missing = sorted(m for m in wanted if answers.get(m) is False)
    unknown = sorted(m for m in wanted if m not in answers)
    details.update(worker_modules=answers, missing=missing)
    if unknown:
        return undecided(f"the worker did not answer for {', '.join(unknown)}", **details)
    if not missing:
        return passed(f"a worker can import all {len(wanted)} module(s) {name} imports ({', '.join(wanted)})", **details)
    found, loose, absent = pins(missing, as_dict(script.get("client_modules")))
    fixes = [f'ray.init(..., runtime_env={{"pip": {found!r}}})'] if found else []
    if loose:
        fixes.append(f"{', '.join(loose)} is not a pip package here: ship it with runtime_env={{\"py_modules\": [{', '.join(loose)}]}} "
                     "(the imported module objects)")
    if absent:
        fixes.append(f"{', '.join(absent)} cannot be imported here either: install it and pin its version")
    fix = "; ".join(fixes)
    fix += "; or ask the platform team for an image that has them"
    needed_remotely = missing if in_tasks is None or config.route == "jobs" else sorted(set(missing) & in_tasks)
    listed = ", ".join(f"{m} ({first_use(script, m)})" for m in missing)
    if needed_remotely:
        lines.append(f"the cluster's workers cannot import {listed}: its tasks would fail with ModuleNotFoundError")
        return failed(lines[0], fix, **details)
    return warned(f"the cluster's workers cannot import {listed}; only this machine's code uses them now, so tasks run, "
                  "but a task that comes to use them fails with ModuleNotFoundError", fix, **details)


# -- script-resources --------------------------------------------------------------------------------------------


def _asks(request: Dict[str, Any]) -> Dict[str, float]:
    """What a ``@ray.remote``/``.options`` asks for, in the cluster status's names (Ray's default of 1 CPU for a task
    applies to a bare ``@ray.remote`` on a function; an actor needs 0 CPUs to live)."""
    asks: Dict[str, float] = {}
    for key, name in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
        value = request.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            asks[name] = float(value)
    for res, value in as_dict(request.get("resources")).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            asks[str(res)] = float(value)
    return asks


def _shown(name: str, amount: float) -> str:
    if name == "memory":
        return f"{amount / 2**30:.3g} GiB of memory"
    unit = {"CPU": "CPU", "GPU": "GPU"}.get(name, f"of resource {name}")
    return f"{formatted(amount)} {unit}{'s' if name in ('CPU', 'GPU') and amount != 1 else ''}"


def _at_most(ray: Dict[str, Any], kube: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Optional[float]], str]:
    """The most CPUs and GPUs the whole cluster can have at once, and where that figure comes from; None for a resource
    nobody can tell (an autoscaler with node types runs and the worker groups cannot be read)."""
    if kube:
        most: Dict[str, Optional[float]] = {}
        offers: List[str] = []
        for name, key in (("CPU", "cpus"), ("GPU", "gpus")):
            most[name], offering = obtainable(kube, key)
            offers += [o for o in offering if o not in offers]
        head = count_of(number(as_dict(kube.get("head")).get("cpus")) or 0.0, "CPU")
        return most, f"the head ({head})" + "".join(f" + {o}" for o in offers)
    if ray["autoscaler"] == "node types":
        return {"CPU": None, "GPU": None}, "an autoscaler runs: its worker groups' maxReplicas need Kubernetes access"
    return {"CPU": ray["cpus"], "GPU": ray["gpus"]}, "a fixed-size cluster"


def _or_endless(limit: Optional[float]) -> float:
    return float("inf") if limit is None else limit


def _crowds(launches: List[Dict[str, Any]], ray: Dict[str, Any],
            kube: Optional[Dict[str, Any]]) -> Tuple[List[str], List[str], List[str]]:
    """Launches that ask, all at once, for more than the whole cluster can ever have: (actors, of which the surplus waits
    until others exit; tasks, which run in waves; launches whose total cannot be judged)."""
    most, source = _at_most(ray, kube)
    actors: List[str] = []
    tasks: List[str] = []
    unknown: List[str] = []
    for launch in launches:
        count = launch.get("count")
        if not isinstance(count, int) or count < 2:
            continue
        actor = launch.get("target_kind") == "class"
        skipped_names = texts(launch.get("not_judged"))
        asks = {name: amount for name, amount in _asks(launch).items() if f"num_{name.lower()}s" not in skipped_names}
        if launch.get("num_cpus") is None and not actor and "num_cpus" not in skipped_names:
            asks["CPU"] = 1.0  # Ray's default: a task holds 1 CPU while it runs (an actor holds none while it lives)
        limits = {name: most[name] for name in asks}
        over = {name: amount for name, amount in asks.items() if count * amount > _or_endless(limits[name])}
        if any(limit is None for limit in limits.values()):
            unknown.append(f"{launch.get('target')} ({where(launch)})")
        if not over:
            continue
        fit = int(min((most[name] or 0.0) // amount for name, amount in over.items()))
        total = ", ".join(_shown(name, count * amount) for name, amount in over.items())
        cap = ", ".join(_shown(name, most[name] or 0.0) for name in over)
        loops = " ".join(texts(launch.get("loops")))
        text = (f"{launch.get('target')} ({where(launch)}) {'creates' if actor else 'runs'} {count} {'actors' if actor else 'tasks'} "
                f"({loops}), {total} in all; the cluster can have at most {cap} ({source})")
        if actor:
            actors.append(text + f": only {fit} can be alive at once, the others wait until one exits, and code that waits on all "
                          "of them hangs")
        else:
            tasks.append(text + f": they run in waves of at most {fit}, not all at once")
    return actors, tasks, unknown


def _blind(ray: Dict[str, Any], kube: Optional[Dict[str, Any]]) -> bool:
    """An autoscaler with node types runs and its worker groups cannot be read: a node that no current node matches may
    still be added, so a misfit is unsure, not never."""
    return kube is None and ray["autoscaler"] == "node types"


def _bundle_text(bundle: Dict[str, Any]) -> str:
    return "{" + ", ".join(f"{name}: {formatted(float(amount))}" for name, amount in bundle.items()) + "}"


def _placed(group: Dict[str, Any], ray: Dict[str, Any], kube: Optional[Dict[str, Any]],
            biggest: Dict[str, float]) -> Tuple[Optional[str], Optional[str]]:
    """Why a placement group with literal bundles can never be placed (it then waits forever, and so does every task and
    actor scheduled into it), or why that cannot be told: (never, unsure)."""
    bundles = [as_dict(b) for b in as_list(group.get("bundles"))]
    strategy = str(group.get("strategy") or "PACK")
    name = f"the placement group ({where(group)}, {len(bundles)} bundle{'s' if len(bundles) != 1 else ''}, {strategy})"
    totals: Dict[str, float] = {}
    for bundle in bundles:
        for key, amount in _asks({"resources": bundle}).items():
            totals[key] = totals.get(key, 0.0) + amount
            if biggest.get(key, 0.0) < amount:
                has = biggest.get(key, 0.0)
                why = f"the largest node has {_shown(key, has)}" if has else f"no node type offers {_shown(key, amount)}"
                text = f"{name} has a bundle {_bundle_text(bundle)}: {why}"
                return (None, text) if _blind(ray, kube) else (text, None)
    if strategy == "STRICT_PACK":  # every bundle on one node
        over = [key for key, total in totals.items() if total > biggest.get(key, 0.0)]
        if over:
            text = (f"{name} puts all its bundles on one node: {', '.join(_shown(k, totals[k]) for k in over)}; the largest node "
                    f"has {', '.join(_shown(k, biggest.get(k, 0.0)) for k in over)}")
            return (None, text) if _blind(ray, kube) else (text, None)
        return None, None
    most, source = _at_most(ray, kube)
    over = [key for key in ("CPU", "GPU") if key in totals and totals[key] > _or_endless(most[key])]
    if over:
        return (f"{name} asks for {', '.join(_shown(k, totals[k]) for k in over)} in all; the cluster can have at most "
                f"{', '.join(_shown(k, most[k] or 0.0) for k in over)} ({source})"), None
    return None, None


@check("script-resources", "Every task's and actor's request fits a node", opt_in=True)
def script_resources(script, dashboard, kuberay=None) -> Outcome:  # type: ignore[no-untyped-def]
    """Literal num_cpus, num_gpus, memory and resources of @ray.remote and .options against the largest node there can be;
    tasks and actors launched in loops of literal length, and placement groups' literal bundles, against the most the
    whole cluster can have at once."""
    problem = script_problem(script)
    if problem:
        return problem
    requests = dicts(script.get("remote_requests"))
    groups = dicts(script.get("placement_groups"))
    not_judged = [f"{r.get('target')} ({where(r)}): {', '.join(texts(r.get('not_judged')))}" for r in requests if texts(r.get("not_judged"))]
    not_judged += [f"the placement group ({where(g)}): {', '.join(texts(g.get('not_judged')))}" for g in groups if texts(g.get("not_judged"))]
    details: Dict[str, Any] = {"requests": len(requests), "placement_groups": len(groups), "not_judged": not_judged}
    if not requests and not groups:
        return passed("the script defines no Ray tasks or actors with resource requests", **details)
    ray = ray_view(dashboard)
    if not ray["readable"]:
        return skipped(ray["why"], **details)
    kube = kube_view(kuberay)
    biggest = largest_node(ray, kube)
    details["largest_node"] = biggest
    never: List[str] = []
    unsure: List[str] = []
    for request in requests:
        for name, amount in _asks(request).items():
            if biggest.get(name, 0.0) >= amount:
                continue
            text = f"{request.get('target')} ({where(request)}) asks for {_shown(name, amount)}"
            has = biggest.get(name, 0.0)
            text += f"; the largest node has {_shown(name, has)}" if has else f"; no node type offers {_shown(name, amount)}"
            (unsure if _blind(ray, kube) else never).append(text)
    unplaced: List[str] = []
    for group in groups:
        if group.get("bundles") is None:
            continue
        cannot, unknown_fit = _placed(group, ray, kube, biggest)
        unplaced += [cannot] if cannot else []
        unsure += [unknown_fit] if unknown_fit else []
    tail = f" (not judged, not literals: {'; '.join(not_judged)})" if not_judged else ""
    if never or unplaced:
        remedy = "lower the request, or ask the platform team for a worker group that offers it" if never else ""
        if unplaced:
            remedy += ("; " if remedy else "") + "ask for fewer or smaller bundles, or ask the platform team for a larger worker group"
        summary = "; ".join(never + [f"{text}: it is never placed, and what is scheduled into it never runs" for text in unplaced])
        return failed(f"would wait forever: {summary}{tail}",
                      remedy + (" (a GPU group: nvidia.com/gpu limits)" if any("GPU" in n for n in never + unplaced) else ""),
                      **details)
    if unsure:
        return warned(f"no node now offers it: {'; '.join(unsure)}; whether the autoscaler can add one needs Kubernetes access{tail}",
                      "rerun where kubectl works, or ask the platform team which worker groups exist", **details)
    actors, waves, unknown = _crowds(dicts(script.get("launches")), ray, kube)
    details.update(launches_not_totalled=unknown, waves=waves)
    if actors:  # an actor holds its resources while it lives: the surplus never starts while the others live
        return warned(f"more actors at once than the cluster can ever hold: {'; '.join(actors + waves)}{tail}",
                      "create fewer actors or ask each for less, or ask the platform team for a larger worker group "
                      "(maxReplicas, or bigger pods)", **details)
    offers = ", ".join(_shown(k, v) for k, v in sorted(biggest.items()) if k in ("CPU", "GPU"))
    judged = [g for g in groups if g.get("bundles") is not None]
    parts = [f"all {len(requests)} request(s) fit the largest node ({offers})"] if requests else []
    parts += [f"{len(judged)} placement group(s) can be placed"] if judged else []
    summary = "; ".join(parts) or "nothing the source gives literally to judge"
    if waves:  # tasks queue for a free CPU and run when one is: Ray's normal way, slower than all at once
        summary += f"; {'; '.join(waves)}"
    if not_judged:
        return warned(summary + tail, "requests computed at run time are not judged: check them against the largest node", **details)
    return passed(summary, **details)


# -- script-libraries --------------------------------------------------------------------------------------------

#: Libraries Ray documents as not working through the Ray Client: a script that uses them that way fails (Ray Data through
#: ray:// on Ray 2.60: "AttributeError: 'Worker' object has no attribute 'core_worker'", measured).
_CLIENT_BROKEN = {"ray.data": "Ray Data is not supported through the Ray Client"}
#: Libraries Ray documents as not working as expected through the Ray Client.
_CLIENT_UNSUITED = {"ray.train": "Ray Train does not work as expected through the Ray Client",
                    "ray.air": "Ray AIR sits on Ray Data and Ray Train, which do not work as expected through the Ray Client"}


@check("script-libraries", "The libraries your script uses work through your way in", opt_in=True)
def script_libraries(script, config, target) -> Outcome:  # type: ignore[no-untyped-def]
    """Ray Data through ray:// fails and Ray Train warns, pointing to the Ray Jobs route."""
    problem = script_problem(script)
    if problem:
        return problem
    used = dicts(script.get("libraries"))
    names = sorted({str(u.get("library")) for u in used})
    details = {"libraries": names}
    if not names:
        return passed("the script uses no Ray library beyond Ray Core", **details)
    if config.route == "jobs" or target.form != RAY_CLIENT:
        return passed(f"uses {', '.join(names)}; submitted as a Ray Job they run on the cluster", **details)
    broken = [(u, _CLIENT_BROKEN[str(u.get("library"))]) for u in used if str(u.get("library")) in _CLIENT_BROKEN]
    unsuited = [(u, _CLIENT_UNSUITED[str(u.get("library"))]) for u in used if str(u.get("library")) in _CLIENT_UNSUITED]
    if not broken and not unsuited:
        return passed(f"uses {', '.join(names)}, which work through the Ray Client", **details)
    jobs = target.dashboard_url.rstrip("/")
    remedy = (f"submit it as a Ray Job: `ray job submit --address {jobs} --working-dir . -- python "
              f"{os.path.basename(str(script.get('path')))}` (check that route with --route jobs)")
    told = "; ".join(f"{why} ({u.get('library')}, {where(u)})" for u, why in broken + unsuited)
    if broken:
        return failed(f"{told}: run this way, the script fails; Ray recommends the Ray Jobs API for such work", remedy, **details)
    return warned(f"{told}: Ray recommends the Ray Jobs API for such work", remedy, **details)
