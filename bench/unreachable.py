"""How fast does ray-preflight say "unreachable", next to `ray.init("ray://...")` raising?

Two scenarios: (a) a refused port (nothing listens), (b) a silent listener (accepts, never answers).
Each round runs the CLI, then a child doing `import ray; ray.init("ray://127.0.0.1:PORT")` until it
raises (~30 s: Ray Client's connection timeout). Usage: python bench/unreachable.py [--runs 2] [--skip-ray-init]
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from _common import Bench, Sample, SilentListener, Variant, base_parser, closed_ports, interleave, tool_cmd

CONNECT_TIMEOUT = 2.0
REFUSED_TARGET_S = 1.5

RAY_INIT = """
import sys, time
import ray
t0 = time.perf_counter()
try:
    ray.init(sys.argv[1])
except BaseException as exc:
    print("RAISED %s after %.2f s" % (type(exc).__name__, time.perf_counter() - t0))
    sys.exit(3)
print("CONNECTED")
ray.shutdown()
"""


def _raised(sample: Sample) -> Optional[str]:
    return None if "RAISED" in sample.stdout else f"ray.init did not raise: {sample.tail()}"


def scenario(bench: Bench, name: str, client_port: int, args: argparse.Namespace, limit: float) -> None:
    gcs_port, dashboard_port = closed_ports(2)
    tool = Variant("ray-preflight", tool_cmd(
        "--address", f"ray://127.0.0.1:{client_port}", "--gcs-address", f"127.0.0.1:{gcs_port}",
        "--dashboard-url", f"http://127.0.0.1:{dashboard_port}/", "--connect-timeout", f"{CONNECT_TIMEOUT:g}",
    ), expect_codes=(1,), timeout=120)
    variants = [tool]
    if not args.skip_ray_init:
        variants.append(Variant("ray.init", [sys.executable, "-c", RAY_INIT, f"ray://127.0.0.1:{client_port}"],
                                expect_codes=(3,), timeout=180, check=_raised))
    samples = interleave(variants, args.runs, bench, group=name, warmup=args.warmup)
    bench.timing(f"{name}: ray-preflight", samples["ray-preflight"], limit)
    if not args.skip_ray_init:
        bench.timing(f"{name}: ray.init", samples["ray.init"])
        bench.ratio(f"{name}: ray-preflight / ray.init", samples["ray-preflight"], samples["ray.init"])


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=2, default_warmup=0)
    parser.add_argument("--skip-ray-init", action="store_true", help="time only ray-preflight (no ~30 s ray.init runs)")
    args = parser.parse_args()
    bench = Bench("unreachable", args.runs, args.json, args.warmup)

    (refused_port,) = closed_ports(1)
    scenario(bench, "refused", refused_port, args, REFUSED_TARGET_S)
    with SilentListener() as silent:
        scenario(bench, "silent", silent.port, args, CONNECT_TIMEOUT + 0.5)

    bench.notes.append(f"ray-preflight ran with --connect-timeout {CONNECT_TIMEOUT:g}; GCS and dashboard ports refuse in both scenarios")
    if args.skip_ray_init:
        bench.notes.append("--skip-ray-init: no ray.init runs, so no ratio")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
