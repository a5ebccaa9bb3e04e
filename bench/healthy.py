"""A healthy cluster: the full ray-preflight run (all but fibonacci) next to `ray.init(); ray.shutdown()`.

Starts a throwaway Ray head (preflight.local_head.LocalHead, ~8 s), then each round runs
`ray-preflight --skip fibonacci --address ... --dashboard-url ... --gcs-address ...` and a child doing
`import ray; ray.init(address); ray.shutdown()`. With ``--auth`` the head demands a token (``RAY_AUTH_MODE=token``,
Ray 2.52+) and both sides are given it, as a user of such a cluster would be: the verdict should cost no more than
an open cluster's. Usage: python bench/healthy.py [--runs 3] [--auth]
"""

from __future__ import annotations

import os
import secrets
import sys

from _common import Bench, Variant, base_parser, head_args, interleave, local_head, tool_cmd

RATIO_TARGET = 0.25

RAY_INIT = "import sys, ray; ray.init(sys.argv[1]); ray.shutdown()"


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=3, default_warmup=1)
    parser.add_argument("--auth", action="store_true", help="a head with token authentication, and the token on both sides")
    args = parser.parse_args()
    bench = Bench("healthy-auth" if args.auth else "healthy", args.runs, args.json, args.warmup)
    if args.auth:  # the head and every timed child inherit these (as the user's shell would hand them on)
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    with local_head(bench) as head:
        tool = Variant("ray-preflight", tool_cmd("--skip", "fibonacci", *head_args(head)), timeout=120)
        ray = Variant("ray.init+shutdown", [sys.executable, "-c", RAY_INIT, head.address], timeout=180)
        samples = interleave([tool, ray], args.runs, bench, warmup=args.warmup)
    bench.timing("ray-preflight --skip fibonacci", samples[tool.name])
    bench.timing("ray.init + ray.shutdown", samples[ray.name])
    bench.ratio("ray-preflight / ray.init", samples[tool.name], samples[ray.name], RATIO_TARGET)
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
