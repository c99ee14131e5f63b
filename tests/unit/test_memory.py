"""Memory measured from outside (issue 12): a process's proportional memory, a tree's, and a
run's baseline / peak / per task. What a connection costs under threads and under asyncio, in
a real run: tests/unit/test_net_runs.py."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from concviz.engine.memory import MIXED, PSS, RSS, USS, ProcessTree, TreeReading, process_memory, process_threads
from concviz.engine.memory_sampler import BUDGET, MAX_WAIT_S, MemorySampler, next_wait

from .helpers import gone

MB = 2**20
LINUX = sys.platform.startswith("linux")


def test_a_process_memory_is_measured_and_says_how():
    value, source = process_memory(os.getpid())
    rss = psutil.Process().memory_info().rss
    assert source in (PSS, USS, RSS)
    if LINUX:
        assert source == PSS  # smaps_rollup
    assert 0 < value <= rss
    assert process_threads(os.getpid()) == psutil.Process().num_threads()


def test_a_process_that_is_gone_is_said_to_be_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessLookupError):
        process_memory(child.pid)


HOLDER = textwrap.dedent("""
    import sys, time
    block = bytearray(int(sys.argv[1]) * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1  # touched: resident and private
    print("ready", flush=True)
    time.sleep(30)
""")


def start_holder(mb: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(mb)], stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    assert ready and proc.stdout.readline() == b"ready\n"
    return proc


def test_a_tree_sums_its_processes_and_leaves_out_the_excluded():
    holder = start_holder(64)
    try:
        alone = ProcessTree(os.getpid(), exclude=[holder.pid]).read()
        whole = ProcessTree(os.getpid()).read()
    finally:
        holder.kill()
        holder.wait()
    assert whole.processes == alone.processes + 1
    assert whole.bytes - alone.bytes >= 60 * MB, (whole, alone)
    assert whole.threads > alone.threads >= 1
    assert whole.source == alone.source


FORKER = textwrap.dedent("""
    import os, sys, time
    for _ in range(int(sys.argv[1])):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    print("ready", flush=True)
    time.sleep(30)
""")


def test_a_run_that_leads_its_own_session_is_read_as_its_process_group():
    # as the experiment: a session leader whose workers are its group
    root = subprocess.Popen([sys.executable, "-c", FORKER, "6"], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert root.stdout.readline() == b"ready\n"
        kids = [c.pid for c in psutil.Process(root.pid).children()]
        tree = ProcessTree(root.pid, exclude=kids[:1])
        assert tree.by_group
        assert sorted(tree.pids()) == sorted([root.pid] + kids[1:])
        assert tree.read().processes == 6
        os.kill(kids[1], 9)
        deadline = time.monotonic() + 5
        while not gone(kids[1]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tree.read().processes == 5  # a process that died (a zombie here) is not counted
    finally:
        os.killpg(root.pid, 9)
        root.wait()
        root.stdout.close()


class ScriptedTree:
    """Stands in for a ProcessTree: hands out readings made up by the test, in order."""

    def __init__(self, readings: list[TreeReading]) -> None:
        self.readings = list(readings)

    def read(self, parts: bool = False) -> TreeReading:
        return self.readings.pop(0)


MS = 1_000_000


def reading(t_ms: int, mb: int, threads: int = 1, source: str = PSS) -> TreeReading:
    return TreeReading(t_ms * MS, mb * MB, 1, source, threads)


def test_the_baseline_is_the_last_reading_before_the_first_task():
    tree = ScriptedTree([reading(10, 5), reading(20, 8), reading(30, 9), reading(40, 20, 11),
                         reading(50, 15), reading(60, 12, 1, RSS)])
    sampler = MemorySampler(0, tree=tree)
    assert sampler.figures(4) is None
    for _ in range(4):
        sampler.sample()
    # the start is known late (the pump sees the first SPAWN after its batch arrives):
    # readings after it are the run's, the last one before it its baseline
    sampler.mark_start(25 * MS)
    sampler.sample()
    sampler.sample()
    fig = sampler.figures(4)
    assert (fig.baseline_bytes, fig.peak_bytes) == (8 * MB, 20 * MB)
    assert fig.per_task_bytes == 3 * MB
    assert fig.baseline_before_start and fig.samples == 5
    assert fig.baseline_lead_ms == 5.0
    assert (fig.baseline_threads, fig.peak_threads) == (1, 11)
    assert fig.source == MIXED  # some readings were RSS only: said so
    if fig.kernel_stack_bytes is not None:
        assert fig.kernel_per_task_bytes == 10 * fig.kernel_stack_bytes / 4
    d = fig.to_dict()
    assert (d["mem_baseline_mb"], d["mem_peak_mb"], d["mem_per_task_kb"]) == (8.0, 20.0, 3072.0)


def test_without_a_reading_before_the_start_the_baseline_says_so():
    tree = ScriptedTree([reading(30, 9), reading(40, 20)])
    sampler = MemorySampler(0, tree=tree)
    sampler.sample()
    sampler.mark_start(25 * MS)
    sampler.sample()
    fig = sampler.figures(1)
    assert not fig.baseline_before_start
    assert (fig.baseline_bytes, fig.peak_bytes) == (9 * MB, 20 * MB)


def test_a_start_never_marked_counts_from_the_first_reading():
    tree = ScriptedTree([reading(10, 5), reading(20, 9), reading(30, 7)])
    sampler = MemorySampler(0, tree=tree)
    for _ in range(3):
        sampler.sample()
    fig = sampler.figures(2)
    assert (fig.baseline_bytes, fig.peak_bytes, fig.samples) == (5 * MB, 9 * MB, 3)
    assert not fig.baseline_before_start


def test_a_costly_tree_is_read_less_often_but_still_read():
    assert next_wait(0.05, 0.0001) == 0.05  # a cheap reading keeps the interval
    assert next_wait(0.05, 0.005) == pytest.approx(0.005 * (BUDGET - 1))  # 1/BUDGET of a core
    assert next_wait(0.05, 10.0) == MAX_WAIT_S  # never sampled less often than this
    assert next_wait(2.0, 10.0) == 2.0  # nor more often than asked


GROWER = textwrap.dedent("""
    import json, sys, time
    blocks = []
    time.sleep(0.3)  # the baseline: imports done, nothing allocated yet
    print(json.dumps({"t_start_ns": time.perf_counter_ns()}), flush=True)
    for _ in range(int(sys.argv[1])):  # one "task" = 4 MB, touched
        block = bytearray(4 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        blocks.append(block)
    time.sleep(0.4)
""")


def test_the_sampler_finds_the_memory_each_task_added():
    tasks = 8
    child = subprocess.Popen([sys.executable, "-c", GROWER, str(tasks)], stdout=subprocess.PIPE)
    sampler = MemorySampler(child.pid, interval_s=0.05)
    sampler.start()
    try:
        start = json.loads(child.stdout.readline())
        sampler.mark_start(start["t_start_ns"])
        child.wait(20)
    finally:
        sampler.stop()
        child.kill()
        child.wait()
        child.stdout.close()
    fig = sampler.figures(tasks)
    assert fig.baseline_before_start and fig.baseline_lead_ms < 250, fig.to_dict()
    assert 3.2 * MB <= fig.per_task_bytes <= 4.8 * MB, fig.to_dict()
