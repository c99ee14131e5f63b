"""Run-level figures (issue 12): MEMORY and SERVER events folded by the Timeline, what a Frame
says of them, and how they are laid out in columns of time."""

from __future__ import annotations

import json

from concviz.engine.events import MEMORY, SERVER, SPAWN, START
from concviz.engine.memory import PSS, ProcessPart, TreeReading
from concviz.engine.resources import encode, info_problem, memory_event
from concviz.engine.timeline import Timeline

MB = 2**20
MS = 1_000_000
SERVER_AT = {"port": 4000, "pid": 77, "latency_ms": 2.0, "backlog": 4096, "accepted": 0, "open_now": 0,
             "max_open": 0, "requests": 0, "cpu_s": 0.01}


def mem(t_ms: int, mb: int, threads: int = 2) -> tuple:
    return memory_event(TreeReading(t_ms * MS, mb * MB, 1, PSS, threads), 1, 16384)


def server(t_ms: int, state: str = "running", **counts) -> tuple:
    info = encode({**SERVER_AT, "state": state, **counts})
    return (SERVER, -1, 1, 5, t_ms * MS, t_ms * MS, -1, info)


def header(tasks: int = 4) -> dict:
    return {"model": "threads", "workload": "net", "machine": {"cpus": 2},
            "spec": {"model": "threads", "workload": "net", "tasks": tasks}}


def test_memory_events_give_the_figures_of_the_run():
    tl = Timeline(header())
    spawns = [(SPAWN, i, 1, 1, 25 * MS, 25 * MS, -1, None) for i in range(4)]
    tl.feed([mem(10, 10), mem(20, 12)])  # before the first task: the last one is the baseline
    tl.feed(spawns)
    tl.feed([mem(30, 16, 6), mem(40, 20, 6), mem(50, 18, 2)])
    s = tl.snapshot().stats
    assert (s["mem_baseline_mb"], s["mem_peak_mb"], s["mem_per_task_kb"]) == (12.0, 20.0, 2048.0)
    assert s["mem_source"] == "pss" and s["mem_samples"] == 4 and s["mem_baseline_before_start"]
    assert s["mem_threads_peak"] == 6
    assert s["mem_kernel_stacks_per_task_kb_inferred"] == 4 * 16384 / 4 / 1024  # 4 threads added
    # run-level events belong to no task, and are not counted among the run's events
    assert len(tl.tasks) == 4 and tl.events == 4


def test_without_run_level_events_the_figures_say_not_measured():
    tl = Timeline(header())
    tl.feed([(SPAWN, 0, 1, 1, MS, MS, -1, None), (START, 0, 1, 2, 2 * MS, 2 * MS, 0, None)])
    frame = tl.snapshot()
    assert frame.resources is None
    s = frame.stats
    assert s["mem_per_task_kb"] is None and s["mem_peak_mb"] is None and s["server"] is None


def test_server_events_are_the_servers_figures_and_its_story_in_the_log():
    tl = Timeline(header())
    tl.feed([server(10), server(20, accepted=4, open_now=4, max_open=4, requests=2)])
    tl.feed([server(30, "killed", accepted=4, open_now=0, max_open=4, requests=6)])
    frame = tl.snapshot()
    assert frame.stats["server"] == {"state": "killed", "latency_ms": 2.0, "accepted": 4, "open_now": 0,
                                     "max_open": 4, "requests": 6, "cpu_s": 0.01}
    texts = [text for _, _, text in frame.log]
    assert texts[0].startswith("loopback server pid 77 listening on port 4000")
    assert texts[1].startswith("server KILLED (--kill-server) after 6 replies")
    assert len(texts) == 2  # a reading that changes no state says nothing


def test_columns_hold_the_highest_reading_and_carry_it_between_readings():
    tl = Timeline(header())
    tl.feed([mem(10, 10), mem(12, 30), mem(30, 20)])
    res = tl.snapshot().resources
    # 8 columns of 5 ms over [0, 40): nothing before the first reading, the highest in a
    # column, the last reading carried over columns without one, nothing after the last
    assert [None if v is None else v // MB for v in res.memory_columns(0, 40 * MS, 8)] == \
        [None, None, 30, 30, 30, 30, 20, None]


def test_a_reading_less_a_process_found_later_not_to_be_the_runs():
    reading = TreeReading(5, 30 * MB, 2, PSS, 7, (ProcessPart(10, 20 * MB, 5), ProcessPart(11, 10 * MB, 2)))
    less = reading.without(11)
    assert (less.bytes, less.processes, less.threads) == (20 * MB, 1, 5)
    assert reading.without(99) is reading


def test_the_events_a_run_makes_pass_their_own_checks():
    assert info_problem(MEMORY, mem(1, 1)[7]) is None
    assert info_problem(SERVER, server(1)[7]) is None
    broken = json.loads(server(1)[7])
    broken["open_now"] = 5
    assert "do not add up" in info_problem(SERVER, json.dumps(broken))
