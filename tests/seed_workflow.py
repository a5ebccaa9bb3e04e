"""The platform's own smoke test, as a user runs it: ``ray.init``, the Fibonacci job, ``ray.shutdown``.

The fy23-q2 tests run it in each client world as the ground truth the tool's verdict is compared with.
It does not use the tool. Usage: ``python seed_workflow.py ray://host:port [size]``; prints one line
``SEED-RESULT <json>`` with ``ok``, the ``stage`` reached, ``error`` and the times.
"""

import json
import os
import sys
import time

MARKER = "SEED-RESULT "


def run(address, size):
    out = {"ok": False, "stage": "import"}
    t0 = time.perf_counter()
    try:
        import ray

        out["stage"] = "init"
        ray.init(address)
        out["init_s"] = time.perf_counter() - t0
        out["stage"] = "job"

        @ray.remote
        def fibonacci_distributed(sequence_size):
            fibonacci = []
            for i in range(0, sequence_size):
                if i < 2:
                    fibonacci.append(i)
                    continue
                fibonacci.append(fibonacci[i - 1] + fibonacci[i - 2])
            return sequence_size

        tasks = os.cpu_count() or 1
        results = ray.get([fibonacci_distributed.remote(size) for _ in range(tasks)])
        out["ok"] = results == [size] * tasks
        out["stage"] = "shutdown"
        ray.shutdown()
        out["stage"] = "done"
    except BaseException as exc:  # noqa: BLE001 - the outcome is the result
        out["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        if out["stage"] == "init":
            out["init_s"] = time.perf_counter() - t0
    out["wall_s"] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    result = run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)
