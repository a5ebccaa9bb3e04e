"""The Ray Jobs route (``--route jobs``): work submitted through the dashboard's Jobs API runs on the cluster's own
Python and Ray, so this machine needs neither (any Python, any HTTP client).

``jobs-api`` reads ``GET <dashboard>/api/jobs/``. ``job-fibonacci`` submits the platform's Fibonacci proof as a Ray
Job over the plain REST API (``POST /api/jobs/`` with an inline ``python -c`` entrypoint: no upload, no working_dir,
so it works against Ray 2.2.0 and the latest alike), follows its status to the end within the run's deadline, reads
its logs and verifies the one result line the job prints. A job still running at the deadline is stopped
(``POST /api/jobs/<id>/stop``), and so is one left behind by an interrupted run (at exit): nothing stays running on
the cluster. Every request carries what the dashboard probe sends (basic auth, ``--dashboard-header``, the Ray token)
with the same TLS options; messages name what was sent, never a value.
"""

from __future__ import annotations

import atexit
import json
import re
import shlex
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from preflight import __version__
from preflight.checks.cluster_resources import describe_demand, read_demand
from preflight.dashboard_api import Credentials, call_api
from preflight.errors import Unavailable
from preflight.model import Outcome, as_list, dicts, dig, failed, formatted, passed, said, skipped, unreadable, warned
from preflight.net import TlsOptions
from preflight.ray_security import channel
from preflight.registry import check, probe

#: The checks of this module judge the Ray Jobs route only.
JOBS_ROUTE = ("jobs",)
#: The line the job prints, followed by its result as JSON.
MARKER = "RAY-PREFLIGHT-JOB-RESULT "
#: The Jobs API's terminal states (Ray 2.2.0 and the latest alike).
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
#: Seconds kept back from the run's deadline to stop the job, read its logs and report.
_MARGIN_S = 1.5
#: A submission may take the dashboard a few seconds (it starts the job's supervisor): its own bound.
_SUBMIT_S = 15.0
#: Polling the job's status: first interval, growth, ceiling (seconds).
_POLL = (0.1, 1.5, 0.25)
#: After a stop, how long to watch for the job to say STOPPED.
_STOP_WAIT_S = 3.0
#: Bound on each stop request made at exit (an interrupted run).
_EXIT_STOP_S = 3.0
#: How much of a failed job's log the facts keep.
_LOG_TAIL = 3000
#: The script users would submit, in the lines shown to them.
_SCRIPT = "python your_script.py"

# -- what the job runs on the cluster ------------------------------------------------------------------------------

#: The Fibonacci proof as the job runs it, on the cluster's Python (3.6 and later): ``ray.init()`` joins the job's own
#: cluster, the tasks run there, each result is verified against the same computation on the job's driver, and one
#: line ``MARKER + JSON`` says what happened. No single quote in it: the entrypoint is ``python -c '<this>'``.
PAYLOAD = r"""
import json, platform, socket, sys, time, traceback
size, tasks = __SIZE__, __TASKS__
out = {"ok": False, "stage": "import", "size": size, "tasks": tasks, "python": platform.python_version()}


def fibonacci(n):
    sequence = [0, 1][:n]
    while len(sequence) < n:
        sequence.append(sequence[-1] + sequence[-2])
    return sequence


def digest(sequence):
    last = sequence[-1] if sequence else 0
    return [len(sequence), last.bit_length(), last % ((1 << 61) - 1)]


def node_id(ray):
    context = ray.get_runtime_context()
    getter = getattr(context, "get_node_id", None)
    return str(getter()) if getter is not None else context.node_id.hex()


try:
    import ray
    out["ray"] = ray.__version__
    out["stage"] = "init"
    t0 = time.perf_counter()
    ray.init()
    out["init_s"] = time.perf_counter() - t0

    @ray.remote
    def remote_fibonacci(n):
        return {"digest": digest(fibonacci(n)), "node": node_id(ray), "host": socket.gethostname()}

    out["stage"] = "local"
    t0 = time.perf_counter()
    expected = [digest(fibonacci(size)) for _ in range(tasks)]
    out["local_s"] = time.perf_counter() - t0
    out["stage"] = "remote"
    t0 = time.perf_counter()
    answers = ray.get([remote_fibonacci.remote(size) for _ in range(tasks)])
    out["remote_s"] = time.perf_counter() - t0
    out["mismatches"] = sum(1 for a, e in zip(answers, expected) if a["digest"] != e)
    out["nodes"] = sorted(set(a["node"] for a in answers))
    out["hosts"] = sorted(set(a["host"] for a in answers))
    out["ok"] = out["mismatches"] == 0 and len(answers) == tasks
    modules = __MODULES__
    if modules:
        @ray.remote
        def importable(names):
            from importlib.util import find_spec
            found = {}
            for name in names:
                try:
                    found[name] = find_spec(name) is not None
                except Exception:
                    found[name] = False
            return found

        out["server_modules"] = ray.get(importable.remote(modules), timeout=30)
    out["stage"] = "done"
except BaseException as exc:
    out["error"] = (type(exc).__name__ + ": " + str(exc)).strip()[:2000]
    traceback.print_exc()
sys.stdout.write("\n__MARKER__" + json.dumps(out) + "\n")
sys.stdout.flush()
sys.exit(0 if out["ok"] else 1)
"""


