"""The ``ray-preflight`` entry point: parses nothing itself (``preflight.cli_app`` does), turns every way a command
can end into an exit code and at most one line on stderr, never a traceback. Exit 0: GO; 1: NO-GO (something failed
or errored, or nothing could be checked); 2: the input was unusable; 130: interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List, Optional

from preflight import __version__
from preflight.commands import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG


def _usage_error(message: str) -> int:
    line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {line}\n")
    return EXIT_USAGE


def _interrupted() -> int:
    sys.stderr.write(f"{PROG}: interrupted\n")
    return EXIT_INTERRUPTED


def main(argv: Optional[List[str]] = None) -> None:
    sys.exit(run_cli(sys.argv[1:] if argv is None else argv))


def _is_click_usage_error(exc: BaseException) -> bool:
    """click (or typer's copy of it) reports bad flags as exceptions with exit code 2."""
    return hasattr(exc, "format_message") and getattr(exc, "exit_code", None) == 2


def _flag_values(argv: List[str]) -> List[str]:
    """``--scale-test`` alone means ``--scale-test=up`` (click options cannot take an optional value)."""
    out: List[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:]
        out.append("--scale-test=up" if arg == "--scale-test" else arg)
    return out


def _invoke(argv: List[str]) -> int:
    import typer

    from preflight.cli_app import build_app

    app, state = build_app(argv)
    command = typer.main.get_command(app)
    result = command.main(args=_flag_values(argv), prog_name=PROG, standalone_mode=False)
    if result == EXIT_INTERRUPTED:  # the CLI framework turns Ctrl-C into a return value of 130
        return _interrupted()
    if isinstance(result, int) and result != 0:
        return result
    return int(state["code"])


def run_cli(argv: List[str]) -> int:
    if argv == ["--version"]:  # answer at once, without loading the CLI framework
        print(f"{PROG} {__version__}")
        return EXIT_OK
    from preflight.errors import UsageError

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _invoke(argv)
    except UsageError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - never a traceback; the details on request
        if _is_click_usage_error(exc):
            return _usage_error(exc.format_message())  # type: ignore[attr-defined]
        name = type(exc).__name__
        if name == "Abort":
            return _interrupted()
        if name == "Exit":
            code = int(getattr(exc, "exit_code", 0) or 0)
            return _interrupted() if code == EXIT_INTERRUPTED else code  # the CLI framework's Ctrl-C: Exit(130)
        if os.environ.get("RAY_PREFLIGHT_DEBUG"):
            raise
        sys.stderr.write(f"{PROG}: internal error: {name}: {exc} (set RAY_PREFLIGHT_DEBUG=1 for the traceback)\n")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
