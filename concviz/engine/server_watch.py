"""The run's loopback server, as the experiment keeps it (net workloads).

The experiment starts the server before the model (inside the run's process group: a killpg of
the run takes it along) and hands its address to every task. While the tasks talk to it, a
thread of the experiment asks it for its counters every SERVER_EVERY_S and records each answer
as a SERVER event; with the kill-server fault it asks often, and SIGKILLs the server once half
of the run's replies were sent. After the model, the server is stopped and its last counters
recorded. The thread's work (a line each way on a pipe, ten times a second) is a few
microseconds of the experiment's GIL; the server's own CPU is its process's, reported apart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any

from concviz.engine.events import SERVER
from concviz.engine.net import HOST, LoopbackServer, ServerError, ServerStats
from concviz.engine.netload import NetParams
from concviz.engine.probe import Recorder, Sink
from concviz.engine.resources import SERVER_FIELDS, encode
from concviz.engine.spec import RunSpec

SERVER_EVERY_S = 0.1
KILL_CHECK_S = 0.005  # with --kill-server: how often the replies are counted


class ServerWatch:
    """The loopback server of one run: :meth:`start` it, :meth:`watch` it while the model runs,
    :meth:`stop` it after.

    Args:
        spec: the run's validated spec (a net workload).
        sink: where the SERVER events go (the experiment's pipe).
    """

    def __init__(self, spec: RunSpec, sink: Sink) -> None:
        self.spec = spec
        self.sink = sink
        self.server = LoopbackServer()
        self.last: dict[str, Any] | None = None  # the figures of the last SERVER event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rec: Recorder | None = None
        total = spec.tasks * (spec.requests or 1)
        self._kill_at = -(-total // 2) if spec.kill_server else None  # replies sent

    def start(self) -> dict[str, Any]:
        """Start the server; return what the run's header says of it.

        Raises:
            ServerError: it could not start (one line).
        """
        self.server.start(self.spec.latency_ms)
        stats = self.server.stats()
        return {"pid": stats.pid, "port": stats.port, "latency_ms": stats.latency_ms,
                "backlog": stats.backlog}

    def params(self) -> NetParams:
        """Where the tasks connect, and how many requests each sends."""
        return NetParams(HOST, self.server.port, self.spec.requests or 1)

    def watch(self) -> None:
        """Record the server's counters from now on, on a thread of its own."""
        self._rec = Recorder(self.sink)
        self._record(self.server.stats(), "running")
        self._thread = threading.Thread(target=self._loop, name="concviz-server-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        every = SERVER_EVERY_S if self._kill_at is None else KILL_CHECK_S
        last_sent = time.monotonic()
        while not self._stop.wait(every):
            try:
                stats = self.server.stats()
            except ServerError:
                self._record(None, "gone")
                return
            if self._kill_at is not None and stats.requests >= self._kill_at:
                self.server.kill()
                self._record(stats, "killed")
                return
            if time.monotonic() - last_sent >= SERVER_EVERY_S:
                self._record(stats, "running")
                last_sent = time.monotonic()

    def _record(self, stats: ServerStats | None, state: str) -> None:
        """Record a SERVER event: ``stats`` (None: the last known, for a server that is gone)
        in ``state``."""
        if stats is not None:
            data = asdict(stats)
            figures = {k: data[k] for k in SERVER_FIELDS if k != "state"}
        elif self.last is not None:
            figures = dict(self.last)
        else:
            return  # it never answered: nothing to say
        figures["state"] = state
        if state != "running":
            figures["open_now"] = 0  # its connections ended with it
        self.last = figures
        t = time.perf_counter_ns()
        assert self._rec is not None
        self._rec.add(SERVER, -1, t, t, -1, encode(figures))
        self._rec.flush()

    def stop(self) -> dict[str, Any] | None:
        """Stop watching, stop the server (if it still runs) and record its final counters;
        return them (None if it never answered)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.last is not None and self.last["state"] != "running":
            self.server.stop()  # killed or gone: only its process to reap
            return self.last
        final = self.server.stop()
        if self._rec is not None:
            self._record(final, "stopped" if final is not None else "gone")
        return self.last
