"""Capacity: the CPUs (and GPUs) the cluster has now and the most it can get, against what a job needs.

The Ray side is the dashboard's cluster status (the totals now, each node shape, the demand Ray cannot place, whether an
autoscaler with node types runs); with Kubernetes access, the RayCluster's worker groups say what each pod offers
(``rayStartParams``, else the Ray container's limits) and how many pods a group may have (``maxReplicas`` when
autoscaling, else ``replicas``). A cluster with no CPU that cannot get one fails in milliseconds: every task would wait
forever, and the live job is not started (``fibonacci_run`` stops on this check's failure).
"""

from __future__ import annotations

from typing import Any, Dict

from preflight.checks.cluster_resources import count_of, kube_view, obtainable, ray_view
from preflight.model import Outcome, failed, formatted, passed, skipped, warned
from preflight.registry import check


@check("capacity", "Cluster has (or can get) CPUs for the job")
def capacity(dashboard, kuberay=None, profile=None) -> Outcome:  # type: ignore[no-untyped-def]
    """CPUs and GPUs now and at most (autoscaler, worker groups) against one CPU per Fibonacci task."""
    ray = ray_view(dashboard)
    if not ray["readable"]:
        return skipped(ray["why"])
    kube = kube_view(kuberay)
    details: Dict[str, Any] = {k: ray[k] for k in ("cpus", "gpus", "node_shapes", "pending_demand", "autoscaler")}
    if kube:
        details["worker_groups"] = kube["groups"]
    now = count_of(ray["cpus"], "CPU") + (f", {count_of(ray['gpus'], 'GPU')}" if ray["gpus"] else "")
    most, offering = obtainable(kube, "cpus") if kube else (None, [])
    details["cpus_at_most"] = most
    if ray["cpus"] >= 1:
        grows = f"; up to {formatted(most)} CPUs with {', '.join(offering)}" if most and most > ray["cpus"] else ""
        return passed(f"{now} now{grows}: the job's tasks (1 CPU each) can run", **details)
    if kube and most:
        return passed(f"no CPU now, and the autoscaler can add workers of {', '.join(offering)}: the job's first tasks wait for a "
                      "new pod (scheduling, image pull, Ray start)" if kube["autoscaling"] else
                      f"no CPU now; worker pods of {', '.join(offering)} are expected: the job waits until they join", **details)
    if kube and most is None:
        return warned("no CPU now, and the worker groups do not say how many CPUs a pod has (no num-cpus in rayStartParams, "
                      "no cpu limit): cannot tell whether tasks can ever run", "set rayStartParams num-cpus on the worker groups",
                      **details)
    if kube:
        name = kube["name"]
        why = "no worker group can add a pod with CPUs" if kube["autoscaling"] else "it does not autoscale and no worker pod is wanted"
        return failed(f"tasks would wait forever: the cluster has 0 CPUs and {why} (RayCluster {name})",
                      f"give a worker group CPUs and room (maxReplicas ≥ 1): `kubectl edit raycluster {name}`", **details)
    if ray["autoscaler"] == "node types":
        return warned("no CPU now; an autoscaler runs, but whether it can add a node with CPUs needs Kubernetes access "
                      "(the worker groups' maxReplicas and resources)",
                      "rerun where kubectl works, or ask the platform team for the RayCluster's worker groups", **details)
    scaling = "no autoscaler runs" if ray["autoscaler"] == "none" else "no autoscaler with node types runs (a fixed-size cluster)"
    return failed(f"tasks would wait forever: the cluster has 0 CPUs and cannot scale ({scaling})",
                  "give the head CPUs (rayStartParams num-cpus; `ray start --num-cpus`) or add a worker group with "
                  "autoscaling; if worker pods are still starting, wait for them and run again", **details)