def entrypoint(size: int, tasks: int, modules: Sequence[str] = ()) -> str:
    """``python -c '<the proof>'`` for a Fibonacci job of ``tasks`` tasks of ``size``; a worker is then asked which of
    ``modules`` (import names: identifiers only) it can import."""
    names = [m for m in modules if str(m).isidentifier()]
    code = PAYLOAD.strip().replace("__SIZE__", str(int(size))).replace("__TASKS__", str(int(tasks)))
    code = code.replace("__MODULES__", json.dumps(names))
    return "python -c " + shlex.quote(code.replace("__MARKER__", MARKER))


def submission(submission_id: str, size: int, tasks: int, modules: Sequence[str] = ()) -> Dict[str, Any]:
    """The body of ``POST /api/jobs/``: the fields Ray 2.2.0 and the latest both take."""
    return {"entrypoint": entrypoint(size, tasks, modules), "submission_id": submission_id,
            "metadata": {"submitted_by": "ray-preflight", "tool_version": __version__,
                         "purpose": "the platform's Fibonacci smoke test, run as a Ray Job; safe to delete"}}


# -- how to submit by hand ----------------------------------------------------------------------------------------


def submit_lines(dashboard_url: str, sent: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """The lines a user types to submit their own script this way: Ray's job CLI, and the plain REST call for a
    machine without Ray. ``dashboard_url`` has no credentials in it; what was sent shows as placeholders only."""
    base = dashboard_url.rstrip("/")
    extra = []
    if dig(sent, "basic_auth"):
        extra.append("-u USER")
    if dig(sent, "ray_token"):
        extra.append("-H 'X-Ray-Authorization: Bearer $RAY_AUTH_TOKEN'")
    extra += [f"-H '{name}: …'" for name in as_list(dig(sent, "headers")) if isinstance(name, str)]
    body = json.dumps({"entrypoint": _SCRIPT})
    curl = " ".join(["curl -X POST", f"{base}/api/jobs/", "-H 'Content-Type: application/json'", *extra, f"-d '{body}'"])
    return {"with_ray": f"ray job submit --address {base} --working-dir . -- {_SCRIPT}", "with_curl": curl}


# -- the session every request of this route uses ------------------------------------------------------------------


def _session(ctx: Any) -> Tuple[TlsOptions, Dict[str, str], Dict[str, Any]]:
    """TLS options, headers and what they hold (names only), exactly as the dashboard probe sends them."""
    tls = TlsOptions(ctx.config.ca_bundle, ctx.config.insecure)
    credentials = getattr(ctx.config, "dashboard_credentials", None) or Credentials()
    token = channel(ctx).http_headers()
    sent = {"basic_auth": credentials.basic is not None, "headers": credentials.header_names, "ray_token": bool(token)}
    return tls, credentials.http_headers(token), sent


# -- jobs-api ------------------------------------------------------------------------------------------------------


@probe("jobs_api")
def jobs_api_probe(target, ctx, dashboard) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """GET /api/jobs/ from the dashboard (the Ray Jobs API)."""
    if not dashboard.get("ok") and (dashboard.get("unreachable") or dashboard.get("error_kind") in ("tls", "tls-plain")):
        raise Unavailable(f"the dashboard did not answer ({said(dashboard.get('error'), 'no answer')})")
    url = target.dashboard_url + "api/jobs/"
    tls, headers, sent = _session(ctx)
    answer = call_api("GET", url, ctx.timeout(), tls, headers)
    facts: Dict[str, Any] = {"url": url, "kind": answer["kind"], "sent": sent}
    for key in ("status", "ms", "error", "challenge", "said"):
        if key in answer:
            facts["http_status" if key == "status" else key] = answer[key]
    if answer["kind"] == "json":
        body = answer["json"]
        facts["listed"] = len(body) if isinstance(body, list) else None
    return facts


@check("jobs-api", "Ray Jobs API answers", routes=JOBS_ROUTE)
def jobs_api_check(jobs_api, target, dashboard=None) -> Outcome:  # type: ignore[no-untyped-def]
    """The dashboard serves the Ray Jobs API (GET /api/jobs/ answers a JSON list): submitting needs no Ray here."""
    problem = unreadable(jobs_api=jobs_api)
    if problem:
        return problem
    url = said(jobs_api.get("url"), target.dashboard_url + "api/jobs/")
    kind = jobs_api.get("kind")
    details: Dict[str, Any] = {"url": url, "http_status": jobs_api.get("http_status")}
    if kind == "json" and isinstance(jobs_api.get("listed"), int):
        ray = dig(dashboard, "ray_version")
        lines = submit_lines(target.dashboard_url, jobs_api.get("sent"))
        return passed(
            f"the Ray Jobs API at {url} answers ({jobs_api['listed']} job(s) listed{f', Ray {ray}' if ray else ''}, "
            f"{formatted(jobs_api.get('ms'), '.1f')} ms): jobs run on the cluster's Python and Ray, so no Ray and no "
            "matching Python are needed on this machine",
            submit_with_ray=lines["with_ray"], submit_with_curl=lines["with_curl"], **details)
    dashboard_kind = dig(dashboard, "error_kind") if not dig(dashboard, "ok") else None
    if dashboard_kind and dashboard_kind == kind and not (kind == "sign-in" and not _credentials_sent(dashboard)):
        # the dashboard check already fails with this very cause: one root cause, one red line
        return skipped(f"the dashboard check names the cause: {said(dig(dashboard, 'error'), str(kind))}", **details)
    error = said(jobs_api.get("error"), f"{url} did not answer as the Jobs API")
    if kind == "json":
        return failed(f"{url} answers JSON, but not the Jobs API's list of jobs: another service at this address?",
                      "give the Ray dashboard's URL as --address (http://<head-svc>:8265)", **details)
    if kind == "not-found":
        version = dig(dashboard, "ray_version")
        return failed(
            f"no Ray Jobs API at {url} (HTTP 404): the dashboard" + (f" (Ray {version})" if version else "")
            + " serves no job module: an old Ray, or a head without ray[default]",
            "submit with the Ray Client instead (--route client), or ask the platform team for a head that runs "
            "`ray[default]` (Ray 2.0 or later serves the Jobs API)", **details)
    if kind == "ray-token":
        return failed(f"the Jobs API demands a Ray auth token: {error}",
                      "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) as Ray reads them; the tool "
                      "sends the token as X-Ray-Authorization (for KubeRay: the token is in the RayCluster's Secret)",
                      **details)
    if kind == "sign-in":
        sent = said(dig(dashboard, "credentials", "sent"), "")
        if sent:
            return failed(f"the Jobs API did not accept the credentials sent ({sent}): {error}",
                          "check the user name and password in the dashboard URL and the --dashboard-header values", **details)
        return failed(
            f"the Jobs API is behind a sign-in: {error}",
            "give what the sign-in takes: --dashboard-header 'Authorization: Bearer <token>' (or its cookie), or the "
            "dashboard URL with USER:PASSWORD@ in it; or submit from inside the cluster (http://<head-svc>:8265)",
            **details)
    return failed(error, "open the dashboard in a browser; for the Jobs API pass the Ray dashboard's URL "
                         "(--address http://<head-svc>:8265)", error_kind=kind, **details)


def _credentials_sent(dashboard: Any) -> bool:
    return bool(said(dig(dashboard, "credentials", "sent"), ""))


# -- job-fibonacci -------------------------------------------------------------------------------------------------

#: Jobs this process submitted and has not seen end: (jobs URL, TLS options, headers), stopped at exit.
_ACTIVE: Dict[str, Tuple[str, TlsOptions, Dict[str, str]]] = {}
_ACTIVE_LOCK = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    """A run that ends before its job did (Ctrl-C, SIGTERM, the deadline) stops the job on the way out."""
    with _ACTIVE_LOCK:
        leftovers = list(_ACTIVE.items())
        _ACTIVE.clear()
    for submission_id, (jobs_url, tls, headers) in leftovers:
        answer = stop_job(jobs_url, submission_id, _EXIT_STOP_S, tls, headers)
        if answer.get("status") == 404:  # the submission may still have been on its way: once more
            time.sleep(0.5)
            stop_job(jobs_url, submission_id, _EXIT_STOP_S, tls, headers)


def stop_job(jobs_url: str, submission_id: str, timeout: float, tls: Optional[TlsOptions],
             headers: Optional[Dict[str, str]]) -> Dict[str, Any]:
    """``POST /api/jobs/<id>/stop``: what came back (``stopped``: the API's answer, when it gave one)."""
    answer = call_api("POST", f"{jobs_url}{submission_id}/stop", timeout, tls, headers, body={})
    if answer["kind"] == "json" and isinstance(answer["json"], dict):
        answer["stopped"] = answer["json"].get("stopped")
    return answer


@probe(gate=("jobs-api",), owner="job-fibonacci", stop_on=("capacity",))
def job_fibonacci_run(target, config, ctx, script=None) -> Dict[str, Any]:  # type: ignore[no-untyped-def]
    """Submit the Fibonacci proof through the Jobs API, follow it to its end, read its logs."""
    end = ctx.deadline - _MARGIN_S
    if end - time.monotonic() <= 1.0:
        raise Unavailable("no time left before the deadline to run the job")
    jobs_url = target.dashboard_url + "api/jobs/"
    tls, headers, _ = _session(ctx)
    submission_id = f"ray-preflight-{uuid.uuid4().hex[:12]}"
    out: Dict[str, Any] = {"ok": False, "stage": "submit", "url": jobs_url, "submission_id": submission_id,
                           "size": config.fib_size, "tasks": config.fib_tasks}
    with _ACTIVE_LOCK:
        _ACTIVE[submission_id] = (jobs_url, tls, headers)
    t0 = time.monotonic()
    answer = call_api("POST", jobs_url, min(ctx.timeout(max(_SUBMIT_S, config.connect_timeout_s)), end - t0), tls,
                      headers, body=submission(submission_id, config.fib_size, config.fib_tasks, _script_modules(script)))
    out["submit_s"] = time.monotonic() - t0
    if answer["kind"] != "json":
        out.update(error=said(answer.get("said"), said(answer.get("error"), "the submission failed")),
                   http_status=answer.get("status"), error_kind=answer["kind"])
        if answer.get("status") is None or answer["kind"] == "silent":  # no answer: it may still have been made
            _stop_and_settle(out, jobs_url, submission_id, ctx, tls, headers)
        else:
            _forget(submission_id)
        return out
    out["stage"] = "wait"
    state = _follow(jobs_url, submission_id, end, ctx, tls, headers)
    out.update(state)
    if out.get("status") not in TERMINAL:
        out["stage"] = "timeout"
        # what its tasks wait for, read before the stop releases it
        out["pending_demand"] = read_demand(target, ctx, max(0.05, min(ctx.timeout(), ctx.remaining() - 1.0, 0.5)))
        _stop_and_settle(out, jobs_url, submission_id, ctx, tls, headers)
    else:
        _forget(submission_id)
    out["wall_s"] = time.monotonic() - t0
    logs = call_api("GET", f"{jobs_url}{submission_id}/logs", max(0.05, min(ctx.timeout(), ctx.remaining() - 0.2)), tls,
                    headers)
    text = dig(logs, "json", "logs") if logs["kind"] == "json" else None
    if not isinstance(text, str):
        out["logs_error"] = said(logs.get("error"), "the logs could not be read")
        return out
    result = job_result(text)
    if result is not None:
        out["result"] = result
    if out.get("status") != "SUCCEEDED" or not dig(result, "ok"):
        out["log_tail"] = text[-_LOG_TAIL:]
    if out.get("stage") == "wait":
        out["stage"] = "done"
        out["ok"] = out.get("status") == "SUCCEEDED" and dig(result, "ok") is True
    return out


def _script_modules(script: Any) -> List[str]:
    """The third-party modules of the user's script (``--script``), for a worker to answer about."""
    if not isinstance(script, dict) or script.get("error"):
        return []
    return [str(m) for m in as_list(script.get("third_party")) if m != "ray"]


def _forget(submission_id: str) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE.pop(submission_id, None)


def _follow(jobs_url: str, submission_id: str, end: float, ctx: Any, tls: TlsOptions,
            headers: Dict[str, str]) -> Dict[str, Any]:
    """Poll ``GET /api/jobs/<id>`` until a terminal state or ``end``: the last state seen."""
    state: Dict[str, Any] = {}
    interval, growth, ceiling = _POLL
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return state
        answer = call_api("GET", f"{jobs_url}{submission_id}", max(0.05, min(ctx.timeout(), left)), tls, headers)
        body = answer.get("json") if answer["kind"] == "json" else None
        if isinstance(body, dict):
            state.pop("poll_error", None)
            state.update({k: body.get(k) for k in ("status", "message", "start_time", "end_time") if body.get(k) is not None})
            if state.get("status") in TERMINAL:
                return state
        else:
            state["poll_error"] = said(answer.get("said"), said(answer.get("error"), "no answer"))
        time.sleep(max(0.0, min(interval, end - time.monotonic())))
        interval = min(ceiling, interval * growth)


def _stop_and_settle(out: Dict[str, Any], jobs_url: str, submission_id: str, ctx: Any, tls: TlsOptions,
                     headers: Dict[str, str]) -> None:
    """Stop the job and watch (briefly, within the deadline) for it to say so."""
    answer = stop_job(jobs_url, submission_id, max(0.05, min(ctx.timeout(), ctx.remaining() - 0.3)), tls, headers)
    out["stop"] = {"stopped": answer.get("stopped"), "http_status": answer.get("status"),
                   **({"error": answer["error"]} if answer.get("error") else {})}
    if answer["kind"] == "json" or answer.get("status") == 404:
        _forget(submission_id)  # stopped (or never made): nothing for the exit handler to do
    settle = min(time.monotonic() + _STOP_WAIT_S, ctx.deadline - 0.5)
    if answer["kind"] == "json":
        final = _follow(jobs_url, submission_id, settle, ctx, tls, headers)
        if final.get("status"):
            out["final_status"] = final["status"]


def job_result(logs: str) -> Optional[Dict[str, Any]]:
    """The job's own result line (the last line that starts with ``MARKER``), or None."""
    for line in reversed(logs.splitlines()):
        if line.startswith(MARKER):
            try:
                found = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


_ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b.*|.*: not found\s*$|"
                         r".*command not found.*)$")


