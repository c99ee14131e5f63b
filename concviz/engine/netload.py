"""The net task bodies: one connection, ``requests`` request lines one after another, then close.

A blocking-socket body (threads, processes, pools, sequential) and an asyncio-streams body (the
asyncio model) do the same thing and record it the same way:

* the connect and every wait for a reply are SLEEP intervals (time blocked on the socket). A
  SLEEP_OPEN goes first so that a live view shows the task waiting; the blocking body flushes
  it before it blocks, as :meth:`Recorder.sleep` does, and the asyncio body leaves the flush to
  the loop's idle flusher, as the io workload does;
* the Python work between two waits (checking the reply, writing the next request, closing) is
  a RUN interval, as long as the thread's CPU time grew meanwhile (``thread_time``): among
  thousands of threads, one that waited for the GIL (or for a core) in that stretch did not
  run all of it. The RUN ends where the stretch ends; the rest of the stretch is waiting.

A task's first SLEEP is its connect; the ones after it are its requests, each from just
before the request was written to the reply's arrival: the latency the task saw
(:func:`request_waits`). A refused or reset connection raises the OS's error (its type and
errno, and the address), so the task fails with the OS's reason.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

from concviz.engine.events import RUN, SLEEP, SLEEP_OPEN
from concviz.engine.probe import Recorder, current_cpu

REQUEST = b"req\n"
READ_SIZE = 256

_perf = time.perf_counter_ns
_cpu = time.thread_time_ns


def _ran(start: int, t: int, cpu0: int) -> int:
    """Where a RUN ending at ``t`` begins: ``start``, or later by what of [start, t) the thread
    did not spend on a CPU (its CPU time at ``start`` was ``cpu0``)."""
    return max(start, t - (_cpu() - cpu0))


@dataclass(frozen=True)
class NetParams:
    """Where a net task connects and how many requests it sends; small and picklable."""

    host: str
    port: int
    requests: int = 1

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class ServerClosed(ConnectionError):
    """The server closed the connection before it replied to every request."""


def _with_address(exc: OSError, net: NetParams, doing: str) -> OSError:
    """The same OS error, its message the OS's own words for the errno and where it happened
    (asyncio says "Connect call failed" where the OS says "Connection refused")."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, f"{os.strerror(exc.errno)} ({doing} {net.where})")


def _closed(net: NetParams, done: int) -> ServerClosed:
    return ServerClosed(f"the server at {net.where} closed the connection after {done} of "
                        f"{net.requests} replies")


def run_net_sync(rec: Recorder, task: int, net: NetParams,
                 midpoint: Callable[[], None] | None = None) -> None:
    """One net task on blocking sockets, recorded on ``rec`` (threads, processes, sequential).

    ``midpoint`` is called once, before request number ``requests // 2`` is sent (after the
    connect, for a single request): where an injected fault strikes."""
    perf = _perf
    t0 = perf()
    rec.add(SLEEP_OPEN, task, t0, t0)
    rec.flush()
    try:
        sock = socket.create_connection((net.host, net.port))
    except OSError as exc:
        raise _with_address(exc, net, "connecting to") from None
    start, cpu0 = perf(), _cpu()
    rec.add(SLEEP, task, t0, start)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        half = net.requests // 2
        for done in range(net.requests):
            if done == half and midpoint is not None:
                midpoint()
            t = perf()
            rec.add(RUN, task, _ran(start, t, cpu0), t, current_cpu())
            rec.add(SLEEP_OPEN, task, t, t)
            rec.flush()  # the wait may be long: a live view must see it begin
            try:
                sock.sendall(REQUEST)
                reply = sock.recv(READ_SIZE)
                while reply and not reply.endswith(b"\n"):
                    more = sock.recv(READ_SIZE)
                    reply = reply + more if more else b""  # EOF mid-line: no reply
            except OSError as exc:
                raise _with_address(exc, net, "talking to") from None
            if not reply:
                raise _closed(net, done)
            start, cpu0 = perf(), _cpu()
            rec.add(SLEEP, task, t, start)
    finally:
        sock.close()
    t = perf()
    rec.add(RUN, task, _ran(start, t, cpu0), t, current_cpu())


async def run_net_async(rec: Recorder, task: int, net: NetParams,
                        midpoint: Callable[[], Awaitable[None]] | None = None) -> None:
    """One net task on asyncio streams, recorded on the loop's recorder ``rec`` (``midpoint``:
    as for :func:`run_net_sync`, awaited)."""
    # imported here, not at the top: the interpreters model imports this module in
    # subinterpreters, where 3.12.1's _asyncio breaks the process's finalization
    import asyncio

    perf = _perf
    t0 = perf()
    rec.add(SLEEP_OPEN, task, t0, t0)  # the loop's recorder is flushed while the loop is idle
    try:
        reader, writer = await asyncio.open_connection(net.host, net.port)
    except OSError as exc:
        raise _with_address(exc, net, "connecting to") from None
    start, cpu0 = perf(), _cpu()
    rec.add(SLEEP, task, t0, start)
    try:
        half = net.requests // 2
        for done in range(net.requests):
            if done == half and midpoint is not None:
                await midpoint()
            t = perf()
            rec.add(RUN, task, _ran(start, t, cpu0), t, current_cpu())
            rec.add(SLEEP_OPEN, task, t, t)
            try:
                writer.write(REQUEST)
                reply = await reader.readline()
            except OSError as exc:
                raise _with_address(exc, net, "talking to") from None
            if not reply.endswith(b"\n"):
                raise _closed(net, done)
            start, cpu0 = perf(), _cpu()
            rec.add(SLEEP, task, t, start)
    finally:
        # the transport closes its socket on the loop's next turn; waiting for that
        # (wait_closed) would put a wait on the loop inside this task's last RUN
        writer.close()
    t = perf()
    rec.add(RUN, task, _ran(start, t, cpu0), t, current_cpu())


def request_waits(events: Iterable[tuple[Any, ...]]) -> dict[int, list[int]]:
    """Per task, how long each request waited for its reply (ns), in order.

    Args:
        events: a run's events, each task's in the order it recorded them (as batches arrive).
    """
    sleeps: dict[int, list[tuple[int, int]]] = {}
    for kind, task, _pid, _tid, t0, t1, *_ in events:
        if kind == SLEEP:
            sleeps.setdefault(task, []).append((t0, t1))
    return {task: waits_of(spans) for task, spans in sleeps.items()}


def waits_of(sleeps: Iterable[tuple[int, int]]) -> list[int]:
    """How long each request of one task waited (ns), from its SLEEP intervals in order: the
    first is its connect, left out."""
    return [t1 - t0 for t0, t1 in sleeps][1:]
