"""What the ``ray-preflight`` commands do once their options are parsed: run the checks and show the report,
against a throwaway local head or a given cluster, and write the support bundle. The command-line framework
(``preflight.cli_app``) calls these; they know nothing of it.

stdout holds the report and nothing else. With the text format, the run's live progress goes to stderr
(``preflight.progress.Terminal``); with ``--format json`` or ``junit`` there is none.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "ray-preflight"


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


def run_checks(config, output_format: str, verbose: bool, junit_xml: Optional[str] = None):  # type: ignore[no-untyped-def]
    from preflight.runner import run

    if junit_xml:
        _writable(junit_xml, "--junit-xml")

    if output_format != "text" or sys.stderr is None:
        report = run(config)
    else:
        from preflight.progress import Terminal

        with Terminal(sys.stderr, report_stream=sys.stdout).watch(config) as live:
            report = run(config, on_result=live.result, on_progress=live.progress)
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


def run_local(options, output_format: str, verbose: bool, junit_xml: Optional[str] = None):  # type: ignore[no-untyped-def]
    from preflight import config as config_module
    from preflight.local_head import against_local_head

    return against_local_head(
        options, lambda address, opts: run_checks(config_module.build(address, **opts), output_format, verbose, junit_xml),
        announce=_say if output_format == "text" else None)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def write_report(options, local: bool, output: Optional[str], redact: List[str], argv: List[str]) -> int:  # type: ignore[no-untyped-def]
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
        from preflight.progress import Terminal

        _say("running every check, then reading the cluster's state …")
        live = Terminal(sys.stderr)  # no report follows on stdout: the check lines stay

        def checks(config: Any, resources: Any) -> Any:
            live.watch(config)
            return run(config, on_result=live.result, on_progress=live.progress, resources=resources)

        with live:
            return bundle.create(plan, build, command_line=command_line, run=checks, on_stage=lambda step: live.stage("report", step))

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
