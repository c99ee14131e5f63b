"""The loopback server of the net workloads (issue 12): latency honoured, many connections held
at once and counted right, and no process or listening socket left after stop(), after its
parent's death, or after a killpg of its group."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from concviz.engine.net import HOST, LoopbackServer, ServerError

from .helpers import gone

GONE_WITHIN_S = 3.0


def wait_gone(pid: int, timeout: float = GONE_WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def refused(port: int) -> bool:
    """True when nothing listens on ``port`` any more."""
    try:
        socket.create_connection((HOST, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def ask(sock: socket.socket) -> bytes:
    sock.sendall(b"req\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = sock.recv(64)
        assert chunk, "the server closed the connection"
        reply += chunk
    return reply


@pytest.fixture
def server():
    srv = LoopbackServer()
    yield srv
    srv.stop()


def test_a_reply_comes_after_the_latency_and_not_much_later(server):
    latency_s = 0.05
    port = server.start(latency_s * 1000)
    with socket.create_connection((HOST, port)) as sock:
        rtts = []
        for _ in range(5):
            t0 = time.perf_counter()
            assert ask(sock) == b"ok\n"
            rtts.append(time.perf_counter() - t0)
    assert min(rtts) >= latency_s, rtts
    # wide: one idle connection on loopback; a loaded 2-core machine adds milliseconds, not 0.2 s
    assert max(rtts) < latency_s + 0.2, rtts
    stats = server.stats()
    assert (stats.accepted, stats.requests, stats.max_open) == (1, 5, 1), stats


def test_200_connections_at_once_are_all_served_and_counted(server):
    n, latency_s = 200, 0.2
    port = server.start(latency_s * 1000)
    socks = [socket.create_connection((HOST, port)) for _ in range(n)]
    try:
        deadline = time.monotonic() + 5
        while server.stats().open_now < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.stats().open_now == n
        t0 = time.perf_counter()
        for s in socks:
            s.sendall(b"req\n")
        replies = [s.recv(64) for s in socks]
        waited = time.perf_counter() - t0
    finally:
        for s in socks:
            s.close()
    assert replies == [b"ok\n"] * n
    # held at once, not one after another (that would take n x 0.2 s = 40 s)
    assert waited < 10 * latency_s, waited
    deadline = time.monotonic() + 5
    while server.stats().open_now and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = server.stats()
    assert (stats.accepted, stats.max_open, stats.open_now, stats.requests) == (n, n, 0, n), stats
    assert stats.cpu_s > 0


def test_stop_leaves_no_process_and_no_listening_socket(server):
    port = server.start(1)
    pid = server.pid
    with socket.create_connection((HOST, port)) as sock:
        assert ask(sock) == b"ok\n"
        final = server.stop()
    assert final is not None and final.requests == 1 and final.accepted == 1
    assert wait_gone(pid)
    assert refused(port)
    assert server.stop() == final  # a second stop is harmless
    with pytest.raises(ServerError):
        server.stats()


def test_a_killed_server_is_reported_not_hung_on(server):
    port = server.start(1)
    pid = server.pid
    server.kill()
    assert wait_gone(pid)
    assert refused(port)
    with pytest.raises(ServerError):
        server.stats()
    assert server.stop() is None


def test_a_bad_latency_is_refused_before_any_process_starts():
    srv = LoopbackServer()
    with pytest.raises(ServerError, match="latency"):
        srv.start(-1)
    assert srv.proc is None


# A parent that starts the server, says where it is, and waits to be killed. With FORK, it
# also forks a child that holds copies of every pipe to the server, so the server's stdin
# never reaches EOF when the parent dies: it must notice the new parent (getppid) instead.
PARENT = textwrap.dedent("""
    import json, os, sys, time
    from concviz.engine.net import LoopbackServer
    srv = LoopbackServer()
    port = srv.start(1)
    holder = 0
    if sys.argv[1] == "fork":
        holder = os.fork()
        if holder == 0:
            time.sleep(60)
            os._exit(0)
    print(json.dumps({"port": port, "server": srv.pid, "holder": holder}), flush=True)
    time.sleep(60)
""")


def start_parent(mode: str, new_session: bool = False) -> tuple[subprocess.Popen, dict]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE,
                              start_new_session=new_session)
    ready, _, _ = select.select([parent.stdout], [], [], 20)
    assert ready, "the parent did not start its server"
    return parent, json.loads(parent.stdout.readline())


def cleanup(parent: subprocess.Popen, info: dict) -> None:
    for pid in (parent.pid, info.get("server"), info.get("holder")):
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    parent.wait()
    parent.stdout.close()


@pytest.mark.parametrize("mode", ["plain", "fork"])
def test_the_server_exits_when_its_parent_dies(mode):
    parent, info = start_parent(mode)
    try:
        assert not gone(info["server"])
        parent.kill()
        parent.wait()
        assert wait_gone(info["server"]), "the server outlived its parent"
        assert refused(info["port"])
    finally:
        cleanup(parent, info)


def test_a_killpg_of_the_run_takes_the_server_along():
    parent, info = start_parent("plain", new_session=True)
    try:
        assert os.getpgid(info["server"]) == parent.pid  # in the group of the one who started it
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_gone(info["server"])
        assert refused(info["port"])
        assert not [p for p in psutil.process_iter() if not gone(p.pid) and _pgid(p.pid) == parent.pid]
    finally:
        cleanup(parent, info)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
