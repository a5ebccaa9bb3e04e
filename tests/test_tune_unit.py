"""The ``tune-test`` check judged with plain facts (no I/O), and the pure parts of its job."""

from __future__ import annotations

import runpy
from typing import Any, Dict

import pytest

from preflight import config, registry
from preflight.checks import tune_job
from preflight.checks.tune import TRIALS, missing_module, tune_test
from preflight.model import Missing, Status
from preflight.runner import plan
from tests.facts import client_facts

CONFIG = config.build("ray://head:10001", profile="auto", environ={}, timeout=60)


def run(**extra: Any) -> Dict[str, Any]:
    """A job result shaped like tune_job.main's (a Ray 2.2.0 cluster with scikit-learn, 4 trials that finished)."""
    trials = [{"config": {"C": c}, "accuracy": a, "trial_s": 0.9, "time_total_s": 0.9}
              for c, a in ((0.01, 0.88), (0.5, 0.93), (8.0, 0.91), (40.0, 0.9))]
    facts: Dict[str, Any] = {
        "ok": True, "stage": "done", "trials": 4, "ray_version": "2.2.0", "report_api": "ray.air.session.report",
        "init_s": 2.5, "worker_s": 0.02, "tune_s": 6.08, "time_budget_s": 40.0, "objective": "sklearn",
        "cluster": {"tmp": "/tmp", "host": "head", "python": "3.8.18", "sklearn": True, "sklearn_version": "1.3.2"},
        "metric": "accuracy", "mode": "max", "completed": 4, "trial_results": trials,
        "best": {"config": {"C": 0.5}, "accuracy": 0.93}, "storage": "/tmp/ray-preflight-tune-0123456789",
        "cleanup": {"nodes": 1, "removed": ["/tmp/ray-preflight-tune-0123456789"]}, "cleanup_s": 0.5, "wall_s": 11.0,
    }
    facts.update(extra)
    return facts


def quadratic(**extra: Any) -> Dict[str, Any]:
    return run(objective="quadratic", metric="loss", mode="min", ray_version="2.60.0", report_api="ray.tune.report",
               cluster={"tmp": "/tmp", "host": "head", "python": "3.11.7", "sklearn": False},
               best={"config": {"x": 1.2, "y": -1.75}, "loss": 0.1025}, tune_s=4.7, **extra)


class TestPasses:
    def test_a_scikit_learn_search_names_the_model_the_best_trial_and_the_clusters_scikit_learn(self) -> None:
        out = tune_test(run(), CONFIG, client_facts())
        assert out.status is Status.PASS
        assert out.summary == "4 trials of a LogisticRegression search ran in 6.1 s (best C=0.5, accuracy 0.93; scikit-learn 1.3.2 on the cluster)"
        assert out.details["tune_s"] == 6.08 and len(out.details["trial_results"]) == 4 and out.details["objective"] == "sklearn"

    def test_without_scikit_learn_on_the_cluster_the_objective_is_pure_python(self) -> None:
        out = tune_test(quadratic(), CONFIG, client_facts(ray="2.60.0", python="3.11.7"))
        assert out.status is Status.PASS
        assert out.summary == ("4 trials of a pure-Python (quadratic) search ran in 4.7 s (best x=1.2, y=-1.75, loss 0.102; "
                               "no scikit-learn on the cluster)")

    def test_files_it_could_not_remove_are_said_but_do_not_fail_the_proof(self) -> None:
        out = tune_test(run(cleanup_error="GetTimeoutError: Get timed out: some object(s) not ready."), CONFIG)
        assert out.status is Status.PASS and "could not all be removed (GetTimeoutError: Get timed out" in out.summary


