"""The vocabulary shared by probes, checks, the runner and the renderers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional


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

    @property
    def ok(self) -> bool:
        """True when nothing failed or errored (the GO verdict); with ``strict``, nothing warned either."""
        return all(r.ok and not (self.strict and r.status is Status.WARN) for r in self.results)

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
            "ok": self.ok,
            "profile": self.profile,
            "target": {
                "address": self.address,
                "dashboard_url": self.dashboard_url,
                "gcs_address": self.gcs_address,
            },
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
        verdict = "GO" if self.ok else "NO-GO"
        return f"<Report {verdict} {self.address} ({counts})>"


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
