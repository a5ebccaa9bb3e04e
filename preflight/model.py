"""The vocabulary shared by probes, checks, the runner and the renderers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple


class Status(str, enum.Enum):
    """What a check concluded. ``error`` means the check itself broke or could not decide."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: Statuses that make a run NO-GO.
BAD = (Status.FAIL, Status.ERROR)
#: The version of the JSON shape every output of the tool carries (``--format json``, ``list``, ``profiles``, the
#: support bundle's report.json). It changes when a field is removed or changes meaning, not when one is added.
SCHEMA_VERSION = 1


@dataclass
class Outcome:
    """What a check function returns: the runner adds id, title and timing."""

    status: Status
    summary: str
    remedy: Optional[str] = None
    details: Dict[str, Any] = field(default_factory=dict)


def passed(summary: str, **details: Any) -> Outcome:
    return Outcome(Status.PASS, summary, None, details)


def warned(summary: str, remedy: Optional[str] = None, **details: Any) -> Outcome:
    return Outcome(Status.WARN, summary, remedy, details)


def failed(summary: str, remedy: Optional[str] = None, **details: Any) -> Outcome:
    return Outcome(Status.FAIL, summary, remedy, details)


def skipped(reason: str, **details: Any) -> Outcome:
    return Outcome(Status.SKIP, f"skipped: {reason}", None, details)


def undecided(summary: str, remedy: Optional[str] = None, **details: Any) -> Outcome:
    """The check could not determine its answer (never a silent pass)."""
    return Outcome(Status.ERROR, summary, remedy, details)


@dataclass
class Result:
    id: str
    title: str
    status: Status
    summary: str
    remedy: Optional[str] = None
    details: Dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in BAD

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "remedy": self.remedy,
            "duration_s": round(self.duration_s, 4),
            "details": self.details,
        }

    def __str__(self) -> str:
        """``python-version: fail: <summary>``, and the remedy on a second line when there is one to act on."""
        remedy = f"\n  remedy: {self.remedy}" if self.remedy and self.status in (Status.FAIL, Status.ERROR, Status.WARN) else ""
        return f"{self.id}: {self.status.value}: {self.summary}{remedy}"

    def __repr__(self) -> str:
        return f"<Result {self.id} {self.status.value}: {self.summary}>"

    def _repr_html_(self) -> str:
        from preflight.render.html import render_result

        return render_result(self)


@dataclass(frozen=True)
class Running:
    """Work of a run still under way (a probe): what to call it, since when, and the step it says it is at."""

    #: The check the work belongs to (``fibonacci`` for the Fibonacci job), else the probe's name.
    label: str
    #: ``time.monotonic()`` when it started.
    since: float
    #: What it is doing now, when it says (``remote tasks``); None when it does not.
    step: Optional[str] = None


@dataclass(frozen=True)
class Progress:
    """Where a run stands, as the runner hands it to ``run(..., on_progress=...)``."""

    #: What runs now, by probe name.
    running: Dict[str, Running] = field(default_factory=dict)
    #: The selected checks that have no result yet, in display order.
    waiting: Tuple[str, ...] = ()


