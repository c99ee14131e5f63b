"""thread-pool: concurrent.futures.ThreadPoolExecutor(workers).submit."""

from concurrent.futures import ThreadPoolExecutor, wait

from concviz.engine.models.base import ModelInfo, RunContext, thread_task

SNIPPET = '''\
import time
from concurrent.futures import (
    ThreadPoolExecutor,
    as_completed,
)


def fetch(n):
    # stands in for urllib.request.urlopen(url).read()
    time.sleep(0.2)
    return n


if __name__ == "__main__":
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(fetch, n) for n in range(8)]
        for future in as_completed(futures):
            print("done:", future.result())
'''


def run(rc: RunContext) -> None:
    with ThreadPoolExecutor(max_workers=rc.spec.pool_size, thread_name_prefix="worker") as pool:
        futures = []
        for task in range(rc.params.tasks):
            rc.spawn(task)
            futures.append(pool.submit(thread_task, rc.sink, rc.params, task))
        rc.rec.flush()
        wait(futures)


INFO = ModelInfo(
    name="thread-pool",
    title="ThreadPoolExecutor",
    kind="thread",
    explanation=(
        "concurrent.futures' pool of threads: submit() returns a Future at once and a fixed number "
        "of threads work through the queue. Same GIL rules as threads: good for overlapping "
        "I/O, no faster for CPU-bound Python."
    ),
    snippet=SNIPPET,
    runner=run,
    has_pool=True,
    noun="pooled threads",
)
