"""Endurance (issue 5): 200 back-to-back headless runs in one process, mixed models and
workloads at a tiny scale, some recorded to a trace, some with a failing task. After a warm-up
the parent's memory must not grow by more than 10%, and it must not leak file descriptors,
threads or child processes.
"""

from __future__ import annotations

import gc
import time

import psutil

from concviz.engine.experiment import run_to_frame
from concviz.engine.spec import RunSpec

from .procs import ALL_MODELS, describe, gone, python_of

RUNS = 200
WARM_UP = 20
WORKLOADS = ("io", "cpu", "mixed")


def spec_for(i: int) -> RunSpec:
    model = ALL_MODELS[i % len(ALL_MODELS)]
    return RunSpec(model=model, workload=WORKLOADS[i % len(WORKLOADS)], tasks=3, scale=0.02, seed=i,
                   fail_task=0 if i % 5 == 0 else None, python=python_of(model)).validate()


def measure(me: psutil.Process) -> dict[str, int]:
    gc.collect()
    return {"rss": me.memory_info().rss, "fds": me.num_fds(), "threads": me.num_threads()}


def test_200_runs_leak_nothing(tmp_path):
    me = psutil.Process()
    began = time.monotonic()
    base = None
    for i in range(RUNS):
        record = str(tmp_path / f"run{i % 3}.jsonl") if i % 7 == 0 else None
        frame = run_to_frame(spec_for(i), record=record)
        assert frame.ended == "ok", (i, frame.model, frame.ended, frame.end_message)
        expected_failed = 1 if i % 5 == 0 else 0
        assert frame.stats["failed"] == expected_failed, (i, frame.model, [t.error for t in frame.tasks])
        if i + 1 == WARM_UP:
            base = measure(me)
    end = measure(me)
    took = time.monotonic() - began
    kids = [c.pid for c in me.children(recursive=True) if not gone(c.pid)]
    print(f"\n[endurance] {RUNS} runs in {took:.1f} s ({took / RUNS * 1000:.0f} ms/run); after warm-up "
          f"rss {base['rss'] / 2**20:.1f} MiB -> {end['rss'] / 2**20:.1f} MiB "
          f"({(end['rss'] / base['rss'] - 1) * 100:+.1f}%), fds {base['fds']} -> {end['fds']}, "
          f"threads {base['threads']} -> {end['threads']}")
    assert end["rss"] < base["rss"] * 1.10, (base, end)
    assert end["fds"] <= base["fds"], (base, end)
    assert end["threads"] <= base["threads"], (base, end)
    # (children that are not ours, e.g. a forkserver another test of this session started,
    # would have been there at the warm-up too; concviz's experiments must all be gone)
    assert not [p for p in kids if "concviz.engine.experiment" in describe([p])], describe(kids)
