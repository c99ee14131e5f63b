"""A bench-only stand-in for the experiment process: 8 workers that flood the real pipe.

Run by bench_pipeline as ``python flood_child.py WORKERS EVENTS TASKS FD``. It does what
``concviz.engine.experiment_child.main`` does (header, SPAWNs, worker processes sharing one Sink,
closing summary) but each worker, instead of a workload, records ``EVENTS`` RUN intervals as
fast as it can through its real :class:`Recorder` (``add`` per event, batched flushes through the
shared pipe and lock). Kept out of concviz so users never see it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from multiprocessing.connection import Connection

from concviz.engine.events import RUN, SPAWN
from concviz.engine.experiment import machine_info
from concviz.engine.models.base import die_with_parent
from concviz.engine.probe import Recorder, Sink

INTERVAL_NS = 10_000


def worker(sink: Sink, index: int, events: int, tasks: int, cpus: int) -> None:
    die_with_parent()
    rec = Recorder(sink)
    add = rec.add
    per_task = events // tasks
    cpu = index % cpus
    t = time.perf_counter_ns()
    for k in range(tasks):
        task = index * tasks + k
        rec.start(task, f"flood-{index}")
        n = per_task if k < tasks - 1 else events - per_task * (tasks - 1)
        for _ in range(n):
            add(RUN, task, t, t + INTERVAL_NS - 500, cpu)
            t += INTERVAL_NS
        rec.finish(task)
    rec.flush()


def main(argv: list[str]) -> int:
    workers, events, tasks, fd = (int(a) for a in argv)
    conn = Connection(fd, readable=False)
    die_with_parent()
    ctx = multiprocessing.get_context("fork")
    sink = Sink(conn, ctx.Lock())
    n_tasks = workers * tasks
    spec = {"model": "flood", "workload": "cpu", "tasks": n_tasks}
    sink.send(("H", {"model": "flood", "workload": "cpu", "spec": spec,
                     "machine": machine_info("fork"), "experiment_pid": os.getpid(),
                     "t0_ns": time.perf_counter_ns()}))
    rec = Recorder(sink)
    t = time.perf_counter_ns()
    for task in range(n_tasks):
        rec.add(SPAWN, task, t, t)
    rec.flush()
    cpus = os.cpu_count() or 1
    procs = [ctx.Process(target=worker, args=(sink, i, events, tasks, cpus)) for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    codes = [p.exitcode for p in procs]
    sink.send(("D", {"status": "ok" if not any(codes) else "error", "message": str(codes),
                     "t_ns": time.perf_counter_ns()}))
    conn.close()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
