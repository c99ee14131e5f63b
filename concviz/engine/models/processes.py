"""processes: one multiprocessing.Process per task."""

import signal
import time

from concviz.engine.models.base import ModelInfo, RunContext, process_main

SNIPPET = '''\
import multiprocessing
import os


def worker(number):
    # CPU-bound work
    total = sum(i * i for i in range(3_000_000))
    print(f"worker {number} (pid {os.getpid()}): {total}")


if __name__ == "__main__":
    procs = [
        multiprocessing.Process(target=worker, args=(i,))
        for i in range(4)
    ]
    for p in procs:
        p.start()  # a new interpreter with its own GIL
    for p in procs:
        p.join()
'''


def signal_name(exitcode: int) -> str:
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def run(rc: RunContext) -> None:
    procs = []
    for task in range(rc.params.tasks):
        p = rc.mp.Process(target=process_main, args=(rc.sink, rc.params, task), daemon=True)
        at = time.perf_counter_ns()
        p.start()
        rc.spawn(task, at)
        procs.append(p)
    rc.rec.flush()
    for task, p in enumerate(procs):
        p.join()
        if p.exitcode and p.exitcode < 0:
            rc.lost(task, f"process {p.pid} was killed by {signal_name(p.exitcode)}")
        elif p.exitcode:
            rc.lost(task, f"process {p.pid} exited with code {p.exitcode}")
        p.close()


INFO = ModelInfo(
    name="processes",
    title="multiprocessing.Process",
    kind="process",
    explanation=(
        "One OS process per task, each with its own interpreter and its own GIL, so CPU-bound "
        "tasks run in parallel on as many cores as there are. The price: starting a process "
        "costs milliseconds (more with 'spawn'), and data must be pickled to cross over."
    ),
    snippet=SNIPPET,
    runner=run,
    noun="processes",
    worker_label="pid {pid}",
    gil_note=("each process has its own GIL: nothing is shared, nothing to hand off",
              "each process has its own GIL: nothing to hand off", "a GIL per process: none shared"),
)
