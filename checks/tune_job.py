"""The Ray Tune proof, run by the ``tune-test`` check in a child process (like the Fibonacci job).

It connects with the client's Ray, asks a worker whether the cluster has scikit-learn, and runs a small
search with the Tune API that Ray 2.2.0 and the latest Ray share (``tune.Tuner``, ``tune.TuneConfig``,
``tune.with_resources``, ``ResultGrid.get_best_result``): ``trials`` trials of one CPU each, on data made in
the trial from plain random numbers (no downloads). With scikit-learn the objective is a ``LogisticRegression``'s
accuracy on a synthetic two-class dataset; without it, a quadratic of the hyperparameters in pure Python.

Through the Ray Client, Tune's driver runs on the cluster (an actor on the head), so Tune's files are written
there: the search's storage is a fresh folder under the cluster's temporary directory, removed from every node
when the search ends, with what the latest Ray stages in its session folder for that search.
``preflight.child_job.run_script`` calls ``main('{"address": ..., "trials": 4, "budget_s": 50, "stage_file": ...}')``.
Everything the trials run is shipped by value (this file is loaded under a module name no worker can import),
so it uses nothing from this tool.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

MARKER = "RAY-PREFLIGHT-TUNE "
#: The objectives, by the name the result reports.
SKLEARN, QUADRATIC = "sklearn", "quadratic"
#: Seconds kept back from the job's budget for what follows the search: Tune stops a second or two after its time
#: budget, then the results are read, the search's files removed (~1 s) and the session closed (~1 s).
RESERVE_S = 6.0
#: The least time budget worth giving Tune (it stops unfinished trials when it runs out): starting 4 trials took
#: 5 s on a 2-core machine (Ray 2.2.0 and 2.60).
LEAST_TUNE_S = 4.0
#: The reporting functions, newest API first: the first whose first parameter is ``metrics`` is used (Ray 2.2.0's
#: ``tune.report`` and ``train.report`` take keyword arguments; its ``ray.air.session.report`` takes the dict).
REPORTERS = (("ray.tune", "report"), ("ray.train", "report"), ("ray.air.session", "report"))


# -- run on the cluster's workers (shipped by value) -----------------------------------------------------------


def two_classes(count: int, features: int, seed: int) -> Tuple[List[List[float]], List[int]]:
    """A synthetic two-class dataset: Gaussian clouds around -0.55 and +0.55 in every feature."""
    import random

    rng = random.Random(seed)
    rows, labels = [], []
    for i in range(count):
        label = i % 2
        centre = 0.55 if label else -0.55
        rows.append([rng.gauss(centre, 1.0) for _ in range(features)])
        labels.append(label)
    return rows, labels


def reporter() -> Tuple[str, Callable[..., Any]]:
    """The Ray function that reports a trial's metrics as one dict, and its name."""
    import importlib
    import inspect

    for module_name, attr in REPORTERS:
        try:
            func = getattr(importlib.import_module(module_name), attr, None)
            params = list(inspect.signature(func).parameters) if func is not None else []
        except Exception:  # noqa: BLE001 - not in this Ray
            continue
        if func is not None and params[:1] == ["metrics"]:
            return f"{module_name}.{attr}", func
    raise RuntimeError("this Ray has no Tune reporting function that takes a dict of metrics")


def sklearn_objective(config: Dict[str, Any]) -> None:
    """Accuracy of a LogisticRegression with ``C`` on held-out rows of the synthetic dataset."""
    t0 = time.perf_counter()
    from sklearn.linear_model import LogisticRegression

    rows, labels = two_classes(400, 5, 7)
    model = LogisticRegression(C=float(config["C"]), max_iter=500).fit(rows[:300], labels[:300])
    accuracy = float(model.score(rows[300:], labels[300:]))
    reporter()[1]({"accuracy": accuracy, "trial_s": time.perf_counter() - t0})


def quadratic_objective(config: Dict[str, Any]) -> None:
    """A quadratic of the hyperparameters, smallest (0) at x=1, y=-2."""
    t0 = time.perf_counter()
    loss = (float(config["x"]) - 1.0) ** 2 + (float(config["y"]) + 2.0) ** 2
    reporter()[1]({"loss": loss, "trial_s": time.perf_counter() - t0})


