"""The opt-in Ray Tune proof (``--tune-test``): a small hyperparameter search through the client's own Ray.

It runs after the Fibonacci job has passed, in a child process killed at the deadline (``checks/tune_job.py``):
4 trials of one CPU each, a scikit-learn ``LogisticRegression`` objective when the cluster's workers have
scikit-learn, else a pure-Python one. Through the Ray Client, Tune's driver runs on the cluster; the search's files
go to a temporary folder there that the job removes.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

from preflight.checks import tune_job
from preflight.child_job import STOP_GRACE_S, job_budget, run_script
from preflight.model import Outcome, as_dict, dig, failed, formatted, number, passed, said, unreadable
from preflight.registry import CLIENT_ROUTE, check, probe

#: Seconds kept back from the deadline to stop the child (a SIGINT, then up to STOP_GRACE_S for its ``finally`` to
#: remove the search's files and close the session) and report.
_MARGIN_S = STOP_GRACE_S + 1.5
#: The least time worth starting the job with: ray.init, a worker's answer, 4 trials, cleaning up.
_LEAST_S = 15.0
#: Trials in the search, one CPU each.
TRIALS = 4

#: What each stage of the job does, for messages.
STAGES = {
    "import": "importing Ray Tune on the client",
    "init": "ray.init",
    "worker": "asking a worker whether the cluster has scikit-learn",
    "tune": "the search (Tuner.fit)",
    "results": "reading the search's results",
}

_NO_MODULE = re.compile(r"No module named '([^']+)'")


@probe(gate=("ray-version", "python-version", "client-packages", "proxy", "auth", "tls", "fibonacci"), owner="tune-test")
def tune_run(target, ctx, ray_client) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Run a small Ray Tune search on the cluster through the client's Ray; remove its files; disconnect."""
    budget = job_budget(ray_client, ctx, _MARGIN_S, _LEAST_S, "for the Ray Tune test (raise --timeout)")
    # The job writes its stage there: the run's progress shows it, and a job about to be stopped says where it was.
    with ctx.stage_file(STAGES) as stage_file:
        def stage() -> Dict[str, Any]:
            with open(stage_file) as written:
                return {"timed_out_at": written.read().strip() or None}

        spec = {"address": target.init_address, "trials": TRIALS, "budget_s": budget, "stage_file": stage_file}
        # If the child dies, the server drops its session (and Tune's actors) after this grace period, not 30 s.
        return run_script(tune_job.__file__, spec, tune_job.MARKER, budget, {"RAY_CLIENT_RECONNECT_GRACE_PERIOD": "5"},
                          before_stop=stage)


def _error_line(text: Any) -> str:
    """The line of an error worth showing: the last that names an exception, else the last non-empty one."""
    lines = [line.strip() for line in str(text or "").strip().splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":")[0]
        if head.endswith(("Error", "Exception", "Interrupt")) and " " not in head.strip():
            return line[:300]
    return lines[-1][:300] if lines else ""


def missing_module(text: Any) -> Optional[str]:
    """The module a ``No module named 'x'`` error names (its top-level package), or None."""
    found = _NO_MODULE.search(str(text or ""))
    return found.group(1).split(".")[0] if found else None


def _best(run: Dict[str, Any]) -> str:
    metric = str(run.get("metric") or "")
    best = as_dict(run.get("best"))
    config = as_dict(best.get("config"))
    params = ", ".join(f"{k}={formatted(v, '.3g')}" if number(v) is not None else f"{k}={v}" for k, v in sorted(config.items()))
    value = formatted(best.get(metric), ".2f" if metric == "accuracy" else ".3g")
    return f"best {params}, {metric} {value}" if params else f"best {metric} {value}"


def _objective(run: Dict[str, Any]) -> Tuple[str, str]:
    if run.get("objective") == tune_job.SKLEARN:
        version = dig(run, "cluster", "sklearn_version")
        return "LogisticRegression", f"scikit-learn {version} on the cluster" if version else "scikit-learn on the cluster"
    return "pure-Python (quadratic)", "no scikit-learn on the cluster"


