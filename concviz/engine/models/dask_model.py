"""dask: tasks submitted to a Dask cluster (``distributed.Client.submit``), run by its workers.

By default the run starts a ``LocalCluster`` of its own (``--workers`` processes, each with
``--threads-per-worker`` threads, no dashboard) before the header goes out, and says how long
that took; with ``--scheduler ADDRESS`` it uses an existing cluster, which it leaves running.

The probe runs inside each task on its worker, as in every model. Its batches leave the worker
as Dask's structured events (``Worker.log_event``), reach the scheduler on the worker's own
batched stream, and come to the experiment through ``Client.subscribe_topic``, which forwards
them into the run's pipe: no channel of concviz's own crosses the cluster. The workers of a
LocalCluster are processes of this machine, so their ``perf_counter_ns`` is the experiment's
clock (CLOCK_MONOTONIC); workers elsewhere are brought onto it (dask_clock.py).

Dask never tells a task which attempt it is; ``--kill-task`` marks its first attempt in a file,
so that the attempt Dask retries after the worker died runs to its end. The experiment sees a
second START of the task and labels it "#2 w1@host": its lane shows the lost attempt running,
then queued again until the retry starts.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from concviz.engine.events import ERROR, EV_INFO, EV_KIND, EV_TASK, FINISH, SLEEP_OPEN, START
from concviz.engine.execute import execute
from concviz.engine.models.base import PER_WORKER_GIL_NOTE, ModelInfo, RunContext
from concviz.engine.models.dask_clock import (ClockId, Offset, clock_id, events_to_scheduler, measure_offset,
                                              shares_clock, shift)
from concviz.engine.probe import thread_recorder
from concviz.engine.workloads import WorkParams

TOPIC = "concviz"
SEND_NS = 30_000_000  # a worker sends what its tasks recorded every 30 ms (the probe flushes every 10)
AT_ONCE = frozenset((START, FINISH, ERROR, SLEEP_OPEN))  # events sent without waiting
# after the last future is done, how long the run waits for its tasks' last events (they
# travel worker -> scheduler -> client on batched streams, a few ms apart)
LAST_EVENTS_S = 5.0
CLOSE_S = 3.0  # how long the cluster is given to close before the experiment just exits

SNIPPET = '''\
from dask.distributed import Client, LocalCluster


def square_sum(n):
    return sum(i * i for i in range(n))  # CPU-bound work


if __name__ == "__main__":
    # 2 worker processes, 1 thread each (or Client("tcp://host:8786"))
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \\
            Client(cluster) as client:
        futures = [
            client.submit(square_sum, 2_000_000, pure=False)
            for _ in range(8)
        ]
        print(client.gather(futures))
'''


@dataclass
class Cluster:
    """The cluster of a run and the experiment's client of it.

    Attributes:
        client: a ``distributed.Client``.
        local: the ``LocalCluster`` the run started (None: an existing one, left running).
        facts: what the header says of it (see :func:`prepare`).
        offset: the scheduler's wall clock against the experiment's clock (None: a
            LocalCluster, whose workers share the experiment's clock).
    """

    client: Any
    local: Any
    facts: dict
    offset: Offset | None = None


# --- worker side ---------------------------------------------------------------------------
class WorkerSink:
    """The probe's sink in a Dask worker: the batches of its task threads, gathered for
    SEND_NS, become one structured event of TOPIC.

    ``Worker.log_event`` is safe from a task's thread (it hands the message to the worker's
    event loop, which sends it to the scheduler, which sends it to the client): each one costs
    those three processes CPU time on the cores the tasks run on, hence fewer, larger ones.
    A batch that holds news a live view must not wait for (a start, an end, a sleep begun) goes
    at once, with everything gathered before it.
    """

    def __init__(self, worker: Any, same_clock: bool) -> None:
        self.worker = worker
        self.same_clock = same_clock  # False: times go out on the scheduler's wall clock
        self.pending: list = []
        self.last_ns = time.perf_counter_ns()
        self.lock = threading.Lock()

    def send(self, message: tuple) -> None:
        tag, batch = message
        now = time.perf_counter_ns()
        with self.lock:
            self.pending.extend(batch)
            if now - self.last_ns < SEND_NS and not any(e[EV_KIND] in AT_ONCE for e in batch):
                return
            out, self.pending, self.last_ns = self.pending, [], now
        if self.same_clock:
            self.worker.log_event(TOPIC, out)
        else:
            self.worker.log_event(TOPIC, {"clock": "scheduler",
                                          "events": events_to_scheduler(out, self.worker.scheduler_delay)})


_SINKS: dict[str, WorkerSink] = {}  # worker address -> its sink (one worker per process, usually)


def worker_label(worker: Any) -> str:
    """How a task lane names the worker: its name and its host ("w0@box")."""
    host = socket.gethostname().split(".")[0]
    return f"w{worker.name}@{host}"


def dask_task(task: int, params: WorkParams, kill_mark: str | None = None, clock: tuple = ("", 0)) -> bool:
    """One task on a Dask worker: the probe's brackets around the work (never raises).
    ``clock``: the experiment's ClockId (a worker with another reads another clock)."""
    started = time.perf_counter_ns()  # START is the first line, as in every model
    from distributed import get_worker

    worker = get_worker()
    sink = _SINKS.get(worker.address)
    if sink is None:
        sink = _SINKS[worker.address] = WorkerSink(worker, shares_clock(clock_id(), ClockId(*clock)))
    if kill_mark is not None and params.faults.get(task) == "kill":
        if os.path.exists(kill_mark):  # Dask's retry after the kill: this attempt runs through
            params = replace(params, faults={k: v for k, v in params.faults.items() if k != task})
        else:
            open(kill_mark, "w").close()
    rec = thread_recorder(sink)
    ok = execute(rec, task, params, worker_label(worker), started)
    rec.flush()
    return ok


