"""A process pool doing arithmetic: each worker process has its own GIL, so they fill the cores.

    concviz trace -- python examples/process_pool.py [SECONDS]

Expect one process lane per worker appearing as the pool starts, every core busy while the
jobs run, the workers ending when the pool shuts down, and a parallelism near the core count.
"""

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
JOBS_PER_WORKER = 4


def job(seconds: float) -> int:
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(10_000):
            total += i * i
    return os.getpid()


if __name__ == "__main__":
    workers = os.cpu_count() or 2
    with ProcessPoolExecutor(workers) as pool:
        pids = list(pool.map(job, [SECONDS / JOBS_PER_WORKER] * (workers * JOBS_PER_WORKER)))
    print(f"{len(set(pids))} worker processes ran {len(pids)} jobs", flush=True)
