"""End to end (issue 15): ``concviz trace`` and ``attach`` on real programs (examples/).

Headless, the figures of a traced program are checked with wide ratios only (threads under the
GIL do not run in parallel; a process pool does, when the machine is not crowded: the same
skip as the models' tests). Then nothing is left behind: q on screen, TERM, HUP, ctrl+c or
KILL of concviz ends the traced command's whole group; ``attach`` leaves its process running,
never stopped.
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
from pathlib import Path

import psutil
import pytest

from concviz.engine.events import read_trace
from tests.unit.helpers import gone, in_group

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CPUS = os.cpu_count() or 1
CROWDED_CORES = 0.5  # other processes used more than half a core on average: a crowded run
GONE_WITHIN_S = 3.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def concviz(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "concviz", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def machine_busy() -> tuple[float, float]:
    """(now, busy CPU seconds of the whole machine)."""
    t = psutil.cpu_times()
    return time.monotonic(), sum(t) - t.idle - getattr(t, "iowait", 0.0)


def trace_json(tmp_path: Path, example: str, *args: str) -> tuple[dict, float]:
    """Trace an example headless; its JSON and the cores' worth of work others did meanwhile."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the command's output file goes there
    before = machine_busy()
    proc = concviz("trace", "--json", "--record", str(tmp_path / "trace.jsonl"), "--",
                   sys.executable, str(EXAMPLES / example), *args, env=env)
    out, err = proc.communicate(timeout=120)
    after = machine_busy()
    assert proc.returncode == 0, err
    data = json.loads(out)
    wall = max(1e-3, after[0] - before[0])
    others = max(0.0, (after[1] - before[1]) - data["busy_s"] - 0.1 * wall) / wall  # (concviz's own share)
    return data, others


def test_threads_take_turns_under_the_gil(tmp_path):
    data, _ = trace_json(tmp_path, "cpu_threads.py", "2")
    why = json.dumps({k: v for k, v in data.items() if k != "per_task"})
    assert data["ended"] == "ok" and data["trace"]["exit_code"] == 0, why
    assert data["threads"] == 5 and data["processes"] == 1, why  # the main thread and 4 crunchers
    assert data["parallelism"] < 1.2, why
    assert data["gil_switches"] > 0, why
    assert data["waits_s"]["gil"] > 0.5 * data["busy_s"], why  # 4 threads, 1 GIL: mostly waiting
    assert data["waits_s"]["lock"] > 1.0, why  # the main thread's join
    assert 0 < data["trace"]["rate_hz_used"] <= 200 and data["trace"]["sampler_cpu"] < 0.5, why
    output = Path(data["trace"]["output"])
    assert output.parent == tmp_path and "cruncher-0: done" in output.read_text()
    header, events = read_trace(tmp_path / "trace.jsonl")  # replay and export read it like a run
    assert header["trace"]["command"][-2:] == [str(EXAMPLES / "cpu_threads.py"), "2"]
    exported = subprocess.run([sys.executable, "-m", "concviz", "export", str(tmp_path / "trace.jsonl"),
                               "-o", str(tmp_path / "trace.json")], capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((tmp_path / "trace.json").read_text())["traceEvents"]


@pytest.mark.skipif(CPUS < 2, reason="parallelism needs at least 2 CPUs")
def test_a_process_pool_fills_the_cores(tmp_path):
    seen = []
    for _ in range(3):
        data, others = trace_json(tmp_path, "process_pool.py", "2")
        seen.append(f"parallelism {data['parallelism']:.2f} with other processes using {others:.2f} cores")
        if data["parallelism"] > 1.4 or others <= CROWDED_CORES:
            break
    else:
        pytest.skip(f"every run was crowded out by other work on this machine: {'; '.join(seen)}")
    why = f"{'; '.join(seen)} | " + json.dumps({k: v for k, v in data.items() if k != "per_task"})
    assert data["processes"] >= 3, why  # the parent and its workers
    assert data["parallelism"] > 1.4, why
    assert data["gil_switches"] == 0, why  # a GIL each: nothing handed over


# --- nothing left behind -----------------------------------------------------------------------
def the_command(proc: subprocess.Popen, want: int, timeout: float = 20.0) -> int:
    """The traced command's process group, once it holds ``want`` live processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for child in psutil.Process(proc.pid).children(recursive=True):  # concviz -> guard -> command
            if "concviz.engine.sources.guard" not in " ".join(child.cmdline()):
                pgid = os.getpgid(child.pid)
                if len(in_group(pgid)) >= want:
                    return pgid
        time.sleep(0.05)
    raise AssertionError("the traced command never got going")


def assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + GONE_WITHIN_S
    while in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = in_group(pgid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"left behind: {left}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_nothing_is_left_when_concviz_is_ended(sig, tmp_path):
    """A process pool traced headless; concviz gets ``sig``: the pool and its workers go too
    (for KILL, concviz cannot act: the guard process does)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = concviz("trace", "--json", "--", sys.executable, str(EXAMPLES / "process_pool.py"), "60",
                   env=env, start_new_session=True)
    pgid = the_command(proc, 1 + min(CPUS, 2))
    guard = psutil.Process(pgid).ppid()
    os.kill(proc.pid, sig)
    proc.communicate(timeout=10)
    if sig != signal.SIGKILL:
        assert proc.returncode == 128 + sig
    assert_group_gone(pgid)
    assert _wait_gone(guard)  # the guard leaves once the command's processes are gone


def _wait_gone(pid: int, timeout: float = GONE_WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def terminal():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    name = f"concviz-trace-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def screen_shows(name: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = tmux("capture-pane", "-p", "-t", name)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never shown:\n{tmux('capture-pane', '-p', '-t', name)}")


@pytest.mark.e2e
def test_q_ends_the_traced_command(terminal, tmp_path):
    cmd = f"TMPDIR={tmp_path} {sys.executable} -m concviz trace -- {sys.executable} {EXAMPLES / 'cpu_threads.py'} 60"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(["tmux", "new-session", "-d", "-s", terminal, "-c", str(ROOT), "-x", "120", "-y", "36", cmd], check=True, env=env)
    shown = screen_shows(terminal, "GIL inferred")
    assert "● tracing" in shown and "cpu_threads.py 60" in shown and "└" in shown
    app = int(tmux("display-message", "-p", "-t", terminal, "#{pane_pid}").strip())
    groups = {os.getpgid(c.pid) for c in psutil.Process(app).children(recursive=True)
              if "cpu_threads.py" in " ".join(c.cmdline())}
    assert groups
    tmux("send-keys", "-t", terminal, "q")
    for pgid in groups:
        assert_group_gone(pgid)


@pytest.mark.e2e
def test_attach_leaves_the_program_as_it_was(terminal):
    program = subprocess.Popen([sys.executable, str(EXAMPLES / "cpu_threads.py"), "30"],
                               stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        cmd = f"{sys.executable} -m concviz attach {program.pid}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        subprocess.run(["tmux", "new-session", "-d", "-s", terminal, "-c", str(ROOT), "-x", "80", "-y", "24", cmd],
                       check=True, env=env)
        shown = screen_shows(terminal, "└")
        assert "attach" in shown and f"pid {program.pid}" in shown
        tmux("send-keys", "-t", terminal, "q")
        time.sleep(1.0)
        status = psutil.Process(program.pid).status()
        assert program.poll() is None and status not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    finally:
        program.kill()
        program.wait()
