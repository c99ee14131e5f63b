"""The net workloads, run for real under every model (issue 12, phase 2): each task holds one
connection to the run's loopback server, the server's figures reach the Frame and the trace,
memory is read from outside with the server left out, and nothing of the run survives it.

Small counts and wide margins: the machine has 2 cores and other jobs run on it.
"""

from __future__ import annotations

import json
import sys
import time

import psutil
import pytest

from concviz.engine.events import MEMORY, SERVER, read_trace
from concviz.engine.net import HOST
from concviz.engine.spec import POOL_MODELS, RunSpec

from .helpers import ALL_MODELS, failure_report, gone, run

TASKS, REQUESTS, LATENCY_MS = 3, 4, 25.0


def net_run(model: str, **extra):
    spec = dict(model=model, workload="net", tasks=TASKS, requests=REQUESTS, latency_ms=LATENCY_MS, **extra)
    if model in POOL_MODELS:
        spec["workers"] = 2
    return run(**spec)


def listening(port: int) -> bool:
    """Something still listens on ``port`` of the loopback address."""
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.laddr.ip == HOST
               for c in psutil.net_connections(kind="tcp"))


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_runs_the_net_workload(model):
    frame = net_run(model)
    why = failure_report(frame)
    s = frame.stats
    assert frame.ended == "ok" and s["done"] == TASKS and s["failed"] == 0, why
    # each task: its connect, then one wait per request, each at least the server's delay
    for t in frame.tasks:
        assert t.n_sleeps == 1 + REQUESTS, why
        waits = [b - a for a, b in t.sleeps.spans(1, t.n_sleeps)]
        assert min(waits) >= LATENCY_MS * 1e6, (t.id, waits)
    net = frame.net_figures()
    assert net["replies_seen"] == TASKS * REQUESTS and net["wait_ms_median"] >= LATENCY_MS
    # the server's own count, apart from the workers'
    server = s["server"]
    assert server["state"] == "stopped" and server["latency_ms"] == LATENCY_MS
    assert server["accepted"] == TASKS and server["requests"] == TASKS * REQUESTS, server
    at_once = 1 if model == "sequential" else 2 if model in POOL_MODELS else TASKS
    assert 1 <= server["max_open"] <= at_once, server
    assert s["concurrency_max"] <= at_once
    # the memory was read from outside (the experiment alone is over 5 MB at its peak)
    assert s["mem_source"] in ("pss", "uss", "rss", "mixed") and s["mem_samples"] >= 1
    assert s["mem_peak_mb"] >= s["mem_baseline_mb"] and s["mem_peak_mb"] > 5
    header_server = frame.header["server"]
    assert gone(header_server["pid"]) and not listening(header_server["port"])


def test_connections_overlap_as_the_server_counts_them():
    """Threads and asyncio hold every connection at once: the concurrency the events show is
    the server's count of connections open at once."""
    for model in ("threads", "asyncio"):
        frame = run(model=model, workload="net", tasks=40, requests=1, latency_ms=400.0)
        s = frame.stats
        assert s["done"] == 40, failure_report(frame)
        assert s["server"]["max_open"] == s["concurrency_max"] == 40, (model, s["server"], s["concurrency_max"])


def test_the_server_and_memory_figures_are_in_the_trace(tmp_path):
    path = tmp_path / "net.jsonl"
    frame = run(model="threads", workload="net-fast", tasks=4, requests=20, record=str(path))
    header, events = read_trace(path)
    assert header["concviz_trace"] == 2 and header["server"]["pid"] == frame.header["server"]["pid"]
    servers = [json.loads(e[7]) for e in events if e[0] == SERVER]
    assert servers[0]["state"] == "running" and servers[-1]["state"] == "stopped"
    assert servers[-1]["requests"] == 80 and servers[-1]["accepted"] == 4
    memory = [e for e in events if e[0] == MEMORY]
    assert len(memory) == frame.resources.n_memory >= 2
    # every reading is of the run's processes alone: the server (a process of about 10 MB) is
    # not in any of them
    assert all(json.loads(e[7])["processes"] == 1 for e in memory)


def test_a_refused_or_reset_connection_fails_its_task_and_the_run_goes_on():
    """The server is killed once half the replies are sent: the task talking to it fails with
    the reset (or the close) the OS reports, the tasks after it are refused (the one right after
    the kill may still get through the kernel's handshake, and be reset), the run ends."""
    began = time.monotonic()
    frame = run(model="sequential", workload="net", tasks=6, requests=10, latency_ms=10.0, kill_server=True)
    took = time.monotonic() - began
    why = failure_report(frame)
    assert frame.ended == "ok" and took < 10, why
    status = [t.status for t in frame.tasks]
    assert status[:3] == ["done"] * 3 and status[3:] == ["failed"] * 3, why
    os_reasons = ("Connection reset", "closed the connection", "Connection refused")
    assert all(any(w in t.error for w in os_reasons) for t in frame.tasks[3:]), why
    assert frame.tasks[5].error.startswith("ConnectionRefusedError: [Errno 111] Connection refused "
                                           "(connecting to 127.0.0.1:"), why
    assert frame.stats["server"]["state"] == "killed"
    log = [text for _, _, text in frame.log]
    assert any("server KILLED" in text for text in log) and any("Connection refused" in text for text in log)


