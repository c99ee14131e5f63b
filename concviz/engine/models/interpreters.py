"""interpreters: one subinterpreter per task, each with its own GIL, all in one process.

The runner makes each interpreter in turn (taking the clock just before, as the processes model
does before ``start()``), then hands it to a thread of its own that runs the task's script in
it; the thread waits there without holding the main interpreter's GIL, so the tasks run on as
many cores as there are. The thread that ran an interpreter destroys it (on 3.12, destroying
it from another thread hangs once the task imported threading), and no two interpreters are
made or destroyed at the same time (3.12 has known races there): one lock around both.
"""

from __future__ import annotations

import threading
import time

from concviz.engine import subinterp
from concviz.engine.events import ERROR, SPAWN
from concviz.engine.models.base import ModelInfo, RunContext
from concviz.engine.probe import Recorder
from concviz.engine.subprobe import PipeSink, script

SNIPPET = '''\
import threading

try:
    from concurrent import interpreters  # Python 3.14
except ImportError:  # 3.13: pip install interpreters-pep-734
    from interpreters_backport import interpreters

CODE = """
total = sum(i * i for i in range(3_000_000))  # CPU-bound work
print("interpreter finished:", total)
"""


def worker(interp):
    interp.exec(CODE)  # runs under this interpreter's own GIL


if __name__ == "__main__":
    interps = [interpreters.create() for _ in range(4)]
    threads = [threading.Thread(target=worker, args=(i,))
               for i in interps]
    for t in threads:
        t.start()  # 4 interpreters, 4 GILs, one process
    for t in threads:
        t.join()
    for interp in interps:
        interp.close()
'''


class Unavailable(RuntimeError):
    """This Python cannot run the model (its message says what it needs)."""


def run(rc: RunContext) -> None:
    backend = subinterp.find_backend()
    if backend is None:
        import platform

        raise Unavailable(subinterp.why_unavailable(platform.python_version(), ""))
    fd = rc.sink.conn.fileno()
    # The runner's own events go out as the tasks' do (single writes under PIPE_BUF), so that
    # no write of the run can land inside another writer's frame.
    rec = Recorder(PipeSink(fd))
    params = rc.params
    lost: dict[int, str] = {}
    life = threading.Lock()  # held while an interpreter is made or destroyed
    threads = []
    for task in range(params.tasks):
        with life:
            at = time.perf_counter_ns()
            handle = backend.create()
        label = f"interp {task + 1}"
        thread = threading.Thread(target=_run_one, args=(backend, handle, script(fd, params, task, label), task,
                                                         lost, life), name=f"interp-{task}", daemon=True)
        thread.start()
        rec.add(SPAWN, task, at, at)
        threads.append(thread)
    rec.flush()
    for thread in threads:
        thread.join()
    for task, text in sorted(lost.items()):
        t = time.perf_counter_ns()
        rec.add(ERROR, task, t, t, -1, text)
    rec.flush()


def _run_one(backend: subinterp.Backend, handle, text: str, task: int, lost: dict[int, str],
             life: threading.Lock) -> None:
    """Run one task's script in its interpreter (the calling thread waits there), then destroy
    the interpreter. A script that failed outside the task's own brackets (an import) leaves
    the task lost."""
    try:
        failed = backend.run(handle, text)
    except Exception as exc:  # noqa: BLE001 - the API itself refused: the task is lost, not the run
        failed = f"{type(exc).__name__}: {exc}"
    with life:
        backend.close(handle)
    if failed:
        lost[task] = f"its interpreter failed: {failed}"


INFO = ModelInfo(
    name="interpreters",
    title="concurrent.interpreters",
    kind="interpreter",
    explanation=(
        "Several interpreters in ONE process, each with its own GIL (Python 3.12+, PEP 684 and "
        "734): CPU-bound tasks run in parallel like processes, without starting a process per "
        "task. The price: an interpreter shares no objects with the others, so code and data "
        "cross over as text or bytes, and starting one costs milliseconds."
    ),
    snippet=SNIPPET,
    runner=run,
    noun="interpreters",
    worker_label="{label}",
    gil_note=("each interpreter has its own GIL: nothing to hand off",
              "each interpreter has its own GIL", "a GIL per interpreter"),
    shares_gil=False,
)
