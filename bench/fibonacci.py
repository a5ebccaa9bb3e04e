"""The fibonacci check next to the platform's own Fibonacci smoke test, on a throwaway head.

Each round runs `ray-preflight --only fibonacci ... --fib-size N --fib-tasks T` (which also evaluates
ray-version and python-version: their facts gate the job) and a seed script doing what the platform's
smoke test does: ray.init(address), a @ray.remote Fibonacci of size N, T tasks locally then T remotely
(timed), ray.shutdown(). Usage: python bench/fibonacci.py [--runs 3] [--fib-size 10000] [--fib-tasks 2]
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Optional

from _common import Bench, Sample, Variant, base_parser, head_args, interleave, local_head, tool_cmd

RATIO_TARGET = 1.1

SEED = '''\
import sys
import time

import ray

address, size, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ray.init(address)


def fibonacci_local(sequence_size):
    fibonacci = []
    for i in range(0, sequence_size):
        if i < 2:
            fibonacci.append(i)
            continue
        fibonacci.append(fibonacci[i - 1] + fibonacci[i - 2])
    return len(fibonacci)


@ray.remote
def fibonacci_distributed(sequence_size):
    fibonacci = []
    for i in range(0, sequence_size):
        if i < 2:
            fibonacci.append(i)
            continue
        fibonacci.append(fibonacci[i - 1] + fibonacci[i - 2])
    return len(fibonacci)


start = time.time()
local = [fibonacci_local(size) for _ in range(tasks)]
print("Local execution time: {:.3f} s".format(time.time() - start))
start = time.time()
remote = ray.get([fibonacci_distributed.remote(size) for _ in range(tasks)])
print("Remote execution time: {:.3f} s".format(time.time() - start))
print("OK" if local == remote == [size] * tasks else "MISMATCH")
ray.shutdown()
'''


def _seed_ok(sample: Sample) -> Optional[str]:
    return None if "\nOK" in "\n" + sample.stdout else f"seed script did not print OK: {sample.tail()}"


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

    with tempfile.TemporaryDirectory(prefix="rpf-bench-") as tmp:
        seed_path = os.path.join(tmp, "fibonacci_smoke_test.py")
        with open(seed_path, "w") as handle:
            handle.write(SEED)
        with local_head(bench) as head:
            tool = Variant("ray-preflight", tool_cmd("--only", "fibonacci", *head_args(head), "--fib-size", str(args.fib_size),
                                                     "--fib-tasks", str(args.fib_tasks)), timeout=180, check=_fib_passed)
            seed = Variant("seed script", [sys.executable, seed_path, head.address, str(args.fib_size),
                                           str(args.fib_tasks)], timeout=180, check=_seed_ok)
            samples = interleave([tool, seed], args.runs, bench, warmup=args.warmup)
    label = f"(size {args.fib_size:,}, {args.fib_tasks} tasks)"
    bench.timing(f"ray-preflight --only fibonacci {label}", samples[tool.name])
    bench.timing(f"seed smoke-test script {label}", samples[seed.name])
    bench.ratio("ray-preflight / seed script", samples[tool.name], samples[seed.name], RATIO_TARGET)
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
