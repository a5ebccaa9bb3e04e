"""The runner: probes run concurrently, once each; checks judge their facts as soon as they are ready; the whole
run ends by its deadline whatever the servers do.

``run()`` plans the run (which checks, which probes, which facts no probe provides), hands the plan to a small
scheduler, and turns what the scheduler found into a ``Report``. Every selected check ends with exactly one
result: a missing fact, a crashed probe or the deadline each become that check's result, never the run's end.

While it runs, the scheduler tells a caller what it knows (``run(config, on_result=..., on_progress=...)``), from
the thread that called ``run()``: each selected check's result the moment it is judged, and where the run stands
(``Progress``: what runs since when, at which step, and which checks still wait) whenever that changes and at
least every ``TICK_S`` while anything runs. A probe says its step through ``ctx.stage_file()``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import queue
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from preflight import __version__, registry
from preflight.config import RunConfig
from preflight.errors import Unavailable
from preflight.model import Missing, Outcome, Progress, Report, Result, Running, Status, skipped, undecided
from preflight.registry import GIVEN, Check, Probe
from preflight.resources import Resources

#: A probe running longer than this is announced (flutter doctor's "taking an unexpectedly long time").
SLOW_AFTER_S = 10.0
#: While anything runs, ``on_progress`` hears from the scheduler at least this often (seconds).
TICK_S = 0.5
SlowCallback = Callable[[str, float], None]
#: ``on_result(result)``: a selected check's result (``--ignore`` applied, as the report will hold it), once judged.
ResultCallback = Callable[[Result], None]
#: ``on_progress(progress)``: where the run stands.
ProgressCallback = Callable[[Progress], None]


class Context:
    """What a probe may read about the run: settings, the time it has left, and the run's shared live handles."""

    def __init__(self, config: RunConfig, deadline: float, resources: Optional[Resources] = None):
        self.config = config
        self.deadline = deadline
        self.resources = resources if resources is not None else Resources()
        #: The probe this context was handed to (None for a check's, or one made outside a run).
        self.probe: Optional[str] = None
        #: How to read the step each running probe is at, by probe name (shared by every probe's context).
        self.steps: Dict[str, Callable[[], Optional[str]]] = {}

    def for_probe(self, name: str) -> "Context":
        """The context as ``name`` receives it: the same run, knowing whose work it is (for ``stage_file``)."""
        made = copy.copy(self)
        made.probe = name
        return made

    @contextlib.contextmanager
    def stage_file(self, labels: Optional[Mapping[str, str]] = None) -> Iterator[str]:
        """A file for a child job to write its current stage into (a word, overwritten at each stage): while the
        block runs, the run's progress reads it as the step this probe is at, through ``labels`` (stage → words;
        a stage without a label is shown as written). Removed when the block ends."""
        handle, path = tempfile.mkstemp(prefix="ray-preflight-stage-")
        os.close(handle)
        owner = self.probe
        last: List[Optional[str]] = [None]

        def read() -> Optional[str]:
            try:
                with open(path, encoding="utf-8", errors="replace") as written:
                    stage = written.read(200).strip()
            except OSError:
                stage = ""
            if stage:  # an empty file is a stage being written: the last one still holds
                last[0] = (labels or {}).get(stage, stage)
            return last[0]

        if owner is not None:
            self.steps[owner] = read
        try:
            yield path
        finally:
            if owner is not None and self.steps.get(owner) is read:
                del self.steps[owner]
            try:
                os.unlink(path)
            except OSError:
                pass

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def timeout(self, wanted: Optional[float] = None) -> float:
        """A network timeout: the connect timeout (or ``wanted``), never past the deadline."""
        want = self.config.connect_timeout_s if wanted is None else wanted
        return max(0.05, min(want, self.remaining()))


@dataclass
class _Failed:
    """A probe's facts are missing; ``reason`` says why (shown by the checks that needed them)."""

    reason: str
    crashed: bool = False
    trace: Optional[str] = None


@dataclass
class Plan:
    """What a run will do: the selected checks (in display order), every check to judge (the selected ones plus
    the gates of the probes they need), the probes to run, and the facts no probe provides (by who asked)."""

    selected: List[str]
    to_check: List[str]
    to_probe: Set[str]
    unknown: Dict[str, str] = field(default_factory=dict)
    #: Selected checks that judge another submission route (``--route``): shown skipped, their probes unrun.
    off_route: List[str] = field(default_factory=list)


