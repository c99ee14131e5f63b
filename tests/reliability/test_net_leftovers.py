"""Nothing of a net run survives it (issue 12): however the run ends - it finishes, its server is
killed, concviz run is stopped by SIGINT, SIGTERM, SIGHUP or SIGKILL, or the TUI is quit with q
or ctrl+c, SIGTERMed, SIGKILLed or its terminal closed - the loopback server is gone with the
experiment and its workers, and nothing listens on the server's port any more.

Each run is slow on purpose (every reply after 30 s), so that it is in the middle of its waits,
every connection open, when it is ended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from .procs import GONE_WITHIN_S, concviz, describe, gone, group, kill, tree, wait_gone

CONNECTIONS = 12
SLOW = ["-w", "net", "-n", str(CONNECTIONS), "--requests", "1", "--latency", "30000", "--timeout", "120"]
START_WITHIN_S = 20.0


def listening(port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
               for c in psutil.net_connections(kind="tcp"))


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def server_of(root: int) -> psutil.Process | None:
    """The run's loopback server among ``root``'s descendants, once every connection is open."""
    try:
        procs = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return None
    for p in procs:
        if "concviz.engine.net" in cmdline(p):
            try:
                established = [c for c in p.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED]
            except psutil.Error:
                return None
            return p if len(established) >= CONNECTIONS else None
    return None


def waiting_run(root: int) -> tuple[psutil.Process, int, set[int]]:
    """Wait until the run under ``root`` holds every connection; (its server, its port, every
    process of the run)."""
    deadline = time.monotonic() + START_WITHIN_S
    server = None
    while server is None and time.monotonic() < deadline:
        server = server_of(root)
        time.sleep(0.05)
    assert server is not None, f"the run never got going: {describe(tree(root))}"
    port = next(c.laddr.port for c in server.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN)
    experiment = server.parent()
    return server, port, tree(root) | group(experiment.pid)


def assert_gone(pids: set[int], port: int, how: str) -> float:
    sent = time.monotonic()
    alive, _ = wait_gone(pids, GONE_WITHIN_S)
    took = time.monotonic() - sent
    kill(alive)
    assert not alive, f"alive {GONE_WITHIN_S} s after {how}: {describe(alive)}"
    assert not listening(port), f"something still listens on port {port} after {how}"
    return took


# --- concviz run -------------------------------------------------------------------------------
# every kind of model under TERM and KILL; ctrl+c and hang-up take the same path as TERM
SIGNALS = [(m, s) for m in ("threads", "asyncio", "processes", "process-pool") for s in (signal.SIGTERM, signal.SIGKILL)]
SIGNALS += [(m, s) for m in ("threads", "asyncio") for s in (signal.SIGINT, signal.SIGHUP)]


@pytest.mark.parametrize("model,sig", SIGNALS, ids=[f"{m}-{signal.Signals(s).name}" for m, s in SIGNALS])
def test_a_signal_to_concviz_run_leaves_no_server(model, sig):
    extra = ["--workers", str(CONNECTIONS)] if model == "process-pool" else []
    proc = subprocess.Popen([sys.executable, "-m", "concviz", "run", "-m", model, *SLOW, *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    pids: set[int] = set()
    try:
        server, port, pids = waiting_run(proc.pid)
        if sig in (signal.SIGINT, signal.SIGHUP):
            os.killpg(proc.pid, sig)  # as a terminal sends them: to the whole foreground group
        else:
            proc.send_signal(sig)
        took = assert_gone(pids | {server.pid}, port, signal.Signals(sig).name)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
        kill(p for p in pids if not gone(p))
    if sig != signal.SIGKILL:
        assert proc.returncode == 128 + sig
    print(f"\n[{signal.Signals(sig).name} {model} net] all gone after {took * 1000:.0f} ms")


def test_a_finished_net_run_leaves_no_server():
    done = concviz("run", "-m", "threads", "-w", "net", "-n", "5", "--requests", "3", "--latency", "20", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["server"]["state"] == "stopped" and out["done"] == 5
    leftovers = [p for p in psutil.process_iter() if "concviz.engine.net" in cmdline(p) and p.ppid() == os.getpid()]
    assert not leftovers


def test_kill_server_fails_the_waiting_tasks_and_ends_the_run_in_time():
    """--kill-server from the command line: the run ends on its own (exit 0) soon after the
    kill, the tasks that were waiting failed with the OS's reason, and nothing is left."""
    began = time.monotonic()
    done = concviz("run", "-m", "asyncio", "-w", "net", "-n", "20", "--requests", "6", "--latency", "300",
                   "--kill-server", "--json", timeout=60)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["server"]["state"] == "killed" and out["failed"] >= 1, out["server"]
    errors = {t["error"].split(":")[0] for t in out["per_task"] if t["error"]}
    assert errors <= {"ConnectionResetError", "ServerClosed", "ConnectionRefusedError", "BrokenPipeError"}, errors
    # half the replies (60 of 120) come after 3 x 300 ms; the rest were cut short, not waited for
    assert took < 15, took
    assert out["wall_s"] < 3 * 0.3 + 5


# --- the TUI, in a real terminal ---------------------------------------------------------------
def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def tui():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    name = f"concviz-net-{uuid.uuid4().hex[:8]}"
    cmd = f"{sys.executable} -m concviz -m threads {' '.join(SLOW)} --run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "36", cmd], check=True, env=env)
    pane = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    yield name, pane
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def ui_process(pane: int) -> psutil.Process:
    return next(p for p in [psutil.Process(pane), *psutil.Process(pane).children(recursive=True)]
                if "-m concviz" in cmdline(p) and "engine" not in cmdline(p))


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["q", "ctrl+c", "SIGTERM", "SIGKILL", "closing the terminal"])
def test_ending_the_tui_leaves_no_server(tui, how):
    name, pane = tui
    server, port, pids = waiting_run(pane)
    deadline = time.monotonic() + 10
    screen = ""
    while "connections" not in screen and time.monotonic() < deadline:  # the server's row, drawn
        screen = tmux("capture-pane", "-p", "-t", name)
        time.sleep(0.1)
    assert "net" in screen and "connections" in screen, screen
    ui = ui_process(pane)
    if how == "q":
        tmux("send-keys", "-t", name, "q")
    elif how == "ctrl+c":
        tmux("send-keys", "-t", name, "C-c")
    elif how == "SIGTERM":
        ui.terminate()
    elif how == "SIGKILL":
        ui.kill()
    else:
        subprocess.run(["tmux", "kill-session", "-t", name], check=True)  # SIGHUP to the app
    took = assert_gone(pids | {server.pid, ui.pid}, port, how)
    print(f"\n[TUI {how} net] all gone after {took * 1000:.0f} ms")
