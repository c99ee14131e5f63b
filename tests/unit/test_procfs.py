"""The /proc readers (concviz.engine.sources.procfs): parsing real kernel output, following a
process tree, reading threads that vanish between two reads, and saying why a file cannot be
read instead of guessing.

Recorded samples are in tests/fixtures/procfs (re-record: tests/fixtures/procfs/record.py).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from concviz.engine.sources.procfs import (
    IN_SYSCALL,
    NOT_IN_SYSCALL,
    RUNNING,
    UNREADABLE,
    ProcReader,
    parse_schedstat,
    parse_stat,
    parse_syscall,
)
from concviz.engine.sources.livefs import LiveFS
from concviz.engine.sources.recording import RecordedFS, replay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "procfs"
NOBODY = 65534

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def recorded_texts(name: str, leaf: str) -> list[bytes]:
    fs = RecordedFS.load(FIXTURES / f"{name}.jsonl.gz")
    return [v[1].encode("latin-1") for s in fs.sweeps for p, v in s["rd"].items()
            if p.endswith("/" + leaf) and not isinstance(v, str)]


# --- parsing ------------------------------------------------------------------------------------
def test_every_recorded_file_parses_into_values_that_make_sense():
    cpus = RecordedFS.load(FIXTURES / "gil.jsonl.gz").header["cpus"]
    sched = [parse_schedstat(b) for b in recorded_texts("gil", "schedstat")]
    stats = [parse_stat(b) for b in recorded_texts("gil", "stat")]
    calls = [parse_syscall(b) for b in recorded_texts("gil", "syscall")]
    assert len(sched) > 100 and len(stats) > 100 and len(calls) > 100
    assert all(run >= 0 and wait >= 0 for run, wait in sched)
    assert {s.state for s in stats} <= set("RSDZTtXIPW")
    assert all(0 <= s.cpu < cpus and s.start > 0 for s in stats)
    kinds = {c.kind for c in calls}
    assert RUNNING in kinds and IN_SYSCALL in kinds  # full recordings read runnable threads too
    assert all(c.nr >= 0 for c in calls if c.kind == IN_SYSCALL)


def test_a_name_with_spaces_and_parentheses_does_not_shift_the_fields():
    fields = " ".join(str(i) for i in range(4, 53))  # fields 4..52
    st = parse_stat(f"77 (a) b (c)) S {fields}".encode())
    assert st.name == "a) b (c)" and st.state == "S"
    assert st.ppid == 4 and st.pgrp == 5 and st.start == 22 and st.cpu == 39


def test_the_syscall_file_has_three_forms():
    assert parse_syscall(b"running\n").kind == RUNNING
    assert parse_syscall(b"-1 0x7ffd2c1e3a80 0x7f1e2a4b5c6d\n").kind == NOT_IN_SYSCALL
    call = parse_syscall(b"202 0x7f7447d4e6f0 0x89 0x0 0x7f7446fb9ae0 0x0 0xffffffff 0x7f 0x7f\n")
    assert call == (IN_SYSCALL, 202, 0x7F7447D4E6F0, "")
    assert parse_syscall(b"").kind == UNREADABLE


# --- vanishing threads and processes ----------------------------------------------------------------
class FakeFS:
    """A tiny /proc: ``files`` maps paths to bytes or to an errno; listings are derived."""

    def __init__(self, files: dict[str, bytes | int]) -> None:
        self.files = files
        self.t = 1_000
        self.reads: list[str] = []

    def clock(self) -> int:
        self.t += 1_000
        return self.t

    def read(self, path: str) -> bytes:
        self.reads.append(path)
        value = self.files.get(path, errno.ENOENT)
        if isinstance(value, int):
            raise OSError(value, os.strerror(value), path)
        return value

    def read_stamped(self, path: str) -> tuple[int, bytes]:
        return self.clock(), self.read(path)

    read_whole = read

    def listdir(self, path: str) -> list[str]:
        value = self.files.get(path)
        if isinstance(value, int):
            raise OSError(value, os.strerror(value), path)
        if value is None:
            raise FileNotFoundError(path)
        return list(value)

    def forget(self, prefix: str) -> None:
        pass


def stat_line(pid: int, state: str = "S", ppid: int = 1, start: int = 100, cpu: int = 0) -> bytes:
    f = ["0"] * 49
    f[0], f[1], f[2], f[19], f[36] = state, str(ppid), str(pid), str(start), str(cpu)
    return f"{pid} (prog) {' '.join(f)}\n".encode()


def fake_process(pid: int, tids: dict[int, bytes | int], ppid: int = 1) -> dict:
    files: dict = {f"/proc/{pid}/stat": stat_line(pid, ppid=ppid), f"/proc/{pid}/task/": [str(t) for t in tids]}
    for tid, sched in tids.items():
        base = f"/proc/{pid}/task/{tid}/"
        files[base + "schedstat"] = sched
        files[base + "stat"] = stat_line(tid)
        files[base + "syscall"] = b"230 0x1 0x0 0x0 0x0 0x0 0x0 0x0 0x0\n"
        files[base + "comm"] = b"prog\n"
    return files


def test_a_thread_listed_then_gone_is_left_out_without_an_error():
    files = fake_process(10, {10: b"5 1 1\n", 11: errno.ESRCH, 12: errno.ENOENT})
    files["/proc"] = ["10"]
    sweep = ProcReader(10, FakeFS(files)).sweep()
    assert [t.tid for p in sweep.processes for t in p.threads] == [10]
    assert sweep.gone == ()


def test_a_process_whose_threads_all_vanished_is_gone():
    files = fake_process(10, {10: b"5 1 1\n"})
    files["/proc"] = ["10"]
    fs = FakeFS(files)
    reader = ProcReader(10, fs)
    assert reader.sweep().processes
    files["/proc/10/task/10/schedstat"] = errno.ESRCH
    sweep = reader.sweep()
    assert sweep.processes == () and sweep.gone == (10,) and not reader.procs
    files["/proc/10/task/"] = errno.ENOENT  # and a later listing fails: nothing to read, no error
    assert reader.sweep().processes == ()


def test_a_waiter_that_only_re_checked_costs_its_counters_and_its_call():
    files = fake_process(10, {10: b"100 5 1\n"})
    files["/proc"] = ["10"]
    base = "/proc/10/task/10/"
    files[base + "syscall"] = b"202 0x1000 0x89 0x0 0x0 0x0 0x0 0x0 0x0\n"
    fs = FakeFS(files)
    reader = ProcReader(10, fs, scan_every_ns=1 << 60)

    def sweep(sched: bytes, call: bytes) -> tuple[list[str], object]:
        files[base + "schedstat"], files[base + "syscall"] = sched, call
        fs.reads.clear()
        t = reader.sweep().processes[0].threads[0]
        return [r[len(base):] for r in fs.reads], t

    reader.sweep()
    # ran 30 ns, back on the condition variable's other word: no stat read
    reads, t = sweep(b"130 6 2\n", b"202 0x1004 0x89 0x0 0x0 0x0 0x0 0x0 0x0\n")
    assert reads == ["schedstat", "syscall"] and t.state == "S" and t.syscall.arg0 == 0x1004
    # ran long: everything is read again
    reads, t = sweep(b"200130 7 3\n", b"202 0x1004 0x89 0x0 0x0 0x0 0x0 0x0 0x0\n")
    assert reads == ["schedstat", "stat", "syscall"]
    # ran briefly but is in another call now: its state is read too (the call once)
    reads, t = sweep(b"200160 8 4\n", b"7 0x5 0x1 0x0 0x0 0x0 0x0 0x0 0x0\n")
    assert reads == ["schedstat", "syscall", "stat"] and t.syscall.nr == 7


def test_a_pid_that_does_not_exist_is_one_clear_error():
    with pytest.raises(ProcessLookupError, match="no process 10 to read"):
        ProcReader(10, FakeFS({}))


def test_recorded_threads_that_vanished_between_two_reads_are_each_started_and_finished_once():
    rec = RecordedFS.load(FIXTURES / "churn.jsonl.gz")
    assert rec.header["vanished"] > 0  # the recording holds threads listed and gone when read
    r = replay(FIXTURES / "churn.jsonl.gz")
    starts = [e[1] for e in r.events if e[0] == 1]
    finishes = [e[1] for e in r.events if e[0] == 4]
    assert len(starts) == len(set(starts)) == len(finishes) == len(set(finishes))
    assert set(starts) == set(finishes)


def test_recorded_child_processes_join_the_tree_and_leave_it():
    r = replay(FIXTURES / "churn.jsonl.gz")
    root = r.header["root_pid"]
    pids = {p.pid for s in r.sweeps for p in s.processes}
    assert root in pids and len(pids) >= 4  # the root and children forked every 100 ms
    gone = {pid for s in r.sweeps for pid in s.gone}
    assert pids - {root} <= gone | {p.pid for p in r.sweeps[-1].processes}
    notes = [text for b in r.batches for _, text in b.notes]
    assert sum("started" in n for n in notes) == len(pids)
    assert sum("ended" in n for n in notes) == len(pids)


# --- another user's process ---------------------------------------------------------------------
REASON = "another user's process"


def test_recorded_other_users_process_reads_times_but_not_syscalls():
    r = replay(FIXTURES / "other-user.jsonl.gz")
    threads = [t for s in r.sweeps for p in s.processes for t in p.threads]
    assert threads and all(t.run_ns >= 0 for t in threads)
    assert max(t.run_ns for t in threads) > 0
    blocked = [t for t in threads if t.state != "R"]
    assert blocked and all(t.syscall.kind == UNREADABLE and REASON in t.syscall.reason for t in blocked)


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_a_reader_of_another_user_cannot_read_syscall_and_says_why():
    waiter = threading.Event()
    t = threading.Thread(target=waiter.wait, daemon=True)
    t.start()
    code = (  # everything imported first: the interpreter's files are not nobody's to read
        "import json, os, sys\n"
        "from concviz.engine.sources.procfs import ProcReader\n"
        f"os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        f"s = ProcReader({os.getpid()}).sweep()\n"
        "print(json.dumps([[x.state, x.syscall.kind, x.syscall.reason, x.run_ns] "
        "for p in s.processes for x in p.threads]))\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        waiter.set()
        t.join()
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    blocked = [r for r in rows if r[0] != "R"]
    assert blocked, rows  # the waiting thread at least
    assert all(kind == UNREADABLE and REASON in reason for _, kind, reason, _ in blocked)
    assert any(run > 0 for *_, run in rows)  # times are still read


# --- live ---------------------------------------------------------------------------------------
def test_the_tree_follows_children_and_grandchildren_as_they_come_and_go():
    code = ("import os, time\n"
            "time.sleep(0.2)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    time.sleep(0.4); os._exit(0)\n"
            "os.waitpid(pid, 0); time.sleep(0.3)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        reader = ProcReader(child.pid, scan_every_ns=0)
        seen: set[int] = set()
        gone: set[int] = set()
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            sweep = reader.sweep()
            seen |= {p.pid for p in sweep.processes}
            gone |= set(sweep.gone)
            time.sleep(0.02)
        seen |= {p.pid for p in reader.sweep().processes}
    finally:
        child.kill()
        child.wait()
    grandchildren = seen - {child.pid}
    assert child.pid in seen
    assert len(grandchildren) >= 1 and grandchildren <= gone


def test_a_blocked_thread_that_did_not_run_has_its_call_read_once():
    waiter = threading.Event()
    t = threading.Thread(target=waiter.wait, daemon=True)
    t.start()
    try:
        time.sleep(0.05)
        fs = LiveFS()
        reads: list[str] = []
        fs_read = fs.read
        fs.read = lambda path: (reads.append(path), fs_read(path))[1]  # type: ignore[method-assign]
        reader = ProcReader(os.getpid(), fs)
        reader.sweep()
        reads.clear()
        sweep = reader.sweep()
        mine = next(x for p in sweep.processes for x in p.threads if x.tid == t.native_id)
        assert mine.state == "S" and mine.syscall.kind == IN_SYSCALL
        # its counters and state are read again, its call is not
        assert [r.rsplit("/", 1)[1] for r in reads if f"/task/{t.native_id}/" in r] == ["schedstat", "stat"]
    finally:
        waiter.set()
        t.join()
        fs.close()


def test_kept_files_of_a_thread_that_ended_fail_and_are_closed():
    fs = LiveFS()
    done = threading.Event()
    t = threading.Thread(target=done.wait)
    t.start()
    path = f"/proc/{os.getpid()}/task/{t.native_id}/schedstat"
    try:
        assert parse_schedstat(fs.read(path))[0] >= 0
        assert fs.open_fds == 1
    finally:
        done.set()
        t.join()
    deadline = time.monotonic() + 5  # join returns before the OS thread has quite gone
    while os.path.exists(os.path.dirname(path)) and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(OSError) as caught:
        fs.read(path)
    assert caught.value.errno in (errno.ESRCH, errno.ENOENT)
    assert fs.open_fds == 0


def test_files_beyond_the_limit_are_read_without_being_kept():
    fs = LiveFS(max_fds=2)
    for leaf in ("schedstat", "stat", "comm", "syscall"):
        fs.read(f"/proc/self/task/{threading.get_native_id()}/{leaf}")
    assert fs.open_fds == 2
    fs.close()
    assert fs.open_fds == 0