def plan(config: RunConfig, checks: Dict[str, Check], probes: Dict[str, Probe]) -> Plan:
    wanted = set(config.only) if config.only else {c for c, chk in checks.items() if not chk.opt_in or c in config.opt_in}
    selected = [c for c in checks if c in wanted and c not in config.skip]
    made = Plan(selected, [], set())
    made.off_route = [c for c in selected if config.route not in checks[c].routes and c not in config.only]
    todo = [c for c in selected if c not in made.off_route]
    while todo:
        cid = todo.pop(0)
        if cid in made.to_check:
            continue
        made.to_check.append(cid)
        unknown = [n for n in checks[cid].needs + checks[cid].optional if n not in GIVEN and n not in probes]
        if unknown:  # judged at once as this check's error; a probe's unknown fact is that probe's failure
            made.unknown[cid] = unknown[0]
            continue
        names = list(checks[cid].needs + checks[cid].optional)
        while names:
            name = names.pop()
            if name in GIVEN or name in made.to_probe or name not in probes:
                continue
            made.to_probe.add(name)
            names.extend(probes[name].needs + probes[name].optional)
            todo.extend(g for g in probes[name].gate + probes[name].stop_on if g not in made.to_check)
    return made


def run(
    config: RunConfig,
    on_slow: Optional[SlowCallback] = None,
    checks: Optional[Dict[str, Check]] = None,
    probes: Optional[Dict[str, Probe]] = None,
    resources: Optional[Resources] = None,
    on_result: Optional[ResultCallback] = None,
    on_progress: Optional[ProgressCallback] = None,
) -> Report:
    """Run the selected checks of ``config``; ``checks``/``probes`` default to the registry's. Live handles the
    probes open (the Kubernetes client) are left in ``resources`` for a caller that needs them (the bundle).

    ``on_result(result)`` hears each selected check's result as soon as it is judged, ``on_progress(progress)`` where
    the run stands (first before anything starts, then whenever that changes, and at least every ``TICK_S`` while
    anything runs), ``on_slow(name, seconds)`` once about each probe still running after ``SLOW_AFTER_S``. All are
    called from this thread; one that raises is not called again, and the run goes on."""
    started = time.monotonic()
    checks = registry.checks() if checks is None else checks
    probes = registry.probes() if probes is None else probes
    scheduler = _Scheduler(config, plan(config, checks, probes), checks, probes,
                           Context(config, started + config.timeout_s, resources), on_slow, on_result, on_progress)
    scheduler.run()
    results = [scheduler.shown[cid] for cid in scheduler.plan.selected if cid in scheduler.shown]
    return Report(
        profile=config.profile.name,
        address=config.target.address,
        dashboard_url=config.target.dashboard_url,
        gcs_address=config.target.gcs_address,
        target=config.target.to_dict(),
        results=results,
        facts=scheduler.public_facts(),
        timings=scheduler.timings,
        duration_s=time.monotonic() - started,
        tool_version=__version__,
        ignored=[r.id for r in results if "ignored" in r.details],
        strict=config.strict,
        missing=[cid for cid in scheduler.plan.selected if cid not in scheduler.outcomes],
        secrets=tuple(value for value, _ in config.secrets),
    )