# --- experiment side -----------------------------------------------------------------------
def prepare(rc: RunContext) -> dict:
    """Start the run's LocalCluster (or connect to ``--scheduler``) and return the header's
    facts of it: its start-up time, workers, threads and hosts. The start-up counts from before
    Dask is imported (a second or more on a busy machine: a cost of the cluster too, and one
    the run's time limit must not take from the tasks)."""
    t0 = time.perf_counter_ns()
    import dask
    from distributed import Client, LocalCluster

    spec = rc.spec
    local = None
    if spec.scheduler is None:
        # Dask's own default is spawn (a fork of a process with an event loop's threads is
        # unsafe); --start-method chooses another
        method = spec.start_method or "spawn"
        with dask.config.set({"distributed.worker.multiprocessing-method": method}):
            local = LocalCluster(n_workers=spec.pool_size, threads_per_worker=spec.threads_per_worker or 1,
                                 processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(local)
    else:
        client = Client(spec.scheduler, timeout=5)
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    workers = info.get("workers", {})
    hosts = sorted({w.get("host", "?") for w in workers.values()})
    facts = {"scheduler": info.get("address", spec.scheduler or ""), "local": local is not None,
             "start_ns": [t0, t0], "workers": len(workers),
             "threads": sum(int(w.get("nthreads", 1)) for w in workers.values()), "hosts": hosts,
             "worker_list": worker_list(client, workers)}
    offset = None
    if local is None:  # workers elsewhere read other clocks: how far the scheduler's is from ours
        # (measured even if none is elsewhere now: one may join during the run)
        offset = measure_offset(lambda: client.run_on_scheduler(time.time))
        here = clock_id()
        elsewhere = [c for c in client.run(worker_clock).values() if not shares_clock(ClockId(*c[:2]), here)]
        if elsewhere:
            # the uncertainty of a worker's times: that of our offset to the scheduler, plus that
            # of the worker's own (half its heartbeats' round trip)
            worker_ns = max(c[2] for c in elsewhere)
            facts["clock"] = {"workers_elsewhere": len(elsewhere), "scheduler_ns": offset.uncertainty_ns,
                              "worker_ns": worker_ns, "uncertainty_ns": offset.uncertainty_ns + worker_ns}
    # ready: what it took up to here (its workers asked who they are, the clocks measured) is
    # the cluster's cost, not the run's
    facts["start_ns"][1] = time.perf_counter_ns()
    rc.state = Cluster(client, local, facts, offset)
    return {"cluster": facts, "start_method": method} if local is not None else {"cluster": facts}


def worker_list(client: Any, workers: dict) -> list[dict]:
    """Each worker as the core lanes group it (engine/worker_cores.py): its address, name,
    host, threads and process id (which the scheduler does not keep: each worker is asked)."""
    try:
        pids = client.run(os.getpid)
    except Exception:  # noqa: BLE001 - a worker gone since: the lanes name it from its tasks
        pids = {}
    return [{"address": address, "name": str(w.get("name", "")), "host": w.get("host", ""),
             "nthreads": int(w.get("nthreads", 1)), "pid": pids.get(address)}
            for address, w in sorted(workers.items())]


def worker_clock(dask_worker: Any) -> tuple:
    """On a worker (``Client.run``): its ClockId, and how far off its offset to the scheduler's
    clock may be (``Worker.scheduler_delay`` is read at the middle of a heartbeat's round trip:
    half of it; Dask keeps a running mean of those, ``Worker.latency``), in ns."""
    return (*clock_id(), int(dask_worker.latency * 1e9 / 2))


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def run(rc: RunContext) -> None:
    from distributed import wait

    cluster: Cluster = rc.state
    client = cluster.client
    params = rc.params
    ended: set[int] = set()
    started: dict[int, int] = {}  # task -> how many attempts reported a START
    all_ended = threading.Event()
    sink = rc.sink

    def forward(event: tuple) -> None:
        # called on the client's event loop for each batch a worker logged
        _, batch = event
        if isinstance(batch, dict):  # a worker elsewhere: its times are the scheduler's wall clock
            events = shift([tuple(e) for e in batch["events"]], -cluster.offset.ns if cluster.offset else 0)
        else:
            events = [tuple(e) for e in batch]
        for i, e in enumerate(events):
            if e[EV_KIND] in (FINISH, ERROR):
                ended.add(e[EV_TASK])
            elif e[EV_KIND] == START:
                n = started[e[EV_TASK]] = started.get(e[EV_TASK], 0) + 1
                if n > 1:  # Dask ran it again: the worker of the attempt before was lost
                    events[i] = e[:EV_INFO] + (f"#{n} {e[EV_INFO]}",)
        sink.send(("E", events))
        if len(ended) >= params.tasks:
            all_ended.set()

    client.subscribe_topic(TOPIC, forward)
    kill_mark = None
    if "kill" in params.faults.values():
        fd, kill_mark = tempfile.mkstemp(prefix="concviz-kill-")
        os.close(fd)
        os.unlink(kill_mark)  # its existence is the mark
    futures = []
    run_id = uuid.uuid4().hex[:12]
    here = clock_id()
    try:
        for task in range(params.tasks):
            rc.spawn(task)
            # pure=False: identical calls are separate tasks, not one result shared; the key
            # names the task, for Dask's own records of it (Client.get_task_stream)
            futures.append(client.submit(dask_task, task, params, kill_mark, here, pure=False,
                                         key=task_key(run_id, task)))
        rc.rec.flush()
        wait(futures)
        lost = {}
        for task, future in enumerate(futures):
            if future.status == "error":
                exc = future.exception()
                lost[task] = f"{type(exc).__name__}: {exc}"
        # the tasks' last batches may still be on their way from the workers
        deadline = time.monotonic() + LAST_EVENTS_S
        while not all(t in ended or t in lost for t in range(params.tasks)) and time.monotonic() < deadline:
            all_ended.wait(0.01)
        for task, text in lost.items():
            if task not in ended:
                rc.lost(task, text)
        rc.rec.flush()
    finally:
        close(cluster, futures)
        if kill_mark is not None and os.path.exists(kill_mark):
            os.unlink(kill_mark)


def task_key(run_id: str, task: int) -> str:
    """The Dask key of ``task`` in the run ``run_id``: "concviz-RUN-TASK"."""
    return f"concviz-{run_id}-{task}"


def task_of_key(key: str) -> int | None:
    """The task a Dask key of concviz's names (None: not one of concviz's)."""
    parts = str(key).split("-")
    return int(parts[2]) if len(parts) == 3 and parts[0] == "concviz" and parts[2].isdigit() else None


def close(cluster: Cluster, futures: list) -> None:
    """Cancel what the run submitted and close the client; close the LocalCluster it started
    (an existing cluster is left running). What does not close in time is killed with the
    experiment's process group."""
    client = cluster.client
    try:
        if futures:
            client.cancel(futures, force=True)
        client.close(timeout=CLOSE_S)
        if cluster.local is not None:
            cluster.local.close(timeout=CLOSE_S)
    except Exception:  # noqa: BLE001 - closing is best effort: the process group is killed after
        pass


INFO = ModelInfo(
    name="dask",
    title="dask.distributed",
    kind="process",
    explanation=(
        "Dask's Client sends each task to a scheduler, which gives it to a worker process, here "
        "or on another machine: CPU-bound work runs in parallel across processes and hosts. The "
        "price: a cluster to start (about a second), and a scheduler hop for every task and "
        "result; a worker's threads still share that worker's GIL."
    ),
    snippet=SNIPPET,
    runner=run,
    prepare=prepare,
    has_pool=True,
    noun="Dask tasks",
    worker_label="{label} {pid}",
    gil_note=PER_WORKER_GIL_NOTE,
)
