"""pool: multiprocessing.Pool(workers).map over the tasks."""

import time

from concviz.engine.models.base import ModelInfo, RunContext, init_worker, pool_task_star

SNIPPET = '''\
from multiprocessing import Pool


def square_sum(n):
    return sum(i * i for i in range(n))  # CPU-bound work


if __name__ == "__main__":
    with Pool(processes=2) as pool:  # default: one worker per CPU
        results = pool.map(square_sum, [2_000_000] * 8)  # 8 tasks queue for 2 workers
    print(results)
'''


def run(rc: RunContext) -> None:
    with rc.mp.Pool(rc.spec.pool_size, initializer=init_worker, initargs=(rc.sink,)) as pool:
        rc.spawn_all()
        result = pool.map_async(pool_task_star, [(t, rc.params) for t in range(rc.params.tasks)],
                                chunksize=1)
        while not result.ready():
            result.wait(0.1)
        result.get()
        pool.close()
        pool.join()


INFO = ModelInfo(
    name="pool",
    title="multiprocessing.Pool",
    kind="process",
    explanation=(
        "A fixed set of worker processes (by default one per CPU) started once; map() queues the "
        "tasks and each free worker picks up the next. Parallel like processes, but start-up is "
        "paid once per worker, not once per task; tasks beyond the pool size wait in the queue."
    ),
    snippet=SNIPPET,
    runner=run,
    has_pool=True,
)
