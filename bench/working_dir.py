"""Working_dir judging: walk + estimate + verdict over a 100,000-file, 1 GB folder, in-process.

Builds (once, untimed) a working_dir of 100,000 files totalling 1 GB without writing 1 GB: 99,990 small files
(a few hundred bytes each, in 1,000 folders, some folders with a ``.gitignore`` that drops a tenth of their files, a
``__pycache__`` in some) and 10 large sparse files made with ``truncate``. Then times what ray-preflight does with it,
as the packing Ray (the one installed here, else 2.60.0) would see it: ``walk_working_dir`` + ``upload_limit`` +
``estimate_zip_bytes`` + ``judge_upload``, median of ``--runs`` (default 3). Target: <= 2 s; the exit code is 1 when
the median misses it or the verdict is not the expected "too-big" (1 GB stored is over Ray's 512 MiB).

    python bench/working_dir.py [--runs 3] [--files 100000] [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List

from _common import ROOT, base_parser  # noqa: F401  (puts the repository on sys.path)

from preflight import runtime_env_judge as judge

TARGET_S = 2.0
TOTAL_BYTES = 1_000_000_000
BIG_FILES = 10
PER_FOLDER = 100


def build(root: str, files: int) -> Dict[str, Any]:
    """The working_dir: ``files`` files (``BIG_FILES`` of them sparse) adding up to ``TOTAL_BYTES``."""
    small = files - BIG_FILES
    body = b"# generated module\n" + b"x = 1\n" * 40  # 259 bytes
    written = 0
    folders = (small + PER_FOLDER - 1) // PER_FOLDER
    made = 0
    for f in range(folders):
        folder = os.path.join(root, f"pkg{f // 100:02d}", f"mod{f:04d}")
        os.makedirs(folder, exist_ok=True)
        ignored = f % 7 == 0
        if ignored:
            with open(os.path.join(folder, ".gitignore"), "w") as handle:
                handle.write("*.tmp\nscratch/\n")
            made += 1
        for i in range(PER_FOLDER):
            if made >= small:
                break
            name = f"f{i:03d}.tmp" if ignored and i % 10 == 0 else f"f{i:03d}.py"
            sub = "__pycache__" if f % 13 == 0 and i % 4 == 0 else ""
            target = os.path.join(folder, sub)
            if sub:
                os.makedirs(target, exist_ok=True)
            with open(os.path.join(target, name), "wb") as handle:
                handle.write(body)
            written += len(body)
            made += 1
    big_each = (TOTAL_BYTES - written) // BIG_FILES
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    for i in range(BIG_FILES):
        with open(os.path.join(root, "data", f"shard{i}.bin"), "wb") as handle:
            handle.truncate(big_each)
    return {"files": made + BIG_FILES, "bytes": written + big_each * BIG_FILES, "written_bytes": written}


def judge_once(root: str, ray_version: str, packaging_file: Any) -> Dict[str, Any]:
    walk = judge.walk_working_dir(root, [], ray_version, deadline_s=30.0)
    limit = judge.upload_limit(os.environ, ray_version, packaging_file)
    estimate = judge.estimate_zip_bytes(root, walk, compression=limit["compression"], compresslevel=limit["compresslevel"])
    verdict = judge.judge_upload(walk, limit, estimate)
    return {"walk": walk, "estimate": estimate, "verdict": verdict}


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], default_runs=3)
    parser.add_argument("--files", type=int, default=100_000, help="files in the generated working_dir (default 100,000)")
    args = parser.parse_args()
    ray_version = judge.installed_ray_version() or "2.60.0"
    packaging_file = judge.packaging_file_of_installed_ray()
    scratch = tempfile.mkdtemp(prefix="rpf-bench-wd-")
    try:
        t0 = time.perf_counter()
        made = build(os.path.join(scratch, "wd"), args.files)
        build_s = time.perf_counter() - t0
        sys.stderr.write(f"built {made['files']:,} files, {made['bytes'] / 1e9:.2f} GB ({made['written_bytes'] / 1e6:.1f} MB written) "
                         f"in {build_s:.1f} s\n")
        times: List[float] = []
        result: Dict[str, Any] = {}
        for i in range(-args.warmup, args.runs):
            t0 = time.perf_counter()
            result = judge_once(os.path.join(scratch, "wd"), ray_version, packaging_file)
            elapsed = time.perf_counter() - t0
            sys.stderr.write(f"[{'warm-up' if i < 0 else f'{i + 1}/{args.runs}'}] {elapsed:.3f} s: {result['verdict']['verdict']}\n")
            if i >= 0:
                times.append(elapsed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    walk, verdict = result["walk"], result["verdict"]
    median = statistics.median(times)
    problems = []
    if verdict["verdict"] != "too-big":
        problems.append(f"verdict {verdict['verdict']!r}, expected 'too-big'")
    if walk["truncated"]:
        problems.append("the walk hit its deadline")
    figures = {"benchmark": "working_dir", "ray_version": ray_version, "matcher": walk["matcher"], "files_made": made["files"],
               "bytes_made": made["bytes"], "files_packed": walk["files"], "excluded": walk["excluded"]["count"],
               "bytes_packed": walk["bytes"], "estimated_zip_bytes": result["estimate"]["estimated_bytes"],
               "verdict": verdict["verdict"], "min_s": min(times), "median_s": median, "max_s": max(times),
               "walk_s": walk["elapsed_s"], "target_s": TARGET_S, "met": median <= TARGET_S, "problems": problems}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"working_dir: {made['files']:,} files, {made['bytes'] / 1e9:.2f} GB; Ray {ray_version}; matcher: {walk['matcher']}")
        zipped = result["estimate"]["estimated_bytes"]
        print(f"packed {walk['files']:,} files ({walk['excluded']['count']:,} entries excluded), zip ~{zipped / 1e9:.2f} GB"
              f" -> {verdict['verdict']}")
        print(f"walk + estimate + judge: min {min(times):.3f} s, median {median:.3f} s, max {max(times):.3f} s "
              f"(walk alone {walk['elapsed_s']:.3f} s in the last run)")
        print(f"target: <= {TARGET_S:g} s (median) -> {'met' if median <= TARGET_S else 'MISSED'}")
        for problem in problems:
            print(f"PROBLEM: {problem}")
    return 0 if median <= TARGET_S and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
