"""The guard of a traced command (concviz.engine.sources.guard, issue 15): everything the command
started is ended with the trace, even a process that left its process group (``setsid``) or a
daemon whose parent exited (re-parented to the guard, not to PID 1), and even when concviz is
killed with SIGKILL; nothing that the command did not start is ever signalled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from concviz.engine.sources.guard import Proc, descendants, read_proc, signal_process
from concviz.engine.sources.program import ProgramTrace
from tests.unit.helpers import gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

ROOT = Path(__file__).resolve().parents[2]

# writes "role pid" lines to argv[1]: itself, a child that calls setsid(), and a daemon (a setsid()
# child that forks and exits at once: its own child is orphaned)
DETACHING = textwrap.dedent("""
    import os, sys, time
    out = sys.argv[1]
    def note(role):
        with open(out, "a") as f:
            f.write(f"{role} {os.getpid()}\\n")
    note("main")
    if os.fork() == 0:
        os.setsid()
        note("detached")
        time.sleep(60)
        os._exit(0)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            note("daemon")
            time.sleep(60)
            os._exit(0)
        os._exit(0)
    time.sleep(60)
""")


def noted(path: Path, timeout: float = 20.0) -> tuple[int, int, int]:
    """The PIDs the program noted: (main, detached, daemon)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            pids = dict(line.split() for line in path.read_text().splitlines() if line.count(" ") == 1)
            if len(pids) == 3:
                return int(pids["main"]), int(pids["detached"]), int(pids["daemon"])
        time.sleep(0.02)
    raise AssertionError(f"the program noted {path.read_text() if path.exists() else 'nothing'}")


def all_gone(pids: list[int], timeout: float = 8.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.05)
    left = [p for p in pids if not gone(p)]
    for p in left:  # (never leave them behind, even when the test fails)
        os.kill(p, signal.SIGKILL)
    return left


@pytest.fixture
def program(tmp_path) -> tuple[Path, Path]:
    script = tmp_path / "detach.py"
    script.write_text(DETACHING)
    return script, tmp_path / "pids"


def test_processes_that_left_the_group_are_traced_and_ended_with_the_trace(program, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    script, pids_file = program
    trace = ProgramTrace(lambda e: None, command=[sys.executable, str(script), str(pids_file)])
    trace.start()
    try:
        main, detached, daemon = noted(pids_file)
        groups = {os.getpgid(p) for p in (main, detached, daemon)}
        assert len(groups) == 3  # each in a process group (and session) of its own
        deadline = time.monotonic() + 5
        while ((read_proc(daemon).ppid != trace.proc.guard.pid
                or not {main, detached, daemon} <= set(trace.sampler.reader.procs))
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert read_proc(daemon).ppid == trace.proc.guard.pid  # orphaned: the guard reaps it
        assert {main, detached, daemon} <= set(trace.sampler.reader.procs)  # all drawn
    finally:
        trace.stop()
        assert trace.join(15)
    assert all_gone([main, detached, daemon]) == []
    assert gone(trace.proc.guard.pid)


def test_sigkill_of_concviz_ends_every_process_the_command_started(program, tmp_path):
    script, pids_file = program
    driver = textwrap.dedent(f"""
        import sys, time
        from concviz.engine.sources.program import ProgramTrace
        t = ProgramTrace(lambda e: None, command=[sys.executable, {str(script)!r}, {str(pids_file)!r}])
        t.start()
        print(t.proc.guard.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=str(ROOT), stdout=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(tmp_path)}, text=True)
    try:
        guard = int(proc.stdout.readline())
        pids = list(noted(pids_file))
    finally:
        proc.kill()  # SIGKILL: concviz can do nothing; its guard sees the pipe close
        proc.wait()
    assert all_gone(pids) == []
    assert all_gone([guard]) == []


def test_if_the_guard_is_killed_the_trace_ends_the_processes_it_saw(program, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    script, pids_file = program
    trace = ProgramTrace(lambda e: None, command=[sys.executable, str(script), str(pids_file)])
    trace.start()
    pids = list(noted(pids_file))
    deadline = time.monotonic() + 5
    while not set(pids) <= set(trace.sampler.reader.procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    trace.proc.guard.kill()  # (the user, or the OOM killer)
    trace.proc.guard.wait()
    trace.stop()
    assert trace.join(20)
    assert all_gone(pids) == []


def test_a_process_the_command_did_not_start_is_left_alone(program, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    script, pids_file = program
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        trace = ProgramTrace(lambda e: None, command=[sys.executable, str(script), str(pids_file)])
        trace.start()
        pids = list(noted(pids_file))
        assert bystander.pid not in {p.pid for p in descendants(trace.proc.guard.pid)}
        trace.stop()
        assert trace.join(15)
        assert all_gone(pids) == []
        assert bystander.poll() is None  # not a descendant: never signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_a_pid_that_names_another_process_now_is_not_signalled():
    """The start time a process was found with is checked before it is signalled: a PID
    reused by another program (here: the same PID with another start time) is left alone."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        found = read_proc(proc.pid)
        assert found is not None and found.ppid == os.getpid()
        assert not signal_process(Proc(proc.pid, found.ppid, found.start + 1, False), signal.SIGKILL)
        time.sleep(0.1)
        assert proc.poll() is None
        assert signal_process(found, signal.SIGKILL)
        assert proc.wait(5) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_exit_status_and_a_missing_command_come_through_the_guard(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    trace = ProgramTrace(lambda e: None, command=[sys.executable, "-c", "raise SystemExit(3)"])
    trace.start()
    assert trace.join(20)
    assert trace.ending.status == "ok" and trace.ending.returncode == 3
    from concviz.engine.sources.program import ProgramError
    with pytest.raises(ProgramError, match="command not found: no-such-command-here"):
        ProgramTrace(lambda e: None, command=["no-such-command-here"]).start()
