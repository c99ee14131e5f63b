"""Direct start-cost measurement: ``python -m spawn_direct METHOD N LINGER_S`` prints JSON.

Started the way the experiment process is (``python -m``, a fresh interpreter that imports what
``concviz.engine.experiment`` imports), it starts N trivial children one after another, as the
``processes`` and ``threads`` models do, and reports for each the time from just before
``start()`` to the child's first line (``perf_counter_ns`` is one clock for every process).
METHOD is ``thread`` or a multiprocessing start method.
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
import threading
import time

# Only what the experiment's __main__ imports, so that a spawn or forkserver child (which
# imports this module as __mp_main__) loads the same code as a concviz worker.
import concviz.engine.experiment  # noqa: F401


def measure(method: str, n: int, linger_s: float) -> list[float]:
    import concviz.engine.models  # noqa: F401  (the experiment imports every model before a run)
    import spawn_target

    gc.freeze()  # as the experiment process does before a run (a forked child's GC then skips it all)

    t_start: dict[int, int] = {}
    if method == "thread":
        r, w = multiprocessing.Pipe(duplex=False)
        threads = []
        for i in range(n):
            th = threading.Thread(target=spawn_target.thread_first_line, args=(w, i, linger_s), daemon=True)
            t_start[i] = time.perf_counter_ns()
            th.start()
            threads.append(th)
        firsts = dict(r.recv() for _ in range(n))
        for th in threads:
            th.join()
    else:
        ctx = multiprocessing.get_context(method)
        r, w = ctx.Pipe(duplex=False)
        procs = []
        for i in range(n):
            p = ctx.Process(target=spawn_target.first_line, args=(w, i, linger_s), daemon=True)
            t_start[i] = time.perf_counter_ns()
            p.start()
            procs.append(p)
        firsts = dict(r.recv() for _ in range(n))
        for p in procs:
            p.join()
    return [(firsts[i] - t_start[i]) / 1e6 for i in range(n)]


if __name__ == "__main__":
    import json
    import statistics

    method, n, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    values = measure(method, n, linger)
    print(json.dumps({"method": method, "median_ms": statistics.median(values), "all_ms": values}))
