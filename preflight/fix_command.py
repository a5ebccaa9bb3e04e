"""``ray-preflight fix`` in a terminal: the one question before anything changes, progress on stderr, the plan or the
verdict and how to use the environment on stdout, the exit code (0 GO, 1 NO-GO or a step failed, 2 unusable input).
The command-line framework (``preflight.cli_app``) calls ``command``; the work is ``preflight.matching_env``'s.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Dict, List, Mapping, Optional

PROG = "ray-preflight"


def _write(stream: IO[str], text: str) -> None:
    """Write ``text``, replacing what the stream's encoding cannot show (a C locale cannot show "·")."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = text.encode(encoding if encoding else "ascii", "replace").decode(encoding if encoding else "ascii")
    stream.write(text)
    stream.flush()


def _say(line: str) -> None:
    _write(sys.stderr, line + "\n")


def _ask(plan: Any) -> bool:
    """Show the plan and ask once (stdin is a terminal)."""
    from preflight.matching_env import plan_lines

    _write(sys.stderr, "\n".join(plan_lines(plan)) + "\n")
    _write(sys.stderr, "Go ahead? [y/N] ")
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() in ("y", "yes")


def refuse_without_consent(yes: bool, dry_run: bool) -> None:
    """Without --yes (or --dry-run), a prompt needs a terminal: anywhere else the command refuses at once."""
    from preflight.errors import UsageError

    if yes or dry_run:
        return
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        interactive = False
    if not interactive:
        raise UsageError("fix makes a new environment and needs your go-ahead, and no terminal is here to ask: pass --yes, "
                         "or --dry-run to see the plan")


def command(explicit: Mapping[str, Any], options: Mapping[str, Any], *, prefix: Optional[str], kernel: Optional[bool],
            dry_run: bool, yes: bool) -> int:
    from preflight.matching_env import fix, plan_lines

    refuse_without_consent(yes, dry_run)
    result = fix(explicit, options, prefix=prefix, kernel=kernel, dry_run=dry_run, say=_say, confirm=None if yes else _ask)
    out: List[str] = []
    if dry_run and result.plan is not None:
        out = ["the plan (--dry-run: nothing was changed):", *(f"  {line}" for line in plan_lines(result.plan))]
    if result.error is not None:
        _write(sys.stderr, f"{PROG} fix: {result.error}\n" + "".join(f"  {hint}\n" for hint in result.hints))
    elif not dry_run:
        out += _verdict_lines(result)
    if out:
        _write(sys.stdout, "\n".join(out) + "\n")
    return result.exit_code


def _verdict_lines(result: Any) -> List[str]:
    report: Dict[str, Any] = result.report or {}
    results = report.get("results") or []
    counts: Dict[str, int] = {}
    for item in results:
        counts[item.get("status", "?")] = counts.get(item.get("status", "?"), 0) + 1
    shown = ", ".join(f"{n} {_word(status)}" for status, n in counts.items())
    what = "reused" if result.reused else "made"
    took = report.get("duration_s")
    lines = [f"{result.verdict}: the environment {result.env} ({what}) · its own ray-preflight: {shown}"
             + (f" in {took:.{2 if took < 1 else 1}f} s" if isinstance(took, (int, float)) else "")]
    if result.reused:
        off = [requirement for requirement, _ in (result.plan.off if result.plan else [])]
        lines.append("reinstalled: " + (" ".join(off) if off else "nothing (all as wanted)"))
    elif result.installed:
        lines.append("installed: " + " ".join(result.installed))
    for item in results:
        if item.get("status") in ("fail", "error"):
            lines.append(f"  {item.get('id')}: {item.get('summary')}")
            if item.get("remedy"):
                lines.append(f"    → {item.get('remedy')}")
    lines.append("use it in a terminal:")
    lines.append(f"  {result.activate}")
    if result.kernel:
        lines.append(f"in Jupyter: choose the kernel \"{result.kernel_display}\" ({result.kernel})")
    return lines


def _word(status: str) -> str:
    return {"pass": "passed", "warn": "warned", "fail": "failed", "skip": "skipped", "error": "errored"}.get(status, status)