class TestFailures:
    def test_a_client_without_ray_tune_gets_the_pip_line_for_its_ray(self) -> None:
        job = {"ok": False, "stage": "import", "trials": 4, "ray_version": "2.2.0", "failed_import": "ray.tune",
               "error": "ModuleNotFoundError: No module named 'pandas'", "wall_s": 0.5}
        out = tune_test(job, CONFIG, client_facts())
        assert out.status is Status.FAIL
        assert out.summary == "Ray Tune cannot be imported on the client: ModuleNotFoundError: No module named 'pandas'"
        assert out.remedy == 'pip install "ray[tune]==2.2.0"'
        latest = dict(job, ray_version="2.60.0", error='ImportError: Can\'t import ray.tune as some dependencies are missing. '
                                                     'Run `pip install "ray[tune]"` to fix.')
        out = tune_test(latest, CONFIG, client_facts(ray="2.60.0"))
        assert out.remedy == 'pip install "ray[tune]==2.60.0"' and "Can't import ray.tune" in out.summary
        # without the job's word on the version, the client's facts give it
        assert tune_test(dict(job, ray_version=None), CONFIG, client_facts(ray="2.2.0")).remedy == 'pip install "ray[tune]==2.2.0"'

    def test_a_cluster_without_ray_tunes_dependencies_is_named_with_the_missing_module(self) -> None:
        # measured: a Ray 2.2.0 head with ray[default] only, a client with ray[tune]==2.2.0
        out = tune_test(run(ok=False, stage="tune", objective="quadratic", error="ModuleNotFoundError: No module named 'pandas'"),
                        CONFIG, client_facts())
        assert out.status is Status.FAIL
        assert out.summary == "the cluster cannot run Ray Tune: ModuleNotFoundError: No module named 'pandas'"
        assert out.remedy is not None and "lacks pandas, which Ray Tune needs" in out.remedy and '"ray[tune]==2.2.0"' in out.remedy
        assert "every worker group" in out.remedy

    def test_failed_trials_say_how_many_and_the_first_error(self) -> None:
        error = "RayTaskError(ModuleNotFoundError): ray::ImplicitFunc.train() ...\nModuleNotFoundError: No module named 'scipy'"
        out = tune_test(run(ok=False, stage="results", completed=1, failed_trials=3, error=error), CONFIG)
        assert out.status is Status.FAIL
        assert out.summary == "3 of 4 trials of a LogisticRegression search failed: ModuleNotFoundError: No module named 'scipy'"
        assert out.remedy == "the cluster's image lacks scipy: install it in the image of the head and of every worker group"
        other = tune_test(run(ok=False, stage="results", failed_trials=1, error="ValueError: bad C"), CONFIG)
        assert other.summary.endswith("failed: ValueError: bad C") and "-v --tune-test" in (other.remedy or "")

    def test_trials_stopped_by_tunes_time_budget(self) -> None:
        out = tune_test(quadratic(ok=False, stage="results", completed=2,
                                  error="2 of 4 trials finished within Tune's time budget of 5 s"), CONFIG)
        assert out.status is Status.FAIL
        assert out.summary == "the search did not finish: 2 of 4 trials finished within Tune's time budget of 5 s"
        assert "each trial needs 1 CPU" in (out.remedy or "") and "raise --timeout (now 60 s)" in (out.remedy or "")

    def test_too_little_time_left_for_the_search(self) -> None:
        out = tune_test(run(ok=False, stage="tune", no_time=True, error="only 2 s were left for the search after ray.init and "
                            "the worker's answer (4 trials need more)"), CONFIG)
        assert out.status is Status.FAIL and out.summary.startswith("the search did not start: only 2 s were left")
        assert out.remedy == "raise --timeout (now 60 s)"

    @pytest.mark.parametrize("stage, doing", [("init", "ray.init"), ("worker", "asking a worker whether the cluster has scikit-learn"),
                                              ("tune", "the search (Tuner.fit)")])
    def test_a_timeout_says_at_which_stage(self, stage: str, doing: str) -> None:
        job = {"ok": False, "stage": "timeout", "timed_out_at": stage, "error": "the job did not finish within 42 s; it was stopped",
               "wall_s": 42.0}
        out = tune_test(job, CONFIG)
        assert out.status is Status.FAIL
        assert out.summary == f"the job did not finish within 42 s; it was stopped: it was at {stage} ({doing})"
        assert (out.remedy or "").startswith("raise --timeout (now 60 s)")
        assert ("see capacity and autoscaler" in (out.remedy or "")) is (stage == "tune")
        assert tune_test(dict(job, timed_out_at=None), CONFIG).summary == "the job did not finish within 42 s; it was stopped"

    def test_other_failures_name_the_stage_and_the_errors_last_line(self) -> None:
        error = "Traceback (most recent call last):\n  File \"x\", line 1\nGetTimeoutError: Get timed out: some object(s) not ready."
        out = tune_test(run(ok=False, stage="worker", error=error), CONFIG)
        assert out.summary == ("the Ray Tune test failed at worker (asking a worker whether the cluster has scikit-learn): "
                               "GetTimeoutError: Get timed out: some object(s) not ready.")

    def test_a_crashed_job_reads_its_stderr(self) -> None:
        job = {"ok": False, "stage": "crash", "error": "the job process ended with code -11 and no result",
               "stderr_tail": "Fatal Python error: Segmentation fault\n", "wall_s": 3.0}
        out = tune_test(job, CONFIG)
        assert out.status is Status.FAIL and "ended with code -11" in out.summary and out.details["stderr_tail"]


