"""The Ray Jobs route's verdict next to the Ray Client route's, on the same throwaway head.

Each round runs `ray-preflight --route jobs --address http://<dashboard>` (the whole run: the dashboard, the Jobs API,
the Fibonacci proof submitted as a Ray Job over REST, followed to SUCCEEDED and verified from its logs) and
`ray-preflight --address ray://...` (the Ray Client route's whole run, its Fibonacci job through ray.init included),
both expected GO. The head runs with its Python's folder first on PATH, as a KubeRay image has Ray's Python there (a
job's `python -c ...` entrypoint runs the first python on the head's PATH).
Usage: python bench/jobs_route.py [--runs 3] [--fib-size 10000] [--fib-tasks 2]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Iterator, Optional

from _common import Bench, Sample, Variant, base_parser, head_args, interleave, tool_cmd


def _go_with(check_id: str):  # type: ignore[no-untyped-def]
    def check(sample: Sample) -> Optional[str]:
        line = next((ln.strip() for ln in sample.stdout.splitlines() if ln.strip().split()[1:2] == [check_id]), "")
        if not line.startswith(("✓ ", "ok ")):
            return f"{check_id} did not pass: {line or sample.tail()}"
        return None if "GO: " in sample.stdout and "NO-GO" not in sample.stdout else f"not GO: {sample.tail()}"
    return check


@contextlib.contextmanager
def head_with_its_python_on_path(bench: Bench) -> Iterator["object"]:
    from preflight.local_head import LocalHead

    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    bench.progress("starting a throwaway Ray head on 127.0.0.1 (its Python first on PATH) ...")
    t0 = time.perf_counter()
    with LocalHead(env={"PATH": path}) as head:
        bench.extra["head_start_s"] = round(time.perf_counter() - t0, 2)
        bench.progress(f"head ready in {bench.extra['head_start_s']} s: {head.address}, {head.dashboard_url}")
        yield head
        bench.progress("stopping the head ...")


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=3, default_warmup=1)
    parser.add_argument("--fib-size", type=int, default=10_000, help="Fibonacci sequence size per task (default 10000)")
    parser.add_argument("--fib-tasks", type=int, default=2, help="task count (default 2)")
    args = parser.parse_args()
    bench = Bench("jobs_route", args.runs, args.json, args.warmup)
    bench.extra.update(fib_size=args.fib_size, fib_tasks=args.fib_tasks)
    sizes = ["--fib-size", str(args.fib_size), "--fib-tasks", str(args.fib_tasks)]

    with head_with_its_python_on_path(bench) as head:
        jobs = Variant("jobs route", tool_cmd("--route", "jobs", "--address", head.dashboard_url,  # type: ignore[attr-defined]
                                              "--gcs-address", head.gcs_address, *sizes),  # type: ignore[attr-defined]
                       timeout=180, check=_go_with("job-fibonacci"))
        client = Variant("client route", tool_cmd(*head_args(head), *sizes), timeout=180,  # type: ignore[arg-type]
                         check=_go_with("fibonacci"))
        samples = interleave([jobs, client], args.runs, bench, warmup=args.warmup)
    label = f"(size {args.fib_size:,}, {args.fib_tasks} tasks)"
    bench.timing(f"ray-preflight --route jobs, GO with job-fibonacci {label}", samples[jobs.name])
    bench.timing(f"ray-preflight (Ray Client route), GO with fibonacci {label}", samples[client.name])
    bench.ratio("jobs route / client route", samples[jobs.name], samples[client.name])
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
