"""pool: multiprocessing.Pool(workers).map over the tasks."""

import time

from concviz.engine.models.base import (PER_WORKER_GIL_NOTE, SLOT_DONE, ModelInfo, RunContext, exit_text, init_worker,
                                        pool_task_star)
from concviz.engine.task import NEVER_STARTED_PREFIX

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
    blocks forever. So watch the slots: a task whose worker pid is no longer one of the pool's
    workers (the pool's handler thread reaps a dead worker at once, which also makes its exit
    code known) is marked lost; once every other task is done, give up waiting.
    """
    seen = {p.pid: p for p in list(pool._pool)}  # every worker the pool has had (private API,
    # but the only view of the workers; the same from 3.8 to 3.13)
    suspects: set[int] = set()
    dead: dict[int, str] = {}  # pid -> how it ended
    lost: set[int] = set()
    last_change, last_state = time.monotonic(), None
    while not result.ready():
        result.wait(POLL_S)
        state = list(slots)  # read the slots *before* the worker list, see below
        workers = list(pool._pool)
        for p in workers:
            seen.setdefault(p.pid, p)
        live = {p.pid for p in workers}
        gone = {pid for pid in state if pid > 0 and pid not in live and pid not in dead}
        # A worker the pool has only just started can write its slot before the pool lists it:
        # believe a worker is gone only when it is missing at two looks in a row.
        for pid in gone & suspects:
            p = seen.get(pid)
            dead[pid] = (exit_text(pid, p.exitcode) if p is not None and p.exitcode is not None
                         else f"worker pid {pid} is gone")
            for task, holder in enumerate(state):
                if holder == pid and task not in lost:
                    lost.add(task)
                    rc.lost(task, f"{dead[pid]}; multiprocessing.Pool would wait for it forever")
            rc.rec.flush()
        suspects = gone - set(dead)
        if not dead:
            continue
        if state != last_state:
            last_state, last_change = state, time.monotonic()
        unfinished = [t for t in range(len(state)) if state[t] != SLOT_DONE and t not in lost]
        if not unfinished:
            return False
        running = [t for t in unfinished if state[t] in live]
        if not running and time.monotonic() - last_change > STUCK_S:
            for task in unfinished:
                rc.lost(task, f"{NEVER_STARTED_PREFIX}: taken by a worker that died ({', '.join(dead.values())})")
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
    noun="pool tasks",
    worker_label="w{worker} {pid}",
    gil_note=PER_WORKER_GIL_NOTE,
)
