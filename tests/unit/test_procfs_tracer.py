"""Readings -> events (concviz.engine.sources.tracer) and the sampling loop (sampler): the
layout of every recorded thread tiles its life exactly, its run time is schedstat's, a Timeline
folds the events as they are; real programs traced from outside show what they do, and a
watched program is left exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from concviz.engine.events import FINISH, RUN, START
from concviz.engine.sources.infer import CPU, GIL, IO
from concviz.engine.sources.procfs import (
    IN_SYSCALL,
    RUNNING,
    Clock,
    ProcessReading,
    ProcReader,
    Sweep,
    Syscall,
    ThreadReading,
)
from concviz.engine.sources.recording import replay
from concviz.engine.sources.sampler import ProcSampler, trace_command
from concviz.engine.sources.tracer import ASIDE_EVERY_NS, TICK_NS, Tracker
from concviz.engine.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "procfs"
EXAMPLES = ROOT / "examples"
RECORDINGS = ("gil", "lock-convoy", "churn", "io-pool", "other-user")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def segments(r) -> dict[int, list[tuple[int, int, str]]]:
    """Each task's laid-out time: RUN events and state spans, in time order."""
    out: dict[int, list] = defaultdict(list)
    for e in r.events:
        if e[0] == RUN:
            out[e[1]].append((e[4], e[5], "run"))
    for s in r.spans:
        out[s.task].append((s.t0, s.t1, s.state))
    return {task: sorted(segs) for task, segs in out.items()}


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("attach", [False, True])
def test_each_thread_s_life_is_tiled_exactly_from_start_to_finish(name, attach):
    r = replay(FIXTURES / f"{name}.jsonl.gz", attach=attach)
    start = {e[1]: e[4] for e in r.events if e[0] == START}
    finish = {e[1]: e[4] for e in r.events if e[0] == FINISH}
    assert start.keys() == finish.keys()
    for task, segs in segments(r).items():
        assert segs[0][0] == start[task], (task, segs[:2])
        for (_, a1, _), (b0, _, _) in zip(segs, segs[1:]):
            assert a1 == b0, (task, a1, b0)  # no gap, no overlap
        assert segs[-1][1] == finish[task]


@pytest.mark.parametrize("name", RECORDINGS)
def test_run_time_is_schedstat_s(name):
    r = replay(FIXTURES / f"{name}.jsonl.gz")
    last: dict[tuple[int, int], int] = {}
    for s in r.sweeps:
        for p in s.processes:
            for t in p.threads:
                last[(p.pid, t.tid)] = t.run_ns
    ran: dict[tuple[int, int], int] = defaultdict(int)
    for e in r.events:
        if e[0] == RUN:
            ran[(e[2], e[3])] += e[5] - e[4]
    for key, total in last.items():
        # born during the trace: counted from zero; a tick's worth may be left unplaced
        assert total - 2 * TICK_NS <= ran[key] <= total, (key, ran[key], total)
    assert sum(ran.values()) > 0


def test_attach_shows_nothing_from_before_its_first_reading():
    r = replay(FIXTURES / "gil.jsonl.gz", attach=True)
    first = r.sweeps[0]
    t_first = {t.tid: t.t_ns for p in first.processes for t in p.threads}
    for e in r.events:
        if e[0] == START and e[3] in t_first:
            assert e[4] == t_first[e[3]]
    assert min(e[4] for e in r.events) >= first.t_ns


@pytest.mark.parametrize("name", RECORDINGS)
def test_a_timeline_folds_the_events_as_they_are(name):
    r = replay(FIXTURES / f"{name}.jsonl.gz")
    timeline = Timeline()
    for b in r.batches:
        timeline.feed(b.events)
    frame = timeline.snapshot()
    ran = sum(e[5] - e[4] for e in r.events if e[0] == RUN)
    assert frame.stats["busy_s"] == pytest.approx(ran / 1e9)
    tasks = {e[1] for e in r.events if e[0] == START}
    assert frame.stats["done"] == len(tasks) == len(frame.tasks)
    io = sum(s.t1 - s.t0 for s in r.spans if s.state == IO)
    assert sum(t.sleep_ns for t in frame.tasks) == io


# --- real programs, traced from outside --------------------------------------------------------------
def traced(example: str, seconds: float = 1.0):
    r = trace_command([sys.executable, str(EXAMPLES / example), str(seconds)], timeout_s=60,
                      stdout=subprocess.DEVNULL)
    assert r.returncode == 0 and not r.timed_out
    return r


def by_thread(r) -> dict[tuple[int, int], dict[str, int]]:
    out: dict = defaultdict(lambda: defaultdict(int))
    for e in r.events:
        if e[0] == RUN:
            out[(e[2], e[3])]["run"] += e[5] - e[4]
        elif e[0] in (START, FINISH):
            out[(e[2], e[3])]["start" if e[0] == START else "end"] = e[4]
    for s in r.spans:
        out[(s.pid, s.tid)][s.state] += s.t1 - s.t0
    return out


