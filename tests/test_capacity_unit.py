"""``capacity`` and ``script-resources`` judged with plain facts: the Ray side (cluster status: totals, node shapes,
whether an autoscaler with node types runs) and the KubeRay side (the RayCluster's worker groups as the tool compacts
them from real objects, through ``compact_raycluster``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from preflight.checks.capacity import capacity
from preflight.checks.scale import cannot_scale, scale_test
from preflight.checks.script import script_resources
from preflight.kuberay_objects import compact_raycluster
from preflight.model import Missing, Status
from tests.facts import dashboard_facts


def status(cpus: float, gpus: float = 0.0, typed: bool = False, shapes: Optional[List[Any]] = None) -> Dict[str, Any]:
    usage: Dict[str, Any] = {"memory": [0.0, 8e9]}
    if cpus:
        usage["CPU"] = [0.0, cpus]
    if gpus:
        usage["GPU"] = [0.0, gpus]
    active = {"headgroup": 1} if typed else {"node_0123456789abcdef0123": 1}
    return {"clusterStatus": {"autoscalerReport": {"activeNodes": active},
                              "loadMetricsReport": {"usage": usage, "resourceDemand": [],
                                                    "nodeTypes": shapes if shapes is not None else [[{"CPU": cpus, "memory": 8e9}, 1]]}}}


def raycluster(autoscaling: bool, groups: List[Dict[str, Any]], head_cpus: str = "0") -> Dict[str, Any]:
    """A RayCluster as the Kubernetes API serves it, compacted as the kuberay probe compacts it."""
    obj = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "ray-cluster-kuberay"},
           "spec": {"rayVersion": "2.2.0", "enableInTreeAutoscaling": autoscaling,
                    "headGroupSpec": {"rayStartParams": {"num-cpus": head_cpus},
                                      "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.2.0"}]}}},
                    "workerGroupSpecs": groups}}
    return {"namespace": "kuberay", "raycluster": {"ok": True, "value": compact_raycluster(obj)}}


def group(name: str, replicas: int, most: int, cpu: Optional[str] = "1", gpu: Optional[int] = None, params: Optional[dict] = None) -> Dict[str, Any]:
    limits: Dict[str, Any] = {}
    if cpu is not None:
        limits["cpu"] = cpu
    if gpu is not None:
        limits["nvidia.com/gpu"] = gpu
    return {"groupName": name, "replicas": replicas, "minReplicas": 0, "maxReplicas": most, "rayStartParams": params or {},
            "template": {"spec": {"containers": [{"name": "ray-worker", "resources": {"limits": limits, "requests": limits}}]}}}


class TestCapacity:
    def test_cpus_now_pass(self) -> None:
        out = capacity(dashboard_facts(status(4.0)))
        assert out.status is Status.PASS and "4 CPUs now" in out.summary
        assert "1 CPU now" in capacity(dashboard_facts(status(1.0))).summary

    def test_no_cpu_and_a_fixed_cluster_fails_at_once(self) -> None:
        out = capacity(dashboard_facts(status(0.0)))
        assert out.status is Status.FAIL
        assert "tasks would wait forever: the cluster has 0 CPUs and cannot scale" in out.summary

    def test_no_cpu_with_an_autoscaler_but_no_kubernetes_access_cannot_tell(self) -> None:
        out = capacity(dashboard_facts(status(0.0, typed=True)))
        assert out.status is Status.WARN and "needs Kubernetes access" in out.summary

    def test_no_cpu_but_a_group_can_scale_up_passes_with_the_scale_up_to_expect(self) -> None:
        out = capacity(dashboard_facts(status(0.0, typed=True)), raycluster(True, [group("smallgroup", 0, 3)]))
        assert out.status is Status.PASS, out
        assert "the autoscaler can add workers of smallgroup (3 × 1)" in out.summary and "new pod" in out.summary

    def test_no_cpu_and_no_group_with_room_fails_naming_the_raycluster(self) -> None:
        out = capacity(dashboard_facts(status(0.0, typed=True)), raycluster(True, [group("smallgroup", 0, 0)]))
        assert out.status is Status.FAIL and "RayCluster ray-cluster-kuberay" in out.summary
        assert "kubectl edit raycluster ray-cluster-kuberay" in out.remedy

    def test_rayStartParams_num_cpus_zero_wins_over_the_container_limit(self) -> None:
        groups = [group("smallgroup", 1, 3, cpu="2", params={"num-cpus": "0"})]
        out = capacity(dashboard_facts(status(0.0, typed=True)), raycluster(True, groups))
        assert out.status is Status.FAIL, out

    def test_a_group_that_does_not_say_its_cpus_is_undecided_not_a_pass(self) -> None:
        out = capacity(dashboard_facts(status(0.0, typed=True)), raycluster(True, [group("smallgroup", 0, 3, cpu=None)]))
        assert out.status is Status.WARN and "cannot tell" in out.summary

    def test_growth_is_named_when_cpus_exist(self) -> None:
        out = capacity(dashboard_facts(status(1.0, typed=True)), raycluster(True, [group("smallgroup", 0, 4, cpu="500m")], head_cpus="1"))
        assert out.status is Status.PASS and "up to 5 CPUs with smallgroup (4 × 1)" in out.summary  # 500m rounds up, as KubeRay

    def test_without_the_dashboard_it_skips(self) -> None:
        assert capacity(Missing("refused")).status is Status.SKIP
        assert capacity(dashboard_facts(ok=False, error="refused")).status is Status.SKIP


def script_facts(**request: Any) -> Dict[str, Any]:
    entry = {"line": 5, "cell": None, "where": "@ray.remote", "target": "train", "num_cpus": None, "num_gpus": None, "memory": None,
             "resources": None, "not_judged": []}
    entry.update(request)
    return {"path": "/w/train.py", "error": None, "remote_requests": [entry], "launches": []}


def launched(count: Optional[int], kind: str = "function", **request: Any) -> Dict[str, Any]:
    """The facts of a script that launches ``train`` ``count`` times in a loop (``count`` None: a loop of run-time length)."""
    facts = script_facts(target_kind=kind, **request)
    launch = {"target": "train", "target_kind": kind, "line": 9, "cell": None, "count": count, "loops": ["for _ in range(…)"],
              "num_cpus": request.get("num_cpus"), "num_gpus": request.get("num_gpus"), "not_judged": request.get("not_judged", [])}
    return {**facts, "launches": [launch]}


class TestScriptResources:
    def test_a_gpu_on_a_cpu_cluster_with_gpu_groups_passes(self) -> None:
        kube = raycluster(True, [group("gpu", 0, 2, cpu="4", gpu=1)])
        out = script_resources(script_facts(num_gpus=1), dashboard_facts(status(2.0, typed=True)), kube)
        assert out.status is Status.PASS, out

    def test_a_gpu_nowhere_fails(self) -> None:
        kube = raycluster(True, [group("smallgroup", 0, 2)])
        out = script_resources(script_facts(num_gpus=1), dashboard_facts(status(2.0, typed=True)), kube)
        assert out.status is Status.FAIL and "no node type offers 1 GPU" in out.summary and "nvidia.com/gpu" in out.remedy

    def test_more_cpus_than_the_largest_pod_fails(self) -> None:
        kube = raycluster(True, [group("smallgroup", 0, 10, cpu="2")])
        out = script_resources(script_facts(num_cpus=8), dashboard_facts(status(2.0, typed=True)), kube)
        assert out.status is Status.FAIL and "asks for 8 CPUs; the largest node has 2 CPUs" in out.summary

    def test_an_autoscaled_cluster_without_kubernetes_access_warns(self) -> None:
        out = script_resources(script_facts(num_gpus=1), dashboard_facts(status(2.0, typed=True)))
        assert out.status is Status.WARN and "needs Kubernetes access" in out.summary

    def test_values_that_are_not_literals_are_listed_as_not_judged(self) -> None:
        out = script_resources(script_facts(num_cpus=1, not_judged=["num_gpus"]), dashboard_facts(status(2.0)))
        assert out.status is Status.WARN and "not judged" in out.summary and "num_gpus" in out.summary


class TestLaunchesAgainstTheWholeCluster:
    """Each task or actor fits a node, but a loop launches more of them than the whole cluster can ever hold at once."""

    def test_tasks_beyond_a_fixed_cluster_pass_saying_that_they_run_in_waves(self) -> None:
        """Tasks queue for a free CPU and run when one is (Ray's normal way): the waves are said, not warned about."""
        out = script_resources(launched(8, num_cpus=1), dashboard_facts(status(2.0)))
        assert out.status is Status.PASS, out
        assert "train (line 9) runs 8 tasks (for _ in range(…)), 8 CPUs in all; the cluster can have at most 2 CPUs" in out.summary
        assert "waves of at most 2" in out.summary

    def test_a_bare_task_holds_one_cpu_by_default(self) -> None:
        assert "waves of at most 2" in script_resources(launched(3), dashboard_facts(status(2.0))).summary
        assert "waves" not in script_resources(launched(2), dashboard_facts(status(2.0))).summary

    def test_actors_beyond_the_cluster_warn_that_waiting_on_all_of_them_hangs(self) -> None:
        out = script_resources(launched(3, kind="class", num_cpus=1), dashboard_facts(status(2.0)))
        assert out.status is Status.WARN and "only 2 can be alive at once" in out.summary and "hangs" in out.summary, out
        assert "create fewer actors" in out.remedy and "more actors at once than the cluster can ever hold" in out.summary

    def test_a_bare_actor_holds_no_cpu_while_it_lives(self) -> None:
        assert script_resources(launched(50, kind="class"), dashboard_facts(status(2.0))).status is Status.PASS

    def test_the_worker_groups_maxReplicas_set_the_most_at_once(self) -> None:
        kube = raycluster(True, [group("smallgroup", 0, 4, cpu="2")], head_cpus="1")
        within = script_resources(launched(9, num_cpus=1), dashboard_facts(status(1.0, typed=True)), kube)
        assert within.status is Status.PASS and "waves" not in within.summary, within  # 1 + 4 × 2 = 9 CPUs at most
        out = script_resources(launched(5, kind="class", num_cpus=2), dashboard_facts(status(1.0, typed=True)), kube)
        assert out.status is Status.WARN and "at most 9 CPUs (the head (1 CPU) + smallgroup (4 × 2))" in out.summary, out
        assert "only 4 can be alive at once" in out.summary and "maxReplicas" in out.remedy

    def test_gpus_count_too(self) -> None:
        kube = raycluster(True, [group("gpu", 0, 2, cpu="4", gpu=1)])
        out = script_resources(launched(3, kind="class", num_cpus=1, num_gpus=1), dashboard_facts(status(2.0, typed=True)), kube)
        assert out.status is Status.WARN and "3 GPUs in all" in out.summary and "at most 2 GPUs" in out.summary, out
        assert "CPUs in all" not in out.summary  # 3 CPUs fit 0 + 2 × 4

    def test_an_autoscaler_without_kubernetes_access_is_not_totalled(self) -> None:
        out = script_resources(launched(100, num_cpus=1), dashboard_facts(status(2.0, typed=True)))
        assert out.status is Status.PASS and out.details["launches_not_totalled"] == ["train (line 9)"], out

    def test_loops_of_run_time_length_and_values_not_literal_are_not_totalled(self) -> None:
        assert script_resources(launched(None, kind="class", num_cpus=1), dashboard_facts(status(2.0))).status is Status.PASS
        out = script_resources(launched(8, kind="class", num_cpus=1, not_judged=["num_cpus"]), dashboard_facts(status(2.0)))
        assert out.status is Status.WARN and "not judged" in out.summary and "alive" not in out.summary, out


def grouped(bundles: Optional[List[Dict[str, Any]]], strategy: Optional[str] = "PACK", not_judged: Any = ()) -> Dict[str, Any]:
    """The facts of a script that makes one placement group (line 7) and defines no task with a request."""
    return {"path": "/w/train.py", "error": None, "remote_requests": [], "launches": [],
            "placement_groups": [{"line": 7, "cell": None, "bundles": bundles, "strategy": strategy, "not_judged": list(not_judged)}]}


class TestPlacementGroups:
    """A placement group that can never be placed waits forever, and so does everything scheduled into it."""

    def test_more_in_all_than_a_fixed_cluster_has_fails(self) -> None:
        out = script_resources(grouped([{"CPU": 1}] * 3), dashboard_facts(status(2.0)))
        assert out.status is Status.FAIL, out
        assert out.summary == ("would wait forever: the placement group (line 7, 3 bundles, PACK) asks for 3 CPUs in all; the cluster "
                               "can have at most 2 CPUs (a fixed-size cluster): it is never placed, and what is scheduled into it "
                               "never runs")
        assert "fewer or smaller bundles" in out.remedy

    def test_one_that_fits_passes_and_is_said(self) -> None:
        out = script_resources(grouped([{"CPU": 1}] * 2), dashboard_facts(status(2.0)))
        assert out.status is Status.PASS and "1 placement group(s) can be placed" in out.summary, out

    def test_a_bundle_no_node_offers_fails(self) -> None:
        out = script_resources(grouped([{"CPU": 1, "GPU": 1}]), dashboard_facts(status(2.0)))
        assert out.status is Status.FAIL and "has a bundle {CPU: 1, GPU: 1}: no node type offers 1 GPU" in out.summary, out
        assert "nvidia.com/gpu" in out.remedy

    def test_strict_pack_needs_one_node_for_all_bundles(self) -> None:
        """Two 2-CPU bundles fit the cluster (1 + 4 × 2 CPUs) but not one node (2 CPUs) all together."""
        kube = raycluster(True, [group("smallgroup", 0, 4, cpu="2")], head_cpus="1")
        assert script_resources(grouped([{"CPU": 2}] * 2), dashboard_facts(status(1.0, typed=True)), kube).status is Status.PASS
        out = script_resources(grouped([{"CPU": 2}] * 2, "STRICT_PACK"), dashboard_facts(status(1.0, typed=True)), kube)
        assert out.status is Status.FAIL and "puts all its bundles on one node: 4 CPUs; the largest node has 2 CPUs" in out.summary, out

    def test_bundles_known_only_at_run_time_are_listed_as_not_judged(self) -> None:
        out = script_resources(grouped(None, None, ["bundles", "strategy"]), dashboard_facts(status(2.0)))
        assert out.status is Status.WARN and "the placement group (line 7): bundles, strategy" in out.summary, out


class TestScaleTestOnAClusterThatCannotScale:
    """``--scale-test`` makes no demand and waits for nothing when the facts show no node can ever join."""

    def test_a_fixed_size_cluster_fails_at_once_and_a_typed_autoscaler_runs_the_test(self) -> None:
        assert "fixed-size cluster" in (cannot_scale(dashboard_facts(status(2.0)), None) or "")
        assert cannot_scale(dashboard_facts(status(2.0, typed=True)), None) is None

    def test_autoscaling_off_or_every_group_at_maxReplicas_fails_at_once(self) -> None:
        off = cannot_scale(dashboard_facts(status(2.0, typed=True)), raycluster(False, [group("smallgroup", 1, 3)]))
        assert off is not None and "enableInTreeAutoscaling is off" in off
        full = cannot_scale(dashboard_facts(status(3.0, typed=True)), raycluster(True, [group("smallgroup", 2, 2)], head_cpus="1"))
        assert full is not None and "at its maxReplicas: the cluster has 3 CPUs and can have at most 3 CPUs" in full
        assert cannot_scale(dashboard_facts(status(1.0, typed=True)), raycluster(True, [group("smallgroup", 0, 2)], head_cpus="1")) is None

    def test_what_cannot_be_told_runs_the_test(self) -> None:
        assert cannot_scale(Missing("refused"), None) is None  # no cluster status
        fresh = {"clusterStatus": {"autoscalerReport": {"activeNodes": {}}, "loadMetricsReport": {"usage": {}}}}
        assert cannot_scale(dashboard_facts(fresh), None) is None  # an autoscaler that has not reported its nodes yet
        unknown = raycluster(True, [group("smallgroup", 0, 2, cpu=None)])
        assert cannot_scale(dashboard_facts(status(2.0, typed=True)), unknown) is None

    def test_the_check_says_why_and_what_to_change(self) -> None:
        from preflight.profiles import get

        kube = raycluster(False, [group("smallgroup", 1, 3)])
        run = scale_run_facts(cannot_scale(dashboard_facts(status(2.0)), kube))
        out = scale_test(run, get("auto"), kube)
        assert out.status is Status.FAIL and out.summary.startswith("no node can join: RayCluster ray-cluster-kuberay does not autoscale")
        assert "nothing was asked of the cluster" in out.summary
        assert "`kubectl -n kuberay edit raycluster ray-cluster-kuberay`: enableInTreeAutoscaling: true" in (out.remedy or "")


def scale_run_facts(reason: Optional[str]) -> Dict[str, Any]:
    return {"ok": False, "stage": "before asking", "cannot_scale": reason}