class _Scheduler:
    """Starts each probe once its facts and gates are ready, judges each check once its facts are, and waits
    for the next probe to finish, until every check has its result or the deadline comes."""

    def __init__(self, config: RunConfig, the_plan: Plan, checks: Dict[str, Check], probes: Dict[str, Probe],
                 ctx: Context, on_slow: Optional[SlowCallback], on_result: Optional[ResultCallback] = None,
                 on_progress: Optional[ProgressCallback] = None):
        self.config, self.plan, self.checks, self.probes, self.ctx = config, the_plan, checks, probes, ctx
        self.on_slow, self.on_result, self.on_progress = on_slow, on_result, on_progress
        self.facts: Dict[str, Any] = {"config": config, "profile": config.profile, "target": config.target, "ctx": ctx}
        self.timings: Dict[str, float] = {}
        #: Every judged check's result, as the gates read it; ``shown``: the selected ones as the report holds them.
        self.outcomes: Dict[str, Result] = {}
        self.shown: Dict[str, Result] = {}
        self.last_progress: Optional[Progress] = None
        self.last_tick = 0.0
        self.running: Dict[str, float] = {}
        self.announced: Set[str] = set()
        self.done: "queue.Queue[Tuple[str, Any, float]]" = queue.Queue()
        self.pending: Set[str] = set(the_plan.to_probe)

    # -- the loop, top to bottom ------------------------------------------------------------------------------

    def run(self) -> None:
        self._tell_progress()
        self._skip_checks_of_another_route()
        self._judge_checks_with_unknown_facts()
        self._leave_out_probes_of_left_out_checks()
        while True:
            self._advance()
            self._tell_progress()
            if self._finished():
                break
            self._wait_for_a_probe()
        self._time_out_the_rest()

    def _skip_checks_of_another_route(self) -> None:
        route = "the Ray Jobs API" if self.config.route == "jobs" else "the Ray Client (ray.init)"
        for cid in self.plan.off_route:
            self._record(self._result(self.checks[cid], skipped(f"not needed for the {self.config.route} route ({route})"), 0.0))

    def _judge_checks_with_unknown_facts(self) -> None:
        for cid, name in self.plan.unknown.items():
            check = self.checks[cid]
            outcome = undecided(f"needs the fact {name!r}, which no probe provides ({check.origin} check)",
                                "a check names its facts by parameter: `ray-preflight list` shows the facts each check "
                                "needs; fix the name, or install what provides it")
            self._record(self._result(check, outcome, 0.0))

    def _leave_out_probes_of_left_out_checks(self) -> None:
        for name in sorted(self.pending):
            owner = self.probes[name].owner
            if owner and owner not in self.plan.selected:
                self.facts[name] = _Failed(f"needs the {owner} check, which this run leaves out")
                self.pending.discard(name)

    def _advance(self) -> None:
        """Start what can start and judge what can be judged, until nothing more moves."""
        moved = True
        while moved:
            moved = self._start_ready_probes()
            moved = self._judge_ready_checks() or moved

    def _finished(self) -> bool:
        if len(self.outcomes) == len(self.plan.to_check) + len(self.plan.off_route):
            return True
        return self.ctx.remaining() <= 0 or (not self.running and not self.pending)

    def _wait_for_a_probe(self) -> None:
        try:
            name, value, took = self.done.get(timeout=min(self.ctx.remaining(), TICK_S))
        except queue.Empty:
            self._announce_slow_probes()
            return
        self.running.pop(name, None)
        self.facts[name] = value
        self.timings[name] = took

    def _time_out_the_rest(self) -> None:
        for cid in self.plan.to_check:
            if cid in self.outcomes:
                continue
            behind = _probes_behind(self.checks[cid], self.probes)
            waiting = sorted(n for n in self.running if n in behind) or sorted(self.running)
            outcome = undecided(
                f"timed out after {self.config.timeout_s:g} s" + (f" (waiting for {', '.join(waiting)})" if waiting else ""),
                f"raise --timeout (now {self.config.timeout_s:g} s) or find out why {', '.join(waiting) or 'it'} is slow")
            self._record(self._result(self.checks[cid], outcome, time.monotonic() - (self.ctx.deadline - self.config.timeout_s)))

    # -- probes ----------------------------------------------------------------------------------------------

    def _start_ready_probes(self) -> bool:
        moved = False
        for name in sorted(self.pending):
            probe = self.probes[name]
            if not self._ready(probe.needs + probe.optional):
                continue
            shut = self._gate(probe)
            if shut is None:
                continue
            self.pending.discard(name)
            moved = True
            unknown = [n for n in probe.needs if n not in self.facts]
            lost = [n for n in probe.needs if isinstance(self.facts.get(n), _Failed)]
            if shut:
                self.facts[name] = _Failed(shut)
            elif unknown:
                self.facts[name] = _Failed(f"probe {name!r} needs the fact {unknown[0]!r}, which no probe provides", True)
            elif lost:
                self.facts[name] = self.facts[lost[0]]
            else:
                self._start(probe)
        return moved

    def _gate(self, probe: Probe) -> Optional[str]:
        """None while undecided; '' when open; else the reason it stays shut."""
        blocked = []
        for cid in probe.gate:
            if cid not in self.outcomes:
                return None
            if self.outcomes[cid].status not in (Status.PASS, Status.WARN):
                blocked.append(f"{cid}: {self.outcomes[cid].status.value}")
        for cid in probe.stop_on:
            if cid not in self.outcomes:
                return None
            ignored = cid in self.config.ignore or "all" in self.config.ignore  # the user chose to go on regardless
            if self.outcomes[cid].status is Status.FAIL and not ignored:
                summary = self.outcomes[cid].summary
                return f"{cid} failed: {summary if len(summary) <= 160 else summary[:157] + '...'}"
        if not blocked:
            return ""
        names = list(probe.gate)
        needed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"needs {needed} to pass ({', '.join(blocked)})"

    def _start(self, probe: Probe) -> None:
        kwargs = {n: self._given(n) for n in probe.needs + probe.optional}
        if "ctx" in kwargs:
            kwargs["ctx"] = self.ctx.for_probe(probe.name)

        def work() -> None:
            t0 = time.monotonic()
            try:
                value: Any = probe.func(**kwargs)
            except Unavailable as exc:
                value = _Failed(str(exc))
            except Exception as exc:  # noqa: BLE001 - a broken probe must not stop the run
                value = _Failed(f"probe {probe.name!r} crashed: {type(exc).__name__}: {exc}", True, traceback.format_exc(limit=6))
            self.done.put((probe.name, value, time.monotonic() - t0))

        self.running[probe.name] = time.monotonic()
        threading.Thread(target=work, name=f"probe-{probe.name}", daemon=True).start()

    def _announce_slow_probes(self) -> None:
        now = time.monotonic()
        for name, t0 in self.running.items():
            if name not in self.announced and now - t0 >= SLOW_AFTER_S and self.on_slow is not None:
                self.announced.add(name)
                self._call("on_slow", name, now - t0)

    # -- telling the caller ----------------------------------------------------------------------------------

    def _call(self, which: str, *args: Any) -> None:
        """Call the ``which`` callback; one that raises is dropped: showing progress must never stop the run."""
        callback = getattr(self, which)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - a broken display is not the run's failure
            setattr(self, which, None)

    def _record(self, result: Result) -> None:
        self.outcomes[result.id] = result
        if result.id in self.plan.selected:
            shown = self.shown[result.id] = _ignore(result, self.config.ignore)
            self._call("on_result", shown)

    def _label(self, name: str) -> str:
        """What a person knows a probe by: the check it belongs to, else the first shown check that waits for it (the
        ``kube`` probe shows as ``kubernetes``), else its own name."""
        owner = self.probes[name].owner
        if owner:
            return owner
        waiting = [cid for cid in self.plan.to_check if name in self.checks[cid].needs + self.checks[cid].optional]
        shown = [cid for cid in self.plan.selected if cid in waiting]
        return (shown or waiting or [name])[0]

    def _tell_progress(self) -> None:
        """``on_progress`` with where the run stands, when that changed or ``TICK_S`` has passed."""
        if self.on_progress is None:
            return
        running = {}
        for name, since in sorted(self.running.items()):
            reader = self.ctx.steps.get(name)
            step = None
            if reader is not None:
                try:
                    step = reader()
                except Exception:  # noqa: BLE001 - a step that cannot be read is not shown
                    step = None
            running[name] = Running(self._label(name), since, step)
        now = time.monotonic()
        progress = Progress(running, tuple(cid for cid in self.plan.selected if cid not in self.shown))
        if progress != self.last_progress or now - self.last_tick >= TICK_S:
            self.last_progress, self.last_tick = progress, now
            self._call("on_progress", progress)

    # -- checks ----------------------------------------------------------------------------------------------

    def _judge_ready_checks(self) -> bool:
        moved = False
        for cid in self.plan.to_check:
            check = self.checks[cid]
            if cid not in self.outcomes and self._ready(check.needs + check.optional):
                t0 = time.monotonic()
                outcome = self._judge(check)
                waited = max([self.timings.get(n, 0.0) for n in _probes_behind(check, self.probes)] + [0.0])
                self._record(self._result(check, outcome, time.monotonic() - t0 + waited))
                moved = True
        return moved

    def _judge(self, check: Check) -> Outcome:
        lost = [n for n in check.needs if isinstance(self.facts.get(n), _Failed)]
        if lost:
            failure: _Failed = self.facts[lost[0]]
            if not failure.crashed:
                return skipped(failure.reason)
            outcome = undecided(f"could not gather the {lost[0]} facts: {failure.reason}")
            if failure.trace:
                outcome.details["traceback"] = failure.trace
            return outcome
        try:
            outcome = check.func(**{n: self._given(n) for n in check.needs + check.optional})
        except Exception as exc:  # noqa: BLE001 - a check that raises becomes an error result
            outcome = undecided(f"the check itself failed: {type(exc).__name__}: {exc}")
            outcome.details["traceback"] = traceback.format_exc(limit=6)
            return outcome
        if not isinstance(outcome, Outcome):
            return undecided(f"check returned {type(outcome).__name__}, not an Outcome")
        return outcome

    @staticmethod
    def _result(check: Check, outcome: Outcome, duration: float) -> Result:
        return Result(check.id, check.title, outcome.status, outcome.summary, outcome.remedy, outcome.details, duration)

    # -- facts -----------------------------------------------------------------------------------------------

    def _ready(self, names: Tuple[str, ...]) -> bool:
        return all(n in self.facts or n not in self.probes and n not in GIVEN for n in names)

    def _given(self, name: str) -> Any:
        """A fact as a probe or check receives it: the value, or ``Missing`` with the reason it is not there."""
        value = self.facts.get(name)
        if name not in self.facts:
            return Missing(f"no probe provides {name!r}")
        return Missing(value.reason) if isinstance(value, _Failed) else value

    def public_facts(self) -> Dict[str, Any]:
        """The facts as plain data for the report: a failed probe's reason (and a crashed one's traceback)."""
        shown: Dict[str, Any] = {}
        for name in sorted(self.plan.to_probe):
            value = self.facts.get(name)
            if isinstance(value, _Failed):
                shown[name] = {"unavailable": value.reason, **({"traceback": value.trace} if value.trace else {})}
            elif name in self.facts:
                shown[name] = value
            else:
                shown[name] = {"unavailable": "not finished before the deadline"}
        return shown


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
