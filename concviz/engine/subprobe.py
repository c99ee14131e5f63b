"""The probe inside an isolated interpreter: one task, its events out through the run's pipe.

An interpreter with its own GIL shares the process (its file descriptors) but no Python object
with the others: not the experiment's Sink, not its locks (a threading.Lock belongs to one
interpreter; a lockf lock to the whole process, so it excludes nobody within it). What needs
no shared object is the kernel's own rule: a write of at most PIPE_BUF bytes to a pipe lands
whole, never interleaved with another writer's. So every frame this sink writes (the framing
Connection.recv_bytes reads: a 4-byte big-endian length, then the pickle) is one ``os.write``
under PIPE_BUF; a batch that pickles larger is split. The interpreters model's runner writes
its own events (SPAWN, a lost task) the same way, so that during the run no writer of the pipe
writes more than PIPE_BUF at once.

Nothing here needs ctypes (3.12 cannot import it in an own-GIL interpreter; the probe falls
back to /proc/thread-self/stat for the CPU number there), nor asyncio. Both asyncio's and
pickle's C modules, used in an own-GIL interpreter of 3.12.1, leave the process's heap corrupt
("free(): invalid pointer" when it exits): on 3.12 this sink pickles with pickle's pure-Python
implementation (the same bytes, a few times slower, on batches of a few events).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import select
import struct
import sys
import time

from concviz.engine.execute import execute
from concviz.engine.netload import NetParams
from concviz.engine.probe import Recorder
from concviz.engine.workloads import WorkParams

PIPE_BUF = getattr(select, "PIPE_BUF", 512)  # POSIX guarantees at least 512
_HEADER = struct.Struct("!i")
MAX_INFO = 1000  # an event's text is cut to this (a frame must fit in PIPE_BUF)
_dumps = pickle._dumps if sys.version_info[:2] == (3, 12) else pickle.dumps


class PipeSink:
    """A sink any interpreter of the process can write through, each with one of its own:
    every frame is a single ``os.write`` of at most PIPE_BUF bytes to ``fd``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: tuple) -> None:
        tag, payload = message
        if tag == "E":
            for frame in frames(payload):
                self._write(frame)
        else:
            frame = _frame(message)
            if len(frame) > PIPE_BUF:
                raise ValueError(f"a {tag!r} message of {len(frame)} bytes does not fit in PIPE_BUF")
            self._write(frame)

    def _write(self, frame: bytes) -> None:
        while True:
            try:
                done = os.write(self.fd, frame)
                break
            except InterruptedError:
                continue
        if done != len(frame):  # cannot happen for a blocking pipe and n <= PIPE_BUF
            raise OSError(f"a pipe write of {len(frame)} bytes wrote {done}")


def _frame(message: tuple) -> bytes:
    data = _dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def frames(batch: list[tuple]) -> list[bytes]:
    """``("E", batch)`` as framed messages of at most PIPE_BUF bytes each, events in order."""
    frame = _frame(("E", batch))
    if len(frame) <= PIPE_BUF:
        return [frame]
    if len(batch) == 1:
        kind, task, pid, tid, t0, t1, cpu, info = batch[0]
        if isinstance(info, str) and len(info) > MAX_INFO:
            return frames([(kind, task, pid, tid, t0, t1, cpu, info[:MAX_INFO - 1] + "…")])
        raise ValueError(f"one event pickles to {len(frame)} bytes, over PIPE_BUF")
    # split where the pickle would fit, judged by the share of the whole (then exactly)
    cut = max(1, min(len(batch) - 1, len(batch) * (PIPE_BUF - 64) // len(frame)))
    return frames(batch[:cut]) + frames(batch[cut:])


def run_task(fd: int, params: dict, task: int, label: str) -> None:
    """The body of one task in its interpreter: START, the work, FINISH (or ERROR), every
    event written to ``fd``.

    Called by the script the interpreters model runs in each interpreter, once its imports are
    done: START is this function's first line, as a worker process's is its target's, so that
    SPAWN -> START is what starting the interpreter cost the task.
    """
    started = time.perf_counter_ns()
    rec = Recorder(PipeSink(fd))
    net = params.pop("net", None)
    work = WorkParams(**params, net=NetParams(**net) if net is not None else None)
    execute(rec, task, work, label, started)
    rec.flush()


def script(fd: int, params: WorkParams, task: int, label: str) -> str:
    """The text an interpreter runs for one task (plain literals: nothing is shared)."""
    fields = {"workload": params.workload, "tasks": params.tasks, "scale": params.scale,
              "seed": params.seed, "faults": dict(params.faults),
              "net": dataclasses.asdict(params.net) if params.net is not None else None}
    return (f"from concviz.engine.subprobe import run_task\n"
            f"run_task({fd!r}, {fields!r}, {task!r}, {label!r})\n")
