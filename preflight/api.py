"""The notebook API: ``preflight.check()`` returns a Report; failing checks never raise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, List, Mapping, Optional, Union

from preflight.config import DEFAULT_FIB_SIZE
from preflight.model import Report

if TYPE_CHECKING:  # pragma: no cover
    from preflight.matching_env import FixResult

Ids = Union[None, str, Iterable[str]]
#: ``"Name: value"``, a list of them, or a dict of name to value.
Headers = Union[None, str, Iterable[str], Mapping[str, str]]


def check(
    address: Optional[str] = None,
    *,
    profile: Optional[str] = None,
    dashboard_url: Optional[str] = None,
    domain: Optional[str] = None,
    gcs_address: Optional[str] = None,
    only: Ids = None,
    skip: Ids = None,
    timeout: Optional[float] = None,
    connect_timeout: Optional[float] = None,
    fib_size: int = DEFAULT_FIB_SIZE,
    fib_tasks: Optional[int] = None,
    kubeconfig: Optional[str] = None,
    context: Optional[str] = None,
    namespace: Optional[str] = None,
    scale_test: Union[bool, str] = False,
    ignore: Ids = None,
    strict: bool = False,
    local: bool = False,
    ca_bundle: Optional[str] = None,
    insecure: bool = False,
    dashboard_headers: Headers = None,
    route: Optional[str] = None,
    script: Optional[str] = None,
    runtime_env: Union[None, str, Mapping[str, Any]] = None,
    tune_test: bool = False,
) -> Report:
    """Run the preflight checks and return the Report (``.ok``, ``.results``, ``report["python-version"]``).

    Unusable input raises ``ValueError`` (``preflight.UsageError``) with the CLI's message.
    ``local=True`` starts a throwaway Ray head with the installed Ray and checks against it.
    ``ca_bundle`` (a PEM CA file) verifies an HTTPS dashboard against that CA; ``insecure=True`` does not verify
    it at all (the dashboard check then warns). ``dashboard_url="https://user:password@host/"`` sends basic auth to
    the dashboard, ``dashboard_headers`` (``["Name: value"]`` or a dict) sends headers to it; neither is ever shown.
    ``script="train.py"`` (or a notebook, ``"train.ipynb"``) also judges that script, read and never run: the modules it
    imports, the resources it asks for, its runtime_env and the libraries it uses. ``runtime_env`` (a dict, or a YAML/JSON
    file) judges that runtime_env. ``tune_test=True`` runs a small Ray Tune search on the cluster through this client.

    In a Jupyter notebook the cell shows a table that fills in while the checks run and ends as the report's.
    """
    from preflight import config as config_module
    from preflight import settings

    options = settings.merge(dict(
        address=address, profile=profile, dashboard_url=dashboard_url, domain=domain, gcs_address=gcs_address, only=only,
        skip=skip, timeout=timeout, connect_timeout=connect_timeout, fib_size=fib_size, fib_tasks=fib_tasks,
        kubeconfig=kubeconfig, context=context, namespace=namespace, scale_test=scale_test, ignore=ignore, strict=strict,
        ca_bundle=ca_bundle, insecure=insecure, dashboard_headers=dashboard_headers, route=route, script=script,
        runtime_env=runtime_env, tune_test=tune_test,
    ))
    address = options.pop("address")
    if not local:
        return _shown(config_module.build(address, **options))  # type: ignore[arg-type]
    from preflight.local_head import against_local_head, refuse_targets

    refuse_targets(address is not None or dashboard_url is not None or gcs_address is not None, notebook=True)
    return against_local_head(options, lambda head, opts: _shown(config_module.build(head, **opts)))


def _shown(config: Any) -> Report:
    """Run ``config``; in a Jupyter kernel, with a cell output that fills in as the checks end. The report comes back
    masked like every rendered output: the notebook holds it itself (to_dict(), each summary)."""
    from preflight.progress import Notebook
    from preflight.redaction import masked
    from preflight.runner import run

    live = Notebook.for_run(config)
    if live is None:
        return masked(run(config))
    try:
        report = masked(run(config, on_result=live.result, on_progress=live.progress))
    except BaseException:
        live.abort()
        raise
    live.finish(report)
    return report


def report(
    address: Optional[str] = None,
    *,
    output: Optional[str] = None,
    redact: Ids = None,
    local: bool = False,
    **options: Any,
) -> str:
    """Write a support bundle (every check, the cluster's state, this machine's, secrets redacted) and return its path.

    Takes ``check()``'s keywords (``profile``, ``dashboard_url``, ``kubeconfig``, ...), plus ``output`` (a file or a
    folder; default: the working directory) and ``redact`` (regular expressions to redact as well). Unusable input
    still gives a bundle that records it, then raises ``ValueError`` (``preflight.UsageError``) naming the bundle.
    """
    import inspect
    import os
    import sys

    from preflight import bundle, settings
    from preflight import config as config_module
    from preflight.errors import UsageError
    from preflight.runner import run

    known = [n for n in inspect.signature(check).parameters if n not in ("address", "local")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"report() got unexpected keyword argument(s): {', '.join(unknown)}")
    patterns = [redact] if isinstance(redact, str) else list(redact or [])
    merged = settings.merge(dict({k: options.get(k, _DEFAULTS.get(k)) for k in known}, address=address))
    address = merged.pop("address")
    given = dict(options, output=output, redact=redact, local=local)
    if options.get("dashboard_headers"):  # the call as recorded in the bundle: header names, never values
        given["dashboard_headers"] = _header_names(options["dashboard_headers"])
    if isinstance(options.get("runtime_env"), Mapping):  # env_vars names, never values
        from preflight.runtime_env_judge import without_secrets

        given["runtime_env"] = without_secrets(dict(options["runtime_env"]))
    call = ", ".join([repr(address)] * (address is not None) + [f"{k}={v!r}" for k, v in given.items() if v not in (None, False)])
    plan = bundle.prepare(environ=os.environ, kubeconfig=merged.get("kubeconfig"), output=output, redact=patterns)

    def write(build: Any) -> bundle.Bundle:
        return bundle.create(plan, build, command_line=f"preflight.report({call}) in {sys.executable}", run=run)

    if local:
        from preflight.local_head import against_local_head, refuse_targets

        refuse_targets(address is not None or bool(options.get("dashboard_url") or options.get("gcs_address")), notebook=True)
        written = against_local_head(merged, lambda head, opts: write(lambda: config_module.build(head, **opts)))
    else:
        written = write(lambda: config_module.build(address, **merged))
    if written.usage_error:
        raise UsageError(f"{written.usage_error} (the bundle {written.path} records it)")
    return written.path


def fix(
    address: Optional[str] = None,
    *,
    prefix: Optional[str] = None,
    kernel: Optional[bool] = None,
    dry_run: bool = False,
    quiet: bool = False,
    **options: Any,
) -> "FixResult":
    """Make a Python environment that matches the cluster, then run the preflight inside it; return a ``FixResult``
    (``.ok``, ``.verdict``, ``.env``, ``.python``, ``.kernel``, ``.report``, ``.error``, ``.to_dict()``).

    Takes ``check()``'s keywords (``profile``, ``dashboard_url``, ...), plus ``prefix`` (the environment's folder;
    default: ``ray-preflight/envs/ray-<ray>-py<python>`` in ``$XDG_DATA_HOME`` or ``~/.local/share``), ``kernel`` (register
    a Jupyter kernel; default: when Jupyter is installed here) and ``dry_run`` (plan only, change nothing). Calling it is
    the go-ahead: it does not ask. Progress goes to stderr unless ``quiet``. The current environment is never changed.
    Unusable input raises ``ValueError`` (``preflight.UsageError``); a step that fails is in ``.error``, never raised.
    """
    import sys

    from preflight import settings
    from preflight.matching_env import fix as run_fix

    known = [n for n in _check_keywords() if n not in ("address", "local")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"fix() got unexpected keyword argument(s): {', '.join(unknown)}")
    explicit = dict({k: v for k, v in options.items() if v is not None and v is not False and v != _DEFAULTS.get(k)},
                    **({"address": address} if address is not None else {}))
    merged = settings.merge(dict({k: options.get(k, _DEFAULTS.get(k)) for k in known}, address=address))

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return run_fix(explicit, merged, prefix=prefix, kernel=kernel, dry_run=dry_run, say=None if quiet else say)


def _check_keywords() -> List[str]:
    """check()'s keyword names: the targeting options every entry point takes."""
    import inspect

    return list(inspect.signature(check).parameters)


def _header_names(headers: Any) -> Any:
    """``dashboard_headers`` as the bundle records the call: each value masked, as the bundle masks secrets."""
    from preflight.redaction import MASK

    if isinstance(headers, Mapping):
        return {str(name): MASK for name in headers}
    items = [headers] if isinstance(headers, str) else list(headers) if isinstance(headers, (list, tuple)) else []
    return [f"{item.partition(':')[0]}: {MASK}" if isinstance(item, str) else MASK for item in items]


#: check()'s defaults, for the keywords report() passes through.
_DEFAULTS = {"fib_size": DEFAULT_FIB_SIZE, "scale_test": False, "strict": False, "insecure": False, "tune_test": False}
