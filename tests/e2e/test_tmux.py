"""End to end: the real app in a real terminal (tmux), driven by keys like a person would.

Each test starts a live CPU-bound run, checks the screen shows it, ends the app a different way
(q, ctrl+c, closing the terminal) and checks that every process of the run is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from concviz.engine.spec import unavailable

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_for(predicate, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


# the models whose leftovers the tests that end the app check: processes, and dask (a
# LocalCluster's worker processes) where Dask is installed
LEFTOVER_MODELS = ["processes"] + [pytest.param("dask", marks=pytest.mark.skipif(
    bool(unavailable("dask")), reason=unavailable("dask") or "-"))]
MODEL_FLAGS = {"processes": "-m processes", "dask": "-m dask --workers 2"}


@pytest.fixture
def session(request):
    model = getattr(request, "param", "processes")
    name = f"concviz-test-{uuid.uuid4().hex[:8]}"
    cmd = f"{sys.executable} -m concviz {MODEL_FLAGS[model]} -w cpu -n 2 --scale 20 --run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "36", cmd],
                   check=True, env=env)
    pane_pid = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    yield name, pane_pid, model
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def started_run(name: str, pane_pid: int, model: str = "processes") -> list[psutil.Process]:
    """Wait until the app shows the run and both worker processes exist; return the tree."""

    def workers():
        procs = tree(pane_pid)
        running = [p for p in procs if "concviz.engine.experiment" in " ".join(_cmd(p))]
        return procs if running and len(procs) >= 4 else None

    procs = wait_for(workers, 20)
    assert procs, f"the run did not start: {tmux('capture-pane', '-p', '-t', name)}"
    screen = wait_for(lambda: (s := tmux("capture-pane", "-p", "-t", name)) and "cpu1" in s and s, 10)
    assert "Tasks" in screen and "Cores" in screen and model in screen
    return procs


def _cmd(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    """Running, and not a zombie (a zombie has exited; only its parent has yet to reap it)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(procs: list[psutil.Process], within: float = 3.0) -> None:
    wait_for(lambda: not any(_alive(p) for p in procs), within)
    alive = [p for p in procs if _alive(p)]
    assert not alive, f"still running after {within} s: {[(p.pid, _cmd(p)) for p in alive]}"


@pytest.mark.parametrize("session", LEFTOVER_MODELS, indirect=True)
def test_q_quits_and_leaves_nothing(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    t0 = time.monotonic()
    tmux("send-keys", "-t", name, "q")
    assert_all_gone(procs)
    took = time.monotonic() - t0
    print(f"q to every process gone: {took:.2f} s")
    assert took < 1.5  # "returns to the shell within a second", with a margin for a busy CI


@pytest.mark.parametrize("session", LEFTOVER_MODELS, indirect=True)
def test_sigterm_of_the_ui_leaves_nothing(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    ui = [p for p in procs if "-m concviz" in " ".join(_cmd(p)) and "experiment" not in " ".join(_cmd(p))]
    ui[0].terminate()
    assert_all_gone(procs)


def test_resizing_during_a_run(session):
    """The terminal changes size under a live run, down to too small and back: the app keeps
    drawing the run and quits cleanly."""
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    for w, h in ((80, 24), (40, 12), (150, 45), (61, 16), (120, 36)):
        tmux("resize-window", "-t", name, "-x", str(w), "-y", str(h))
        time.sleep(0.3)
    screen = wait_for(lambda: (s := tmux("capture-pane", "-p", "-t", name)) and "cpu1" in s and s, 5)
    assert "Tasks" in screen and "processes" in screen
    assert all(_alive(p) for p in procs[:1]), "the app died while the terminal was resized"
    tmux("send-keys", "-t", name, "q")
    assert_all_gone(procs)


@pytest.mark.parametrize("session", LEFTOVER_MODELS, indirect=True)
def test_ctrl_c_quits_and_leaves_nothing(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    tmux("send-keys", "-t", name, "C-c")
    assert_all_gone(procs)


@pytest.mark.parametrize("session", LEFTOVER_MODELS, indirect=True)
def test_closing_the_terminal_leaves_nothing(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    subprocess.run(["tmux", "kill-session", "-t", name], check=True)  # SIGHUP to the app
    assert_all_gone(procs)


@pytest.mark.parametrize("session", LEFTOVER_MODELS, indirect=True)
def test_sigkill_of_the_ui_leaves_nothing(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    ui = [p for p in procs if "-m concviz" in " ".join(_cmd(p)) and "experiment" not in " ".join(_cmd(p))]
    assert ui
    ui[0].kill()
    assert_all_gone(procs)


def test_stop_then_run_again(session):
    name, pane_pid, model = session
    procs = started_run(name, pane_pid, model)
    # found before the stop: a process that has exited has no command line to read
    experiment = [p for p in procs if "concviz.engine.experiment" in " ".join(_cmd(p))]
    assert experiment
    tmux("send-keys", "-t", name, "s")
    assert_all_gone(experiment)
    screen = wait_for(lambda: (s := tmux("capture-pane", "-p", "-t", name)) and "idle" in s and s, 5)
    assert "idle" in screen
    tmux("send-keys", "-t", name, "r")
    again = wait_for(lambda: [p for p in tree(pane_pid) if "concviz.engine.experiment" in " ".join(_cmd(p))], 10)
    assert again and again[0].pid != experiment[0].pid
    tmux("send-keys", "-t", name, "q")
    assert_all_gone(tree(pane_pid)[1:] + again)