def test_cpu_threads_take_turns_on_the_gil():
    r = traced("cpu_threads.py")
    threads = by_thread(r)
    workers = [k for k in threads if k[0] != k[1]]  # not the main thread
    assert len(workers) == 4
    assert all(threads[k][GIL] > 0 and threads[k]["run"] > 0 for k in workers), {
        k: dict(threads[k]) for k in workers}
    holders = {h.holder.tid for b in r.batches for h in b.holders if h.holder.tid}
    assert len(holders & {tid for _, tid in workers}) >= 2
    wall = max(v["end"] for v in threads.values()) - min(v["start"] for v in threads.values())
    assert sum(threads[k]["run"] for k in workers) < 1.2 * wall  # one GIL: about one core


def test_a_process_pool_s_workers_come_and_go():
    r = traced("process_pool.py")
    threads = by_thread(r)
    pids = {pid for pid, _ in threads}
    assert len(pids) >= 3  # the parent and its workers
    notes = [text for b in r.batches for _, text in b.notes]
    assert sum("started" in n for n in notes) == sum("ended" in n for n in notes) == len(pids)
    root = r.pid
    workers = [k for k in threads if k[0] != root and k[0] == k[1]]
    assert len(workers) >= 2 and all(threads[k]["run"] > 0 for k in workers)


def test_a_thread_pool_in_blocking_io_mostly_sleeps():
    r = traced("thread_pool_io.py")
    io_threads = [v for v in by_thread(r).values() if v[IO] > 0]
    assert len(io_threads) >= 4
    life = sum(v["end"] - v["start"] for v in io_threads)
    assert sum(v[IO] for v in io_threads) > 0.5 * life


def test_an_asyncio_crawler_is_one_thread_mostly_sleeping_in_epoll():
    r = traced("asyncio_crawler.py")
    crawler = by_thread(r)[(r.pid, r.pid)]
    # of the time it could have run (a loaded machine leaves it waiting for a CPU), mostly asleep
    assert crawler[IO] > 0.5 * (crawler["end"] - crawler["start"] - crawler[CPU]), dict(crawler)
    assert any(s.detail.startswith("epoll") for s in r.spans if s.tid == r.pid)
    assert len({e[2] for e in r.events if e[0] == START}) == 2  # the crawler and its server


# --- the sampling loop ------------------------------------------------------------------------------------
WATCHED = """
import os, signal, sys, time
caught = []
for s in range(1, signal.NSIG):
    if s not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(s, lambda n, f: caught.append(n))
        except (OSError, ValueError, RuntimeError):
            pass
print("ready", flush=True)
n = 0
while not sys.stdin.closed:
    line = sys.stdin.readline()
    if not line:
        break
    print(f"{n} {caught}", flush=True)
    n += 1
"""


