"""What every model shares: the run context, the registry entry, and the task entry points.

Task entry points live here (module level, importable) so that ``spawn`` and ``forkserver``
children can find them by name.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

from concviz.engine.events import ERROR, SPAWN
from concviz.engine.execute import error_text, execute  # noqa: F401 - (error_text: for importers)
from concviz.engine.probe import Recorder, Sink, thread_recorder
from concviz.engine.spec import RunSpec
from concviz.engine.workloads import WorkParams, run_async

try:
    import ctypes
except ImportError:  # (an own-GIL subinterpreter on 3.12, where only the task entry points run)
    ctypes = None


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: everything the CLI and the UI need to know about one model.

    Attributes:
        name: what the CLI and the trace call it.
        title: the API it shows, as a heading.
        kind: "sync", "thread", "process", "async" or "interpreter".
        explanation: one paragraph on what it does and what it costs.
        snippet: a short program that runs it, as is.
        runner: runs a RunSpec in the experiment process.
        noun: its tasks in a sentence ("4 threads, CPU-bound").
        has_pool: a fixed set of workers takes the tasks (their number can be chosen).
        worker_label: how a task lane names the worker that ran the task, a ``str.format``
            template with the fields ``pid``, ``tid`` (the thread id's last five digits),
            ``label`` (the task's own label, else "task") and ``worker`` (the pool worker, by
            the order the workers first started a task).
        gil_note: why the GIL lane shows no hand-offs for this model (its tasks share no GIL),
            longest wording first; empty for models whose threads share one.
        shares_gil: the threads that run its tasks in one process share that process's GIL
            (False: each runs its own interpreter, with a GIL of its own).
        prepare: sets up what the run needs before its header is sent (a cluster), keeping it
            in ``RunContext.state``; returns facts for the header. None: nothing to set up.
    """

    name: str
    title: str
    kind: str
    explanation: str
    snippet: str
    runner: Callable[["RunContext"], None]
    noun: str = "tasks"
    has_pool: bool = False
    worker_label: str = "thr {tid}"
    gil_note: tuple[str, ...] = ()
    shares_gil: bool = True
    prepare: Callable[["RunContext"], dict] | None = None


# the GIL lane's words for the models whose tasks run in a pool of worker processes
PER_WORKER_GIL_NOTE = ("each worker process has its own GIL: nothing to hand off",
                       "each worker has its own GIL: nothing to hand off", "a GIL per worker: none shared")


@dataclass
class RunContext:
    """Handed to a model's runner inside the experiment process."""

    spec: RunSpec
    params: WorkParams
    sink: Sink
    mp: Any  # the multiprocessing context for worker processes (chosen start method)
    rec: Recorder  # the runner's own recorder (main thread of the experiment process)
    state: Any = None  # what the model's prepare set up for its runner

    def spawn(self, task: int, at_ns: int | None = None) -> None:
        """Record that the model was asked to start ``task`` now (or at ``at_ns``: a model that
        starts a thread or process takes the time just before ``start()`` and records it after,
        so that SPAWN to START is the start's cost alone, as a direct measurement times it)."""
        t = time.perf_counter_ns() if at_ns is None else at_ns
        self.rec.add(SPAWN, task, t, t)

    def spawn_all(self) -> None:
        t = time.perf_counter_ns()
        for task in range(self.params.tasks):
            self.rec.add(SPAWN, task, t, t)
        self.rec.flush()

    def lost(self, task: int, text: str) -> None:
        """Record, from the parent side, that a task ended without reporting (killed, lost)."""
        t = time.perf_counter_ns()
        self.rec.add(ERROR, task, t, t, -1, text)


async def execute_async(rec: Recorder, task: int, params: WorkParams, label: str | None = None) -> bool:
    rec.start(task, label)
    try:
        await run_async(rec, task, params)
    except Exception as exc:  # noqa: BLE001
        rec.error(task, error_text(exc))
        return False
    rec.finish(task)
    return True


def exit_text(pid: int, exitcode: int | None) -> str:
    """How a worker process ended, from its ``exitcode`` (negative: the signal that killed it)."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return f"worker pid {pid} was {how}"


# --- worker-process side ---------------------------------------------------------------------
_SINK: Sink | None = None
# multiprocessing.Pool only: task id -> pid of the worker running it (0 = not started,
# -1 = returned). Pool never says which worker holds which task, and waits forever for a task
# whose worker died; this shared array lets the runner see which tasks a dead worker took along.
_SLOTS: Any = None
SLOT_DONE = -1


def _find_prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once: in the experiment process at import, so that a forked
    worker inherits it (looking it up in each new child cost ~190 us of its CPU, on cores the
    next children are starting on); None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # (AttributeError too where ctypes is None)
        return None


_PRCTL = _find_prctl()
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans if the parent is
    killed); a no-op elsewhere."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def init_worker(sink: Sink, slots: Any = None) -> None:
    """Pool / executor initializer: remember the sink (and the task slots), die with the parent.

    Not for multiprocessing.Pool (``slots`` given): Pool forks the replacement of a dead worker
    from its worker-handler *thread*, and PR_SET_PDEATHSIG fires when the thread that forked the
    child exits. At pool shutdown that thread ends first, the replacement is SIGKILLed while it
    waits for work holding the pool's inqueue lock, and terminate() then waits for that lock
    forever. Pool workers are in the experiment's process group, which the experiment's parent
    watchdog (and Experiment.reap) kill as a whole.
    """
    global _SINK, _SLOTS
    _SINK = sink
    _SLOTS = slots
    if slots is None:
        die_with_parent()


def process_main(sink: Sink, params: WorkParams, task: int) -> None:
    """Body of one ``multiprocessing.Process``."""
    started = time.perf_counter_ns()  # START is the first line, not after concviz's set-up
    init_worker(sink)
    rec = Recorder(sink)
    execute(rec, task, params, f"pid {os.getpid()}", started)
    rec.flush()


def pool_task(task: int, params: WorkParams) -> bool:
    """One task inside a pool worker process (multiprocessing.Pool or ProcessPoolExecutor)."""
    started = time.perf_counter_ns()
    assert _SINK is not None, "pool worker started without init_worker"
    import multiprocessing

    slots = _SLOTS
    if slots is not None:
        slots[task] = os.getpid()
    rec = thread_recorder(_SINK)
    ok = execute(rec, task, params, multiprocessing.current_process().name, started)
    rec.flush()
    if slots is not None:
        slots[task] = SLOT_DONE
    return ok


def pool_task_star(args: tuple[int, WorkParams]) -> bool:
    return pool_task(*args)


def thread_task(sink: Sink, params: WorkParams, task: int) -> bool:
    """One task on the calling thread (threads, thread pool, sequential)."""
    started = time.perf_counter_ns()
    import threading

    rec = thread_recorder(sink)
    ok = execute(rec, task, params, threading.current_thread().name, started)
    rec.flush()
    return ok
