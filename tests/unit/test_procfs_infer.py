"""The inference rules (concviz.engine.sources.infer): each rule on hand-made cases, then on
recorded samples of real programs (tests/fixtures/procfs)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from concviz.engine.sources.infer import (
    GIL,
    GIL_NEAR,
    IO,
    LOCK,
    OTHER,
    UNKNOWN,
    WINDOW_NS,
    FutexBook,
    PythonData,
    classify,
    gil_holder,
    syscall_table,
)
from concviz.engine.sources.procfs import IN_SYSCALL, NOT_IN_SYSCALL, UNREADABLE, Syscall
from concviz.engine.sources.recording import RecordedFS, replay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "procfs"
X86 = syscall_table("x86_64")
ARM = syscall_table("aarch64")
GIL_ADDR = 0x7F00_0000_1000
DATA = PythonData([(0x7F00_0000_0000, 0x7F00_0001_0000)])


def call(nr: int, arg0: int = 0) -> Syscall:
    return Syscall(IN_SYSCALL, nr, arg0)


# --- classification by system call ------------------------------------------------------------------
@pytest.mark.parametrize("table, nr, state, detail", [
    (X86, 0, IO, "read"), (X86, 232, IO, "epoll_wait"), (X86, 45, IO, "recvfrom"),
    (X86, 43, IO, "accept"), (X86, 42, IO, "connect"), (X86, 230, IO, "clock_nanosleep"),
    (X86, 7, IO, "poll"), (X86, 23, IO, "select"), (X86, 202, LOCK, "futex"),
    (X86, 61, OTHER, "wait4"), (X86, 999, OTHER, "system call 999"),
    (ARM, 63, IO, "read"), (ARM, 98, LOCK, "futex"), (ARM, 22, IO, "epoll_pwait"),
    (ARM, 101, IO, "nanosleep"), (ARM, 260, OTHER, "wait4"),
])
def test_a_blocked_call_is_named_by_the_machine_s_numbers(table, nr, state, detail):
    wait = classify("S", call(nr), table, None)
    assert (wait.state, wait.detail) == (state, detail)
    assert wait.inferred == (state in (IO, LOCK))  # a rule named it: it says so


def test_what_cannot_be_read_is_unknown_with_its_reason_never_guessed():
    denied = Syscall(UNREADABLE, reason="syscall not readable (another user's process)")
    assert classify("S", denied, X86, None) == (UNKNOWN, denied.reason, False)
    assert classify("D", Syscall(NOT_IN_SYSCALL), X86, None).state == UNKNOWN
    unknown_arch = classify("S", call(202), None, None)
    assert unknown_arch.state == UNKNOWN and "not known" in unknown_arch.detail
    assert classify("T", call(0), X86, None).state == OTHER  # stopped, whatever it was in


def test_labels_say_what_is_inferred():
    book = FutexBook(None)
    book.gil.add(GIL_ADDR)
    assert classify("S", call(202, GIL_ADDR), X86, book).label == "waiting for the GIL (inferred)"
    assert classify("S", call(202, 1), X86, book).label == "waiting on a lock"
    assert classify("S", call(61), X86, book).label == "blocked in wait4"
    assert classify("S", Syscall(UNREADABLE, reason="why"), X86, book).label == "unknown: why"


# --- the GIL rule ---------------------------------------------------------------------------------
def test_a_futex_shared_by_siblings_that_run_in_turn_is_the_gil():
    book = FutexBook(DATA)
    book.saw_run(1, 100)
    book.saw_wait(2, GIL_ADDR, 100)
    book.settle(100)
    assert not book.is_gil(GIL_ADDR)  # one waiter: nothing shared yet
    book.saw_run(2, 200)
    book.saw_wait(1, GIL_ADDR, 200)
    book.settle(200)
    assert book.is_gil(GIL_ADDR)
    assert classify("S", call(202, GIL_ADDR), X86, book).state == GIL


def test_waiters_that_never_run_share_a_lock_not_the_gil():
    book = FutexBook(DATA)  # idle pool workers on one queue: they wait together, nobody runs
    for tid in (1, 2, 3):
        book.saw_wait(tid, GIL_ADDR, 100)
    book.saw_run(1, 100)
    book.settle(100)
    assert not book.is_gil(GIL_ADDR)
    assert classify("S", call(202, GIL_ADDR), X86, book).state == LOCK


def test_a_shared_futex_outside_python_s_static_data_is_a_lock():
    heap = 0x5600_0000_0000
    book = FutexBook(DATA)
    for tid in (1, 2):
        book.saw_run(tid, 100)
        book.saw_wait(tid, heap, 100)
    book.settle(100)
    assert not book.is_gil(heap)
    without_map = FutexBook(None)  # the map could not be read: the rule goes without the check
    for tid in (1, 2):
        without_map.saw_run(tid, 100)
        without_map.saw_wait(tid, heap, 100)
    without_map.settle(100)
    assert without_map.is_gil(heap)


def test_a_process_without_python_has_no_gil():
    book = FutexBook(PythonData([]))
    for tid in (1, 2):
        book.saw_run(tid, 100)
        book.saw_wait(tid, GIL_ADDR, 100)
    book.settle(100)
    assert not book.gil


def test_the_gil_s_neighbours_are_the_gil_and_old_sightings_expire():
    book = FutexBook(DATA)
    for tid in (1, 2):
        book.saw_run(tid, 0)
        book.saw_wait(tid, GIL_ADDR, 0)
    book.settle(0)
    assert book.is_gil(GIL_ADDR + 4) and book.is_gil(GIL_ADDR - GIL_NEAR)
    assert not book.is_gil(GIL_ADDR + GIL_NEAR + 8)
    later = FutexBook(DATA)
    later.saw_run(1, 0)
    later.saw_wait(1, GIL_ADDR + 512, 0)
    later.saw_run(2, WINDOW_NS + 10)
    later.saw_wait(2, GIL_ADDR + 512, WINDOW_NS + 10)
    later.settle(WINDOW_NS + 10)  # thread 1's wait is more than a window old
    assert not later.is_gil(GIL_ADDR + 512)


def test_the_holder_is_the_one_runnable_thread_while_siblings_wait():
    assert gil_holder([7], [8, 9]).tid == 7
    assert gil_holder([], [8, 9]) == (None, "no thread runs: the GIL is being handed over")
    assert gil_holder([6, 7], [8]).tid is None
    assert gil_holder([7], []).tid is None  # nobody waits: no GIL to hold


def test_python_s_static_data_is_found_in_a_recorded_memory_map():
    fs = RecordedFS.load(FIXTURES / "gil.jsonl.gz")
    maps = next(v[1] for s in fs.sweeps for p, v in s["rd"].items() if p.endswith("/maps"))
    data = PythonData.from_maps(maps.encode("latin-1"))
    assert data
    r = replay(FIXTURES / "gil.jsonl.gz")
    root = r.header["root_pid"]
    futexes = defaultdict(set)  # address -> threads seen waiting on it
    for s in r.sweeps:
        for p in s.processes:
            for t in p.threads:
                if t.syscall and t.syscall.kind == IN_SYSCALL and t.syscall.nr == 202:
                    futexes[t.syscall.arg0].add(t.tid)
    shared = [a for a, tids in futexes.items() if len(tids) >= 2]
    own = [a for a, tids in futexes.items() if tids == {root}]  # the main thread's join
    assert shared and all(a in data for a in shared)
    assert own and not any(a in data for a in own)


# --- the rules on recorded programs --------------------------------------------------------------------
def time_by_state(r) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in r.spans:
        out[s.tid][s.state] += s.t1 - s.t0
    return out


def names(r) -> dict[int, str]:
    """tid -> the thread's role, from the recorded program (gil_threads.py names none: Python
    3.11 leaves comm alone), by what the thread did."""
    return {e[3]: e[7] for e in r.events if e[0] == 1}


def test_recorded_cpu_threads_wait_for_the_gil_the_sleeper_sleeps_the_main_thread_joins():
    r = replay(FIXTURES / "gil.jsonl.gz")
    root = r.header["root_pid"]
    by = time_by_state(r)
    sleeper = max(by, key=lambda tid: by[tid][IO])
    cpu_threads = [tid for tid in by if tid not in (root, sleeper)]
    assert len(cpu_threads) == 3
    for tid in cpu_threads:
        blocked = by[tid][GIL] + by[tid][LOCK] + by[tid][IO]
        assert by[tid][GIL] > 0.9 * blocked, dict(by[tid])
    life = {e[3]: e[4] for e in r.events if e[0] == 4}
    start = {e[3]: e[4] for e in r.events if e[0] == 1}
    assert by[sleeper][IO] > 0.9 * (life[sleeper] - start[sleeper])
    assert by[root][LOCK] > 0.7 * (life[root] - start[root])
    spans = [s for s in r.spans if s.state == GIL]
    assert spans and all(s.inferred for s in spans)


def test_recorded_gil_holders_are_the_cpu_threads():
    r = replay(FIXTURES / "gil.jsonl.gz")
    root = r.header["root_pid"]
    by = time_by_state(r)
    sleeper = max(by, key=lambda tid: by[tid][IO])
    holders = [h.holder.tid for b in r.batches for h in b.holders if h.holder.tid is not None]
    assert len(set(holders)) >= 2  # the GIL changed hands
    assert not {root, sleeper} & set(holders)
    # the main thread (starting the others) and the sleeper (waking) hold it briefly too
    held = defaultdict(int)
    for g in (g for b in r.batches for g in b.gil):
        held[g.tid] += g.t1 - g.t0
    assert sum(held[tid] for tid in (root, sleeper)) < 0.1 * sum(held.values())


def test_a_recorded_lock_convoy_is_a_lock_and_would_pass_for_the_gil_without_the_map():
    r = replay(FIXTURES / "lock-convoy.jsonl.gz")
    root = r.header["root_pid"]
    by = time_by_state(r)
    workers = [tid for tid in by if tid != root]
    assert sum(by[tid][LOCK] for tid in workers) > 0
    assert sum(by[tid][GIL] for tid in workers) < 0.1 * sum(by[tid][LOCK] for tid in workers)
    blind = time_by_state(replay(FIXTURES / "lock-convoy.jsonl.gz", maps=False))
    assert sum(blind[tid][GIL] for tid in workers) > sum(blind[tid][LOCK] for tid in workers)


def test_recorded_pool_threads_in_recv_are_sleeping_in_io():
    r = replay(FIXTURES / "io-pool.jsonl.gz")
    root = r.header["root_pid"]
    by = time_by_state(r)
    pool = [tid for tid in by if tid != root and any(
        s.tid == tid and s.detail == "recvfrom" for s in r.spans)]
    assert len(pool) >= 4
    assert sum(by[tid][IO] for tid in pool) > 0.6 * sum(sum(by[tid].values()) for tid in pool)
    assert not any(s.state == GIL for s in r.spans if s.tid in pool)