def cluster_side() -> Dict[str, Any]:
    """Asked of a worker before the search: scikit-learn, and where this node keeps temporary files."""
    import importlib.util
    import platform
    import socket
    import tempfile

    found: Dict[str, Any] = {"tmp": tempfile.gettempdir(), "host": socket.gethostname(), "python": platform.python_version()}
    try:
        found["sklearn"] = importlib.util.find_spec("sklearn") is not None
    except Exception:  # noqa: BLE001 - a broken package is not there
        found["sklearn"] = False
    if found["sklearn"]:
        try:
            from importlib import metadata

            found["sklearn_version"] = metadata.version("scikit-learn")
        except Exception:  # noqa: BLE001 - the version is a nicety
            found["sklearn_version"] = None
    return found


def remove_search(storage: str, name: str) -> List[str]:
    """On one node: remove the search's storage folder and the latest Ray's staging of it in the session folder
    (``<session>/artifacts/<run>/<name>``, and ``<run>`` when nothing else is in it). The paths removed."""
    import glob
    import os
    import shutil

    removed = []
    if os.path.lexists(storage):
        shutil.rmtree(storage, ignore_errors=True)
        removed.append(storage)
    try:
        import ray

        node: Any = ray._private.worker._global_node
        session: Optional[str] = node.get_session_dir_path()
    except Exception:  # noqa: BLE001 - no session folder known: nothing staged there
        session = None
    if session:
        for staged in glob.glob(os.path.join(session, "artifacts", "*", name)):
            shutil.rmtree(staged, ignore_errors=True)
            removed.append(staged)
            try:
                os.rmdir(os.path.dirname(staged))
            except OSError:  # other runs' folders are in it
                pass
    return removed


# -- the driver (the client) -----------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    """The line of an error that says what went wrong: the last one of a traceback, else the first."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]:
            return line[:500]
    return lines[0][:500] if lines else ""


def _stage(out: Dict[str, Any], stage: str, stage_file: Optional[str]) -> None:
    out["stage"] = stage
    from preflight.child_job import write_step

    write_step(stage_file, stage)


def _run_config(tune: Any, name: str, storage: str) -> Any:
    """Tune's run configuration with the search's storage: ``tune.RunConfig(storage_path=...)`` in the latest Ray,
    ``ray.air.RunConfig(local_dir=...)`` in Ray 2.2.0."""
    import inspect

    config_class: Any = getattr(tune, "RunConfig", None)
    if config_class is None:
        from ray import air

        config_class = air.RunConfig
    params = inspect.signature(config_class).parameters
    where = "storage_path" if "storage_path" in params else "local_dir"
    return config_class(name=name, verbose=0, **{where: storage})


def _stop(ray: Any, tuner: Any, out: Dict[str, Any]) -> None:
    """Stop a search that did not end (interrupted, or failed on the way): kill Tune's driver, the actor that runs it
    on the cluster with the Ray Client (``Tuner._remote_tuner`` in Ray 2.2.0 and the latest Ray); its trials, which it
    owns, go with it. Otherwise it would go on writing the files about to be removed, until the session ends."""
    handle = getattr(tuner, "_remote_tuner", None)
    if handle is None:
        return
    try:
        ray.kill(handle)
        out["tune_driver_killed"] = True
        time.sleep(0.5)  # its trials' actors go with it
    except BaseException as exc:  # noqa: BLE001 - the session's end stops it anyway
        out["tune_driver_kill_error"] = f"{type(exc).__name__}: {exc}"[:300]


def _clean(ray: Any, storage: str, name: str, out: Dict[str, Any]) -> None:
    """Remove the search's files from every alive node (a task pinned to each)."""
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(remove_search)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        refs = [remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(storage, name)
                for node in nodes]
        removed = sorted({path for paths in ray.get(refs, timeout=20) for path in paths})
        out["cleanup"] = {"nodes": len(nodes), "removed": removed}
    except BaseException as exc:  # noqa: BLE001 - reported; the session's end follows anyway
        out["cleanup_error"] = f"{type(exc).__name__}: {exc}"[:500]


def _trials(results: Any, metric: str) -> List[Dict[str, Any]]:
    trials = []
    for i in range(len(results)):
        result = results[i]
        metrics = result.metrics or {}
        config = {k: v for k, v in (result.config or {}).items() if isinstance(v, (int, float, str))}
        trial: Dict[str, Any] = {"config": config, metric: metrics.get(metric), "trial_s": metrics.get("trial_s"),
                                 "time_total_s": metrics.get("time_total_s")}
        if result.error is not None:
            trial["error"] = _first_line(f"{type(result.error).__name__}: {result.error}")
        trials.append(trial)
    return trials