def test_attach_leaves_the_watched_program_exactly_as_it_was():
    child = subprocess.Popen([sys.executable, "-c", WATCHED], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        reader = ProcReader(child.pid)
        batches = []
        sampler = ProcSampler(reader, Tracker(maps=reader.maps), batches.append).start()
        states, tracers = set(), set()
        for i in range(20):
            child.stdin.write("?\n")
            child.stdin.flush()
            assert child.stdout.readline().split(" ", 1) == [str(i), "[]\n"]  # no signal caught
            status = Path(f"/proc/{child.pid}/status").read_text()
            tracers.add(next(x for x in status.splitlines() if x.startswith("TracerPid")))
            states.add(next(x for x in status.splitlines() if x.startswith("State"))[7])
            time.sleep(0.02)
        sampler.stop()
        assert sampler.join(10)
        assert sampler.error is None and sampler.sweeps > 10
        assert tracers == {"TracerPid:\t0"} and "T" not in states and "t" not in states
        assert child.poll() is None  # still running, as it was
        assert any(e[0] == FINISH for e in batches[-1].events)  # the close finishes the lanes
    finally:
        child.kill()
        child.wait()


def test_the_rate_goes_down_when_the_sampler_passes_its_budget():
    def costly() -> Sweep:
        end = time.thread_time_ns() + 2_000_000  # 2 ms of CPU per sweep
        while time.thread_time_ns() < end:
            pass
        return Sweep(time.perf_counter_ns(), time.perf_counter_ns(), ())

    reader = ProcReader(os.getpid())
    sampler = ProcSampler(reader, Tracker(), lambda b: None, budget=0.03, sweep=costly).start()
    time.sleep(2.0)
    sampler.stop()
    assert sampler.join(10)
    assert sampler.rate_hz < 50 and sampler.rates[-1] == sampler.rate_hz
    fixed = ProcSampler(reader, Tracker(), lambda b: None, budget=None, sweep=costly).start()
    time.sleep(1.2)
    fixed.stop()
    assert fixed.join(10) and fixed.rate_hz == 200


def test_a_command_that_exits_at_once_is_a_short_run():
    r = trace_command([sys.executable, "-c", "pass"], timeout_s=30)
    assert r.returncode == 0 and not r.timed_out
    kinds = [e[0] for e in r.events if e[3] == r.pid]
    assert kinds[0] == START and kinds[-1] == FINISH


def test_a_command_past_its_time_limit_is_ended_with_its_whole_group():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    r = trace_command([sys.executable, "-c", code], timeout_s=1.0)
    assert r.timed_out and r.returncode is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(r.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the traced command's group outlived the trace")
    started = {e[2] for e in r.events if e[0] == START}
    assert len(started) == 2  # the command and its child were both traced


def test_stop_from_another_thread_ends_the_loop_and_finishes_every_lane():
    done = threading.Event()
    t = threading.Thread(target=done.wait, daemon=True)
    t.start()
    reader = ProcReader(os.getpid())
    batches = []
    sampler = ProcSampler(reader, Tracker(), batches.append).start()
    time.sleep(0.2)
    sampler.stop()
    assert sampler.join(10)
    done.set()
    started = {e[1] for b in batches for e in b.events if e[0] == START}
    finished = {e[1] for b in batches for e in b.events if e[0] == FINISH}
    assert started and started == finished
    assert os.getpid() in {e[3] for b in batches for e in b.events if e[0] == START}
    os.kill(os.getpid(), 0)  # (the sampled process is this one, untouched)
    assert signal.getsignal(signal.SIGINT) is not None


# --- the layout on hand-made readings -------------------------------------------------------------
def test_a_waiter_s_re_checks_are_runs_laid_out_together_that_hold_no_gil():
    gil = 0x7F00_0000_1000
    data = b"7f0000000000-7f0000010000 rw-p 00000000 00:00 1 /usr/lib/libpython3.11.so.1.0\n"
    tracker = Tracker(0, arch="x86_64", maps=lambda pid: data, clock=Clock(100, 0))
    period = 5_000_000
    runs = {1: 0, 2: 0, 3: 0}
    batches = []
    for i in range(1, 61):
        t = i * period
        runs[1] += period  # the holder runs throughout
        runs[2] += 20_000  # two waiters re-check the GIL every period, 20 us each
        runs[3] += 20_000
        threads = (ThreadReading(1, t, runs[1], 0, "R", 0, 1, Syscall(RUNNING), "holder"),
                   # (a condition variable's two words, in turn)
                   ThreadReading(2, t, runs[2], 0, "S", 1, 1, Syscall(IN_SYSCALL, 202, gil + 4 * (i % 2)), "w2"),
                   ThreadReading(3, t, runs[3], 0, "S", 1, 1, Syscall(IN_SYSCALL, 202, gil + 4 * (i % 2)), "w3"))
        batches.append(tracker.feed(Sweep(t, t, (ProcessReading(1, 0, "p", threads),))))
    batches.append(tracker.close())
    events = [e for b in batches for e in b.events]
    spans = [s for b in batches for s in b.spans]
    ran = defaultdict(int)
    count = defaultdict(int)
    for e in events:
        if e[0] == RUN:
            ran[e[3]] += e[5] - e[4]
            count[e[3]] += 1
    assert ran[2] == runs[2] and ran[3] == runs[3]  # every re-check is there, exactly
    assert count[2] <= 60 * period // ASIDE_EVERY_NS + 3  # laid out together, not one by one
    assert sum(s.t1 - s.t0 for s in spans if s.tid == 2 and s.state == GIL) > 0.9 * 60 * period
    held = defaultdict(int)
    for g in (g for b in batches for g in b.gil):
        held[g.tid] += g.t1 - g.t0
    # (before the address is known to be the GIL's, a waiter's first runs may count)
    assert held[2] + held[3] < 0.01 * held[1]


def test_the_map_is_read_again_when_a_wait_is_outside_it():
    """A child read before its exec has its parent's memory map: Python's data was elsewhere.
    A wait outside every mapping of the map read means the map is out of date."""
    before_exec = b"100000-200000 rw-p 00000000 00:00 1 /usr/bin/python3.11\n"
    after_exec = b"7f0000000000-7f0000010000 rw-p 00000000 00:00 1 /usr/lib/libpython3.12.so.1.0\n"
    maps = [before_exec]
    tracker = Tracker(0, arch="x86_64", maps=lambda pid: maps[-1], clock=Clock(100, 0))
    gil = 0x7F00_0000_1000
    run = {1: 0, 2: 0}
    states = []
    for i in range(1, 81):
        if i == 2:
            maps.append(after_exec)
        t = i * 5_000_000
        holder = 1 if i % 2 else 2
        run[holder] += 5_000_000
        threads = tuple(ThreadReading(tid, t, run[tid], 0, "R" if tid == holder else "S", 0, 1,
                                      Syscall(RUNNING) if tid == holder else Syscall(IN_SYSCALL, 202, gil), "t")
                        for tid in (1, 2))
        batch = tracker.feed(Sweep(t, t, (ProcessReading(1, 0, "p", threads),)))
        states += [s.state for s in batch.spans]
    assert GIL in states[len(states) // 2:]