class TestFacts:
    def test_unreadable_or_missing_facts(self) -> None:
        assert tune_test(Missing("needs fibonacci to pass (fibonacci: fail)"), CONFIG).status is Status.SKIP
        assert tune_test("garbage", CONFIG).status is Status.ERROR

    def test_missing_module_reads_the_top_level_package(self) -> None:
        assert missing_module("ModuleNotFoundError: No module named 'sklearn.linear_model'") == "sklearn"
        assert missing_module("ValueError: nothing") is None and missing_module(None) is None


class TestRegistration:
    def test_it_is_opt_in_on_the_client_route_and_gated_like_the_scale_test(self) -> None:
        registry.load_builtin()
        checks, probes = registry.checks(), registry.probes()
        assert checks["tune-test"].opt_in is True and checks["tune-test"].routes == ("client",)
        assert list(checks).index("tune-test") == list(checks).index("scale-test") + 1  # shown right after it
        probe = probes["tune_run"]
        assert probe.owner == "tune-test"
        assert probe.gate == ("ray-version", "python-version", "client-packages", "proxy", "auth", "tls", "fibonacci")

    def test_only_the_flag_selects_it(self) -> None:
        registry.load_builtin()
        checks, probes = registry.checks(), registry.probes()
        assert "tune-test" not in plan(CONFIG, checks, probes).selected
        asked = config.build("ray://head:10001", profile="auto", environ={}, timeout=60, tune_test=True)
        made = plan(asked, checks, probes)
        assert "tune-test" in made.selected and "tune_run" in made.to_probe and "fibonacci" in made.to_check


class TestJobParts:
    """The job's pure parts, loaded as run_script loads it (under a module name no worker can import)."""

    job = runpy.run_path(tune_job.__file__, run_name="ray_preflight_job")

    def test_the_synthetic_dataset_is_balanced_reproducible_and_plain_python(self) -> None:
        rows, labels = self.job["two_classes"](400, 5, 7)
        assert len(rows) == 400 and all(len(r) == 5 and all(isinstance(x, float) for x in r) for r in rows)
        assert sum(labels) == 200 and self.job["two_classes"](400, 5, 7) == (rows, labels)
        ones = [r for r, label in zip(rows, labels) if label]
        assert 0.3 < sum(sum(r) for r in ones) / (5 * len(ones)) < 0.8  # the class-1 cloud sits around +0.55

    def test_the_reporter_takes_a_dict_of_metrics(self) -> None:
        name, func = self.job["reporter"]()
        assert name == "ray.tune.report" and callable(func)  # the latest Ray (this Python)

    def test_the_storage_goes_to_the_run_config_this_ray_reads(self) -> None:
        from ray import tune

        made = self.job["_run_config"](tune, "ray-preflight-tune-x", "/tmp/ray-preflight-tune-x")
        assert made.storage_path == "/tmp/ray-preflight-tune-x" and made.name == "ray-preflight-tune-x" and made.verbose == 0

    def test_the_first_line_of_an_error_is_the_exception(self) -> None:
        first = self.job["_first_line"]
        assert first("Traceback (most recent call last):\n  File 'x'\nModuleNotFoundError: No module named 'pandas'\n") == \
            "ModuleNotFoundError: No module named 'pandas'"
        assert first("just words") == "just words" and first("") == ""

    def test_the_trial_count_matches_the_check(self) -> None:
        assert TRIALS == 4
