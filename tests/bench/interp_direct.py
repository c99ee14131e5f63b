"""Direct interpreter start measurement: ``python -m interp_direct N LINGER_S`` prints JSON.

Run under the Python measured (the benchmark starts it with the same PYTHONPATH as concviz's
experiment), it starts N interpreters one after another the way the interpreters model does
(each made under one lock, then run from a thread of its own, which destroys it when done) and
reports for each the time from just before it was made to its task's first line
(interp_target.first_line, after the same imports as a concviz task's).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time

from concviz.engine.subinterp import find_backend


def measure(n: int, linger_s: float) -> list[float]:
    backend = find_backend()
    if backend is None:
        raise SystemExit("this Python runs no interpreter with its own GIL")
    r, w = os.pipe()
    life = threading.Lock()
    made: dict[int, int] = {}

    def one(handle, index: int) -> None:
        failed = backend.run(handle, f"import interp_target\ninterp_target.first_line({w}, {index}, {linger_s})\n")
        with life:
            backend.close(handle)
        if failed:
            raise SystemExit(f"interpreter {index}: {failed}")

    threads = []
    for i in range(n):
        with life:
            made[i] = time.perf_counter_ns()
            handle = backend.create()
        thread = threading.Thread(target=one, args=(handle, i))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    os.close(w)
    with os.fdopen(r) as lines:
        firsts = dict(tuple(map(int, line.split())) for line in lines)
    return [(firsts[i] - made[i]) / 1e6 for i in range(n)]


if __name__ == "__main__":
    n, linger = int(sys.argv[1]), float(sys.argv[2])
    values = measure(n, linger)
    print(json.dumps({"median_ms": statistics.median(values), "all_ms": values}))
