"""The typer application behind ``ray-preflight`` (loaded only when a command runs)."""

import inspect
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import typer

from preflight import __version__
from preflight.commands import EXIT_FAILED, EXIT_OK, PROG, run_checks, run_local, write_report


def _choices(*choices: str) -> Callable[[str], List[str]]:
    """Shell completion of an option that takes one of ``choices`` (they are validated where the value is used)."""
    def complete(incomplete: str) -> List[str]:
        return [c for c in choices if c.startswith(incomplete or "")]

    return complete


def _profile_names(incomplete: str) -> List[str]:
    from preflight import profiles

    return [name for name in profiles.all_profiles() if name.startswith(incomplete or "")]


def _check_ids(*extra: str) -> Callable[[str], List[str]]:
    """Shell completion of comma-separated check ids (and ``extra`` words): the last one is completed, the ones before
    are kept."""
    def complete(incomplete: str) -> List[str]:
        from preflight import registry

        done, _, last = (incomplete or "").rpartition(",")
        prefix = done + "," if done else ""
        return [prefix + cid for cid in [*registry.describe(), *extra] if cid.startswith(last)]

    return complete


def _environment_help() -> str:
    """The environment variables the tool reads, for the main help (from the settings' own table, so it cannot drift)."""
    from preflight import settings

    rows = [("RAY_ADDRESS", "--address")]
    rows += [(variable, f"--{key}") for key, (_, variable, _) in settings.KEYS.items() if variable]
    rows += [("KUBECONFIG", "--kubeconfig (else ~/.kube/config)"), ("RAY_PREFLIGHT_DEBUG=1", "show an internal error's traceback")]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {meaning}" for name, meaning in rows)


def _epilog() -> str:
    """After the options in ``ray-preflight --help``: what the options cannot say. ``\\b`` keeps a paragraph's lines as
    they are written (click rewraps the others)."""
    return "\n\n".join([
        f"Options go after the command (`{PROG} report --address …`): written before it they would be ignored, so "
        "they are refused.",
        "\b\nEnvironment (flags win over it; it wins over the settings file):\n" + _environment_help(),
        "Settings file: ray-preflight.toml, or [tool.ray-preflight] in pyproject.toml, the nearest one from the working "
        "directory upwards (in one folder, ray-preflight.toml wins); its keys are the long options' names "
        "(timeout = 90, ca-bundle = \"corp-ca.pem\").",
        "\b\nExit codes:\n  0    GO: nothing failed or errored, at least one check passed\n"
        "  1    NO-GO: something failed or errored, or nothing could be checked\n"
        "  2    unusable input (bad address, profile, flag...): one line on stderr\n"
        "  130  interrupted (Ctrl-C, SIGTERM)",
        f"Shell completion (bash, zsh, fish): {PROG} --install-completion [bash|zsh|fish] adds it to your shell's start-up "
        "file; --show-completion [bash|zsh|fish] prints the script.",
    ])


def shaped(command: Any) -> Any:
    """The click command of ``build_app``'s app, as its help shows it: an option whose value is optional shows it
    attached to its name (``--scale-test[=full]``: its metavar starts with ``[=``), and the completion options typer
    adds show the shell they may name (``preflight.cli`` passes it on)."""
    for cmd in [command, *getattr(command, "commands", {}).values()]:
        for param in cmd.params:
            if isinstance(param.metavar, str) and param.metavar.startswith("[="):
                param.get_help_record = _shown_as(param.get_help_record, " " + param.metavar, param.metavar)
            elif param.name in _COMPLETION_HELP:
                param.help = _COMPLETION_HELP[param.name]
                param.get_help_record = _shown_as(param.get_help_record, "", " [bash|zsh|fish]")
                param.callback = _shell_by_name(param.name)
    return command


def _shell_by_name(name: str) -> Callable[[Any, Any, Any], Any]:
    """typer's own callback of a completion option, handed a named shell as its plain name (typer would hand it an enum
    member, which its messages show as "Shells.bash" on Python 3.11 and later)."""
    from typer import completion

    callback = completion.install_callback if name == "install_completion" else completion.show_callback

    def call(ctx: Any, param: Any, value: Any) -> Any:
        return callback(ctx, param, getattr(value, "value", value))

    return call


#: The completion options (``add_completion``): without a shell's name, typer asks the parent process which shell it is.
_COMPLETION_HELP = {
    "install_completion": "Install completion for the shell you run this from, or the one named.",
    "show_completion": "Print the completion script for the shell you run this from, or the one named.",
}


