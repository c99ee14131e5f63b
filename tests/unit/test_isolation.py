"""The engine is headless, and a run leaves no process behind (issue 2, acceptance 4 and 5).

Every real run of this suite already checks for leftovers (``helpers.run``). The tests here
cover the harder endings: a failing task, a cancelled run (with each start method), a run that
hits its time limit, and a parent that dies without cleaning up.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import concviz.engine

from .helpers import (ALL_MODELS, CPUS, PROCESS_MODELS, children, describe, gone, kill_all, run,
                      wait_no_leftovers)

HEADLESS_CHECK = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    import concviz.engine
    names = ["concviz.engine", "concviz.engine.models", "concviz.engine.experiment",
             "concviz.engine.timeline", "concviz.engine.frame", "concviz.engine.export",
             "concviz.cli", "concviz.cli_args", "concviz.cli_checks", "concviz.report", "concviz.ranking"]
    # and every engine module, including ones added after this test was written
    names += [m.name for m in pkgutil.walk_packages(concviz.engine.__path__, "concviz.engine.")]
    for name in names:
        importlib.import_module(name)
    ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
    print(json.dumps({"imported": names, "ui": ui}))
""")
ENGINE = Path(concviz.engine.__file__).parent


def test_engine_imports_no_textual_or_rich():
    out = subprocess.run([sys.executable, "-c", HEADLESS_CHECK], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ui"] == [], f"the engine (or cli/report) pulled in: {result['ui'][:10]}"
    # the walk reached every module of the engine on disk (a walk that found nothing would
    # leave only the names listed by hand, and prove nothing about the others)
    on_disk = {".".join(("concviz.engine",) + p.relative_to(ENGINE).with_suffix("").parts).removesuffix(".__init__")
               for p in ENGINE.rglob("*.py")}
    missing = on_disk - set(result["imported"])
    assert not missing, f"never imported: {sorted(missing)}"


def test_the_brief_one_liner_prints_false():
    code = ("import concviz.engine, concviz.engine.models, concviz.engine.experiment, "
            "concviz.engine.timeline, concviz.engine.frame, concviz.engine.export, concviz.cli, "
            "concviz.report; import sys; print('textual' in sys.modules or 'rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_headless_cli_runs_without_the_ui():
    # `concviz run` imports the app lazily: a whole headless run never loads Textual
    code = ("import sys; from concviz.cli import main; "
            "rc = main(['run', '-m', 'threads', '-w', 'io', '-n', '2', '--scale', '0.05', '--json']); "
            "print('UI' if 'textual' in sys.modules or 'rich' in sys.modules else 'headless', "
            "file=sys.stderr); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "headless"


# --- cleanup ---------------------------------------------------------------------------------------
def cancel_after(seconds: float) -> threading.Event:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


# a dask run starts its LocalCluster first (a second or more here): its tasks start after that
CLUSTER_START_S = {"dask": 6.0}


@pytest.mark.parametrize("model", ALL_MODELS)
def test_cancelled_run_leaves_nothing(model):
    # task 0 hangs forever: only the cancel can end this run
    after = 0.4 + CLUSTER_START_S.get(model, 0.0)
    began = time.monotonic()
    frame = run(stop=cancel_after(after), model=model, workload="io", tasks=4, scale=0.3,
                hang_task=0)
    took = time.monotonic() - began - after + 0.4
    assert frame.ended == "cancelled"
    assert frame.tasks[0].status == "failed" and "cancelled" in frame.tasks[0].error
    assert took < 5, f"cancelling took {took:.1f} s"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_cancelled_process_run_leaves_nothing_with_each_start_method(method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    # "spawn" needs longer to get its workers going: cancel once they surely exist
    frame = run(stop=cancel_after(1.0), model="processes", workload="io", tasks=3, scale=0.3,
                hang_task=1, start_method=method)
    assert frame.ended == "cancelled"
    assert frame.header["machine"]["start_method"] == method
    assert frame.tasks[1].status == "failed"


def test_run_that_hits_its_time_limit_leaves_nothing():
    frame = run(model="pool", workload="io", tasks=3, scale=0.3, hang_task=2, timeout_s=1.0)
    assert frame.ended == "timeout"
    assert frame.tasks[2].status == "failed" and "time limit" in frame.tasks[2].error
    assert [t.status for t in frame.tasks[:2]] == ["done", "done"]


@pytest.mark.parametrize("model", ["processes", "process-pool"])
def test_failing_task_in_a_process_run_leaves_nothing(model):
    # (test_failures runs every model with a failing task, through the same checked helper;
    # this one also waits for the pool's workers, which outlive the task that failed)
    frame = run(model=model, workload="cpu", tasks=3, scale=0.1, fail_task=0, workers=None)
    assert frame.tasks[0].status == "failed"


PARENT = textwrap.dedent("""
    import sys
    from concviz.engine.experiment import run_to_frame
    from concviz.engine.spec import RunSpec
    run_to_frame(RunSpec(model=sys.argv[1], workload="io", tasks=2, scale=1.0,
                         hang_task=0).validate())
""")


@pytest.mark.parametrize("model", ("threads",) + PROCESS_MODELS)
def test_parent_killed_mid_run_takes_the_experiment_and_workers_with_it(model):
    already = children()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, model], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    # the experiment, plus its worker processes: one per task, or one per CPU in a pool
    want = 1 if model == "threads" else 1 + (2 if model == "processes" else min(2, CPUS))
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            tree = [p for p in psutil.Process(parent.pid).children(recursive=True) if not gone(p.pid)]
            if len(tree) >= want:
                break
            time.sleep(0.05)
        assert len(tree) >= want, f"the run never got going: {tree}"
        time.sleep(0.5)  # let the workers start their tasks
        tree = psutil.Process(parent.pid).children(recursive=True)
        parent.send_signal(signal.SIGKILL)  # no finally, no atexit, no cleanup of any kind
        parent.wait(5)
        deadline = time.monotonic() + 3
        alive = [p.pid for p in tree if not gone(p.pid)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [p for p in alive if not gone(p)]
        assert not alive, f"orphans after the parent died: {describe({'orphan': alive})}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        kill_all({"tree": [p.pid for p in tree if not gone(p.pid)]})  # only if the test failed
    assert not wait_no_leftovers(before=already)


def experiments() -> list[psutil.Process]:
    """Our children that are experiment processes (others, e.g. zombies, are skipped)."""
    found = []
    for p in psutil.Process().children():
        try:
            if "concviz.engine.experiment" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


def kill_experiment_after(seconds: float) -> threading.Thread:
    """SIGKILL the experiment process (our child) ``seconds`` after it appears."""

    def killer() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = experiments()
            if found:
                time.sleep(seconds)
                found[0].send_signal(signal.SIGKILL)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("model", PROCESS_MODELS)
def test_experiment_killed_mid_run_is_reported_and_its_workers_go(model):
    killer = kill_experiment_after(0.5 + CLUSTER_START_S.get(model, 0.0))
    frame = run(model=model, workload="io", tasks=3, scale=1.0, hang_task=0, timeout_s=15)
    killer.join(5)
    assert frame.ended == "crashed"
    assert frame.tasks[0].status == "failed" and "died" in frame.tasks[0].error
    assert frame.stats["failed"] >= 1


def test_cancelled_before_it_started():
    stop = threading.Event()
    stop.set()
    frame = run(stop=stop, model="processes", workload="io", tasks=3, scale=0.5)
    assert frame.ended == "cancelled"
    assert [t.status for t in frame.tasks] == ["not started"] * 3  # never ran: not failures


WORKER_UNDER_A_PARENT = textwrap.dedent("""
    import os, time
    from concviz.engine.models.base import die_with_parent
    pid = os.fork()  # as a worker is forked from the experiment: die_with_parent was looked up before
    if pid == 0:
        die_with_parent()
        print("worker", os.getpid(), flush=True)
        time.sleep(30)
        os._exit(0)
    time.sleep(30)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_forked_worker_dies_with_its_parent():
    parent = subprocess.Popen([sys.executable, "-c", WORKER_UNDER_A_PARENT], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        line = parent.stdout.readline().split()
        assert line[:1] == ["worker"], line
        worker = int(line[1])
        assert not gone(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 3
        while not gone(worker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gone(worker), "the worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        if worker is not None and not gone(worker):
            kill_all({"worker": [worker]})
