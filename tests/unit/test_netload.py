"""The net task bodies (issue 12): the wait on the socket is SLEEP, the Python work around it RUN,
each request's latency can be read back, and a refused or dropped connection fails the task
with the OS's reason."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time

import pytest

from concviz.engine.events import KIND_NAMES, RUN, SLEEP, SLEEP_OPEN
from concviz.engine.models.base import error_text
from concviz.engine.net import HOST, LoopbackServer
from concviz.engine.netload import NetParams, ServerClosed, request_waits, run_net_async, run_net_sync
from concviz.engine.probe import ListSink, Recorder

LATENCY_MS = 20
REQUESTS = 3
# connect, then per request RUN (the work before it), SLEEP_OPEN, SLEEP; then the closing RUN
EXPECTED = ["sleep-open", "sleep"] + ["run", "sleep-open", "sleep"] * REQUESTS + ["run"]


@pytest.fixture(scope="module")
def server():
    srv = LoopbackServer()
    srv.start(LATENCY_MS)
    yield srv
    srv.stop()


def run_body(body: str, rec: Recorder, task: int, net: NetParams) -> None:
    if body == "sync":
        run_net_sync(rec, task, net)
    else:
        asyncio.run(run_net_async(rec, task, net))
    rec.flush()


@pytest.mark.parametrize("body", ["sync", "async"])
def test_the_wait_is_sleep_and_the_work_around_it_is_run(server, body):
    sink = ListSink()
    run_body(body, Recorder(sink), 7, NetParams(HOST, server.port, REQUESTS))
    events = sink.events()
    assert [KIND_NAMES[e[0]] for e in events] == EXPECTED
    assert {e[1] for e in events} == {7}
    # one after another on the time axis: each wait starts where the work before it ended; the
    # work starts where the wait before it ended, or later by what it spent off a CPU
    spans = [e for e in events if e[0] in (RUN, SLEEP)]
    assert all(a[5] <= b[4] for a, b in zip(spans, spans[1:]))
    assert all(a[5] == b[4] for a, b in zip(spans[1:], spans[2:]) if a[0] == RUN)
    # every SLEEP_OPEN opens the SLEEP that follows it
    opens = [e[4] for e in events if e[0] == SLEEP_OPEN]
    assert opens == [e[4] for e in events if e[0] == SLEEP]
    sleeps = [e[5] - e[4] for e in events if e[0] == SLEEP][1:]
    runs = [e[5] - e[4] for e in events if e[0] == RUN]
    assert all(s >= LATENCY_MS * 1_000_000 for s in sleeps), sleeps
    assert sum(runs) < sum(sleeps) / 4  # a wide ratio: the task mostly waits


def test_the_blocking_body_flushes_before_it_blocks(server):
    sink = ListSink()
    run_body("sync", Recorder(sink), 0, NetParams(HOST, server.port, REQUESTS))
    # a live view sees the wait begin: every SLEEP_OPEN is the last event of a batch sent
    # before the thread blocked
    batches = [payload for tag, payload in sink.messages if tag == "E"]
    ends = [batch[-1][0] for batch in batches]
    assert ends.count(SLEEP_OPEN) == REQUESTS + 1, [[KIND_NAMES[e[0]] for e in b] for b in batches]


@pytest.mark.parametrize("body", ["sync", "async"])
def test_each_request_latency_can_be_read_back(server, body):
    sink = ListSink()
    rec = Recorder(sink)
    run_body(body, rec, 0, NetParams(HOST, server.port, REQUESTS))
    run_body(body, rec, 1, NetParams(HOST, server.port, 1))
    waits = request_waits(sink.events())
    assert sorted(waits) == [0, 1]
    assert [len(waits[0]), len(waits[1])] == [REQUESTS, 1]
    assert min(w for ws in waits.values() for w in ws) >= LATENCY_MS * 1_000_000


def test_async_tasks_hold_their_connections_at_once():
    n = 20
    with LoopbackServer() as srv:
        srv.start(200)
        sink = ListSink()
        rec = Recorder(sink)

        async def main() -> None:
            await asyncio.gather(*(run_net_async(rec, t, NetParams(HOST, srv.port, 2)) for t in range(n)))

        asyncio.run(main())
        stats = srv.stats()
    assert (stats.accepted, stats.max_open, stats.requests) == (n, n, 2 * n), stats


@pytest.mark.parametrize("body", ["sync", "async"])
def test_a_refused_connection_fails_with_the_os_reason(body):
    with LoopbackServer() as srv:
        port = srv.start(1)
    # stopped: nothing listens on the port now
    with pytest.raises(ConnectionRefusedError) as info:
        run_body(body, Recorder(ListSink()), 0, NetParams(HOST, port, 1))
    assert info.value.errno == errno.ECONNREFUSED
    text = error_text(info.value)
    assert text.startswith(f"ConnectionRefusedError: [Errno {errno.ECONNREFUSED}] "
                           f"{os.strerror(errno.ECONNREFUSED)} (connecting to {HOST}:{port})"), text


@pytest.mark.parametrize("body", ["sync", "async"])
def test_a_server_killed_mid_request_fails_the_task(body):
    srv = LoopbackServer()
    port = srv.start(30_000)  # the reply would come after 30 s
    failure: list[BaseException] = []

    def task() -> None:
        try:
            run_body(body, Recorder(ListSink()), 0, NetParams(HOST, port, 1))
        except BaseException as exc:  # noqa: BLE001 - what the test looks at
            failure.append(exc)

    worker = threading.Thread(target=task, daemon=True)
    try:
        worker.start()
        deadline = time.monotonic() + 5
        while srv.stats().open_now == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # connected: the request is on its way or in the server
        srv.kill()
        worker.join(10)
    finally:
        srv.stop()
    assert not worker.is_alive(), "the task still waits on a dead server"
    assert len(failure) == 1
    exc = failure[0]
    # a closed connection (EOF) or a reset one, depending on what the server had read
    assert isinstance(exc, (ServerClosed, ConnectionResetError)), repr(exc)
    assert f"{HOST}:{port}" in str(exc)
