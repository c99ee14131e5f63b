"""asyncio: one event loop on one thread; tasks via asyncio.create_task and gather."""

import asyncio

from concviz.engine.models.base import ModelInfo, RunContext, execute_async
from concviz.engine.probe import FLUSH_NS

SNIPPET = '''\
import asyncio
import random


async def worker(number):
    delay = random.uniform(0.1, 0.9)
    # await hands control back to the event loop while
    # "waiting on the network": other tasks run meanwhile
    await asyncio.sleep(delay)
    print(f"worker {number} finished after {delay:.2f} s")


async def main():
    tasks = [asyncio.create_task(worker(i)) for i in range(4)]
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main())
'''


def run(rc: RunContext) -> None:
    async def main() -> None:
        tasks = []
        for task in range(rc.params.tasks):
            rc.spawn(task)
            tasks.append(asyncio.create_task(
                execute_async(rc.rec, task, rc.params, f"Task-{task}"), name=f"Task-{task}"))
        rc.rec.flush()
        flusher = asyncio.create_task(flush_every(rc, FLUSH_NS / 1e9))
        await asyncio.gather(*tasks)
        flusher.cancel()

    asyncio.run(main())
    rc.rec.flush()


async def flush_every(rc: RunContext, seconds: float) -> None:
    """Flush the loop's one recorder while it is idle.

    Recorders flush when an event is added and the buffer is old, so events recorded just
    before the loop went quiet (a task's FINISH, while another task awaits forever) would stay
    in the buffer until the end of the run, and be lost if that end is a time limit.
    """
    while True:
        await asyncio.sleep(seconds)
        if rc.rec.buf:
            rc.rec.flush()


INFO = ModelInfo(
    name="asyncio",
    title="asyncio",
    kind="async",
    explanation=(
        "One thread, one event loop, many tasks. A task runs until it awaits; then the loop "
        "runs another. Thousands of waits overlap for the cost of one thread, but CPU-bound "
        "code blocks the loop and every other task with it: no parallelism at all."
    ),
    snippet=SNIPPET,
    runner=run,
    noun="asyncio tasks",
    worker_label="{label}",
    gil_note=("one thread runs every task: the GIL never changes hands",
              "one thread runs every task: no GIL hand-off", "one thread: no GIL hand-off"),
)
