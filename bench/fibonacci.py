"""The fibonacci check next to the platform's own Fibonacci smoke test, on a throwaway head.

Each round runs `ray-preflight --only fibonacci ... --fib-size N --fib-tasks T` (which also evaluates
ray-version, python-version and client-packages: they gate the job) and the platform's smoke test
(tests/seed_workflow.py: ray.init(address), a @ray.remote Fibonacci of size N, T tasks locally then T
remotely, timed, ray.shutdown()). Usage: python bench/fibonacci.py [--runs 3] [--fib-size 10000] [--fib-tasks 2]
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

from _common import Bench, Sample, Variant, base_parser, head_args, interleave, local_head, tool_cmd

RATIO_TARGET = 1.1

#: The platform's smoke test, shared with the fy23-q2 tests.
SEED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "seed_workflow.py")
SEED_MARKER = "SEED-RESULT "


def _seed_ok(sample: Sample) -> Optional[str]:
    line = next((ln for ln in reversed(sample.stdout.splitlines()) if ln.startswith(SEED_MARKER)), "")
    result = json.loads(line[len(SEED_MARKER):]) if line else {}
    return None if result.get("ok") else f"seed script failed: {result.get('error') or sample.tail()}"


def _fib_passed(sample: Sample) -> Optional[str]:
    line = next((ln.strip() for ln in sample.stdout.splitlines() if ln.strip().split()[1:2] == ["fibonacci"]), "")
    return None if line.startswith(("✓ ", "ok ")) else f"fibonacci did not pass: {line.strip() or sample.tail()}"


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=3, default_warmup=1)
    parser.add_argument("--fib-size", type=int, default=10_000, help="Fibonacci sequence size per task (default 10000)")
    parser.add_argument("--fib-tasks", type=int, default=2, help="task count, local and remote each (default 2)")
    args = parser.parse_args()
    bench = Bench("fibonacci", args.runs, args.json, args.warmup)
    bench.extra.update(fib_size=args.fib_size, fib_tasks=args.fib_tasks)

    with local_head(bench) as head:
        tool = Variant("ray-preflight", tool_cmd("--only", "fibonacci", *head_args(head), "--fib-size", str(args.fib_size),
                                                 "--fib-tasks", str(args.fib_tasks)), timeout=180, check=_fib_passed)
        seed = Variant("seed script", [sys.executable, SEED, head.address, str(args.fib_size), str(args.fib_tasks)],
                       timeout=180, check=_seed_ok)
        samples = interleave([tool, seed], args.runs, bench, warmup=args.warmup)
    label = f"(size {args.fib_size:,}, {args.fib_tasks} tasks)"
    bench.timing(f"ray-preflight --only fibonacci {label}", samples[tool.name])
    bench.timing(f"seed smoke-test script {label}", samples[seed.name])
    bench.ratio("ray-preflight / seed script", samples[tool.name], samples[seed.name], RATIO_TARGET)
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
