"""Start-up cost: `ray-preflight --version` and `import preflight`, next to `import ray`.

Each round runs, one after the other: `python -m preflight --version`, the `ray-preflight` console
script next to this Python (if installed), `python -c "import preflight"`, `python -c "import ray"`,
and `python -c pass` (the interpreter's own floor, for reference). Usage: python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import sys
from typing import Optional

from _common import Bench, Sample, Variant, base_parser, console_script, interleave, tool_cmd

VERSION_TARGET_S = 0.25
IMPORT_TARGET_S = 0.1


def _prints_version(sample: Sample) -> Optional[str]:
    return None if sample.stdout.startswith("ray-preflight ") else f"unexpected output: {sample.tail()}"


def main() -> int:
    args = base_parser(__doc__.splitlines()[0], default_runs=10, default_warmup=1).parse_args()
    bench = Bench("startup", args.runs, args.json, args.warmup)

    tools = [Variant("python -m preflight --version", tool_cmd("--version"), check=_prints_version)]
    script = console_script()
    if script:
        tools.append(Variant("ray-preflight --version", [script, "--version"], check=_prints_version))
    else:
        bench.notes.append("no ray-preflight console script next to sys.executable: not timed")
    tools.append(Variant("import preflight", [sys.executable, "-c", "import preflight"]))
    ray = Variant("import ray", [sys.executable, "-c", "import ray"])
    floor = Variant("python -c pass", [sys.executable, "-c", "pass"])

    samples = interleave(tools + [ray, floor], args.runs, bench, warmup=args.warmup)
    for tool in tools:
        limit = IMPORT_TARGET_S if tool.name.startswith("import") else VERSION_TARGET_S
        bench.timing(tool.name, samples[tool.name], limit)
    bench.timing(ray.name, samples[ray.name])
    bench.timing(f"{floor.name} (floor)", samples[floor.name])
    for tool in tools:
        bench.ratio(f"{tool.name} / import ray", samples[tool.name], samples[ray.name])
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
