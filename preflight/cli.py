"""The ``ray-preflight`` command. Exit 0: nothing failed; 1: something failed or errored;
2: the input was unusable (one line on stderr, never a traceback).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List, Optional

from preflight import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "ray-preflight"


def _usage_error(message: str) -> int:
    line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {line}\n")
    return EXIT_USAGE


def _interrupted() -> int:
    sys.stderr.write(f"{PROG}: interrupted\n")
    return EXIT_INTERRUPTED


def _on_slow(name: str, elapsed: float) -> None:
    sys.stderr.write(f"… {name} is taking an unexpectedly long time ({elapsed:.0f} s so far)\n")
    sys.stderr.flush()


def _emit(report, output_format: str, verbose: bool) -> None:  # type: ignore[no-untyped-def]
    from preflight.render.text import render, render_json

    if output_format == "json":
        sys.stdout.write(render_json(report))
    elif output_format == "junit":
        from preflight.render.junit import render_junit

        sys.stdout.write(render_junit(report))
    else:
        sys.stdout.write(render(report, verbose=verbose, stream=sys.stdout))
    sys.stdout.flush()


def _run(config, output_format: str, verbose: bool, junit_xml: Optional[str] = None):  # type: ignore[no-untyped-def]
    from preflight.runner import run

    if junit_xml:
        _writable(junit_xml, "--junit-xml")

    report = run(config, on_slow=_on_slow if output_format == "text" else None)
    _emit(report, output_format, verbose)
    if junit_xml:
        write_junit(report, junit_xml)
    return report


def _writable(path: str, flag: str) -> None:
    """Refuse an output path that cannot be written before the run, not after it."""
    from preflight.errors import UsageError

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: the folder is not writable")


def write_junit(report, path: str) -> None:  # type: ignore[no-untyped-def]
    from preflight.errors import UsageError
    from preflight.render.junit import render_junit

    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render_junit(report))
    except OSError as exc:
        raise UsageError(f"--junit-xml {path}: {exc.strerror or exc}") from None


def _run_local(options, output_format: str, verbose: bool, junit_xml: Optional[str] = None):  # type: ignore[no-untyped-def]
    from preflight import config as config_module
    from preflight.local_head import against_local_head

    return against_local_head(
        options, lambda address, opts: _run(config_module.build(address, **opts), output_format, verbose, junit_xml),
        announce=_say if output_format == "text" else None)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def _report(options, local: bool, output: Optional[str], redact: List[str], argv: List[str]) -> int:  # type: ignore[no-untyped-def]
    """``ray-preflight report``: write the support bundle and print where, how big, and the verdict; the exit code."""
    from preflight import bundle
    from preflight import config as config_module
    from preflight.errors import UsageError
    from preflight.runner import run

    options = dict(options)
    address = options.pop("address")
    command_line = bundle.command_line_of(argv)
    plan = bundle.prepare(environ=os.environ, kubeconfig=options.get("kubeconfig"), output=output, redact=redact)

    def write(build):  # type: ignore[no-untyped-def]
        _say("running every check, then reading the cluster's state …")
        return bundle.create(plan, build, command_line=command_line, run=lambda config: run(config, on_slow=_on_slow))

    try:
        if local:
            from preflight.local_head import against_local_head

            written = against_local_head(options, lambda head, opts: write(lambda: config_module.build(head, **opts)),
                                         announce=_say)
        else:
            written = write(lambda: config_module.build(address, **options))
    except bundle.BundleError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_FAILED
    print(written.describe())
    if written.usage_error:
        raise UsageError(f"{written.usage_error} (the bundle records it)")
    return EXIT_OK


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
