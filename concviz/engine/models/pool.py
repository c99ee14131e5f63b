"""pool: multiprocessing.Pool(workers).map over the tasks."""

import time

from concviz.engine.models.base import SLOT_DONE, ModelInfo, RunContext, exit_text, init_worker, pool_task_star

POLL_S = 0.05
# After a worker died, tasks that never started although no task is running anywhere are stuck
# (the dead worker had taken them off the queue before it could write its slot).
STUCK_S = 1.5

SNIPPET = '''\
from multiprocessing import Pool


def square_sum(n):
    return sum(i * i for i in range(n))  # CPU-bound work


if __name__ == "__main__":
    # Pool() alone starts one worker per CPU
    with Pool(processes=2) as pool:
        # 8 tasks queue up for 2 workers
        results = pool.map(square_sum, [2_000_000] * 8)
    print(results)
'''


def run(rc: RunContext) -> None:
    n = rc.params.tasks
    slots = rc.mp.RawArray("i", n)  # task -> worker pid while it runs (see base._SLOTS)
    with rc.mp.Pool(rc.spec.pool_size, initializer=init_worker, initargs=(rc.sink, slots)) as pool:
        rc.spawn_all()
        result = pool.map_async(pool_task_star, [(t, rc.params) for t in range(n)], chunksize=1)
        if _watch(rc, pool, result, slots):
            result.get()
            pool.close()
            pool.join()
        # else: a worker died holding a task, and map() would never return; leaving the `with`
        # terminates the pool (the lost tasks are already marked).


def _watch(rc: RunContext, pool, result, slots) -> bool:
    """Wait for ``result``; return False if a dead worker means it would never come.

    multiprocessing.Pool replaces a dead worker but never fails the task it held: map() then
    blocks forever. So watch the workers: when one is gone (the pool's own handler thread has
    reaped it, so its exit code is known), mark the tasks it was running lost, and give up once
    every other task is done.
    """
    seen = {}  # pid -> Process: every worker the pool has had
    dead: dict[int, str] = {}  # pid -> how it ended
    lost: set[int] = set()
    last_change, last_state = time.monotonic(), None
    while not result.ready():
        result.wait(POLL_S)
        workers = list(pool._pool)  # private, but the only view of the workers (3.10 - 3.13)
        for p in workers:
            seen.setdefault(p.pid, p)
        live = {p.pid for p in workers}
        for pid, p in seen.items():
            if pid in live or pid in dead or p.exitcode is None:
                continue
            dead[pid] = exit_text(pid, p.exitcode)
            for task in range(len(slots)):
                if slots[task] == pid:
                    lost.add(task)
                    rc.lost(task, f"{dead[pid]}; multiprocessing.Pool would wait for it forever")
            rc.rec.flush()
        if not dead:
            continue
        state = list(slots)
        if state != last_state:
            last_state, last_change = state, time.monotonic()
        unfinished = [t for t in range(len(state)) if state[t] != SLOT_DONE and t not in lost]
        if not unfinished:
            return False
        running = [t for t in unfinished if state[t] in live]
        if not running and time.monotonic() - last_change > STUCK_S:
            for task in unfinished:
                rc.lost(task, f"never started: taken by a worker that died ({', '.join(dead.values())})")
            rc.rec.flush()
            return False
    return True


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
