"""The runner: probes run concurrently, once each; checks judge their facts as soon as
they are ready; the whole run ends by its deadline whatever the servers do.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from preflight import __version__, registry
from preflight.config import RunConfig
from preflight.errors import Unavailable
from preflight.model import Missing, Outcome, Report, Result, Status, skipped, undecided
from preflight.registry import GIVEN, Check, Probe

#: A probe running longer than this is announced (flutter doctor's "taking an unexpectedly long time").
SLOW_AFTER_S = 10.0
SlowCallback = Callable[[str, float], None]


class Context:
    """What a probe may read about the run: settings and the time it has left."""

    def __init__(self, config: RunConfig, deadline: float):
        self.config = config
        self.deadline = deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def timeout(self, wanted: Optional[float] = None) -> float:
        """A network timeout: the connect timeout (or ``wanted``), never past the deadline."""
        want = self.config.connect_timeout_s if wanted is None else wanted
        return max(0.05, min(want, self.remaining()))


class _Failed:
    """A probe's facts are missing; ``reason`` says why (shown by the checks that needed them)."""

    def __init__(self, reason: str, crashed: bool = False):
        self.reason = reason
        self.crashed = crashed


def _closure(check_ids: List[str], checks: Dict[str, Check], probes: Dict[str, Probe]) -> Tuple[List[str], Set[str]]:
    """The checks to evaluate (selected ones plus the gates of the probes they need) and the probes to run."""
    wanted_checks: List[str] = []
    wanted_probes: Set[str] = set()
    todo = list(check_ids)
    while todo:
        cid = todo.pop(0)
        if cid in wanted_checks:
            continue
        wanted_checks.append(cid)
        names = list(checks[cid].needs + checks[cid].optional)
        while names:
            name = names.pop()
            if name in GIVEN or name in wanted_probes:
                continue
            if name not in probes:
                raise KeyError(f"check {cid!r} needs unknown fact {name!r}")
            wanted_probes.add(name)
            names.extend(probes[name].needs + probes[name].optional)
            todo.extend(g for g in probes[name].gate if g not in wanted_checks)
    return wanted_checks, wanted_probes