@pytest.mark.parametrize("model", ["threads", "asyncio", "processes"])
def test_a_killed_server_ends_the_run_within_5_s(model):
    """Every task still waiting on the server fails when it dies, and the run ends at once
    (not at the time limit)."""
    began = time.monotonic()
    frame = run(model=model, workload="net", tasks=6, requests=40, latency_ms=50.0, kill_server=True)
    took = time.monotonic() - began
    s = frame.stats
    assert frame.ended == "ok", failure_report(frame)
    assert s["failed"] >= 1 and s["done"] + s["failed"] == 6, failure_report(frame)
    assert s["server"]["state"] == "killed"
    killed_at = next(t for t, _, text in frame.log if "server KILLED" in text)
    last_end = max(t.end_ns for t in frame.tasks)
    assert (last_end - killed_at) / 1e9 < 5 and took < 20, (took, failure_report(frame))


def test_a_fault_strikes_half_way_through_the_requests():
    frame = run(model="threads", workload="net", tasks=2, requests=6, latency_ms=5.0, fail_task=1)
    t = frame.tasks[1]
    assert t.status == "failed" and "failed on purpose" in t.error
    assert t.n_sleeps == 1 + 3  # the connect and the first half of its requests
    assert frame.tasks[0].status == "done"


def test_run_json_has_memory_and_the_server(capsys):
    from concviz import cli

    assert cli.main(["run", "-m", "asyncio", "-w", "net", "-n", "5", "--requests", "2", "--latency", "20",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("mem_baseline_mb", "mem_peak_mb", "mem_per_task_kb", "mem_source",
                "mem_kernel_stacks_per_task_kb_inferred"):
        assert key in out, key
    assert out["server"]["accepted"] == 5 and out["server"]["requests"] == 10
    assert out["net"]["latency_ms"] == 20 and out["net"]["wait_ms_median"] >= 20
    assert out["tasks"] == 5 and out["done"] == 5


def test_a_preset_sets_the_size_unless_given(capsys):
    from concviz import cli_args

    args = cli_args.build_parsers()[1].parse_args(["run", "-w", "net-fast"])
    spec = cli_args.spec_from_args(args)
    assert (spec.tasks, spec.requests, spec.latency_ms) == (8, 200, 2.0)
    args = cli_args.build_parsers()[1].parse_args(["run", "-w", "net-slow", "-n", "30", "--latency", "300"])
    spec = cli_args.spec_from_args(args)
    assert (spec.tasks, spec.requests, spec.latency_ms) == (30, 1, 300.0)
    assert cli_args.spec_from_args(cli_args.build_parsers()[1].parse_args(["run", "-w", "cpu"])).tasks == 4


def test_a_run_that_cannot_end_in_time_is_refused_before_it_starts():
    from concviz.engine.spec import TooSlow

    with pytest.raises(TooSlow, match="at least 1000 s"):
        RunSpec(model="thread-pool", workload="net-slow", tasks=2000, workers=2).validate()
    RunSpec(model="thread-pool", workload="net-slow", tasks=2000, workers=64, timeout_s=40).validate()
    with pytest.raises(TooSlow, match="sequential needs at least 100 s"):
        RunSpec(model="sequential", workload="net", tasks=100, latency_ms=100, requests=10).validate()


@pytest.mark.slow
def test_a_thread_costs_more_than_an_asyncio_task_at_500_connections():
    """500 connections held at once (each reply after 1.5 s): a blocking thread holds its
    connection for ~18 KB of memory here, an asyncio streams task for ~7 KB (a ratio of ~2.4,
    the same at 2,000 connections). A thread also has a 16 KB kernel stack that no process's
    memory holds (reported apart, as inferred); counted in, a thread costs ~4.5x a task. The
    margins are wide: 1.5x and 3x (narrower on 3.10, below)."""
    n = 500
    figures = {}
    for model in ("threads", "asyncio"):
        frame = run(model=model, workload="net-slow", tasks=n, latency_ms=1500.0)
        s = frame.stats
        assert s["done"] == n and s["server"]["max_open"] == n, (model, s["server"], failure_report(frame))
        assert s["mem_baseline_before_start"], s
        figures[model] = s
    threads, tasks = figures["threads"], figures["asyncio"]
    assert threads["mem_threads_peak"] >= n and tasks["mem_threads_peak"] <= 4
    # Python 3.11's smaller frames made a coroutine lighter: an asyncio task here costs 8-9.5 KB
    # on 3.11+ and 10-12.5 KB on 3.10 (a thread 17.5-21 KB), so the margins are narrower there
    margin, whole_margin = (1.5, 3) if sys.version_info >= (3, 11) else (1.3, 2.4)
    assert threads["mem_per_task_kb"] >= margin * tasks["mem_per_task_kb"], (threads, tasks)
    kernel = threads["mem_kernel_stacks_per_task_kb_inferred"]
    if kernel is not None:
        whole = (threads["mem_per_task_kb"] + kernel) / (tasks["mem_per_task_kb"]
                                                        + tasks["mem_kernel_stacks_per_task_kb_inferred"])
        assert whole >= whole_margin, (threads, tasks)
