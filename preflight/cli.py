"""The ``ray-preflight`` entry point: parses nothing itself (``preflight.cli_app`` does), turns every way a command
can end into an exit code and at most one line on stderr, never a traceback. Exit 0: GO; 1: NO-GO (something failed
or errored, or nothing could be checked); 2: the input was unusable; 130: interrupted.

``--version`` alone is answered without loading the CLI framework, unless the shell asks for completions
(``_RAY_PREFLIGHT_COMPLETE`` set): every completion request reaches typer, which answers it and exits.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List, Optional, Tuple

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


#: What typer reads to answer a shell's completion request (``_<PROG>_COMPLETE``): it must reach the CLI framework.
COMPLETE_VAR = "_{}_COMPLETE".format(PROG.replace("-", "_").upper())
_COMPLETION_OPTIONS = ("--install-completion", "--show-completion")
#: typer's completion options are flags that ask the parent process which shell it is; with this variable set they
#: take the shell's name instead.
_NAMED_SHELL = "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"


def _completion_shell(argv: List[str]) -> Tuple[List[str], bool]:
    """``--show-completion zsh`` (or ``=zsh``): the arguments with the shell attached, and whether one was named."""
    out: List[str] = []
    named = False
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:], named
        option, _, value = arg.partition("=")
        if option in _COMPLETION_OPTIONS and value:
            named = True
        elif arg in _COMPLETION_OPTIONS and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            named = True  # a name that is no shell's is refused by typer, naming the shells it knows
            arg = f"{arg}={argv[i + 1]}"
        elif i and argv[i - 1] in _COMPLETION_OPTIONS and not arg.startswith("-"):
            continue
        out.append(arg)
    return out, named


def _invoke(argv: List[str]) -> int:
    import typer

    from preflight.cli_app import build_app, shaped

    args, named = _completion_shell(_flag_values(argv))
    saved = os.environ.get(_NAMED_SHELL)
    if named:  # the options take the shell's name from here on (typer reads this when it makes them)
        os.environ[_NAMED_SHELL] = "1"
    try:
        app, state = build_app(argv)
        command = shaped(typer.main.get_command(app))
    finally:
        if saved is None:
            os.environ.pop(_NAMED_SHELL, None)
        else:
            os.environ[_NAMED_SHELL] = saved
    result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    if result == EXIT_INTERRUPTED:  # the CLI framework turns Ctrl-C into a return value of 130
        return _interrupted()
    if isinstance(result, int) and result != 0:
        return result
    return int(state["code"])


def run_cli(argv: List[str]) -> int:
    if argv == ["--version"] and COMPLETE_VAR not in os.environ:  # answer at once, without loading the CLI framework
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
