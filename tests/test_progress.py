"""Live progress: the runner tells each result as it is judged and what still runs; the command shows it on stderr
(on a terminal: the lines as verdicts come, one status line rewritten in place, the screen left with the report
alone; elsewhere: plain lines), never on stdout; a notebook cell fills in while ``preflight.check()`` runs. And the
quieter report: checks skipped for the same cause on one line, ``-v`` one line each; ``Result`` shown readably.

The terminal is a real pseudo-terminal, read with timestamps; what it ends up showing is worked out by a small
screen model that knows exactly the control codes the tool may write (any other one fails the test). The live
tests run the real command against a real Ray head, and ``preflight.check()`` on a real Jupyter kernel.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pytest

from preflight import config
from preflight.model import Progress, Result, Running, Status, passed, skipped
from preflight.progress import Terminal
from preflight.registry import make_check, make_probe
from preflight.render.html import render_result, render_table
from preflight.runner import run
from preflight.testing import closed_port
from tests.conftest import run_cli
from tests.facts import KUBE_CHECKS, NO_KUBE

COLUMNS, ROWS = 150, 60
KUBE_LINE = f" - {', '.join(KUBE_CHECKS)} {NO_KUBE}"
#: A fresh head sometimes fails Ray's first client session after ~46 s; the Fibonacci job retries once, which the
#: default 60 s deadline cannot always hold.
SLACK = ["--timeout", "150"]
_ESC = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def unreachable_args() -> List[str]:
    return ["--address", f"ray://127.0.0.1:{closed_port()}", "--gcs-address", f"127.0.0.1:{closed_port()}",
            "--dashboard-url", f"http://127.0.0.1:{closed_port()}/"]


# -- a terminal, and what it shows --------------------------------------------------------------------------------


@dataclass
class Screen:
    """What a terminal shows after the bytes it was sent: text, carriage return, line feed, and the codes the tool
    writes (colours, clear to the end of the line, cursor up, clear to the end of the screen). Anything else is
    kept in ``unknown``."""

    lines: List[str] = field(default_factory=lambda: [""])
    row: int = 0
    col: int = 0
    unknown: List[str] = field(default_factory=list)

    def feed(self, text: str) -> "Screen":
        i = 0
        while i < len(text):
            code = _ESC.match(text, i)
            if code:
                self._code(code.group(1), code.group(2))
                i = code.end()
                continue
            char = text[i]
            i += 1
            if char == "\x1b":
                self.unknown.append(repr(text[i - 1:i + 8]))
            elif char == "\r":
                self.col = 0
            elif char == "\n":
                self.row += 1
                if self.row == len(self.lines):
                    self.lines.append("")
            elif char < " ":
                self.unknown.append(repr(char))
            else:
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[:self.col] + char + line[self.col + 1:]
                self.col += 1
        return self

    def _code(self, args: str, final: str) -> None:
        if final == "m":
            return
        if final == "K" and args in ("", "0"):
            self.lines[self.row] = self.lines[self.row][:self.col]
        elif final == "A":
            self.row = max(0, self.row - int(args or 1))
        elif final == "J" and args in ("", "0"):
            self.lines[self.row] = self.lines[self.row][:self.col]
            del self.lines[self.row + 1:]
        else:
            self.unknown.append(f"ESC[{args}{final}")

    @property
    def text(self) -> List[str]:
        shown = [line.rstrip() for line in self.lines]
        while shown and not shown[-1]:
            shown.pop()
        return shown


@dataclass
class Transcript:
    chunks: List[Tuple[float, str]]
    code: int
    took: float
    stdout: Optional[str] = None

    @property
    def raw(self) -> str:
        return "".join(text for _, text in self.chunks)

    def first(self, pattern: str) -> float:
        """When the output first matched ``pattern`` (seconds after the start)."""
        seen = ""
        for at, text in self.chunks:
            seen += text
            if re.search(pattern, _SGR.sub("", seen)):
                return at
        raise AssertionError(f"never shown: {pattern!r} in {self.raw!r}")


def _terminal() -> Tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    return master, slave


def on_a_terminal(args: List[str], stdout_too: bool = True, timeout: float = 180) -> Transcript:
    """``ray-preflight ARGS`` with its stderr (and its stdout, unless ``stdout_too`` is false: then a pipe) on a
    pseudo-terminal, read as it comes, with the time of each piece."""
    master, slave = _terminal()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "preflight", *args], stdin=subprocess.DEVNULL, stderr=slave,
                            stdout=slave if stdout_too else subprocess.PIPE, env=env)
    os.close(slave)
    chunks: List[Tuple[float, str]] = []
    try:
        while time.monotonic() - t0 < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has gone
                break
            if not data:
                break
            chunks.append((time.monotonic() - t0, data.decode("utf-8", "replace")))
        stdout = proc.stdout.read().decode("utf-8") if proc.stdout is not None else None
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return Transcript(chunks, code, time.monotonic() - t0, stdout)


def _ids(lines: List[str]) -> List[str]:
    """The check ids the lines name, in order (a collapsed line names several)."""
    found = []
    for line in lines:
        head = re.match(r"^ \S+ ((?:[a-z][a-z0-9:-]*, )*[a-z][a-z0-9:-]*)\s", line)
        if head:
            found.extend(head.group(1).split(", "))
    return found


# -- the engine: told as it goes ----------------------------------------------------------------------------------


def test_each_result_is_told_when_judged_and_progress_says_what_runs_at_which_step() -> None:
    def quick_facts():  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return {}

    def job_facts(ctx):  # type: ignore[no-untyped-def]
        with ctx.stage_file({"first": "the first step"}) as path:
            for stage in ("first", "second"):
                with open(path, "w") as handle:
                    handle.write(stage)
                time.sleep(0.8)
        return {}

    probes = {"quick_facts": make_probe(quick_facts), "job_facts": make_probe(job_facts, owner="job")}
    checks = {"quick": make_check("quick", "Quick", lambda quick_facts: passed("at once")),
              "job": make_check("job", "Job", lambda job_facts: passed("after the job")),
              "gone": make_check("gone", "Gone", lambda: skipped("nothing to do"))}
    t0 = time.monotonic()
    told: List[Tuple[float, Result]] = []
    seen: List[Tuple[float, Progress]] = []
    report = run(config.build("ray://head:10001", environ={}), checks=checks, probes=probes,
                 on_result=lambda r: told.append((time.monotonic() - t0, r)),
                 on_progress=lambda p: seen.append((time.monotonic() - t0, p)))
    took = time.monotonic() - t0
    assert sorted(r.id for _, r in told) == ["gone", "job", "quick"]
    assert [r for _, r in sorted(told, key=lambda pair: ["quick", "job", "gone"].index(pair[1].id))] == report.results
    when = {r.id: at for at, r in told}
    assert when["quick"] < 0.5 and when["gone"] < 0.5 and took - 0.3 < when["job"] <= took, (when, took)
    assert seen[0][1] == Progress({}, ("quick", "job", "gone"))  # before anything starts: every check waits
    steps = [p.running["job_facts"].step for _, p in seen if "job_facts" in p.running]
    assert "the first step" in steps and "second" in steps  # a stage without a label is shown as written
    running = next(p.running["job_facts"] for _, p in seen if "job_facts" in p.running)
    assert running.label == "job" and 0 <= running.since - t0 < 0.5  # named after the check it belongs to
    quick = [p.running["quick_facts"].label for _, p in seen if "quick_facts" in p.running]
    assert quick and set(quick) == {"quick"}, quick  # a probe no check owns: named after the check that waits for it
    assert all(b - a < 0.75 for (a, _), (b, _) in zip(seen, seen[1:]))  # heard from at least every TICK_S


def test_the_status_line_names_each_waiting_check_once_longest_running_first() -> None:
    from preflight.render.text import running_line

    now = 100.0
    line = running_line({"ray_client": Running("ray-version", now - 0.4, None), "server": Running("ray-version", now - 0.2, None),
                         "fibonacci_run": Running("fibonacci", now - 3.2, "remote tasks")}, now)
    assert line == "running: fibonacci: remote tasks 3.2 s, ray-version 0.4 s", line
    assert running_line({}, now) == ""


def test_a_display_that_breaks_is_dropped_and_the_run_goes_on() -> None:
    calls: List[str] = []

    def broken(result: Result) -> None:
        calls.append(result.id)
        raise RuntimeError("the display is gone")

    checks = {cid: make_check(cid, cid, lambda: passed("ok")) for cid in ("a", "b", "c")}
    report = run(config.build("ray://head:10001", environ={}), checks=checks, probes={}, on_result=broken)
    assert [r.status for r in report] == [Status.PASS] * 3 and calls == ["a"]


def test_on_a_terminal_the_live_lines_give_way_to_the_report() -> None:
    """The terminal view alone, driven as the runner drives it: the screen ends with nothing but what follows it."""
    master, slave = _terminal()
    out = os.fdopen(slave, "w", encoding="utf-8")
    try:
        live = Terminal(out, report_stream=out).watch(config.build("ray://head:10001", environ={}))
        with live:
            live.progress(Progress({}, ("reachability", "kubernetes", "raycluster")))
            live.result(Result("reachability", "t", Status.PASS, "answers"))
            live.result(Result("kubernetes", "t", Status.SKIP, NO_KUBE))
            live.result(Result("raycluster", "t", Status.SKIP, NO_KUBE))
            live.progress(Progress({"fibonacci_run": Running("fibonacci", time.monotonic() - 2, "remote tasks")}, ()))
            time.sleep(0.5)
        out.write("THE REPORT\n")
        out.flush()
        time.sleep(0.2)
        raw = os.read(master, 1 << 20).decode("utf-8")
    finally:
        out.close()
        os.close(master)
    plain = _SGR.sub("", raw)
    assert " - kubernetes, raycluster " + NO_KUBE in plain  # judged together, skipped for the same cause: one line
    assert re.search(r"running: fibonacci: remote tasks 2\.\d s", plain)
    screen = Screen().feed(raw)
    assert screen.unknown == [] and screen.text == ["THE REPORT"], (screen.text, raw)


def test_without_a_terminal_slow_work_is_announced_once_then_each_step_it_reaches() -> None:
    import io

    class Log(io.StringIO):
        encoding = "utf-8"

    out = Log()
    live = Terminal(out).watch(config.build("ray://head:10001", environ={}))
    started = time.monotonic()
    with live:
        live.progress(Progress({"fibonacci_run": Running("fibonacci", started, "ray.init")}, ("fibonacci",)))
        live.progress(Progress({"fibonacci_run": Running("fibonacci", started - 11, "ray.init")}, ("fibonacci",)))
        live.progress(Progress({"fibonacci_run": Running("fibonacci", started - 12, "ray.init")}, ("fibonacci",)))
        live.progress(Progress({"fibonacci_run": Running("fibonacci", started - 13, "remote tasks")}, ("fibonacci",)))
        live.result(Result("fibonacci", "t", Status.PASS, "ran"))
        live.stage("report", "reading the cluster's state")  # the status line's alone: nothing here
    assert out.getvalue().splitlines() == [
        "… fibonacci is taking an unexpectedly long time (11 s so far: ray.init)",
        "… fibonacci: remote tasks (13 s so far)",
        " ✓ fibonacci   ran",
    ]


# -- the command --------------------------------------------------------------------------------------------------


def test_skips_for_the_same_cause_are_one_line_and_v_shows_each() -> None:
    args = unreachable_args()
    quiet = run_cli(args)
    assert quiet.returncode == 1, quiet.stdout + quiet.stderr
    lines = quiet.stdout.splitlines()
    assert KUBE_LINE in lines
    unreachable = [line for line in lines if "skipped: cluster unreachable" in line]
    assert len(unreachable) == 1 and {"ray-version", "python-version", "dashboard"} <= set(_ids(unreachable))
    assert lines[-1].startswith("NO-GO: ") and re.search(r"\b1[0-9] skipped\b", lines[-1])  # still counted one by one
    verbose = run_cli([*args, "-v"]).stdout.splitlines()
    for cid in KUBE_CHECKS:
        assert sum(line.startswith(f" - {cid} ") and NO_KUBE in line for line in verbose) == 1, verbose
    assert KUBE_LINE not in verbose
    # a file or a pipe gets the lines as they come, plain: no carriage return, no escape code
    assert "\r" not in quiet.stderr and "\x1b" not in quiet.stderr and "\r" not in quiet.stdout and "\x1b" not in quiet.stdout
    assert " ✗ reachability " in quiet.stderr and set(KUBE_CHECKS) <= set(_ids(quiet.stderr.splitlines()))


def test_one_log_for_stdout_and_stderr_says_each_line_once(tmp_path: Any) -> None:
    """``ray-preflight > run.log 2>&1`` (and ``2>&1 | tee``): the report follows in the same file, so the live lines are
    left to it; each check is in the log once, the header once, the verdict last."""
    log = tmp_path / "run.log"
    with open(log, "w") as both:
        done = subprocess.run([sys.executable, "-m", "preflight", *unreachable_args()], stdout=both, stderr=both, timeout=180,
                              env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    lines = log.read_text().splitlines()
    assert done.returncode == 1, lines
    assert sum(line.startswith(" ✗ reachability ") for line in lines) == 1, lines
    assert lines.count(KUBE_LINE) == 1 and sum(line.startswith("ray-preflight ") for line in lines) == 1, lines
    assert lines[-1].startswith("NO-GO: "), lines
    piped = subprocess.run(f"{sys.executable} -m preflight {' '.join(unreachable_args())} 2>&1 | cat", shell=True,
                           capture_output=True, text=True, timeout=180)
    assert piped.stdout.count(" ✗ reachability ") == 1, piped.stdout


def test_json_and_junit_show_no_progress_on_a_pipe() -> None:
    for fmt in ("json", "junit"):
        proc = run_cli([*unreachable_args(), "--format", fmt])
        assert proc.returncode == 1 and proc.stderr == "", proc.stderr
        if fmt == "json":
            assert json.loads(proc.stdout)["verdict"] == "NO-GO"  # exactly one JSON object
        else:
            assert proc.stdout.startswith("<?xml")


# -- Result, readable ---------------------------------------------------------------------------------------------


def test_a_result_reads_well_and_its_html_is_escaped_like_the_reports() -> None:
    result = Result("odd<id>", "Odd", Status.FAIL, "a <b>bold</b> & 'quoted' claim", 'pip install "x<2"')
    html = result._repr_html_()
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27; claim" in html
    assert "<code>odd&lt;id&gt;</code>" in html and "<code>pip install &quot;x&lt;2&quot;</code>" in html
    assert html.count("<tr>") == 2  # the head and one row
    row = re.search(r"<tbody>(.*)</tbody>", render_result(result)).group(1)  # type: ignore[union-attr]
    from preflight.model import Report

    assert row in render_table(Report("auto", "ray://h:10001", None, [result]))  # the row the report's table shows
    assert repr(result) == "<Result odd<id> fail: a <b>bold</b> & 'quoted' claim>"
    assert str(result) == "odd<id>: fail: a <b>bold</b> & 'quoted' claim\n  remedy: pip install \"x<2\""
    assert str(Result("ok", "Ok", Status.PASS, "fine", "never shown for a pass")) == "ok: pass: fine"


# -- against a real Ray head --------------------------------------------------------------------------------------


@pytest.mark.live
def test_on_a_terminal_lines_come_as_verdicts_do_and_the_screen_ends_with_the_report(head_args: List[str]) -> None:
    shown = on_a_terminal([*head_args, *SLACK])
    assert shown.code == 0, shown.raw
    first_line = shown.first(r" ✓ \S+ ")
    fib_runs = shown.first(r"running: [^\r]*fibonacci")
    fib_step = shown.first(r"fibonacci: (ray\.init|remote tasks|local computation|asking a worker for its packages|ray\.shutdown) "
                           r"\d+\.\d s")
    verdict = shown.first(r"GO: nothing failed")
    # the first check's line well before the end (the Fibonacci job takes seconds), the job named while it runs
    assert first_line < verdict - 1.5, (first_line, verdict)
    assert first_line <= fib_runs <= fib_step < verdict
    screen = Screen().feed(shown.raw)
    assert screen.unknown == [], screen.unknown
    lines = screen.text
    assert lines[0].startswith("ray-preflight ") and lines[-1].startswith("GO: nothing failed: ")
    assert KUBE_LINE in lines and not any("running:" in line for line in lines)
    ids = _ids(lines)
    assert len(ids) == len(set(ids)) and {"reachability", "fibonacci", "package-parity", *KUBE_CHECKS} <= set(ids), lines
    assert _SGR.sub("", shown.raw).count(" ✓ client-packages ") == 2  # shown live, then in the report


@pytest.mark.live
def test_with_the_report_on_a_pipe_stdout_is_the_plain_report_and_the_terminal_keeps_the_lines(head_args: List[str]) -> None:
    shown = on_a_terminal([*head_args, "--skip", "fibonacci"], stdout_too=False)
    assert shown.code == 0 and shown.stdout is not None, shown.raw
    report = shown.stdout.splitlines()
    assert "\x1b" not in shown.stdout and "\r" not in shown.stdout and report[0].startswith("ray-preflight ")
    assert report[-1].startswith("GO: nothing failed: ") and KUBE_LINE in report
    screen = Screen().feed(shown.raw)
    assert screen.unknown == [] and not any("running:" in line for line in screen.text)
    assert screen.text[0] == report[0] and len(_ids(screen.text)) == len(set(_ids(screen.text))) == len(set(_ids(report)))


@pytest.mark.live
def test_json_on_a_terminal_and_on_a_pipe_is_one_json_object(head_args: List[str]) -> None:
    shown = on_a_terminal([*head_args, *SLACK, "--format", "json"])
    assert shown.code == 0, shown.raw
    assert json.loads(shown.raw.replace("\r\n", "\n"))["verdict"] == "GO"  # nothing but the object on the terminal
    piped = run_cli([*head_args, *SLACK, "--format", "json"])
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert json.loads(piped.stdout)["verdict"] == "GO"


def _kernel_messages(code: List[str], timeout: float = 240) -> List[List[Dict[str, Any]]]:
    """Run each cell on a real Jupyter kernel (this Python's); each cell's iopub messages, with their arrival time."""
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120, env=env)
    cells: List[List[Dict[str, Any]]] = []
    try:
        for source in code:
            messages: List[Dict[str, Any]] = []

            def hook(message: Dict[str, Any], into: List[Dict[str, Any]] = messages) -> None:
                into.append(dict(message, seen=time.monotonic()))

            reply = client.execute_interactive(source, output_hook=hook, timeout=timeout)
            assert reply["content"]["status"] == "ok", reply["content"]
            cells.append(messages)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return cells


@pytest.mark.live
def test_in_a_notebook_the_cell_fills_in_while_the_checks_run_then_shows_the_report(ray_head: Any) -> None:
    call = (f"preflight.check({ray_head.address!r}, dashboard_url={ray_head.dashboard_url!r}, "
            f"gcs_address={ray_head.gcs_address!r}, fib_tasks=2, timeout=150")
    filled, shown, bare, shape = _kernel_messages([
        f"import preflight\nreport = {call})",
        "report",
        f"{call}, only='reachability,python-version')",
        "import sys\nprint(report.ok, 'ray' in sys.modules, repr(report['python-version']))",
    ])
    created = [m for m in filled if m["msg_type"] == "display_data"]
    assert len(created) == 1 and created[0]["content"]["transient"]["display_id"]
    display_id = created[0]["content"]["transient"]["display_id"]
    updates = [m for m in filled if m["msg_type"] == "update_display_data"]
    assert len(updates) >= 5 and all(m["content"]["transient"]["display_id"] == display_id for m in updates)
    html = [m["content"]["data"]["text/html"] for m in updates]
    # checks done while the job still ran: a passed row and the job named with its step, well before the end
    during = next(m for m in updates if ">pass<" in m["content"]["data"]["text/html"]
                  and re.search(r"running: [^<]*fibonacci", m["content"]["data"]["text/html"]))
    assert updates[-1]["seen"] - during["seen"] > 1.0
    assert any(re.search(r"fibonacci: (ray\.init|remote tasks|local computation)", h) for h in html)
    # the final output is the report's full table, the very one the Report shows when displayed
    result = next(m for m in shown if m["msg_type"] == "execute_result")["content"]["data"]
    assert html[-1] == result["text/html"] and html[-1].startswith("<div class='ray-preflight'><p><b style='color:#1a7f37'>GO</b>")
    assert all(f"<code>{cid}</code>" in html[-1] for cid in ("reachability", "fibonacci", *KUBE_CHECKS))
    assert updates[-1]["content"]["data"]["text/plain"].splitlines()[-1].startswith("GO: nothing failed")
    # the report as the cell's own result: the live output steps aside, so the table shows once
    own = next(m for m in bare if m["msg_type"] == "execute_result")["content"]["data"]
    last = [m for m in bare if m["msg_type"] == "update_display_data"][-1]["content"]["data"]
    assert "<code>python-version</code>" in own["text/html"] and last == {"text/plain": ""}
    printed = "".join(m["content"].get("text", "") for m in shape if m["msg_type"] == "stream")
    assert printed.startswith("True False <Result python-version pass: "), printed