def main(spec: str) -> Dict[str, Any]:
    args = json.loads(spec)
    started = time.monotonic()
    budget = float(args.get("budget_s") or 60)
    trials = int(args.get("trials") or 4)
    stage_file = args.get("stage_file")
    out: Dict[str, Any] = {"ok": False, "stage": "import", "trials": trials}
    _stage(out, "import", stage_file)
    try:
        import ray

        out["ray_version"] = ray.__version__
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.update(error=f"{type(exc).__name__}: {exc}", failed_import="ray")
        return out
    try:
        from ray import tune

        out["report_api"] = reporter()[0]
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.update(error=_first_line(f"{type(exc).__name__}: {exc}"), failed_import="ray.tune")
        return out
    # The driver side's helpers (nothing of this tool goes to the workers).
    from preflight.checks.fib_job import _init
    from preflight.child_job import interrupt_after

    connected = fitted = False
    storage = name = tuner = None
    try:
        _stage(out, "init", stage_file)
        t0 = time.perf_counter()
        with interrupt_after():
            _init(ray, args["address"], out)
        connected = True
        out["init_s"] = time.perf_counter() - t0

        _stage(out, "worker", stage_file)
        t0 = time.perf_counter()
        left = budget - (time.monotonic() - started) - RESERVE_S
        cluster = ray.get(ray.remote(cluster_side).remote(), timeout=max(5.0, left))
        out["worker_s"] = time.perf_counter() - t0
        out["cluster"] = cluster
        objective = SKLEARN if cluster.get("sklearn") else QUADRATIC
        out["objective"] = objective

        _stage(out, "tune", stage_file)
        import uuid

        name = f"ray-preflight-tune-{uuid.uuid4().hex[:10]}"
        storage = os.path.join(str(cluster.get("tmp") or "/tmp"), name)
        out["storage"] = storage
        if objective == SKLEARN:
            trainable: Any = sklearn_objective
            space: Dict[str, Any] = {"C": tune.loguniform(1e-3, 1e2)}
            metric, mode = "accuracy", "max"
        else:
            trainable, space, metric, mode = quadratic_objective, {"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}, "loss", "min"
        out.update(metric=metric, mode=mode)
        time_budget = budget - (time.monotonic() - started) - RESERVE_S
        out["time_budget_s"] = round(time_budget, 1)
        if time_budget < LEAST_TUNE_S:
            out["error"] = (f"only {max(0.0, time_budget):.0f} s were left for the search after ray.init and the worker's answer "
                            f"({trials} trials need more)")
            out["no_time"] = True
            return out
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=space,
            tune_config=tune.TuneConfig(num_samples=trials, metric=metric, mode=mode, time_budget_s=time_budget),
            run_config=_run_config(tune, name, storage),
        )
        t0 = time.perf_counter()
        results = tuner.fit()
        fitted = True
        out["tune_s"] = time.perf_counter() - t0

        _stage(out, "results", stage_file)
        out["trial_results"] = _trials(results, metric)
        done = [t for t in out["trial_results"] if t.get(metric) is not None and "error" not in t]
        out["completed"] = len(done)
        failed = [t for t in out["trial_results"] if "error" in t]
        if failed:
            out["error"] = failed[0]["error"]
            out["failed_trials"] = len(failed)
        if done:
            best = results.get_best_result()
            out["best"] = {"config": {k: v for k, v in (best.config or {}).items() if isinstance(v, (int, float, str))},
                           metric: (best.metrics or {}).get(metric)}
        if len(done) == trials:
            out["ok"] = True
            _stage(out, "done", stage_file)
        elif not failed:
            out["error"] = f"{len(done)} of {trials} trials finished within Tune's time budget of {time_budget:.0f} s"
    except BaseException as exc:  # noqa: BLE001 - every failure is reported as data
        out["error"] = f"{type(exc).__name__}: {exc}".strip()[:3000]
    finally:
        if stage_file:  # read by the tool only while this job runs (when it is about to be stopped)
            try:
                os.unlink(stage_file)
            except OSError:
                pass
        if connected and storage and name:
            t0 = time.perf_counter()
            try:
                with interrupt_after():  # a SIGINT (the tool stopping this job) waits until the files are gone
                    if tuner is not None and not fitted:
                        _stop(ray, tuner, out)
                    _clean(ray, storage, name, out)
            except KeyboardInterrupt:
                out["interrupted"] = True
            out["cleanup_s"] = time.perf_counter() - t0
        try:
            ray.shutdown()  # also after an interrupted ray.init (see fib_job)
        except Exception as exc:  # noqa: BLE001
            out["shutdown_error"] = f"{type(exc).__name__}: {exc}"
    return out
