"""sequential: one task after another on one thread, the baseline."""

from concviz.engine.models.base import ModelInfo, RunContext, thread_task

SNIPPET = '''\
import random
import time


def worker(number):
    delay = random.uniform(0.1, 0.9)
    time.sleep(delay)  # a slow network call
    print(f"worker {number} finished after {delay:.2f} s")


if __name__ == "__main__":
    for i in range(4):
        worker(i)  # each call blocks until it is done
'''


def run(rc: RunContext) -> None:
    for task in range(rc.params.tasks):
        rc.spawn(task)
        # Send the SPAWN now: the task runs on this same thread and may never return (a hang),
        # and nothing else would flush the runner's recorder before the run is stopped.
        rc.rec.flush()
        thread_task(rc.sink, rc.params, task)


INFO = ModelInfo(
    name="sequential",
    title="Sequential (sync)",
    kind="sync",
    explanation=(
        "Synchronous code: each call blocks until it returns, so tasks run one after another on "
        "one thread. Nothing overlaps: concurrency is 1 and wall time is the sum of the tasks. "
        "Every other model is measured against this baseline."
    ),
    snippet=SNIPPET,
    runner=run,
    noun="tasks in sequence",
    gil_note=("one thread: the GIL never changes hands",),
)
