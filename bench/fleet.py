"""Fleet: ``preflight.clusters()`` lists, judges and renders 200 RayClusters with their pods within a second.

Serves a Kubernetes API on loopback (``preflight.testing_kuberay.SelectorKubeAPI``: real Kubernetes JSON over a real
HTTP socket) holding 200 RayClusters in 10 namespaces, of four kinds (this Python and Ray; Ray 2.2.0 on Python 3.8; no
Python in the image tag; token authentication, two worker groups), each with its head and 5 worker pods (1,200 Ray
pods, plus an operator pod per namespace that the label selector leaves out). Then times, in-process, what
``ray-preflight clusters`` does after start-up: connect with a kubeconfig through the official ``kubernetes`` client,
list the RayClusters and the pods (``--all-namespaces``: one call each; per namespace: two calls each, side by side),
judge every cluster for this client, and render the text table, the JSON and the HTML.
Target: <= 1 s (median) for 200 clusters.

    python bench/fleet.py [--runs 7] [--json]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from _common import ROOT, base_parser  # noqa: F401  (puts the repository on sys.path)

from preflight.environment import version_of
from preflight.fleet import clusters, render_html, render_text
from preflight.testing_kuberay import ClusterSpec, SelectorKubeAPI, fleet_routes, kubeconfig

CLUSTERS = 200
NAMESPACES = 10
TARGET_S = 1.0


def specs() -> List[ClusterSpec]:
    here_py = f"py{sys.version_info.major}{sys.version_info.minor}"
    ray = version_of("ray") or "2.60.0"
    kinds = [dict(ray_version=ray, image=f"rayproject/ray:{ray}-{here_py}"),
             dict(),  # fy23-q2: Ray 2.2.0, Python 3.8
             dict(ray_version=ray, image=f"rayproject/ray:{ray}", autoscaling=False),
             dict(ray_version="2.9.0", image="rayproject/ray:2.9.0-py310-gpu", auth="authOptions", extra_groups=1, idle_timeout_s=300)]
    out = []
    for i in range(CLUSTERS):
        kind = dict(kinds[i % len(kinds)])
        groups = int(kind.pop("extra_groups", 0))
        out.append(ClusterSpec(namespace=f"team-{i % NAMESPACES:02d}", name=f"ray-{i:03d}", workers=5 - groups, max_replicas=8,
                               extra_groups=groups, **kind))  # type: ignore[arg-type]
    return out


def once(path: str, namespaces: List[str]) -> Dict[str, Any]:
    t0 = time.perf_counter()
    fleet = clusters(namespaces or None, all_namespaces=not namespaces, kubeconfig=path, timeout=10)
    listed = time.perf_counter()
    text, data, html = render_text(fleet), json.dumps(fleet.to_dict()), render_html(fleet)
    done = time.perf_counter()
    assert fleet.listed and len(fleet) == CLUSTERS and not fleet.problems, fleet
    return {"total_s": done - t0, "list_judge_s": listed - t0, "render_s": done - listed, "usable": len(fleet.usable),
            "bytes": len(text) + len(data) + len(html)}


def main() -> None:
    args = base_parser(__doc__.splitlines()[0], default_runs=7).parse_args()
    table = fleet_routes(specs())
    rayclusters = len(json.dumps(table["/apis/ray.io/v1/rayclusters"][1]))
    pods = len(json.dumps(table["/api/v1/pods"][1]))
    figures: List[Dict[str, Any]] = []
    with SelectorKubeAPI(table) as api, tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "config")
        Path(path).write_text(kubeconfig(api.url))
        for label, namespaces in (("all namespaces (-A)", []), (f"{NAMESPACES} namespaces (-n)", [f"team-{i:02d}" for i in range(NAMESPACES)])):
            cold = once(path, namespaces)  # the first also imports the kubernetes client
            runs = [once(path, namespaces) for _ in range(args.warmup + args.runs)][args.warmup:]
            totals = [r["total_s"] for r in runs]
            figures.append({"scope": label, "clusters": CLUSTERS, "pods": sum(1 for p in table["/api/v1/pods"][1]["items"]),
                            "cold_s": cold["total_s"], "min_s": min(totals), "median_s": statistics.median(totals), "max_s": max(totals),
                            "list_judge_median_s": statistics.median(r["list_judge_s"] for r in runs),
                            "render_median_s": statistics.median(r["render_s"] for r in runs), "usable": runs[-1]["usable"]})
    if args.json:
        print(json.dumps({"benchmark": "fleet", "target_median_s": TARGET_S, "payload_kb": {"rayclusters": rayclusters // 1024,
                                                                                         "pods": pods // 1024}, "figures": figures}))
        return
    print(f"payload: RayClusterList {rayclusters / 1024:.0f} kB, PodList {pods / 1024:.0f} kB ({figures[0]['pods']} pods)")
    print(f"{'scope':<22} {'cold':>7} {'min':>7} {'median':>7} {'max':>7} {'list+judge':>11} {'render':>7}  usable")
    for f in figures:
        print(f"{f['scope']:<22} {f['cold_s']:>6.3f}s {f['min_s']:>6.3f}s {f['median_s']:>6.3f}s {f['max_s']:>6.3f}s "
              f"{f['list_judge_median_s']:>10.3f}s {f['render_median_s']:>6.3f}s  {f['usable']}/{f['clusters']}")
    worst = max(f["median_s"] for f in figures)
    print(f"target: <= {TARGET_S:g} s (median) for {CLUSTERS} clusters -> {'met' if worst <= TARGET_S else 'MISSED'} (worst median {worst:.3f} s)")


if __name__ == "__main__":
    main()
