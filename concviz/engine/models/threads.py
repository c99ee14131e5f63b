"""threads: one threading.Thread per task."""

import threading
import time

from concviz.engine.models.base import ModelInfo, RunContext, thread_task

SNIPPET = '''\
import random
import threading
import time


def worker(number):
    delay = random.uniform(0.1, 0.9)
    # a sleeping (or I/O-waiting) thread releases the GIL
    time.sleep(delay)
    print(f"worker {number} finished after {delay:.2f} s")


if __name__ == "__main__":
    threads = [
        threading.Thread(target=worker, args=(i,))
        for i in range(4)
    ]
    for t in threads:
        t.start()  # returns at once; the thread runs on
    for t in threads:
        t.join()  # wait for every thread to finish
'''


def run(rc: RunContext) -> None:
    threads = []
    for task in range(rc.params.tasks):
        t = threading.Thread(target=thread_task, args=(rc.sink, rc.params, task),
                             name=f"Thread-{task}", daemon=True)
        at = time.perf_counter_ns()
        t.start()
        rc.spawn(task, at)
        threads.append(t)
    rc.rec.flush()
    for t in threads:
        t.join()


INFO = ModelInfo(
    name="threads",
    title="threading.Thread",
    kind="thread",
    explanation=(
        "One OS thread per task, all in one process. Threads overlap while they wait on I/O, but "
        "CPython's Global Interpreter Lock lets only one of them run Python bytecode at a time: "
        "CPU-bound threads take turns (every switch interval, 5 ms by default) and never use more "
        "than one core's worth of Python between them."
    ),
    snippet=SNIPPET,
    runner=run,
    noun="threads",
)
