"""A bench and test stand-in for a net run: N connections under plain threads or asyncio tasks.

Run as ``python net_child.py MODEL HOST PORT CONNECTIONS REQUESTS [EVENTS_FD]``, MODEL being
``threads`` (one ``threading.Thread`` per connection, blocking sockets), ``processes`` (one
forked process per connection, blocking sockets) or ``asyncio`` (one task per connection on one
loop, asyncio streams). Each task runs concviz's own net body with START
and FINISH/ERROR around it, through a real Recorder: with EVENTS_FD, batches go down that pipe
as the experiment's do (the parent must drain it); without, they are pickled and dropped, so
the probe costs what it costs in a run and its events do not pile up in this process's memory.

What it prints (stdout, one JSON object per line):

* ``{"t_start_ns": ...}`` just before the first task is started, after every import and a
  short settle, so that a memory sampler outside has its baseline;
* ``{"wall_s": ..., "done": ..., "failed": ..., "first_error": ...}`` at the end: wall is from
  the first start to the last task's end.

Kept out of concviz: the models run the same bodies in phase 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from concviz.engine.models.base import error_text  # noqa: E402
from concviz.engine.netload import NetParams, run_net_async, run_net_sync  # noqa: E402
from concviz.engine.probe import FLUSH_NS, Recorder, Sink, thread_recorder  # noqa: E402

SETTLE_S = 0.2


class DroppingSink:
    """Pickles each batch like a real sink, then drops it."""

    def send(self, message: tuple) -> None:
        pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


class Outcome:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self.first_error = ""

    def add(self, ok: bool, text: str = "") -> None:
        with self.lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1
                self.first_error = self.first_error or text


def sync_task(sink, net: NetParams, task: int, outcome: Outcome) -> None:
    rec = thread_recorder(sink)
    rec.start(task, threading.current_thread().name)
    try:
        run_net_sync(rec, task, net)
    except Exception as exc:  # noqa: BLE001 - a failed task is a result
        rec.error(task, error_text(exc))
        outcome.add(False, error_text(exc))
    else:
        rec.finish(task)
        outcome.add(True)
    rec.flush()


def run_threads(sink, net: NetParams, n: int, outcome: Outcome) -> None:
    threads = [threading.Thread(target=sync_task, args=(sink, net, t, outcome), name=f"Thread-{t}",
                                daemon=True) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def process_task(sink, net: NetParams, task: int) -> None:
    from concviz.engine.models.base import die_with_parent

    die_with_parent()
    ok = Outcome()
    sync_task(sink, net, task, ok)
    os._exit(0 if ok.done else 1)


def run_processes(sink, net: NetParams, n: int, outcome: Outcome) -> None:
    """One forked process per connection, as the processes model starts them."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=process_task, args=(sink, net, t)) for t in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        outcome.add(p.exitcode == 0, f"worker exited with {p.exitcode}")


async def async_task(rec: Recorder, net: NetParams, task: int, outcome: Outcome) -> None:
    rec.start(task, f"Task-{task}")
    try:
        await run_net_async(rec, task, net)
    except Exception as exc:  # noqa: BLE001
        rec.error(task, error_text(exc))
        outcome.add(False, error_text(exc))
    else:
        rec.finish(task)
        outcome.add(True)


def run_asyncio(sink, net: NetParams, n: int, outcome: Outcome) -> None:
    rec = Recorder(sink)

    async def flush_every() -> None:  # as the asyncio model does: flush while the loop idles
        while True:
            await asyncio.sleep(FLUSH_NS / 1e9)
            if rec.buf:
                rec.flush()

    async def main() -> None:
        tasks = [asyncio.create_task(async_task(rec, net, t, outcome)) for t in range(n)]
        flusher = asyncio.create_task(flush_every())
        await asyncio.gather(*tasks)
        flusher.cancel()

    asyncio.run(main())
    rec.flush()


def main(argv: list[str]) -> int:
    model, host, port, n, requests = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    if len(argv) > 5:
        if model == "processes":
            import multiprocessing

            lock = multiprocessing.get_context("fork").Lock()
        else:
            lock = threading.Lock()
        sink = Sink(Connection(int(argv[5]), readable=False), lock)
    else:
        sink = DroppingSink()
    net = NetParams(host, port, requests)
    runner = {"threads": run_threads, "asyncio": run_asyncio, "processes": run_processes}[model]
    outcome = Outcome()
    time.sleep(SETTLE_S)
    t0 = time.perf_counter_ns()
    print(json.dumps({"t_start_ns": t0}), flush=True)
    runner(sink, net, n, outcome)
    wall = (time.perf_counter_ns() - t0) / 1e9
    print(json.dumps({"wall_s": round(wall, 4), "done": outcome.done, "failed": outcome.failed,
                      "first_error": outcome.first_error}), flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
