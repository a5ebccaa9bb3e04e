"""Shared helpers for the benchmarks: interleaved timing of subprocesses, stats, ports, output.

Every benchmark times whole subprocesses (interpreter start to exit) with ``time.perf_counter``,
runs its variants interleaved (A B A B ...), and reports per-pair ratios ray-preflight/alternative.
Standard library only; progress goes to stderr so that ``--json`` leaves stdout to the JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

# Make `import preflight` work even when the tool is not installed (the repository root is one level up).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

if TYPE_CHECKING:  # pragma: no cover
    from preflight.local_head import LocalHead


def base_parser(description: str, default_runs: int, default_warmup: int = 0) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=default_runs,
                        help=f"interleaved rounds (one run of each variant per round; default {default_runs})")
    parser.add_argument("--warmup", type=int, default=default_warmup,
                        help=f"untimed rounds before the timed ones (default {default_warmup})")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object instead of the table")
    return parser


# --- ports ---------------------------------------------------------------------------------------

from preflight.testing import SilentListener, closed_ports  # noqa: E402,F401  (re-exported to the scripts)

# --- subprocesses ---------------------------------------------------------------------------------

def precompile() -> None:
    """Write the tool's bytecode first, as ``pip install`` of a wheel does: an editable install (or a machine
    with PYTHONDONTWRITEBYTECODE set) would otherwise compile every module at every start."""
    import compileall

    import preflight
    import preflight.checks as checks

    for package in (preflight, checks):
        compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)


def child_env() -> Dict[str, str]:
    """The environment every timed child gets (the same for the tool and the alternative)."""
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_PREFLIGHT_DEBUG", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def tool_cmd(*args: str) -> List[str]:
    """The ray-preflight CLI, run with the Python running this benchmark."""
    return [sys.executable, "-m", "preflight", *args]


def console_script() -> Optional[str]:
    """The ``ray-preflight`` console script next to ``sys.executable``, if installed there."""
    path = os.path.join(os.path.dirname(sys.executable), "ray-preflight")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


@dataclass
class Sample:
    seconds: float
    code: Optional[int]  # None: killed at the timeout
    stdout: str
    stderr: str

    def tail(self, lines: int = 3) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(text[-lines:])


@dataclass
class Variant:
    """One thing to time: a command, the exit codes it should end with, and an optional output check."""

    name: str
    cmd: Sequence[str]
    expect_codes: Tuple[int, ...] = (0,)
    timeout: float = 180.0
    check: Optional[Callable[[Sample], Optional[str]]] = None  # returns a problem description, or None

    def run(self, env: Optional[Dict[str, str]] = None) -> Sample:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(list(self.cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env if env is not None else child_env(), timeout=self.timeout)
            code: Optional[int] = proc.returncode
            out, err = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = None, exc.stdout or b"", exc.stderr or b""
        return Sample(time.perf_counter() - t0, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def problem(self, sample: Sample) -> Optional[str]:
        if sample.code is None:
            return f"killed after {self.timeout:g} s"
        if sample.code not in self.expect_codes:
            return f"exit code {sample.code}, expected {'/'.join(map(str, self.expect_codes))}: {sample.tail()}"
        return self.check(sample) if self.check else None


def head_args(head: "LocalHead") -> List[str]:
    """The CLI flags that point ray-preflight at a ``LocalHead``."""
    return ["--address", head.address, "--dashboard-url", head.dashboard_url, "--gcs-address", head.gcs_address]


@contextlib.contextmanager
def local_head(bench: "Bench") -> Iterator["LocalHead"]:
    """A throwaway Ray head (``preflight.local_head.LocalHead``) for the duration of the block; stopped on exit."""
    from preflight.local_head import LocalHead

    bench.progress("starting a throwaway Ray head on 127.0.0.1 ...")
    t0 = time.perf_counter()
    with LocalHead() as head:
        bench.extra["head_start_s"] = round(time.perf_counter() - t0, 2)
        bench.progress(f"head ready in {bench.extra['head_start_s']} s: {head.address}, {head.dashboard_url}, GCS {head.gcs_address}")
        yield head
        bench.progress("stopping the head ...")


def interleave(variants: Sequence[Variant], runs: int, bench: "Bench", group: str = "", warmup: int = 0) -> Dict[str, List[Sample]]:
    """Run the variants in rounds (A B A B ...), the first ``warmup`` rounds untimed; progress and problems
    go to ``bench`` (a warm-up run that ends the wrong way is a note, not a problem)."""
    samples: Dict[str, List[Sample]] = {v.name: [] for v in variants}
    prefix = f"{group}/" if group else ""
    for i in range(-warmup, runs):
        tag = f"warm-up {i + warmup + 1}/{warmup}" if i < 0 else f"{i + 1}/{runs}"
        for variant in variants:
            sample = variant.run()
            problem = variant.problem(sample)
            note = f"  !! {problem}" if problem else ""
            bench.progress(f"[{tag}] {prefix}{variant.name}: {sample.seconds:.3f} s (exit {sample.code}){note}")
            if i < 0:
                if problem:
                    bench.notes.append(f"warm-up {prefix}{variant.name} ({sample.seconds:.1f} s): {problem}")
                continue
            samples[variant.name].append(sample)
            if problem:
                bench.problems.append(f"{prefix}{variant.name} run {i + 1}: {problem}")
    return samples


# --- stats and output -----------------------------------------------------------------------------

def stats(values: Sequence[float]) -> Dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def pair_ratios(tool: Sequence[Sample], alternative: Sequence[Sample]) -> List[float]:
    """tool/alternative for each round (the samples of one round were taken one after the other)."""
    return [a.seconds / b.seconds for a, b in zip(tool, alternative)]


def seconds_of(samples: Sequence[Sample]) -> List[float]:
    return [s.seconds for s in samples]


def _verdict(st: Dict[str, float], limit: Optional[float]) -> str:
    if limit is None:
        return ""
    med = "ok" if st["median"] <= limit else "MISS"
    worst = "ok" if st["max"] <= limit else "MISS"
    return f"median {med}, max {worst}"


@dataclass
class Bench:
    """Collects timings, ratios and targets, then prints a table (or one JSON object)."""

    name: str
    runs: int
    as_json: bool = False
    warmup: int = 0
    rows: List[dict] = field(default_factory=list)
    ratios: List[dict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    extra: Dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        precompile()

    def progress(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def timing(self, label: str, samples: Sequence[Sample], limit: Optional[float] = None) -> None:
        values = seconds_of(samples)
        st = stats(values)
        self.rows.append({"label": label, "unit": "s", "stats": st, "samples": values, "target_max": limit,
                          "verdict": _verdict(st, limit)})

    def ratio(self, label: str, tool: Sequence[Sample], alternative: Sequence[Sample], limit: Optional[float] = None) -> None:
        values = pair_ratios(tool, alternative)
        st = stats(values)
        self.ratios.append({"label": label, "unit": "x", "stats": st, "samples": values, "target_max": limit,
                            "verdict": _verdict(st, limit)})

    def environment(self) -> Dict[str, object]:
        try:
            from importlib.metadata import version

            ray_version: Optional[str] = version("ray")
        except Exception:  # noqa: BLE001 - informative only
            ray_version = None
        tool_version: Optional[str] = None
        try:
            from preflight import __version__ as tool_version
        except Exception:  # noqa: BLE001 - informative only
            pass
        return {"python": platform.python_version(), "ray": ray_version, "ray_preflight": tool_version,
                "cpus": os.cpu_count(), "platform": platform.platform()}

    def finish(self) -> int:
        """Print the results; exit code 1 when a run did not end the way it should have (targets never fail it)."""
        if self.as_json:
            print(json.dumps({"bench": self.name, "runs": self.runs, "warmup": self.warmup, "environment": self.environment(),
                              "timings": self.rows, "ratios": self.ratios, "notes": self.notes,
                              "problems": self.problems, **self.extra}, indent=2))
            return 1 if self.problems else 0
        env = self.environment()
        warm = f" after {self.warmup} untimed" if self.warmup else ""
        print(f"\n{self.name}: {self.runs} interleaved round(s){warm}; Python {env['python']}, Ray {env['ray']}, "
              f"ray-preflight {env['ray_preflight']}, {env['cpus']} CPU(s)")
        width = max([len(r["label"]) for r in self.rows + self.ratios] + [8])
        header = f"{'':{width}}  {'min':>9} {'median':>9} {'max':>9}   target"
        print(header)
        print("-" * len(header))
        for row in self.rows:
            print(_line(row, width))
        if self.ratios:
            print('ratio ray-preflight/alternative (per round)')
            for row in self.ratios:
                print(_line(row, width))
        for note in self.notes:
            print(f"note: {note}")
        for problem in self.problems:
            print(f"PROBLEM: {problem}")
        return 1 if self.problems else 0


def _line(row: dict, width: int) -> str:
    st, unit = row["stats"], row["unit"]
    fmt = (lambda v: f"{v:8.3f}s") if unit == "s" else (lambda v: f"{v:8.3f}x")
    target = ""
    if row["target_max"] is not None:
        target = f"<= {row['target_max']:g}{' s' if unit == 's' else 'x'}: {row['verdict']}"
    return f"{row['label']:{width}}  {fmt(st['min'])} {fmt(st['median'])} {fmt(st['max'])}   {target}".rstrip()
