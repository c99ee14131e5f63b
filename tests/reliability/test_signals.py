"""Nothing left behind (issue 5): whatever ends a headless run - ctrl+c (SIGINT), SIGTERM,
SIGHUP (terminal closed) or SIGKILL of concviz itself - every process concviz started is gone
within 3 s.

Each test starts the real ``concviz run`` (CPU-bound, long enough to still be running), waits
until its process tree holds the experiment and its workers, doing work, sends the signal, then
checks with psutil that every process of that tree, and of the experiment's process group, is
gone. For SIGINT / SIGTERM / SIGHUP concviz cancels the run itself and exits 128 + N with one
line; for SIGKILL it cannot, and the experiment's parent watchdog takes its whole group down.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from .procs import (ALL_MODELS, GONE_WITHIN_S, PROCESS_MODELS, describe, gone, group, kill, model_flags, tree,
                    wait_gone)

CPUS = os.cpu_count() or 1
TASKS = 4
START_WITHIN_S = 20.0  # spawn on a busy 2-core machine can be slow to get going


def expected_workers(model: str) -> int:
    """Worker processes the run has once every worker is up."""
    if model == "processes":
        return TASKS
    if model in ("pool", "process-pool", "dask"):  # (dask: its LocalCluster's worker processes)
        return min(TASKS, CPUS)
    return 0


def start(command: str, model: str | None, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "concviz", command, "-w", "cpu", "-n", str(TASKS), "--scale", "5", *extra]
    if model:
        args[4:4] = model_flags(model)
    # its own session: a signal to its group is what a terminal's ctrl+c / hang-up would send
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def experiment_of(proc: subprocess.Popen) -> psutil.Process | None:
    try:
        for child in psutil.Process(proc.pid).children():
            if "concviz.engine.experiment" in " ".join(child.cmdline()):
                return child
    except psutil.Error:
        pass
    return None


def wait_until_working(proc: subprocess.Popen, workers: int) -> psutil.Process:
    """Wait until the experiment and ``workers`` worker processes exist and work is being done."""
    deadline = time.monotonic() + START_WITHIN_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"concviz ended early: {proc.communicate()}"
        exp = experiment_of(proc)
        if exp is not None:
            try:
                procs = [psutil.Process(p) for p in tree(exp.pid)]
                busy = sum(p.cpu_times().user for p in procs)
                # worker processes, not the forkserver / resource tracker helpers
                n = sum(1 for p in procs if p.pid != exp.pid and p.cpu_times().user > 0.05)
            except psutil.Error:
                busy, n = 0.0, 0
            if n >= workers and busy > 0.3:
                return exp
        time.sleep(0.05)
    raise AssertionError(f"the run never got going: {describe(tree(proc.pid))}")


def stop_and_check(proc: subprocess.Popen, sig: int, workers: int, to_group: bool = False) -> float:
    """Send ``sig`` once the run is working; assert every process is gone within 3 s.

    Returns the seconds it took until the last one was gone."""
    pids: set[int] = set()
    try:
        exp = wait_until_working(proc, workers)
        pids = tree(proc.pid)
        assert len(pids) >= 2 + workers, describe(pids)
        sent = time.monotonic()
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        pids |= group(exp.pid)  # anything the experiment started while we looked
        alive, _ = wait_gone(pids, GONE_WITHIN_S)
        took = time.monotonic() - sent
        assert not alive, f"alive {GONE_WITHIN_S} s after {signal.Signals(sig).name}: {describe(alive)}"
        return took
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        kill(p for p in pids if not gone(p))


def check_exit(proc: subprocess.Popen, sig: int) -> None:
    out, err = proc.communicate(timeout=10)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    name = signal.Signals(sig).name
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"stopped by {name}" in lines[0], err
    assert out == "", out  # no half summary of a cancelled run


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("model", ALL_MODELS)
def test_signal_leaves_nothing(model, sig):
    proc = start("run", model)
    took = stop_and_check(proc, sig, expected_workers(model))
    check_exit(proc, sig)
    print(f"\n[{signal.Signals(sig).name} {model}] all gone after {took * 1000:.0f} ms")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
@pytest.mark.parametrize("model", ["threads", "process-pool"])
def test_ctrl_c_and_hang_up_leave_nothing(model, sig):
    # sent to concviz's process group, as a terminal does; the experiment has its own session
    proc = start("run", model)
    took = stop_and_check(proc, sig, expected_workers(model), to_group=True)
    check_exit(proc, sig)
    print(f"\n[{signal.Signals(sig).name} {model}] all gone after {took * 1000:.0f} ms")


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("model", PROCESS_MODELS)
def test_sigkill_with_other_start_methods(model, method):
    # spawn / forkserver workers are not plain forks: forkserver's are its children, not the
    # experiment's, and both start a resource tracker; all of them must go
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    proc = start("run", model, "--start-method", method)
    took = stop_and_check(proc, signal.SIGKILL, expected_workers(model))
    check_exit(proc, signal.SIGKILL)
    print(f"\n[SIGKILL {model} {method}] all gone after {took * 1000:.0f} ms")


def start_quiet(model: str, method: str | None) -> subprocess.Popen:
    """A run that does nothing but wait: I/O tasks, task 0 hanging. No worker writes to the pipe,
    so nothing finds out that concviz is gone by a broken pipe: only the parent watchdog can."""
    args = [sys.executable, "-m", "concviz", "run", *model_flags(model), "-w", "io", "-n", str(TASKS),
            "--scale", "20", "--hang-task", "0"] + (["--start-method", method] if method else [])
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


QUIET = [(m, None) for m in ALL_MODELS] + [("pool", "forkserver"), ("process-pool", "spawn"),
                                            ("processes", "forkserver")]


@pytest.mark.parametrize("model,method", QUIET, ids=[f"{m}-{s or 'default'}" for m, s in QUIET])
def test_sigkill_of_a_quiet_run_leaves_nothing(model, method):
    if method and method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    proc = start_quiet(model, method)
    pids: set[int] = set()
    try:
        deadline = time.monotonic() + START_WITHIN_S
        exp = None
        while time.monotonic() < deadline:
            exp = experiment_of(proc)
            if exp is not None and len(tree(exp.pid)) >= 1 + expected_workers(model):
                break
            time.sleep(0.05)
        assert exp is not None, "the run never got going"
        time.sleep(0.5)  # every task is now asleep (or hanging)
        pids = tree(proc.pid)
        assert len(pids) >= 2 + expected_workers(model), describe(pids)
        sent = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        pids |= group(exp.pid)
        alive, _ = wait_gone(pids, GONE_WITHIN_S)
        took = time.monotonic() - sent
        assert not alive, f"alive {GONE_WITHIN_S} s after SIGKILL: {describe(alive)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        kill(p for p in pids if not gone(p))
    print(f"\n[SIGKILL quiet {model} {method or ''}] all gone after {took * 1000:.0f} ms")


def test_sigterm_during_compare_leaves_nothing():
    proc = start("compare", None, "--models", "pool,threads")
    took = stop_and_check(proc, signal.SIGTERM, expected_workers("pool"))
    check_exit(proc, signal.SIGTERM)
    print(f"\n[SIGTERM compare] all gone after {took * 1000:.0f} ms")


def test_a_parent_that_exits_without_closing_leaves_no_lock_file():
    """The writers' lock file is the parent's to remove. A parent that exits without closing
    its experiment (an unhandled error; the pump's daemon thread stopped at interpreter exit)
    after the experiment already ended still removes it (before the fix: a file left in /tmp)."""
    script = (
        "from concviz.engine.experiment import Experiment\n"
        "from concviz.engine.spec import RunSpec\n"
        "e = Experiment(RunSpec(model='threads', workload='cpu', tasks=1, scale=0.01).validate())\n"
        "e.start()\n"
        "print(e._lock_path, flush=True)\n"
        "e.proc.wait(20)\n"  # the run is over; its watcher is gone with it
        "raise RuntimeError('the parent fails before close()')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "RuntimeError" in out.stderr
    path = out.stdout.strip()
    assert path.endswith(".lock")
    assert not os.path.exists(path)