def _tune_requirement(version: Any) -> str:
    return f'pip install "ray[tune]=={version}"' if version else 'pip install "ray[tune]"'


def _image_fix(module: str, version: Any, tune: bool) -> str:
    """What to put into the cluster's image: Ray Tune's extra when Tune itself lacks ``module``, else ``module``."""
    where = "in the image of the head and of every worker group"
    if tune:
        ray = f'"ray[tune]=={version}"' if version else '"ray[tune]"'
        return f"the cluster's image lacks {module}, which Ray Tune needs: install {ray} {where}"
    return f"the cluster's image lacks {module}: install it {where}"


@check("tune-test", "Ray Tune search runs through your client", opt_in=True, routes=CLIENT_ROUTE)
def tune_test(tune_run, config, client=None) -> Outcome:  # type: ignore[no-untyped-def]
    """A 4-trial Ray Tune search (LogisticRegression when the cluster has scikit-learn) through the client's Ray."""
    run = tune_run
    problem = unreadable(tune_run=run)
    if problem:
        return problem
    details = {k: run.get(k) for k in ("stage", "timed_out_at", "objective", "cluster", "report_api", "trials", "completed",
                                       "failed_trials", "best", "metric", "mode", "init_s", "init_retried", "worker_s", "tune_s",
                                       "time_budget_s", "trial_results", "storage", "cleanup", "cleanup_error", "cleanup_s",
                                       "error", "wall_s") if run.get(k) is not None}
    kind, where = _objective(run)
    trials = run.get("trials") or TRIALS
    if run.get("ok"):
        summary = f"{trials} trials of a {kind} search ran in {formatted(run.get('tune_s'), '.1f')} s ({_best(run)}; {where})"
        if run.get("cleanup_error"):
            summary += f"; its files on the cluster could not all be removed ({_error_line(run['cleanup_error'])})"
        return passed(summary, **details)
    stage = str(run.get("stage") or "")
    error = said(run.get("error"), "") or _error_line(run.get("stderr_tail")) or "unknown error"
    line = _error_line(error) or error
    if run.get("stderr_tail"):
        details["stderr_tail"] = run["stderr_tail"]
    version = run.get("ray_version") or dig(client, "ray", "version")
    more_time = f"raise --timeout (now {config.timeout_s:g} s)"
    if stage == "import" and run.get("failed_import") == "ray.tune":
        return failed(f"Ray Tune cannot be imported on the client: {line}", _tune_requirement(version), **details)
    if stage == "import":
        return failed(f"Ray cannot be imported: {line}", "see ray-version", **details)
    if stage == "timeout":
        at = run.get("timed_out_at")
        if not at:
            return failed(error, more_time, **details)
        hint = f"{more_time}; each trial needs 1 CPU: see capacity and autoscaler" if at == "tune" else more_time
        return failed(f"{error}: it was at {at} ({STAGES.get(str(at), str(at))})", hint, **details)
    if run.get("no_time"):
        return failed(f"the search did not start: {error}", more_time, **details)
    module = missing_module(error)
    if run.get("failed_trials"):
        return failed(f"{run.get('failed_trials')} of {trials} trials of a {kind} search failed: {line}",
                      _image_fix(module, version, False) if module else "run `ray-preflight -v --tune-test` and read the trial's error",
                      **details)
    if stage == "tune" and module:
        return failed(f"the cluster cannot run Ray Tune: {line}", _image_fix(module, version, True), **details)
    if stage == "results":
        return failed(f"the search did not finish: {line}",
                      f"each trial needs 1 CPU: see capacity and autoscaler; or {more_time}", **details)
    return failed(f"the Ray Tune test failed at {stage} ({STAGES.get(stage, stage)}): {line}",
                  "run `ray-preflight -v --tune-test` for details", **details)
