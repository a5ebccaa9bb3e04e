"""`ray-preflight fix`: the plan (`--dry-run`) and a second `fix` of an environment it made, next to the by-hand way.

Builds the environment once (untimed: a Python of the server's minor must be on this machine), then each round
runs, one after the other: `fix --dry-run` planning a new environment (the server's versions, the interpreter search),
`fix --dry-run` of the existing one (its re-verification plan), `fix --yes` of the existing one (re-verify, kernel,
then its own preflight), that environment's `ray-preflight` alone (to subtract), and what a user would type to
re-verify by hand: `pip install ray==<v> "pydantic<2" ipykernel` in it (everything already there). The Jupyter data
directory and the data directory are temporary folders; the environment is removed at the end unless `--keep`.

The target is the fy23-q2 profile at a closed port (the profile's pins stand in for the server) unless
`--server-python PY` names a Python with Ray installed: then a throwaway head of that Ray is started and asked.
Usage: python bench/fix.py [--runs 5] [--server-python .cache/worlds/server-ray2.2.0-.../bin/python] [--keep]
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from typing import Iterator, List, Optional

from _common import Bench, Sample, Variant, base_parser, closed_ports, head_args, interleave, tool_cmd

DRY_RUN_TARGET_S = 1.0
#: A second fix, without the preflight it runs at the end.
SECOND_FIX_TARGET_S = 10.0


@contextlib.contextmanager
def _target(bench: Bench, server_python: Optional[str]) -> Iterator[List[str]]:
    if not server_python:
        bench.extra["target"] = "profile fy23-q2 at a closed port (the profile's pins)"
        yield ["--profile", "fy23-q2", "--address", f"ray://127.0.0.1:{closed_ports(1)[0]}"]
        return
    from preflight.local_head import LocalHead

    bench.progress(f"starting a throwaway Ray head with {server_python} ...")
    with LocalHead(python=server_python) as head:
        bench.extra["target"] = f"a local Ray {head.ray_version} head ({server_python})"
        yield head_args(head)
        bench.progress("stopping the head ...")


def _preflight_seconds(sample: Sample) -> Optional[float]:
    """The duration of the preflight the new environment ran, from fix's verdict line."""
    first = sample.stdout.splitlines()[0] if sample.stdout else ""
    found = re.search(r" in ([0-9.]+) s$", first)
    return float(found.group(1)) if found else None


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=5, default_warmup=1)
    parser.add_argument("--server-python", help="a Python with Ray installed: start a head of that Ray and ask it")
    parser.add_argument("--keep", action="store_true", help="keep the environment (and the temporary folders)")
    args = parser.parse_args()
    bench = Bench("fix", args.runs, args.json, args.warmup)
    place = tempfile.mkdtemp(prefix="rpf-bench-fix-")
    os.environ.update(JUPYTER_DATA_DIR=os.path.join(place, "jupyter"), XDG_DATA_HOME=os.path.join(place, "data"))
    env = os.path.join(place, "env")
    try:
        with _target(bench, args.server_python) as target:
            fix = [*target, "--kernel"]
            bench.progress(f"making the environment once (untimed): fix --yes --prefix {env} ...")
            first = Variant("first fix", tool_cmd("fix", *fix, "--yes", "--prefix", env), expect_codes=(0, 1), timeout=1800).run()
            bench.extra["first_fix_s"] = round(first.seconds, 1)
            if not os.path.exists(os.path.join(env, "bin", "ray-preflight")):
                bench.problems.append(f"the first fix made no environment (exit {first.code}): {first.tail(6)}")
                return bench.finish()
            bench.progress(f"made in {first.seconds:.1f} s (exit {first.code})")
            ray_version = _ray_of(first)
            variants = [
                Variant("fix --dry-run (new)", tool_cmd("fix", *fix, "--dry-run", "--prefix", os.path.join(place, "new"))),
                Variant("fix --dry-run (existing)", tool_cmd("fix", *fix, "--dry-run", "--prefix", env)),
                Variant("fix --yes (existing)", tool_cmd("fix", *fix, "--yes", "--prefix", env), expect_codes=(0, 1), timeout=600),
                Variant("its ray-preflight alone", [os.path.join(env, "bin", "ray-preflight"), *target], expect_codes=(0, 1),
                        timeout=600),
                Variant("by hand: pip install (all there)", [os.path.join(env, "bin", "python"), "-m", "pip", "install", "-q",
                                                             f"ray=={ray_version}", "pydantic<2", "ipykernel"], timeout=600),
            ]
            samples = interleave(variants, args.runs, bench, warmup=args.warmup)
        bench.timing(variants[0].name, samples[variants[0].name], DRY_RUN_TARGET_S)
        bench.timing(variants[1].name, samples[variants[1].name], DRY_RUN_TARGET_S)
        bench.timing(variants[2].name, samples[variants[2].name])
        own = [Sample(s.seconds - (_preflight_seconds(s) or 0.0), s.code, "", "") for s in samples[variants[2].name]]
        bench.timing("fix --yes (existing) less its preflight", own, SECOND_FIX_TARGET_S)
        bench.timing(variants[3].name, samples[variants[3].name])
        bench.timing(variants[4].name, samples[variants[4].name])
        bench.ratio("fix --yes (existing) / by hand + its preflight", samples[variants[2].name],
                    [Sample(a.seconds + b.seconds, 0, "", "") for a, b in zip(samples[variants[4].name], samples[variants[3].name])])
        return bench.finish()
    finally:
        if args.keep:
            bench.progress(f"kept {place}")
        else:
            shutil.rmtree(place, ignore_errors=True)


def _ray_of(sample: Sample) -> str:
    """The Ray version fix built for, from its progress ("… the server runs Ray 2.2.0 on ...")."""
    found = re.search(r"the server runs Ray (\S+)", sample.stderr)
    return found.group(1) if found else "2.2.0"


if __name__ == "__main__":
    sys.exit(main())
