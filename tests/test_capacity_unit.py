"""``capacity`` and ``script-resources`` judged with plain facts: the Ray side (cluster status: totals, node shapes,
whether an autoscaler with node types runs) and the KubeRay side (the RayCluster's worker groups as the tool compacts
them from real objects, through ``compact_raycluster``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from preflight.checks.capacity import capacity
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
    return {"path": "/w/train.py", "error": None, "remote_requests": [entry]}


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
