"""The loopback TCP server of the net workloads: an asyncio server in a process of its own.

:class:`LoopbackServer` starts ``python -m concviz.engine.net`` as a child of the calling process
(the experiment, in phase 2), in the caller's process group: a ``killpg`` of the run takes it
along. It listens on 127.0.0.1, on an ephemeral port it reports back, and answers each request
line with one reply line ``latency_ms`` later, plus the event loop's timer lag (a fraction of a
millisecond when it is idle). A timer per request, not a coroutine or a thread per connection,
so one process holds 10,000 slow connections. Its CPU is its own: it never
competes with the measured workers for their GIL, and its CPU time is reported apart.

The parent talks to it over the child's stdin and stdout, one line each way:

* child -> parent, at start: ``{"port": ..., "pid": ..., "backlog": ...}`` or ``{"error": ...}``;
* parent -> child: ``stats`` (answered with one JSON line of :class:`ServerStats`) and ``stop``
  (answered with the final stats, after which the child exits).

The child exits by itself when its parent is gone: when stdin reaches EOF (the parent closed
it or died) and, because a forked worker of the parent may hold a copy of that pipe, when
``getppid()`` changes (checked every 0.1 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

HOST = "127.0.0.1"
# What the server asks listen() for. Linux silently caps it at net.core.somaxconn (4096 on many
# machines); connects beyond the queue wait for the SYN retry (1 s), which is why the server
# accepts as fast as its loop can and reports the backlog it got.
BACKLOG = 65535
REPLY = b"ok\n"
PARENT_CHECK_S = 0.1
START_TIMEOUT_S = 15.0
ANSWER_TIMEOUT_S = 5.0


class ServerError(RuntimeError):
    """The server could not start or stopped answering; the message is one line."""


@dataclass(frozen=True)
class ServerStats:
    """What the server counted since it started.

    Attributes:
        port: the port it listens on.
        pid: its process id.
        latency_ms: the delay of every reply.
        backlog: the listen backlog it got (the smaller of its request and the OS's cap).
        accepted: connections accepted.
        open_now: connections open at the time of the report.
        max_open: the most connections open at once.
        requests: replies sent (one per request line).
        cpu_s: the server process's own CPU time, user + system (``os.times``).
    """

    port: int
    pid: int
    latency_ms: float
    backlog: int
    accepted: int = 0
    open_now: int = 0
    max_open: int = 0
    requests: int = 0
    cpu_s: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "ServerStats":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def effective_backlog(requested: int = BACKLOG) -> int:
    """The backlog listen() grants: ``requested`` capped by net.core.somaxconn where readable."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return min(requested, int(f.read()))
    except (OSError, ValueError):
        return requested


# --- the server process ------------------------------------------------------------------------
class _State:
    """The counters of one server process."""

    def __init__(self) -> None:
        self.accepted = 0
        self.open_now = 0
        self.max_open = 0
        self.requests = 0


class _Connection(asyncio.Protocol):
    """One client connection: every ``\\n`` received is a request, answered after the latency."""

    __slots__ = ("state", "delay_s", "loop", "transport")

    def __init__(self, state: _State, delay_s: float, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.delay_s = delay_s
        self.loop = loop
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        st = self.state
        st.accepted += 1
        st.open_now += 1
        if st.open_now > st.max_open:
            st.max_open = st.open_now

    def data_received(self, data: bytes) -> None:
        # A request is a line; a line split across reads is counted when its newline arrives.
        for _ in range(data.count(b"\n")):
            if self.delay_s > 0:
                self.loop.call_later(self.delay_s, self._reply)
            else:
                self._reply()

    def _reply(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(REPLY)
            self.state.requests += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.open_now -= 1
        self.transport = None


def _raise_nofile() -> None:
    """Let this process hold as many sockets as the hard limit allows."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _emit(data: dict) -> None:
    os.write(1, (json.dumps(data) + "\n").encode())


async def _serve(latency_ms: float) -> None:
    loop = asyncio.get_running_loop()
    state = _State()
    parent = os.getppid()
    server = await loop.create_server(lambda: _Connection(state, latency_ms / 1000, loop),
                                      HOST, 0, backlog=BACKLOG, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    done = loop.create_future()

    def stats() -> dict:
        t = os.times()
        return asdict(ServerStats(
            port=port, pid=os.getpid(), latency_ms=latency_ms, backlog=effective_backlog(),
            accepted=state.accepted, open_now=state.open_now, max_open=state.max_open,
            requests=state.requests, cpu_s=round(t.user + t.system, 4)))

    pending = bytearray()

    def on_command() -> None:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            chunk = b""
        if not chunk:  # the parent closed its end, or died
            loop.remove_reader(0)
            if not done.done():
                done.set_result(False)
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            command = line.strip()
            if command == b"stats":
                _emit(stats())
            elif command == b"stop" and not done.done():
                done.set_result(True)

    async def watch_parent() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(PARENT_CHECK_S)
        if not done.done():
            done.set_result(False)

    loop.add_reader(0, on_command)
    watcher = loop.create_task(watch_parent())
    _emit({"port": port, "pid": os.getpid(), "backlog": effective_backlog()})
    asked_to_stop = await done
    watcher.cancel()
    server.close()
    if asked_to_stop:
        _emit(stats())


def serve_main(argv: list[str]) -> int:
    """Entry point of the server process: ``python -m concviz.engine.net LATENCY_MS``."""
    # A SIGINT meant for a terminal's foreground job must not leave a traceback; the parent
    # stops the server, or its death does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_nofile()
    try:
        latency_ms = float(argv[0])
        asyncio.run(_serve(latency_ms))
    except Exception as exc:  # noqa: BLE001 - one line to the parent, never a traceback
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        sys.stdout.flush()
    # Connections still open are closed by the exit itself; no need to wait for their handlers.
    os._exit(0)


# --- the parent side ---------------------------------------------------------------------------
def child_env() -> dict[str, str]:
    """The environment of a ``python -m concviz...`` child: this package first on its path."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class LoopbackServer:
    """The parent's handle on one server process.

    Example::

        server = LoopbackServer()
        port = server.start(latency_ms=2)
        ...  # connect to (HOST, port)
        final = server.stop()  # ServerStats; no process and no socket remain
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.latency_ms: float | None = None
        self.final: ServerStats | None = None
        self._buf = b""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def address(self) -> tuple[str, int]:
        if self.port is None:
            raise ServerError("the server is not running")
        return HOST, self.port

    def start(self, latency_ms: float) -> int:
        """Start the server process; return the port it listens on.

        Raises:
            ServerError: if it could not start (with its reason, one line).
        """
        if self.proc is not None:
            raise ServerError("the server is already started")
        if not latency_ms >= 0:
            raise ServerError(f"latency must be at least 0 ms, got {latency_ms}")
        self.latency_ms = float(latency_ms)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "concviz.engine.net", repr(float(latency_ms))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=child_env(), bufsize=0)
        try:
            hello = self._answer(START_TIMEOUT_S)
        except ServerError:
            self._kill()
            raise
        if "error" in hello or "port" not in hello:
            self._kill()
            raise ServerError(f"the loopback server could not start: {hello.get('error', hello)}")
        self.port = int(hello["port"])
        return self.port

    def stats(self) -> ServerStats:
        """The server's counters now.

        Raises:
            ServerError: if it is not running or does not answer.
        """
        self._send(b"stats\n")
        return ServerStats.from_dict(self._answer(ANSWER_TIMEOUT_S))

    def stop(self) -> ServerStats | None:
        """Stop the server and wait for its process to end; return its final counters (None if
        it was already gone and could not say). Safe to call more than once."""
        if self.proc is None:
            return self.final
        try:
            self._send(b"stop\n")
            self.final = ServerStats.from_dict(self._answer(ANSWER_TIMEOUT_S))
        except ServerError:
            pass
        try:
            self.proc.wait(ANSWER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        self._kill()
        return self.final

    def kill(self) -> None:
        """SIGKILL the server (a fault to inject): its connections are closed by the OS."""
        self._kill()

    def _kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc = None
        self.port = None

    def _send(self, data: bytes) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise ServerError("the server is not running")
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            raise ServerError(f"the server is gone ({exc})") from None

    def _answer(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line the server writes, waited for up to ``timeout_s``."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while b"\n" not in self._buf:
            if not poller.poll(timeout_s * 1000):
                raise ServerError(f"the loopback server did not answer within {timeout_s:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.proc.poll()
                raise ServerError(f"the loopback server exited (code {code})")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def __enter__(self) -> "LoopbackServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(serve_main(sys.argv[1:]))
