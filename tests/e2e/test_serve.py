"""``concviz serve`` (issue 14): the app in a real browser, and no process left behind.

The browser test starts the server on a free port, opens the page in headless Chromium, waits for
the terminal, presses ``r`` and reads the lanes from the page's own terminal; then closes the tab
in the middle of a second run and stops the server, checking that the app, its experiment and
the workers are gone each time. The other tests speak the page's websocket directly (what a tab
does), so the process checks run where Chromium is missing too.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from concviz import serve

from .cdp import Browser, find_chromium

pytestmark = pytest.mark.e2e

CHROMIUM = find_chromium()
APP_ARGS = ["-m", "processes", "-n", "2"]
# textual.js keeps its terminal to itself; this runs before it, and catches the terminal as the
# page's client object is built (it sets .terminal, then .webglAddon)
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "webglAddon", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "webglAddon", {value, writable: true, configurable: true, enumerable: true});
    if (this.terminal && !window.__concvizTerminal) window.__concvizTerminal = this.terminal;
  },
});
"""
TERMINAL_TEXT = """(() => {
  const t = window.__concvizTerminal;
  if (!t) return null;
  const b = t.buffer.active, out = [];
  for (let i = 0; i < b.length; i++) { const l = b.getLine(i); out.push(l ? l.translateToString(true) : ""); }
  return out.join("\\n");
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(p: psutil.Process) -> bool:
    """Running and not a zombie (this machine's PID 1 does not reap orphans)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


async def wait_for(check, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(step)


async def assert_gone(procs: list[psutil.Process], within: float) -> float:
    t0 = time.monotonic()
    await wait_for(lambda: not any(alive(p) for p in procs), within)
    left = [p for p in procs if alive(p)]
    assert not left, f"still running {within} s later: {describe(left)}"
    return time.monotonic() - t0


def concviz_command() -> list[str]:
    """``concviz``, as a user types it: the script pip installed beside this Python (else the
    module, for a checkout run without installing)."""
    script = Path(sys.executable).with_name("concviz")
    return [str(script)] if script.exists() else [sys.executable, "-m", "concviz"]


class Served:
    """``concviz serve`` on a free port, in its own folder."""

    def __init__(self, cwd: Path, app_args: list[str] = APP_ARGS, command: str | None = None) -> None:
        """``command``: serve that shell command (as textual-serve runs it) instead of concviz."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [*concviz_command(), "serve", "--port", str(self.port), "--", *app_args]
        if command is not None:
            argv = [sys.executable, "-c", f"from concviz.serve import server_class; "
                    f"server_class()({command!r}, host='127.0.0.1', port={self.port}).serve()"]
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.server = psutil.Process(self.proc.pid)

    async def ready(self) -> None:
        async def answers() -> bool:
            try:
                async with aiohttp.ClientSession() as http, http.get(self.url) as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        assert await wait_for(answers, 30, 0.2), f"the server did not answer: {self.output()}"

    def apps(self) -> list[psutil.Process]:
        """The server's descendants: one app per tab, each with its experiment and workers."""
        try:
            return self.server.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def live_run(self) -> list[psutil.Process] | None:
        """The descendants, once an experiment and both of its workers run."""
        procs = self.apps()
        experiments = [p for p in procs if "concviz.engine.experiment" in " ".join(_cmdline(p))]
        return procs if len(experiments) >= 3 else None  # the experiment and its 2 worker processes

    def output(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stdout.read()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in self.apps():
            try:
                p.kill()
            except psutil.Error:
                pass


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.fixture
def served(tmp_path):
    made = []

    def start(app_args: list[str] = APP_ARGS, command: str | None = None) -> Served:
        made.append(Served(tmp_path, app_args, command))
        return made[-1]

    yield start
    for s in made:
        s.close()


# --- in a real browser --------------------------------------------------------------------------
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_a_run_started_in_the_browser_draws_its_lanes_and_leaves_nothing(served, tmp_path):
    asyncio.run(_browser_session(served(), tmp_path))


async def _browser_session(server: Served, tmp_path: Path) -> None:
    await server.ready()
    async with Browser(CHROMIUM, tmp_path / "profile") as browser:
        tab = await browser.new_tab()
        await tab.before_each_page(CATCH_TERMINAL)
        await tab.goto(server.url)

        async def screen() -> str:
            return await tab.evaluate(TERMINAL_TEXT) or ""

        ready = await wait_for(lambda: _has(screen, "Ready"), 30, 0.2)
        assert ready, f"the app did not appear in the page: {await screen()!r}"
        assert len(server.apps()) == 1  # this tab's app
        await tab.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await tab.press("r")
        assert await wait_for(server.live_run, 30), "pressing r in the page started no run"
        drawn = await wait_for(lambda: _lanes_done(screen, 2), 60, 0.2)
        text = await screen()
        shot = await tab.screenshot(tmp_path / "serve.png")
        print(f"screenshot: {shot}\n{text}")
        assert drawn, f"the lanes were not drawn in the page: {text}"
        assert "Tasks" in text and "cpu1" in text  # the task lanes' header, the second core's lane

        # a second run, and the tab closed while it runs
        await tab.press("r")
        procs = await wait_for(server.live_run, 30)
        assert procs, "the second run did not start"
        await tab.close()
        took = await assert_gone(procs, within=10)
        print(f"tab closed mid-run: app, experiment and workers gone in {took:.2f} s")
    assert server.stop() == 0
    assert "concviz serve: open http://127.0.0.1:" in server.output()


async def _has(screen, *words: str) -> bool:
    text = await screen()
    return all(w in text for w in words)


async def _lanes_done(screen, count: int) -> bool:
    """True once ``count`` task lanes end in their "✓" note (the legend's "✓ done" is no lane)."""
    text = await screen()
    return sum(1 for line in text.splitlines() if "✓" in line and "✓ done" not in line) >= count


# --- the page's websocket, spoken directly ------------------------------------------------------
async def _open_tab(server: Served, http: aiohttp.ClientSession):
    """Connect as the page does, wait for the app's first screen, start a run with r."""
    ws = await http.ws_connect(f"{server.url}/ws?width=120&height=36")
    seen = b""
    while b"Ready" not in seen:
        message = await asyncio.wait_for(ws.receive(), 30)
        assert message.type == aiohttp.WSMsgType.BINARY, f"the app ended: {message} {server.output()}"
        seen += message.data
    await ws.send_json(["stdin", "r"])
    return ws


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_stopping_the_server_mid_run_leaves_nothing(served, how):
    """ctrl+c and SIGTERM close every open app before the server exits (status 0); a server
    killed outright takes its apps along all the same."""
    async def session() -> None:
        server = served()
        await server.ready()
        async with aiohttp.ClientSession() as http:
            tabs = [await _open_tab(server, http) for _ in range(2)]  # two tabs, two apps
            procs = await wait_for(lambda: (p := server.apps()) and sum(
                "concviz.engine.experiment" in " ".join(_cmdline(x)) for x in p) >= 6 and p, 30)
            assert procs, f"two live runs expected: {describe(server.apps())}"
            t0 = time.monotonic()
            status = server.stop(getattr(signal, how))
            took = await assert_gone([server.server, *procs], within=10)
            print(f"{how}: server status {status}, every process gone {took + time.monotonic() - t0:.2f} s after")
            if how != "SIGKILL":
                assert status == 0
            for ws in tabs:
                await ws.close()

    asyncio.run(session())


def test_two_tabs_get_two_apps_and_closing_one_leaves_the_other(served):
    async def session() -> None:
        server = served()
        await server.ready()
        async with aiohttp.ClientSession() as http:
            first = await _open_tab(server, http)
            apps_before = {p.pid for p in server.server.children()}
            second = await _open_tab(server, http)
            apps = server.server.children()
            assert len(apps) == 2, describe(apps)
            mine = [p for p in apps if p.pid not in apps_before]
            theirs = [p for p in apps if p.pid in apps_before]
            tree = [*mine, *mine[0].children(recursive=True)]
            await second.close()
            await assert_gone(tree, within=10)
            assert all(alive(p) for p in theirs), "closing one tab ended the other tab's app"
            await first.close()
            await assert_gone(theirs, within=10)
        assert server.stop() == 0

    asyncio.run(session())


HUNG_APP = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "sys.stdout.write('__GANGLION__\\n'); sys.stdout.flush(); time.sleep(120)")


def test_an_app_that_ignores_quit_and_sigterm_is_killed_when_its_tab_closes(served):
    """textual-serve alone would wait for such an app forever; here it is gone within the quit
    and SIGTERM graces."""
    server = served(command=f'exec {sys.executable} -c "{HUNG_APP}"')

    async def session() -> None:
        await server.ready()
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{server.url}/ws")
            apps = await wait_for(server.apps, 10)
            assert apps, "the app did not start"
            await asyncio.sleep(0.5)  # past its prelude: textual-serve now waits for its packets
            t0 = time.monotonic()
            await ws.close()
            took = await assert_gone(apps, within=serve.QUIT_GRACE_S + serve.TERM_GRACE_S + 5)
            print(f"hung app gone {took:.2f} s after its tab closed")
            assert took >= serve.QUIT_GRACE_S * 0.9  # it was not leaving by itself
            assert time.monotonic() - t0 >= took

    asyncio.run(session())
    assert server.stop() == 0


@pytest.mark.parametrize("ignores_term, status", [(False, -signal.SIGTERM), (True, -signal.SIGKILL)])
def test_end_process_escalates_from_waiting_to_sigterm_to_sigkill(monkeypatch, ignores_term, status):
    monkeypatch.setattr(serve, "TERM_GRACE_S", 0.5)
    body = ("import signal, time; "
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignores_term else "")
            + "print('up', flush=True); time.sleep(60)")

    async def run() -> int:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", body, stdout=asyncio.subprocess.PIPE)
        await proc.stdout.readline()  # its signal handler is set
        await serve.end_process(proc, grace_s=0.2)
        return proc.returncode

    assert asyncio.run(run()) == status


# --- without a browser or a server --------------------------------------------------------------
def test_without_textual_serve_serve_says_what_to_install(monkeypatch, capsys):
    for name in ("textual_serve", "textual_serve.server", "textual_serve.app_service"):
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    serve.server_class.cache_clear()
    try:
        assert serve.serve(port=free_port()) == 1
    finally:
        serve.server_class.cache_clear()
    err = capsys.readouterr().err
    assert err == serve.INSTALL_HINT + "\n"
    assert "pip install 'concviz[serve]'" in err


@pytest.mark.parametrize("argv, words", [
    (["--port", "0"], "port must be 1 to 65535, got 0"),
    (["--port", "http"], "port must be a whole number, got 'http'"),
    (["--", "-m", "proceses"], "unknown model 'proceses' (did you mean 'processes'?)"),
    (["--", "-n", "100", "-m", "processes"], "tasks must be at most 64 under processes"),
    (["--hots", "x"], "unrecognized arguments: --hots x"),
])
def test_bad_input_is_one_line_and_status_2(argv, words):
    out = subprocess.run([sys.executable, "-m", "concviz.serve", *argv], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and words in out.stderr, out.stderr


def test_an_address_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "concviz.serve", "--port", str(port)], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == f"concviz serve: cannot listen on 127.0.0.1:{port}: {os.strerror(98)}"


def test_where_it_listens_is_said_and_beyond_localhost_is_warned():
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1") and serve.is_loopback("localhost")
    assert serve.is_loopback("127.8.0.1")
    assert not serve.is_loopback("0.0.0.0") and not serve.is_loopback("192.168.1.4")
    assert not serve.is_loopback("example.org")
    assert "(this machine only;" in serve.listening_line("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert "(bound to 0.0.0.0;" in serve.listening_line("0.0.0.0", 8000, "http://box:8000")


def test_each_tab_runs_concviz_through_the_server_tied_entry():
    command = serve.app_command(["-m", "processes", "--scale", "0.5"])
    assert command.startswith("exec ")  # the process textual-serve holds is the app itself
    assert command.endswith("-m concviz.serve --app -- -m processes --scale 0.5")
