"""Limits before a run (issue 12): raise the soft open-files limit to the hard one where a run
needs it, and otherwise refuse with one line that says what to change; the same for threads,
the machine's thread and pid tables, and thread stacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from concviz.engine.limits import (FD_MARGIN, TASK_MARGIN, UNLIMITED, decide_machine, decide_memory,
                                   decide_nofile, decide_tasks, needs)

WHAT = "10000 connections under threads"


def test_what_each_model_needs():
    threads = needs("threads", 10_000)
    assert threads.fds >= 10_000 and threads.threads >= 10_000 and threads.in_process_threads == 10_000
    aio = needs("asyncio", 10_000)
    assert aio.fds >= 10_000 and aio.threads == TASK_MARGIN and aio.in_process_threads == 0
    pool = needs("thread-pool", 10_000, pool_size=4)
    assert pool.fds == 4 + FD_MARGIN and pool.threads == 4 + TASK_MARGIN
    procs = needs("processes", 64)
    assert procs.threads == 64 + TASK_MARGIN and procs.in_process_threads == 0 and procs.fds >= 64
    assert needs("sequential", 10_000).fds == 1 + FD_MARGIN
    # without sockets (the io workload) asyncio's tasks need no file at all
    assert needs("asyncio", 100_000, sockets=False).fds == FD_MARGIN
    assert needs("threads", 10, open_fds=30).fds == needs("threads", 10).fds + 30


def one_line(text: str | None) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


def test_open_files_raised_to_the_hard_limit_or_refused_in_one_line():
    assert decide_nofile(900, 1024, 4096, None, WHAT) == (None, None)
    assert decide_nofile(2000, 1024, 4096, None, WHAT).raise_to == 4096
    assert decide_nofile(2000, 1024, None, 1_048_576, WHAT).raise_to == 1_048_576  # unlimited hard
    assert decide_nofile(2000, 1024, 2**40, 1_048_576, WHAT).raise_to == 1_048_576  # capped by nr_open
    assert decide_nofile(2000, None, None, None, WHAT) == (None, None)
    refused = decide_nofile(10_064, 1024, 4096, None, WHAT)
    assert refused.raise_to is None and one_line(refused.problem)
    assert "ulimit -n 10064" in refused.problem and "4096" in refused.problem and WHAT in refused.problem


def test_threads_per_user_raised_or_refused():
    assert decide_tasks(100, 50, 4096, 8192, False, WHAT) == (None, None)
    assert decide_tasks(10_000, 50, 4096, 65_536, False, WHAT).raise_to == 65_536
    assert decide_tasks(10_000, 50, 4096, None, False, WHAT).raise_to == UNLIMITED
    assert decide_tasks(10_000, 50, 4096, 4096, True, WHAT) == (None, None)  # root: not held to it
    refused = decide_tasks(10_000, 50, 4096, 8192, False, WHAT)
    assert one_line(refused.problem) and "ulimit -u 10050" in refused.problem


def test_the_machine_tables_and_stacks():
    assert decide_machine(10_000, 200, 190_000, 4_194_304, WHAT) is None
    over_pids = decide_machine(40_000, 200, 190_000, 32_768, WHAT)
    assert one_line(over_pids) and "pid_max" in over_pids
    over_threads = decide_machine(10_000, 200, 8_000, None, WHAT)
    assert one_line(over_threads) and "threads-max" in over_threads
    assert decide_memory(10_000, 40, 65_530, 8 * 2**20, False, None, WHAT) is None
    maps = decide_memory(40_000, 40, 65_530, 8 * 2**20, False, None, WHAT)
    assert one_line(maps) and "max_map_count" in maps
    strict = decide_memory(10_000, 40, 65_530, 8 * 2**20, True, 12 * 2**30, WHAT)
    assert one_line(strict) and "78.1 GB" in strict and "ulimit -s" in strict
    assert decide_memory(0, 40, 10, 8 * 2**20, True, 0, WHAT) is None  # no threads: no stacks


# In a child process: this one's limits must not change under the rest of the suite.
RAISE = textwrap.dedent("""
    import json, resource, sys
    from concviz.engine.limits import prepare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    check = prepare(sys.argv[1], int(sys.argv[2]))
    print(json.dumps({"problem": check.problem, "raised": check.raised, "hard": hard,
                      "soft_after": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
""")


def prepare_in_child(model: str, tasks: int) -> dict:
    out = subprocess.run([sys.executable, "-c", RAISE, model, str(tasks)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_prepare_raises_the_soft_limit_a_run_needs():
    result = prepare_in_child("asyncio", 1000)
    if result["hard"] < 1000 + FD_MARGIN:
        pytest.skip(f"this machine's hard limit ({result['hard']}) is below what the test needs")
    assert result["problem"] is None
    assert result["soft_after"] >= 1000 + FD_MARGIN
    assert any(r.startswith("open files: 256 -> ") for r in result["raised"]), result


def test_prepare_leaves_limits_alone_when_they_suffice():
    result = prepare_in_child("asyncio", 10)
    assert result["problem"] is None and result["raised"] == [] and result["soft_after"] == 256


def test_prepare_refuses_a_run_the_hard_limit_cannot_hold_in_one_line():
    result = prepare_in_child("asyncio", 100_000_000)
    assert one_line(result["problem"]) and "ulimit -n" in result["problem"], result
    assert result["soft_after"] == 256  # nothing raised for a run that cannot go


def concviz_with_nofile(soft: int, hard: int, *args: str) -> subprocess.CompletedProcess:
    """``python -m concviz ARGS`` in a shell whose open-files limit is (soft, hard)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-m", "concviz", *args], preexec_fn=limit, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", ["run", "compare"])
def test_more_connections_than_the_hard_limit_allows_is_one_line_exit_2(command):
    """2,000 connections where the hard limit is 256: refused before anything runs, saying
    what to change (compare: every model that would need them sits out, and with none left
    the comparison is refused)."""
    args = [command, "-w", "net-slow"] + (["-m", "asyncio"] if command == "run" else ["--models", "asyncio,threads"])
    done = concviz_with_nofile(256, 256, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and done.stdout == "", done.stderr
    assert "ulimit -n" in lines[0] and "2000 connections" in lines[0], lines


def test_a_soft_limit_below_the_run_is_raised_and_the_run_goes():
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 600 + FD_MARGIN:
        pytest.skip(f"this machine's hard limit ({hard}) is below what the test needs")
    done = concviz_with_nofile(256, hard, "run", "-m", "asyncio", "-w", "net", "-n", "600", "--requests", "1",
                               "--latency", "300", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["done"] == 600 and out["server"]["max_open"] >= 300, out["server"]