def _shown_as(help_record: Callable[[Any], Any], old: str, new: str) -> Callable[[Any], Any]:
    """``help_record`` with ``old`` at the end of the option's names shown as ``new``."""
    def record(ctx: Any) -> Any:
        found = help_record(ctx)
        if not found or not found[0].endswith(old):
            return found
        return found[0][:len(found[0]) - len(old)] + new, found[1]

    return record


def _targeting() -> Dict[str, Tuple[Any, Any]]:
    """The options that say what to check and how: the main command and ``report`` take the same ones."""
    from preflight.config import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_FIB_SIZE, DEFAULT_TIMEOUT_S

    return {
        "address": (Optional[str], typer.Option(None, "--address", "-a", metavar="ADDRESS", help="ray://host:port (Ray Client), "
                                               "host:port (a GCS: ray.init joins as a driver) or http(s)://host:8265 (Ray Jobs); "
                                               "else RAY_ADDRESS, else the profile's.")),
        "profile": (Optional[str], typer.Option(None, "--profile", "-p", metavar="NAME", autocompletion=_profile_names,
                                               help="What the platform release expects (see `profiles`).")),
        "dashboard_url": (Optional[str], typer.Option(None, "--dashboard-url", metavar="URL", help="The dashboard URL (else the "
                                                      "profile's, else head:8265); https://USER:PASSWORD@host/ sends basic auth to it.")),
        "dashboard_headers": (List[str], typer.Option([], "--dashboard-header", metavar="'NAME: VALUE'", help="A header for the "
                                                      "dashboard's requests only (an ingress's or OAuth proxy's sign-in), never "
                                                      "shown; repeatable.")),
        "domain": (Optional[str], typer.Option(None, "--domain", metavar="NAME", help="Fills the profile's dashboard URL pattern.")),
        "gcs_address": (Optional[str], typer.Option(None, "--gcs-address", metavar="HOST:PORT", help="The GCS (default: the head's "
                                                    "host, port 6379).")),
        "only": (Optional[str], typer.Option(None, "--only", metavar="IDS", autocompletion=_check_ids(),
                                            help="Comma-separated check ids to run (see `list`).")),
        "skip": (Optional[str], typer.Option(None, "--skip", metavar="IDS", autocompletion=_check_ids(),
                                            help="Comma-separated check ids to leave out.")),
        "timeout": (Optional[str], typer.Option(None, "--timeout", metavar="SECONDS", help=f"Deadline for the whole run (default "
                                                f"{DEFAULT_TIMEOUT_S:g} s; more with --scale-test, --tune-test).")),
        "connect_timeout": (Optional[str], typer.Option(None, "--connect-timeout", metavar="SECONDS", help=f"Deadline of each network "
                                                        f"step (default {DEFAULT_CONNECT_TIMEOUT_S:g} s).")),
        "fib_size": (str, typer.Option(str(DEFAULT_FIB_SIZE), "--fib-size", metavar="N", help="Fibonacci sequence size per task.")),
        "fib_tasks": (Optional[str], typer.Option(None, "--fib-tasks", metavar="N", help="Fibonacci task count (default: this "
                                                  "machine's CPU count).")),
        "kubeconfig": (Optional[str], typer.Option(None, "--kubeconfig", metavar="FILE", help="Kubeconfig file (else in-cluster, "
                                                   "KUBECONFIG, ~/.kube/config).")),
        "context": (Optional[str], typer.Option(None, "--context", metavar="NAME", help="Kubeconfig context (else the current one).")),
        "namespace": (Optional[str], typer.Option(None, "--namespace", "-n", metavar="NAME", help="RayCluster namespace (else the "
                                                  "address's, the profile's, the context's).")),
        "scale_test": (Optional[str], typer.Option(None, "--scale-test", metavar="[=full]", help="Prove autoscaling: add "
                                                   "demand until a node joins, then release it (=full: and wait for it to leave).")),
        "tune_test": (bool, typer.Option(False, "--tune-test", help="Prove Ray Tune works through your client: a small "
                                         "search (4 trials, 1 CPU each) on the cluster.")),
        "script": (Optional[str], typer.Option(None, "--script", metavar="FILE", help="Also judge your own script or notebook "
                                               "(.py, .ipynb), read, never run: its modules, resources, runtime_env, libraries.")),
        "runtime_env": (Optional[str], typer.Option(None, "--runtime-env", metavar="FILE", help="Judge this runtime_env (YAML or "
                                                    "JSON, as `ray job submit --runtime-env` takes): schema, working_dir, pip.")),
        "ignore": (Optional[str], typer.Option(None, "--ignore", metavar="IDS", autocompletion=_check_ids("all"),
                                              help="Comma-separated check ids (or all) whose failures only warn.")),
        "strict": (bool, typer.Option(False, "--strict", help="Warnings fail the run too.")),
        "ca_bundle": (Optional[str], typer.Option(None, "--ca-bundle", metavar="FILE", help="Verify the dashboard's HTTPS "
                                                  "certificate against this CA file (PEM).")),
        "insecure": (bool, typer.Option(False, "--insecure", help="Do not verify the dashboard's HTTPS certificate (the check warns).")),
        "route": (Optional[str], typer.Option(None, "--route", metavar="[client|jobs]", autocompletion=_choices("client", "jobs"),
                                              help="How you submit: client (ray.init(\"ray://...\"), the default) or jobs (the Ray "
                                                   "Jobs API: any Python, no Ray needed).")),
        "local": (bool, typer.Option(False, "--local", help="Start a throwaway Ray head with the installed Ray and check it.")),
    }