def error_line(logs: str) -> str:
    """The job's own error, as its logs say it: the last line that names an exception (or a missing command)."""
    for line in reversed([raw for raw in logs.splitlines() if raw.strip()]):
        if _ERROR_LINE.match(line) and not line.startswith(MARKER):
            return line.strip()[:500]
    return ""


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


@check("job-fibonacci", "Fibonacci job runs as a Ray Job", routes=JOBS_ROUTE)
def job_fibonacci(job_fibonacci_run, config, jobs_api=None) -> Outcome:  # type: ignore[no-untyped-def]
    """Submit the platform's smoke test through the Ray Jobs API (REST, no Ray here) and verify every result."""
    run = job_fibonacci_run
    problem = unreadable(job_fibonacci_run=run)
    if problem:
        return problem
    target = config.target
    sid = said(run.get("submission_id"), "?")
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    details: Dict[str, Any] = {k: _rounded(run.get(k)) for k in ("submission_id", "status", "final_status", "stage", "size",
                                                                "tasks", "submit_s", "wall_s", "stop") if run.get(k) is not None}
    details.update({f"job_{k}": _rounded(result.get(k)) for k in ("ray", "python", "init_s", "local_s", "remote_s", "nodes", "hosts")
                    if result.get(k) is not None})
    logs_hint = (f"read its logs: `ray job logs {sid} --address {target.dashboard_url.rstrip('/')}`, or "
                 f"`curl {target.dashboard_url}api/jobs/{sid}/logs`")
    if run.get("ok") and result.get("ok"):
        nodes = len(as_list(result.get("nodes")))
        lines = submit_lines(target.dashboard_url, dig(jobs_api, "sent"))
        details.update(submit_with_ray=lines["with_ray"], submit_with_curl=lines["with_curl"])
        return passed(
            f"job {sid} SUCCEEDED: {result.get('tasks')} tasks of size {formatted(result.get('size'), ',')} ran on {nodes} "
            f"node(s) and matched (remote {formatted(result.get('remote_s'), '.2f')} s, local "
            f"{formatted(result.get('local_s'), '.2f')} s; submitted to done {formatted(run.get('wall_s'), '.1f')} s) on the "
            f"cluster's Ray {said(result.get('ray'), '?')}, Python {said(result.get('python'), '?')}; no Ray needed on "
            "this machine",
            **details)
    logs = said(run.get("log_tail"), "")
    if logs:
        details["log_tail"] = logs
    stage = run.get("stage")
    job_error = said(result.get("error"), "") or error_line(logs)
    if stage == "submit":
        return failed(f"the Jobs API did not take the job: {said(run.get('error'), 'no answer')}"
                      + (f" (HTTP {run['http_status']})" if run.get("http_status") else ""),
                      "retry; if it persists, the dashboard's job agent may be down: see the dashboard's logs on the "
                      "head (dashboard.log, dashboard_agent.log)", **details)
    if stage == "timeout":
        stop = run.get("stop") if isinstance(run.get("stop"), dict) else {}
        final = said(run.get("final_status"), "")
        if final == "STOPPED":
            ended = "it was stopped (STOPPED)"
        elif final in TERMINAL:
            ended = f"it ended as it was being stopped ({final})"
        elif stop.get("stopped") is not None:
            # Ray takes a second or two to end a job: the run's deadline comes first
            ended = (f"the Jobs API took the stop request (the job still showed {final or said(run.get('status'), 'unknown')} "
                     f"as the run ended; Ray ends it within seconds: `ray job status {sid}`)")
        else:
            ended = f"stopping it failed ({said(stop.get('error'), 'no answer')}): stop it with `ray job stop {sid}`"
        last = said(run.get("status"), "unknown") + (f", then {run['poll_error']}" if run.get("poll_error") else "")
        demand = dicts(run.get("pending_demand"))
        if demand:
            details["pending_demand"] = demand
            return failed(f"job {sid} did not finish within the run's deadline ({config.timeout_s:g} s; last status {last}): its "
                          f"tasks were waiting for resources the cluster did not have (Ray's pending demand: "
                          f"{describe_demand(demand)}); {ended}", "see capacity and autoscaler: the cluster needs free CPUs, or "
                          "an autoscaler that can add a node of that shape", **details)
        return failed(
            f"job {sid} did not finish within the run's deadline ({config.timeout_s:g} s; last status {last}); {ended}",
            f"raise --timeout (now {config.timeout_s:g} s) or lower --fib-size; a job that stays PENDING waits for "
            "resources: see `ray status` on the head", **details)
    status = run.get("status")
    if status == "FAILED" and result.get("mismatches"):
        return failed(f"job {sid} FAILED: {result['mismatches']} of {result.get('tasks')} remote results differ from the "
                      "job's own computation", "the workers compute differently: compare the worker images with the "
                      "head's", **details)
    if status == "FAILED":
        why = job_error or said(run.get("message"), "no error line in its logs")
        remedy = logs_hint
        if "No module named 'ray'" in why or why.endswith(": not found") or "command not found" in why:
            remedy = ("the cluster's `python` (the first on the head's PATH) is not the Python that runs Ray: on KubeRay "
                      "use the Ray image's Python; " + logs_hint)
        return failed(f"job {sid} FAILED: {why}", remedy, **details)
    if status == "STOPPED":
        return failed(f"job {sid} was STOPPED on the cluster before it finished (by someone else?)", logs_hint, **details)
    if status == "SUCCEEDED" and run.get("logs_error"):
        # the job exits 0 only when every result matched; its timings are in the logs that could not be read
        return warned(f"job {sid} SUCCEEDED (it verifies its own results), but its logs could not be read: "
                      f"{run['logs_error']}", logs_hint, **details)
    if status == "SUCCEEDED":
        return failed(f"job {sid} SUCCEEDED, but its logs hold no result line ({MARKER.strip()})"
                      + (f": {job_error}" if job_error else ""), logs_hint, **details)
    return failed(f"job {sid} ended as {said(status, 'unknown')}: {job_error or said(run.get('message'), 'no reason given')}",
                  logs_hint, **details)
