"""The platform's own Fibonacci smoke test, as a user runs it: ``ray.init``, the job, ``ray.shutdown``.

A ``@ray.remote`` function builds a Fibonacci sequence of a given size and returns the size; ``tasks``
of them (default ``os.cpu_count()``) run locally and then remotely, each side timed. It does not use
this tool: the fy23-q2 tests run it in each client environment as the ground truth the tool's verdict is
compared with, and ``bench/fibonacci.py`` times the ``fibonacci`` check against it.

Usage: ``python seed_workflow.py ray://host:port [size] [tasks]``; prints one line
``SEED-RESULT <json>`` with ``ok``, the ``stage`` reached, ``error`` and the times.
"""

import json
import os
import sys
import time

MARKER = "SEED-RESULT "


def fibonacci_local(sequence_size):
    fibonacci = []
    for i in range(0, sequence_size):
        if i < 2:
            fibonacci.append(i)
            continue
        fibonacci.append(fibonacci[i - 1] + fibonacci[i - 2])
    return sequence_size


def run(address, size, tasks):
    out = {"ok": False, "stage": "import"}
    t0 = time.perf_counter()
    try:
        import ray

        out["stage"] = "init"
        ray.init(address)
        out["init_s"] = time.perf_counter() - t0
        fibonacci_distributed = ray.remote(fibonacci_local)

        out["stage"] = "local"
        start = time.perf_counter()
        local = [fibonacci_local(size) for _ in range(tasks)]
        out["local_s"] = time.perf_counter() - start

        out["stage"] = "remote"
        start = time.perf_counter()
        remote = ray.get([fibonacci_distributed.remote(size) for _ in range(tasks)])
        out["remote_s"] = time.perf_counter() - start
        out["ok"] = local == remote == [size] * tasks

        out["stage"] = "shutdown"
        ray.shutdown()
        out["stage"] = "done"
    except BaseException as exc:  # noqa: BLE001 - the outcome is the result
        error = f"{type(exc).__name__}: {exc}"
        # its first line names the failure; a server-side traceback ends with the cause
        out["error"] = error if len(error) <= 1000 else f"{error[:300]} ... {error[-700:]}"
        if out["stage"] == "init":
            out["init_s"] = time.perf_counter() - t0
    out["wall_s"] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    argv = sys.argv[1:]
    result = run(argv[0], int(argv[1]) if len(argv) > 1 else 10000, int(argv[2]) if len(argv) > 2 else (os.cpu_count() or 1))
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
