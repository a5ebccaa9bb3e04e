"""The support bundle: `ray-preflight report` next to the plain run it is built on, and the bundle's size.

Starts a throwaway Ray head (~8 s) and serves a large KubeRay world on loopback (200 workers, 2,000 events,
8 MB of log in each of the autoscaler and operator containers), then each round runs
`ray-preflight --skip fibonacci ... --format json` and `ray-preflight report --skip fibonacci ...` against both.
The bundle adds the environment (every distribution), the dashboard's nodes and jobs, the RayCluster, pods,
events and two log tails, redaction and the archive. Usage: python bench/bundle.py [--runs 3]
"""

from __future__ import annotations

import os
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import Bench, Variant, base_parser, head_args, interleave, local_head, tool_cmd

from preflight.testing_kuberay import ClusterSpec, FakeKubeAPI, event, head_pod, kubeconfig, operator_pod, routes, variant

#: What the bundle may add to the run, in seconds (median), and its compressed size at most, in bytes.
OVERHEAD_TARGET_S = 1.0
SIZE_TARGET = 2_000_000
LOG_LINE = "2026-11-25 08:00:00,000 INFO autoscaler.py:123 -- Resized to 12 CPUs, 3 GPUs, 2.1 TiB memory.\n"


def main() -> int:
    args = base_parser(__doc__.splitlines()[0], default_runs=3, default_warmup=1).parse_args()
    bench = Bench("bundle", args.runs, args.json, args.warmup)
    spec = ClusterSpec(workers=200, max_replicas=400)
    table = variant(routes(spec), **{f"/api/v1/namespaces/{spec.namespace}/events": (200, {
        "kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": [event(spec, i) for i in range(2000)]})})
    big_log = LOG_LINE * (8_000_000 // len(LOG_LINE))
    logs = {(head_pod(spec)["metadata"]["name"], "autoscaler"): big_log,
            (operator_pod(spec)["metadata"]["name"], "kuberay-operator"): big_log}
    with local_head(bench) as head, FakeKubeAPI(table, logs=logs) as api, tempfile.TemporaryDirectory() as folder:
        config = Path(folder, "kubeconfig")
        config.write_text(kubeconfig(api.url))
        out = Path(folder, "bundles")
        out.mkdir()
        common = ["--skip", "fibonacci", *head_args(head), "--kubeconfig", str(config), "--namespace", spec.namespace]
        run = Variant("run", tool_cmd(*common, "--format", "json"), expect_codes=(0, 1), timeout=120)
        report = Variant("report", tool_cmd("report", *common, "--output", str(out)), timeout=120)
        samples = interleave([run, report], args.runs, bench, warmup=args.warmup)
        bundles = sorted(out.glob("ray-preflight-report-*.tar.gz"), key=os.path.getmtime)
        newest = bundles[-1]
        with tarfile.open(newest) as archive:
            members = {m.name.split("/", 1)[1]: m.size for m in archive.getmembers()}
        size = newest.stat().st_size
    bench.timing("ray-preflight --skip fibonacci", samples[run.name])
    bench.timing("ray-preflight report --skip fibonacci", samples[report.name])
    added = [b.seconds - a.seconds for a, b in zip(samples[run.name], samples[report.name])]
    median = statistics.median(added)
    bench.notes.append(f"the bundle adds {min(added):.2f} / {median:.2f} / {max(added):.2f} s per round "
                       f"(target <= {OVERHEAD_TARGET_S:g} s: {'met' if median <= OVERHEAD_TARGET_S else 'missed'})")
    bench.notes.append(f"bundle {size:,} bytes compressed, {sum(members.values()):,} bytes in {len(members)} files "
                       f"(target <= {SIZE_TARGET:,}: {'met' if size <= SIZE_TARGET else 'missed'})")
    for name, member_size in sorted(members.items()):
        bench.notes.append(f"  {name}: {member_size:,} bytes")
    bench.extra.update(bundle_bytes=size, bundle_files=members, added_s=added)
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
