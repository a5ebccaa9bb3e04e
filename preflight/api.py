"""The notebook API: ``preflight.check()`` returns a Report; failing checks never raise."""

from __future__ import annotations

from typing import Iterable, Optional, Union

from preflight.config import DEFAULT_FIB_SIZE
from preflight.model import Report

Ids = Union[None, str, Iterable[str]]


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
) -> Report:
    """Run the preflight checks and return the Report (``.ok``, ``.results``, ``report["python-version"]``).

    Unusable input raises ``ValueError`` (``preflight.UsageError``) with the CLI's message.
    ``local=True`` starts a throwaway Ray head with the installed Ray and checks against it.
    ``ca_bundle`` (a PEM CA file) verifies an HTTPS dashboard against that CA; ``insecure=True`` does not verify
    it at all (the dashboard check then warns).
    """
    from preflight import config as config_module
    from preflight import settings
    from preflight.runner import run

    options = settings.merge(dict(
        address=address, profile=profile, dashboard_url=dashboard_url, domain=domain, gcs_address=gcs_address, only=only,
        skip=skip, timeout=timeout, connect_timeout=connect_timeout, fib_size=fib_size, fib_tasks=fib_tasks,
        kubeconfig=kubeconfig, context=context, namespace=namespace, scale_test=scale_test, ignore=ignore, strict=strict,
        ca_bundle=ca_bundle, insecure=insecure,
    ))
    address = options.pop("address")
    if not local:
        return run(config_module.build(address, **options))  # type: ignore[arg-type]
    if address is not None or dashboard_url is not None or gcs_address is not None:
        raise config_module.UsageError("local=True starts its own head: leave address, dashboard_url and gcs_address out")
    config_module.build("ray://127.0.0.1:10001", **options)  # type: ignore[arg-type]  # validate before starting Ray
    from preflight.local_head import LocalHead

    with LocalHead() as head:
        options.update(dashboard_url=head.dashboard_url, gcs_address=head.gcs_address)
        return run(config_module.build(head.address, **options))  # type: ignore[arg-type]
