"""process-pool: concurrent.futures.ProcessPoolExecutor(workers).submit."""

from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from concviz.engine.models.base import ModelInfo, RunContext, init_worker, pool_task

SNIPPET = '''\
from concurrent.futures import ProcessPoolExecutor


def square_sum(n):
    return sum(i * i for i in range(n))  # CPU-bound work


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(square_sum, 2_000_000)
            for _ in range(8)
        ]
        print([f.result() for f in futures])
'''


def run(rc: RunContext) -> None:
    with ProcessPoolExecutor(max_workers=rc.spec.pool_size, mp_context=rc.mp,
                             initializer=init_worker, initargs=(rc.sink,)) as pool:
        futures = []
        for task in range(rc.params.tasks):
            rc.spawn(task)
            futures.append(pool.submit(pool_task, task, rc.params))
        rc.rec.flush()
        wait(futures)
        for task, future in enumerate(futures):
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                rc.lost(task, f"BrokenProcessPool: {exc}")


INFO = ModelInfo(
    name="process-pool",
    title="ProcessPoolExecutor",
    kind="process",
    explanation=(
        "concurrent.futures' pool of processes: the same Future API as the thread pool, with "
        "processes underneath, so CPU-bound work runs in parallel. If a worker dies, the "
        "executor is 'broken' and every pending future fails."
    ),
    snippet=SNIPPET,
    runner=run,
    has_pool=True,
)