def _with_options(options: Dict[str, Tuple[Any, Any]]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command function (``def f(ctx, **values)``) these options, as if each were written in its signature."""
    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        fixed = [p for p in inspect.signature(func).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
                 for name, (annotation, option) in options.items()]
        func.__signature__ = inspect.Signature(fixed + added)  # type: ignore[attr-defined]
        func.__annotations__ = dict(func.__annotations__, **{name: annotation for name, (annotation, _) in options.items()})
        return func

    return decorate


def _merged(values: Dict[str, Any]) -> Dict[str, Any]:
    """The targeting values after the settings file and the environment (flags win)."""
    from preflight import settings

    keys = [k for k in _targeting() if k != "local"]
    return settings.merge({k: (values[k] or None) if k == "dashboard_headers" else values[k] for k in keys})


def _nothing_before(command: str, values: Dict[str, Any]) -> None:
    """``ray-preflight --address X report`` would drop the address silently: options go after the command."""
    from preflight.errors import UsageError

    given = [option.param_decls[0] for name, (_, option) in _main_options().items() if values.get(name) != option.default]
    if given:
        raise UsageError(f"{', '.join(given)} before `{command}` would be ignored: options go after the command "
                         f"(see {PROG} {command} --help)")


def _main_options() -> Dict[str, Tuple[Any, Any]]:
    """The main command's options: the targeting ones and how to show the result."""
    return dict(_targeting(), **{
        "output_format": (str, typer.Option("text", "--format", "-f", metavar="[text|json|junit]",
                                            autocompletion=_choices("text", "json", "junit"), help="How to show the result.")),
        "junit_xml": (Optional[str], typer.Option(None, "--junit-xml", metavar="FILE", help="Also write JUnit XML to this file.")),
        "verbose": (bool, typer.Option(False, "--verbose", "-v", help="Show details and timings.")),
        "version": (bool, typer.Option(False, "--version", help="Print the version and exit.")),
    })


def build_app(argv: Optional[List[str]] = None):  # type: ignore[no-untyped-def]
    from preflight import config as config_module
    from preflight.errors import UsageError

    app = typer.Typer(
        add_completion=True, pretty_exceptions_enable=False, rich_markup_mode=None, no_args_is_help=False,
        help="Will my submission to this Ray cluster work? If not: why, and what to type.", epilog=_epilog(),
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    state = {"code": EXIT_OK}

    @app.callback(invoke_without_command=True)
    @_with_options(_main_options())
    def run(ctx: typer.Context, **values: Any) -> None:
        if values["version"]:
            print(f"{PROG} {__version__}")
            return
        if ctx.invoked_subcommand is not None:
            _nothing_before(ctx.invoked_subcommand, values)
            return
        output_format = values["output_format"]
        if output_format not in ("text", "json", "junit"):
            raise UsageError(f"--format must be text, json or junit, not {output_format!r}")
        options = _merged(values)
        address = options.pop("address")
        if values["local"]:
            from preflight.local_head import refuse_targets

            refuse_targets(bool(address or values["dashboard_url"] or values["gcs_address"]))
            report = run_local(options, output_format, values["verbose"], values["junit_xml"])
        else:
            config = config_module.build(address, **options)
            report = run_checks(config, output_format, values["verbose"], values["junit_xml"])
        state["code"] = EXIT_OK if report.ok else EXIT_FAILED

    @app.command("report")
    @_with_options(dict(_targeting(), **{
        "output": (Optional[str], typer.Option(None, "--output", "-o", metavar="PATH", help="Where to write the bundle: a file, "
                                               "or a folder for ray-preflight-report-<UTC>.tar.gz (default: here).")),
        "redact": (List[str], typer.Option([], "--redact", metavar="PATTERN", help="Also redact what this regular expression "
                                           "matches (repeatable).")),
    }))
    def report(**values: Any) -> None:
        """Write a support bundle: every check, the cluster's state and this machine's, with secrets redacted."""
        options = _merged(values)
        if values["local"]:
            from preflight.local_head import refuse_targets

            refuse_targets(bool(options.get("address") or values["dashboard_url"] or values["gcs_address"]))
        state["code"] = write_report(options, values["local"], values["output"], list(values["redact"] or []), list(argv or []))

    @app.command("fix")
    @_with_options(dict(_targeting(), **{
        "prefix": (Optional[str], typer.Option(None, "--prefix", metavar="DIR", help="Make the environment in this folder "
                                               "(default: ray-preflight/envs/ray-<ray>-py<python> in your data directory).")),
        "kernel": (Optional[bool], typer.Option(None, "--kernel/--no-kernel", help="Register a Jupyter kernel for it (default: "
                                                "when Jupyter is installed here).")),
        "dry_run": (bool, typer.Option(False, "--dry-run", help="Print the plan and change nothing.")),
        "yes": (bool, typer.Option(False, "--yes", "-y", help="Go ahead without asking (needed where no terminal can answer).")),
    }))
    def fix(**values: Any) -> None:
        """Make a Python environment that matches the cluster (its Python, its Ray, this tool, a Jupyter kernel), then
        check from inside it."""
        from preflight.errors import UsageError
        from preflight.fix_command import command

        if values["local"]:
            raise UsageError("fix builds an environment for a cluster: --local (a throwaway head with this Ray) does not apply")
        given = {k: values[k] for k, (_, option) in _targeting().items() if k != "local" and values[k] != option.default}
        state["code"] = command(given, _merged(values), prefix=values["prefix"], kernel=values["kernel"],
                                dry_run=values["dry_run"], yes=values["yes"])

    @app.command("list")
    def list_checks(output_format: str = typer.Option("text", "--format", "-f", metavar="[text|json]",
                                                      autocompletion=_choices("text", "json"), help="How to show them.")) -> None:
        """List the checks with their ids."""
        from preflight import registry

        described = registry.describe()
        if output_format == "json":
            from preflight.model import SCHEMA_VERSION

            print(json.dumps({"schema_version": SCHEMA_VERSION, "checks": described}, indent=2))
            return
        width = max(len(k) for k in described)
        for cid, info in described.items():
            marks = [m for m in (info["origin"] if info["origin"] != "built-in" else "", "opt-in" if info["opt_in"] else "") if m]
            print(f"{cid.ljust(width)}  {info['title']}: {info['description']}" + (f" [{', '.join(marks)}]" if marks else ""))

    @app.command("profiles")
    def list_profiles(output_format: str = typer.Option("text", "--format", "-f", metavar="[text|json]",
                                                        autocompletion=_choices("text", "json"), help="How to show them.")) -> None:
        """List the profiles and what each expects."""
        from preflight import profiles

        found = profiles.all_profiles()
        if output_format == "json":
            from preflight.model import SCHEMA_VERSION

            print(json.dumps({"schema_version": SCHEMA_VERSION, "profiles": {k: v.to_dict() for k, v in found.items()}}, indent=2))
            return
        for name, prof in found.items():
            pins = ", ".join(f"{k}={v}" for k, v in prof.to_dict().items() if v is not None and k not in ("name", "description"))
            print(f"{name}: {prof.description}" + (f"\n    {pins}" if pins else ""))

    @app.command("clusters")
    def list_clusters(
        namespace: List[str] = typer.Option([], "--namespace", "-n", metavar="NS", help="A namespace to list (repeatable, or "
                                            "comma-separated; default: the Kubernetes context's)."),
        all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="List the RayClusters of every namespace."),
        kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", metavar="FILE", help="Kubeconfig file (else KUBECONFIG, "
                                                 "~/.kube/config, in-cluster)."),
        context: Optional[str] = typer.Option(None, "--context", metavar="NAME", help="Kubeconfig context (else the current one)."),
        timeout: Optional[str] = typer.Option(None, "--timeout", metavar="S", help="Each Kubernetes request's timeout, in seconds "
                                              "(default 10)."),
        output_format: str = typer.Option("text", "--format", "-f", metavar="text|json|html", help="How to show the list."),
    ) -> None:
        """List the RayClusters your Kubernetes credentials can see, and which ones this Python and Ray can use."""
        from preflight.fleet import command

        state["code"] = command(list(namespace or []), all_namespaces, kubeconfig, context, timeout, output_format)

    return app, state
