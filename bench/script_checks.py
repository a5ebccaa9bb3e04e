"""What `--script` adds to a run, and how fast `capacity` says NO-GO where the real job would wait forever.

On a throwaway head (2 CPUs), each round runs `ray-preflight` (the whole Ray Client route, its Fibonacci job
included) without and with `--script train.py` (a script importing numpy and its own helpers module, shipping its
folder as working_dir, with a remote function asking for 1 CPU): the script's modules are asked of a worker in the
Fibonacci job's own question, so the difference is the reading and judging alone, no round trip. Then, on a head
started with `--num-cpus=0` and no autoscaler, the time to the NO-GO (`capacity` fails, the job is not started).
Usage: python bench/script_checks.py [--runs 5]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from typing import Optional

from _common import Bench, Sample, Variant, base_parser, head_args, interleave, tool_cmd

SCRIPT = """import numpy as np
import ray
import helpers

ray.init("ray://head:10001", runtime_env={"working_dir": "."})


@ray.remote(num_cpus=1)
def task(x):
    return helpers.double(float(np.float64(x)))


print(ray.get([task.remote(i) for i in range(4)]))
ray.shutdown()
"""


def _verdict(expected: str, check_id: str):  # type: ignore[no-untyped-def]
    def check(sample: Sample) -> Optional[str]:
        if f"{expected}: " not in sample.stdout or (expected == "GO" and "NO-GO" in sample.stdout):
            return f"not {expected}: {sample.tail()}"
        line = next((ln.strip() for ln in sample.stdout.splitlines() if ln.strip().split()[1:2] == [check_id]), "")
        return None if line else f"no {check_id} line: {sample.tail()}"
    return check


def main() -> int:
    from preflight.local_head import LocalHead

    parser = base_parser(__doc__.splitlines()[0], default_runs=5, default_warmup=1)
    args = parser.parse_args()
    bench = Bench("script_checks", args.runs, args.json, args.warmup)
    folder = tempfile.mkdtemp(prefix="rpf-bench-script-")
    with open(os.path.join(folder, "train.py"), "w") as handle:
        handle.write(SCRIPT)
    with open(os.path.join(folder, "helpers.py"), "w") as handle:
        handle.write("def double(x):\n    return 2 * x\n")
    sizes = ["--fib-size", "10000", "--fib-tasks", "2"]

    try:
        return _run(bench, args.runs, args.warmup, folder, sizes, LocalHead)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(bench: Bench, runs: int, warmup: int, folder: str, sizes: list, LocalHead: type) -> int:  # noqa: N803 - the class
    bench.progress("starting a throwaway Ray head (2 CPUs) ...")
    with LocalHead(num_cpus=2) as head:
        plain = Variant("without --script", tool_cmd(*head_args(head), *sizes), timeout=180, check=_verdict("GO", "fibonacci"))
        script = Variant("with --script", tool_cmd(*head_args(head), *sizes, "--script", os.path.join(folder, "train.py")),
                         timeout=180, check=_verdict("GO", "script-modules"))
        samples = interleave([plain, script], runs, bench, warmup=warmup)
    bench.timing("ray-preflight, GO with fibonacci", samples[plain.name])
    bench.timing("ray-preflight --script train.py, GO with fibonacci and the 4 script checks", samples[script.name])
    bench.ratio("with --script / without", samples[script.name], samples[plain.name])

    bench.progress("starting a throwaway Ray head with --num-cpus=0 ...")
    t0 = time.perf_counter()
    with LocalHead(num_cpus=0) as head:
        bench.extra["no_cpu_head_start_s"] = round(time.perf_counter() - t0, 2)
        nogo = Variant("no CPU head", tool_cmd(*head_args(head), *sizes), expect_codes=(1,), timeout=120,
                       check=_verdict("NO-GO", "capacity"))
        samples = interleave([nogo], runs, bench)
    bench.timing("ray-preflight against a --num-cpus=0 head: NO-GO (capacity fails, no job started)", samples[nogo.name], limit=2.0)
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
