"""process-pool: concurrent.futures.ProcessPoolExecutor(workers).submit."""

import signal
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from concviz.engine.models.base import (PER_WORKER_GIL_NOTE, ModelInfo, RunContext, exit_text, init_worker,
                                        pool_task)

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
    lost: dict[int, str] = {}
    with ProcessPoolExecutor(max_workers=rc.spec.pool_size, mp_context=rc.mp,
                             initializer=init_worker, initargs=(rc.sink,)) as pool:
        futures = []
        for task in range(rc.params.tasks):
            rc.spawn(task)
            try:
                futures.append(pool.submit(pool_task, task, rc.params))
            except BrokenProcessPool as exc:  # broke while we were still submitting
                for later in range(task, rc.params.tasks):
                    rc.spawn(later)
                    lost[later] = f"BrokenProcessPool: {exc} (submit refused)"
                break
        rc.rec.flush()
        workers = dict(getattr(pool, "_processes", None) or {})  # private: pid -> Process
        wait(futures)
        for task, future in enumerate(futures):
            exc = future.exception()
            if exc is not None:
                lost[task] = f"{type(exc).__name__}: {exc}"
    # Leaving the `with` joined the workers, so their exit codes are final: name the one that
    # was killed (the executor itself only says "a process ... was terminated abruptly").
    killed = [exit_text(pid, p.exitcode) for pid, p in workers.items()
              if p.exitcode is not None and p.exitcode < 0 and p.exitcode != -signal.SIGTERM]
    for task, text in lost.items():
        if killed and text.startswith("BrokenProcessPool"):
            text += f" ({'; '.join(killed)})"
        rc.lost(task, text)


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
    noun="pool tasks",
    worker_label="w{worker} {pid}",
    gil_note=PER_WORKER_GIL_NOTE,
)
