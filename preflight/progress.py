"""Live progress while a run goes on, fed by the runner's ``on_result`` and ``on_progress``: what a person sees
before the report.

- ``Terminal`` (``ray-preflight``, text format): on stderr, never on stdout, so stdout holds the report alone.
  Each check's line is printed the moment its verdict is known. On a terminal one status line under them, rewritten
  in place, names what still runs and for how long (``running: fibonacci: remote tasks 2.1 s, kubernetes 0.4 s``); it is
  cleared at the end, and when the report follows on the same terminal the live lines are cleared too, so that the
  screen ends with the report alone, in its order. Elsewhere (a file, a pipe, a CI log) the lines are plain, with no
  control code, and work still running after ``SLOW_AFTER_S`` is announced once, then each step it reaches. When
  stderr and stdout are one file or pipe (``> run.log 2>&1``, ``2>&1 | tee``), the check lines are left to the
  report, which follows there: only the slow-work notices are written live, so the log says each line once.
- ``Notebook`` (``preflight.check()`` in Jupyter): one output that fills in while the run goes on (an IPython display
  handle) and ends as the report's table. Only inside a kernel: IPython is never imported otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from preflight.model import Progress, Report, Result, Running
from preflight.redaction import mask
from preflight.render.text import Style, fit, group_line, grouped, header_line, id_width, result_line, running_line
from preflight.runner import SLOW_AFTER_S  # work running this long is announced where no status line shows it

#: How often the status line is redrawn (its times count up).
REDRAW_S = 0.2

_CLEAR_LINE = "\r\033[K"


def interactive(stream: Optional[IO[str]]) -> bool:
    """A terminal that understands a carriage return and the clear-line code."""
    try:
        return stream is not None and stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError, OSError):
        return False


def _same_terminal(one: IO[str], other: IO[str]) -> bool:
    try:
        return os.path.samestat(os.fstat(one.fileno()), os.fstat(other.fileno()))
    except (AttributeError, ValueError, OSError):
        return False


def _secrets(config: Any) -> List[str]:
    return [value for value, _ in getattr(config, "secrets", ())]


class Terminal:
    """The live view of a run on ``stream`` (the command's stderr); a context manager around the run.

    ``report_stream``: where the report is printed after the run (stdout), or None when none follows (``report``).
    When it is the same terminal, the live lines are cleared at the end: the report says all of it again, in order."""

    def __init__(self, stream: IO[str], report_stream: Optional[IO[str]] = None):
        self.stream = stream
        self.tty = interactive(stream)
        self.style = Style(stream, None if self.tty else False)
        self.dots = "…" if self.style.unicode else "..."
        self.header = ""
        self.secrets: List[str] = []
        same = report_stream is not None and _same_terminal(stream, report_stream)
        self.erase = self.tty and same and interactive(report_stream)
        self.merged = same and not self.tty  # one log for both: the report says each line, once
        self.width = 10
        self.started = False
        self.held: List[Result] = []
        self.lines = 0
        self.status = ""
        self.running: Dict[str, Running] = {}
        self.stages: Dict[str, Running] = {}
        self.told: Dict[str, Optional[str]] = {}
        self.broken = False
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.ticker: Optional[threading.Thread] = None

    def watch(self, config: Any) -> "Terminal":
        """Show the run of ``config`` (a ``RunConfig``): its header, and its secrets masked wherever a server echoes one."""
        from preflight import __version__

        self.secrets = _secrets(config)
        self.header = mask(header_line(__version__, config.profile.name, config.target.address, Style(self.stream, False)), self.secrets)
        return self

    # -- what the runner says --------------------------------------------------------------------------------

    def progress(self, progress: Progress) -> None:
        with self.lock:
            if not self.started:
                self._begin(progress.waiting)
            self._print_held()
            self.running = dict(progress.running)
            if self.tty:
                self._draw()
            else:
                self._tell_slow()

    def result(self, result: Result) -> None:
        """Held until the runner's next word on progress, which follows at once: results judged together are printed
        together, and those skipped for the same cause on one line."""
        with self.lock:
            self.held.append(result)

    def _print_held(self) -> None:
        if not self.started:
            self._begin([r.id for r in self.held])
        if self.merged:  # the report follows in the same log and says each line
            self.held = []
            return
        for group in grouped(self.held):
            line = mask(group_line(group, self.style) if len(group) > 1 else result_line(group[0], self.width, self.style), self.secrets)
            if self.tty:
                self._write(_CLEAR_LINE + fit(line, self._columns(), self.dots) + "\n")
                self.lines += 1
                self.status = ""
            else:
                self._write(line + "\n")
        self.held = []

    def stage(self, label: str, step: Optional[str]) -> None:
        """Work outside the runner (the bundle's steps) for the status line: ``report: reading the cluster's state``."""
        with self.lock:
            if step is None:
                self.stages.pop(label, None)
            else:
                since = self.stages[label].since if label in self.stages else time.monotonic()
                self.stages[label] = Running(label, since, step)
            if self.tty:
                self._draw()

    # -- the context ---------------------------------------------------------------------------------------------

    def __enter__(self) -> "Terminal":
        if self.tty:
            self.ticker = threading.Thread(target=self._tick, name="ray-preflight-progress", daemon=True)
            self.ticker.start()
        return self

    def __exit__(self, kind: Any, value: Any, trace: Any) -> None:
        self.close(erase=kind is None)

    def close(self, erase: bool = True) -> None:
        """Stop: the status line is cleared; with ``erase`` (and the report to follow here), the live lines too."""
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join(timeout=2)
        with self.lock:
            if self.held:
                self._print_held()
            if not self.tty:
                return
            self.status = ""
            self._write(_CLEAR_LINE)
            if erase and self.erase and self.lines:
                # up to the first live line (the header), then clear to the end of the screen
                self._write(f"\033[{self.lines}A\r\033[J")
                self.lines = 0

    # -- drawing ---------------------------------------------------------------------------------------------------

    def _begin(self, selected: Sequence[str]) -> None:
        self.started = True
        self.width = id_width(selected)
        if self.tty:
            self._write(fit(self.header, self._columns(), self.dots) + "\n")
            self.lines += 1

    def _tick(self) -> None:
        while not self.stop.wait(REDRAW_S):
            with self.lock:
                self._draw()

    def _draw(self) -> None:
        work = dict(self.running, **{f"stage:{k}": v for k, v in self.stages.items()})
        text = running_line(work, time.monotonic())
        line = fit(self.style.paint(text, "90"), self._columns(), self.dots) if text else ""
        if line != self.status:
            self.status = line
            self._write(_CLEAR_LINE + line)

    def _tell_slow(self) -> None:
        """Without a status line: work running for SLOW_AFTER_S is announced once, then each new step it reaches."""
        now = time.monotonic()
        for name, work in sorted(self.running.items()):
            took = now - work.since
            if name not in self.told and took >= SLOW_AFTER_S:
                self.told[name] = work.step
                step = f": {work.step}" if work.step else ""
                self._write(f"{self.dots} {work.label} is taking an unexpectedly long time ({took:.0f} s so far{step})\n")
            elif name in self.told and work.step and work.step != self.told[name]:
                self.told[name] = work.step
                self._write(f"{self.dots} {work.label}: {work.step} ({took:.0f} s so far)\n")

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
        return max(20, columns - 1)  # never the last column: a full line would wrap on some terminals

    def _write(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError, UnicodeError):  # a closed or unwritable stderr: the run goes on without progress
            self.broken = True


class Notebook:
    """The output a notebook cell shows while ``preflight.check()`` runs: a table that fills in, then the report's."""

    def __init__(self, shell: Any, display: Callable[..., Any], profile: str, address: str, secrets: Sequence[str] = ()):
        self.shell = shell
        self.profile, self.address, self.secrets = profile, mask(address, secrets), list(secrets)
        self.order: List[str] = []
        self.done: Dict[str, Result] = {}
        self.running: Dict[str, Running] = {}
        self.started = time.monotonic()
        self.handle = display(self._bundle(), raw=True, display_id=True)

    @classmethod
    def for_run(cls, config: Any) -> Optional["Notebook"]:
        """The live output when this runs in a Jupyter kernel, else None."""
        shell = kernel_shell()
        if shell is None:
            return None
        try:
            from IPython.display import display

            return cls(shell, display, config.profile.name, config.target.address, _secrets(config))
        except Exception:  # noqa: BLE001 - no live output is better than no report
            return None

    def progress(self, progress: Progress) -> None:
        if not self.order:
            self.order = list(progress.waiting) + [cid for cid in self.done if cid not in progress.waiting]
        self.running = dict(progress.running)
        self._update(self._bundle())

    def result(self, result: Result) -> None:
        self.done[result.id] = dataclasses.replace(result, summary=mask(result.summary, self.secrets),
                                                   remedy=mask(result.remedy, self.secrets) if result.remedy else result.remedy)
        if result.id not in self.order:
            self.order.append(result.id)

    def finish(self, report: Report) -> None:
        """The report's own table in place of the live one. When the cell then shows ``report`` itself as its result
        (``preflight.check(...)`` as its last line), the live output steps aside, so that the table is there once."""
        from preflight.render.text import render

        self._update({"text/plain": render(report, color=False).rstrip("\n"), "text/html": report._repr_html_()})

        def after(result: Any = None) -> None:
            try:
                self.shell.events.unregister("post_run_cell", after)
            except ValueError:
                pass
            if getattr(result, "result", None) is report:
                self._update({"text/plain": ""})

        try:
            self.shell.events.register("post_run_cell", after)
        except Exception:  # noqa: BLE001 - an IPython without that event: the table may show twice
            pass

    def abort(self) -> None:
        """The run ended without a report (interrupted): the table as far as it got."""
        self.running = {}
        self._update(self._bundle("stopped before the end"))

    def _update(self, bundle: Dict[str, str]) -> None:
        try:
            self.handle.update(bundle, raw=True)
        except Exception:  # noqa: BLE001 - a display that cannot be updated does not stop the run or hide its report
            pass

    def _bundle(self, note: Optional[str] = None) -> Dict[str, str]:
        from preflight.render.html import render_live

        now = time.monotonic()
        status = note or running_line(self.running, now)
        done = f"{len(self.done)} of {len(self.order)} checks done" if self.order else "starting"
        text = f"ray-preflight: {done}" + (f"; {status}" if status else "")
        html = render_live(self.profile, self.address, self.order, self.done, self.running, now, now - self.started, status)
        return {"text/plain": text, "text/html": html}


def kernel_shell() -> Any:
    """The IPython shell when this Python is a Jupyter kernel (IPython already imported, a kernel attached), else None.
    Never imports IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a half-imported or unusual IPython
        return None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None
