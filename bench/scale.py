"""Scale: judging the facts of large clusters stays linear and fast.

Generates realistic ``/api/cluster_status`` answers (the dashboard's JSON, with per-node usage,
node-type mapping, idle times, pending and failed nodes) for clusters of 100, 1,000 and 5,000 nodes,
and the Kubernetes answers KubeRay gives for such a cluster (the RayCluster and a PodList of one head and
N-1 worker pods, shaped like the operator's), then times what the tool does with them: classify the HTTP
answer and parse its JSON, reduce the Kubernetes objects to facts, run the ``autoscaler``, ``raycluster``
and ``worker-groups`` checks, and render the report as JSON and text.
Target: <= 0.5 s at 5,000 nodes.

    python bench/scale.py [--runs 5] [--json]
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any, Dict, List

from _common import ROOT, base_parser  # noqa: F401  (puts the repository on sys.path)

from preflight import profiles
from preflight.checks.autoscaler import autoscaler
from preflight.checks.kuberay import raycluster, worker_groups
from preflight.dashboard_api import classify
from preflight.kuberay_objects import compact_pod, compact_raycluster
from preflight.model import Report, Result
from preflight.net import HttpAnswer
from preflight.render.text import render, render_json
from preflight.testing_kuberay import ClusterSpec, routes

SIZES = (100, 1_000, 5_000)
GROUPS = ("smallgroup", "mediumgroup", "largegroup", "gpugroup")


def cluster_status(nodes: int, seed: int = 7) -> Dict[str, Any]:
    rng = random.Random(seed)
    node_ids = [f"{rng.getrandbits(224):056x}" for _ in range(nodes)]
    types = ["headgroup"] + [GROUPS[i % len(GROUPS)] for i in range(nodes - 1)]
    usage_by_node = {
        nid: {"CPU": [float(rng.randint(0, 8)), 8.0], "memory": [rng.random() * 3e10, 3.2e10],
              "object_store_memory": [rng.random() * 1e10, 1e10], f"node:10.{i // 65536}.{i // 256 % 256}.{i % 256}": [0.0, 1.0]}
        for i, nid in enumerate(node_ids)
    }
    active: Dict[str, int] = {}
    for t in types:
        active[t] = active.get(t, 0) + 1
    return {
        "result": True,
        "msg": "Got cluster status.",
        "data": {
            "autoscalingStatus": "Cluster status: ...\n" + "\n".join(f" {n} {t}" for t, n in active.items()),
            "autoscalingError": None,
            "clusterStatus": {
                "loadMetricsReport": {
                    "usage": {"CPU": [float(nodes * 4), float(nodes * 8)], "memory": [1.0e12, 3.2e13]},
                    "resourceDemand": [[{"CPU": 1.0}, rng.randint(0, 50)] for _ in range(20)],
                    "pgDemand": [], "requestDemand": [],
                    "nodeTypes": [[{"CPU": 8.0, "memory": 3.2e10}, nodes]],
                    "usageByNode": usage_by_node,
                    "nodeTypeMapping": dict(zip(node_ids, types)),
                    "idleTimeMap": {nid: rng.randint(0, 600_000) for nid in node_ids},
                },
                "autoscalerReport": {
                    "activeNodes": active,
                    "idleNodes": {t: n // 3 for t, n in active.items()},
                    "pendingNodes": [[f"10.9.0.{i}", "smallgroup", "waiting-for-ssh"] for i in range(nodes // 100)],
                    "pendingLaunches": {"smallgroup": nodes // 200},
                    "failedNodes": [],
                    "nodeAvailabilitySummary": {"nodeAvailabilities": {}},
                },
            },
        },
    }


def kube_payloads(nodes: int) -> Dict[str, bytes]:
    """The RayCluster and the PodList (head + nodes-1 workers) as the API server would send them."""
    spec = ClusterSpec(workers=nodes - 1, max_replicas=nodes + 10)
    table = routes(spec)
    ns = spec.namespace
    return {"raycluster": json.dumps(table[f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{spec.name}"][1]).encode(),
            "pods": json.dumps(table[f"/api/v1/namespaces/{ns}/pods"][1]).encode()}


def judge(body: bytes, kube: Dict[str, bytes]) -> Report:
    profile = profiles.get("fy23-q2")
    answer = HttpAnswer("http://head:8265/api/cluster_status", 200, {"content-type": "application/json"}, body, 0.01)
    parsed = classify(answer, answer.url)
    facts = {"url": "http://head:8265/", "ok": True, "ray_version": "2.2.0", "cluster_status": parsed["json"]["data"]}
    pods = [compact_pod(p) for p in json.loads(kube["pods"])["items"]]
    cluster = compact_raycluster(json.loads(kube["raycluster"]))
    kuberay = {"namespace": "kuberay", "crds_installed": True, "cluster": cluster["name"],
               "raycluster": {"ok": True, "value": cluster}, "pods": {"ok": True, "value": pods},
               "operator_pods": {"ok": True, "value": []}}
    kube_facts = {"namespace": "kuberay", "cluster": cluster["name"], "operator_namespace": "kuberay"}
    results = []
    for cid, title, outcome in (("raycluster", "RayCluster exists and is ready", raycluster(kuberay, kube_facts, profile)),
                                ("worker-groups", "Worker groups can run and scale", worker_groups(kuberay, kube_facts)),
                                ("autoscaler", "Autoscaler is healthy", autoscaler(profile, facts, kuberay))):
        results.append(Result(cid, title, outcome.status, outcome.summary, outcome.remedy, outcome.details))
    report = Report("fy23-q2", "ray://head:10001", "http://head:8265/", results, facts={"dashboard": facts, "kuberay": kuberay})
    render_json(report)
    render(report, verbose=True, color=False)
    return report


def main() -> None:
    args = base_parser(__doc__.splitlines()[0], default_runs=5).parse_args()
    figures: List[Dict[str, Any]] = []
    for nodes in SIZES:
        body = json.dumps(cluster_status(nodes)).encode()
        kube = kube_payloads(nodes)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = judge(body, kube)
            times.append(time.perf_counter() - t0)
        size = len(body) + sum(len(v) for v in kube.values())
        figures.append({"nodes": nodes, "payload_kb": round(size / 1024), "min_s": min(times),
                        "median_s": statistics.median(times), "max_s": max(times),
                        "us_per_node": statistics.median(times) / nodes * 1e6, "summary": report.results[-1].summary[:60]})
    if args.json:
        print(json.dumps({"benchmark": "scale", "target_s_at_5000": 0.5, "figures": figures}))
        return
    print(f"{'nodes':>6} {'payload':>9} {'min':>8} {'median':>8} {'max':>8} {'µs/node':>8}")
    for f in figures:
        print(f"{f['nodes']:>6} {f['payload_kb']:>7}kB {f['min_s']:>7.3f}s {f['median_s']:>7.3f}s {f['max_s']:>7.3f}s {f['us_per_node']:>8.1f}")
    worst = figures[-1]["max_s"]
    print(f"target: <= 0.5 s at 5,000 nodes -> {'met' if worst <= 0.5 else 'MISSED'} (worst {worst:.3f} s)")


if __name__ == "__main__":
    main()