def run(
    config: RunConfig,
    on_slow: Optional[SlowCallback] = None,
    checks: Optional[Dict[str, Check]] = None,
    probes: Optional[Dict[str, Probe]] = None,
) -> Report:
    """Run the selected checks of ``config``; ``checks``/``probes`` default to the registry's."""
    started = time.monotonic()
    deadline = started + config.timeout_s
    checks = registry.checks() if checks is None else checks
    probes = registry.probes() if probes is None else probes
    wanted = set(config.only) if config.only else {c for c, chk in checks.items() if not chk.opt_in or c in config.opt_in}
    selected = [c for c in checks if c in wanted and c not in config.skip]
    to_check, to_probe = _closure(selected, checks, probes)
    ctx = Context(config, deadline)

    facts: Dict[str, Any] = {"config": config, "profile": config.profile, "target": config.target, "ctx": ctx}
    timings: Dict[str, float] = {}
    outcomes: Dict[str, Result] = {}
    running: Dict[str, float] = {}
    announced: Set[str] = set()
    done: "queue.Queue[Tuple[str, Any, float]]" = queue.Queue()

    def start(probe: Probe) -> None:
        kwargs = {name: facts[name] for name in probe.needs + probe.optional if not isinstance(facts[name], _Failed)}
        kwargs.update({name: Missing(facts[name].reason) for name in probe.optional if isinstance(facts[name], _Failed)})

        def work() -> None:
            t0 = time.monotonic()
            try:
                value: Any = probe.func(**kwargs)
            except Unavailable as exc:
                value = _Failed(str(exc))
            except Exception as exc:  # noqa: BLE001 - a broken probe must not stop the run
                value = _Failed(f"probe {probe.name!r} crashed: {type(exc).__name__}: {exc}", crashed=True)
                value.trace = traceback.format_exc(limit=6)  # type: ignore[attr-defined]
            done.put((probe.name, value, time.monotonic() - t0))

        running[probe.name] = time.monotonic()
        threading.Thread(target=work, name=f"probe-{probe.name}", daemon=True).start()

    def gate_state(probe: Probe) -> Optional[str]:
        """None while undecided; '' when open; else the reason it stays shut."""
        blocked = []
        for cid in probe.gate:
            if cid not in outcomes:
                return None
            if outcomes[cid].status not in (Status.PASS, Status.WARN):
                blocked.append(f"{cid}: {outcomes[cid].status.value}")
        if blocked:
            names = list(probe.gate)
            needed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            return f"needs {needed} to pass ({', '.join(blocked)})"
        return ""

    def evaluate(check: Check) -> None:
        missing = [n for n in check.needs if isinstance(facts.get(n), _Failed)]
        t0 = time.monotonic()
        if missing:
            failure = facts[missing[0]]
            outcome = (
                undecided(f"could not gather the {missing[0]} facts: {failure.reason}")
                if failure.crashed
                else skipped(failure.reason)
            )
        else:
            kwargs = {n: facts[n] for n in check.needs}
            kwargs.update({n: (Missing(facts[n].reason) if isinstance(facts[n], _Failed) else facts[n]) for n in check.optional})
            try:
                outcome = check.func(**kwargs)
                if not isinstance(outcome, Outcome):
                    outcome = undecided(f"check returned {type(outcome).__name__}, not an Outcome")
            except Exception as exc:  # noqa: BLE001 - a check that raises becomes an error result
                outcome = undecided(f"the check itself failed: {type(exc).__name__}: {exc}")
                outcome.details["traceback"] = traceback.format_exc(limit=6)
        outcomes[check.id] = Result(
            check.id, check.title, outcome.status, outcome.summary, outcome.remedy, outcome.details,
            time.monotonic() - t0 + max([timings.get(n, 0.0) for n in _probes_behind(check, probes)] + [0.0]),
        )

    def ready(names: Tuple[str, ...]) -> bool:
        return all(n in facts for n in names)

    pending_probes = set(to_probe)
    for name in sorted(pending_probes):
        owner = probes[name].owner
        if owner and owner not in selected:
            facts[name] = _Failed(f"needs the {owner} check, which this run leaves out")
            pending_probes.discard(name)
    while True:
        progressed = True
        while progressed:
            progressed = False
            for name in sorted(pending_probes):
                probe = probes[name]
                if not ready(probe.needs + probe.optional):
                    continue
                shut = gate_state(probe)
                if shut is None:
                    continue
                pending_probes.discard(name)
                progressed = True
                lost = [n for n in probe.needs if isinstance(facts[n], _Failed)]
                if shut:
                    facts[name] = _Failed(shut)
                elif lost:
                    facts[name] = _Failed(facts[lost[0]].reason, facts[lost[0]].crashed)
                else:
                    start(probe)
            for cid in to_check:
                if cid not in outcomes and ready(checks[cid].needs + checks[cid].optional):
                    evaluate(checks[cid])
                    progressed = True
        if len(outcomes) == len(to_check):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (not running and not pending_probes):
            break
        try:
            name, value, took = done.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            now = time.monotonic()
            for pname, t0 in running.items():
                if pname not in announced and now - t0 >= SLOW_AFTER_S and on_slow is not None:
                    announced.add(pname)
                    on_slow(pname, now - t0)
            continue
        running.pop(name, None)
        facts[name] = value
        timings[name] = took

    for cid in to_check:
        if cid not in outcomes:
            waiting = sorted(n for n in running if n in _probes_behind(checks[cid], probes)) or sorted(running)
            outcomes[cid] = Result(
                cid, checks[cid].title, Status.ERROR,
                f"timed out after {config.timeout_s:g} s" + (f" (waiting for {', '.join(waiting)})" if waiting else ""),
                f"raise --timeout (now {config.timeout_s:g} s) or find out why {', '.join(waiting) or 'it'} is slow",
                {}, time.monotonic() - started,
            )

    public_facts: Dict[str, Any] = {}
    for name in sorted(to_probe):
        value = facts.get(name)
        if isinstance(value, _Failed):
            public_facts[name] = {"unavailable": value.reason}
        elif name in facts:
            public_facts[name] = value
        else:
            public_facts[name] = {"unavailable": "not finished before the deadline"}
    results = [_ignore(outcomes[cid], config.ignore) for cid in selected]
    return Report(
        profile=config.profile.name,
        address=config.target.address,
        dashboard_url=config.target.dashboard_url,
        gcs_address=config.target.gcs_address,
        results=results,
        facts=public_facts,
        timings=timings,
        duration_s=time.monotonic() - started,
        tool_version=__version__,
        ignored=[r.id for r in results if "ignored" in r.details],
        strict=config.strict,
    )


def _ignore(result: Result, ignore: Tuple[str, ...]) -> Result:
    """``--ignore``: a listed check's failure or error becomes a warning that says so."""
    if result.status not in (Status.FAIL, Status.ERROR) or not (result.id in ignore or "all" in ignore):
        return result
    details = dict(result.details, ignored=result.status.value)
    return Result(result.id, result.title, Status.WARN, f"ignored failure: {result.summary}", result.remedy, details,
                  result.duration_s)


def _probes_behind(check: Check, probes: Dict[str, Probe]) -> Set[str]:
    seen: Set[str] = set()
    names = list(check.needs + check.optional)
    while names:
        name = names.pop()
        if name in GIVEN or name in seen or name not in probes:
            continue
        seen.add(name)
        names.extend(probes[name].needs + probes[name].optional)
    return seen