@dataclass
class Report:
    """Everything one run found: results, the facts behind them, and timings."""

    profile: str
    address: str
    dashboard_url: Optional[str]
    results: List[Result]
    facts: Dict[str, Any] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    tool_version: str = ""
    gcs_address: Optional[str] = None
    #: Check ids whose failures were turned into warnings (``--ignore``).
    ignored: List[str] = field(default_factory=list)
    #: Warnings fail the run too (``--strict``).
    strict: bool = False

    #: How the target was given and resolved (``Target.to_dict()``: the address form, sources, derived addresses).
    target: Dict[str, Any] = field(default_factory=dict)
    #: The run's secrets (a dashboard password, header values, the Ray token, TLS key lines): never shown, never
    #: serialised; the renderers show ``redaction.masked(report)``, which masks them wherever a server echoed one.
    secrets: Tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: Check ids that were selected but produced no result (the runner fills it; never expected, but a verdict
    #: must not be given on evidence that is not there).
    missing: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The GO verdict: every selected check produced its result, at least one passed, and nothing failed or
        errored (with ``strict``, nothing warned either). A run in which nothing could be checked is NO-GO."""
        return self.verdict_reason() is None

    @property
    def verdict(self) -> str:
        return "GO" if self.ok else "NO-GO"

    def verdict_reason(self) -> Optional[str]:
        """Why the run is NO-GO (one line), or None for GO."""
        bad = [r for r in self.results if not r.ok]
        if bad:
            return f"{bad[0].id} {bad[0].status.value}ed: {bad[0].summary}" if len(bad) == 1 else \
                f"{len(bad)} checks failed or errored ({', '.join(r.id for r in bad)})"
        if self.strict:
            warned = [r.id for r in self.results if r.status is Status.WARN]
            if warned:
                return f"--strict: warnings fail ({', '.join(warned)})"
        if self.missing:
            return f"no result from {', '.join(self.missing)}"
        if not self.results:
            return "nothing could be checked: no check ran"
        if not any(r.status is Status.PASS for r in self.results):
            skips = [r for r in self.results if r.status is Status.SKIP]
            if len(skips) == len(self.results):
                first = skips[0].summary
                return f"nothing could be checked: {first[len('skipped: '):] if first.startswith('skipped: ') else first}"
            counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
            return f"no check passed ({counts})"
        return None

    def __getitem__(self, check_id: str) -> Result:
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def __contains__(self, check_id: object) -> bool:
        return any(r.id == check_id for r in self.results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def counts(self) -> Dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    def to_dict(self) -> Dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason(),
            "profile": self.profile,
            "target": dict(self.target, address=self.address, dashboard_url=self.dashboard_url, gcs_address=self.gcs_address),
            "duration_s": round(self.duration_s, 4),
            "results": [r.to_dict() for r in self.results],
            "tool_version": self.tool_version,
            "strict": self.strict,
            "ignored": list(self.ignored),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "facts": self.facts,
        }

    def _repr_html_(self) -> str:
        from preflight.render.html import render_table

        return render_table(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        return f"<Report {self.verdict} {self.address} ({counts})>"


class Missing:
    """Handed to a check for an optional fact whose probe could not gather it.

    It is falsy, so ``server or {}`` reads as "no facts", and it keeps the reason so the
    check can say what it waited for.
    """

    def __init__(self, reason: str):
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def __repr__(self) -> str:
        return f"Missing({self.reason!r})"


def reason_of(fact: Any, fallback: str) -> str:
    """Why an optional fact is missing: its probe's reason, else ``fallback``."""
    return fact.reason if isinstance(fact, Missing) else fallback


# Reading facts. Facts come from servers we do not control (dashboard JSON, the Kubernetes API, a PING answer,
# package metadata): a check reads them through these, so an answer of an unexpected shape reads as "not there".


def unreadable(**facts: Any) -> Optional[Outcome]:
    """For a check's required facts: ``skip`` with the reason when one is ``Missing``, ``error`` when one is not a
    dict (nothing a check could judge); None when all are dicts."""
    for name, value in facts.items():
        if isinstance(value, Missing):
            return skipped(value.reason)
        if not isinstance(value, dict):
            what = "missing" if value is None else f"a {type(value).__name__}, not a mapping"
            return undecided(f"the {name} facts cannot be read: {what}")
    return None


def dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``; None where a level is not a dict or lacks the key."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def as_dict(value: Any) -> Dict[str, Any]:
    """``value`` when it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> List[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def dicts(value: Any) -> List[Dict[str, Any]]:
    """The dicts in ``value`` when it is a list (anything else in it is left out), else []."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def number(value: Any) -> Optional[float]:
    """``value`` when it is an int or float that formats and compares like one (finite, not a bool), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and -1e300 < value < 1e300:
        return value
    return None


def formatted(value: Any, spec: str = "g") -> str:
    """A number from the facts for a summary (``formatted(0.25, ".2f")``), or "?" when it is not one."""
    found = number(value)
    return "?" if found is None else format(found, spec)


def said(value: Any, default: str) -> str:
    """A message from the facts: ``value`` when it is a non-blank str, else ``default``."""
    return value if isinstance(value, str) and value.strip() else default
