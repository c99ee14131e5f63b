"""Shared helpers for the engine tests: real runs, cached per session, each checked for leftovers.

Engine tests must never import Textual (tests/unit is also what CI runs on other Pythons).
Every real run goes through :func:`run`, which also proves the run left no process behind, so
"no child process remains after a run" is checked after *every* run of the suite, not just in
the tests written for it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psutil

from concviz.engine.experiment import run_to_frame
from concviz.engine.frame import Frame
from concviz.engine.models import MODELS
from concviz.engine.spec import PROCESS_MODELS, THREAD_MODELS, RunSpec, models_for  # noqa: F401 - for the tests

# every model this Python can run the experiment of (the interpreters model needs 3.12+): on
# 3.12 and 3.13 (.ci/run) the engine tests run it too
ALL_MODELS = models_for()
assert set(ALL_MODELS) <= set(MODELS)
# the process models this Python runs (dask only with its extra installed)
PROCESS_MODELS = tuple(m for m in PROCESS_MODELS if m in ALL_MODELS)
CPUS = os.cpu_count() or 1

# Scales: small enough for a fast suite, large enough that the effect measured is not drowned
# by start-up. At 0.4 one CPU-bound task is ~0.2 s of arithmetic; starting a worker process
# with fork costs a few ms, so it cannot hide the parallelism of 4 such tasks on 2 cores.
CPU_SCALE = 0.4
# At 0.3 the 4 seeded sleeps are 0.23, 0.06, 0.26, 0.09 s (sum 0.64 s): overlapped they end
# near 0.26 s, in sequence near 0.64 s; the gap is far wider than this machine's jitter.
IO_SCALE = 0.3
LEFTOVER_WAIT_S = 3.0


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for a reaper counts as gone: this
    machine's PID 1 does not reap orphans, and a zombie holds no resources but its pid)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def in_group(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    found = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and not gone(p.pid):
                found.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return found


def children() -> set[int]:
    """Live descendants of this (test) process."""
    out = set()
    for c in psutil.Process().children(recursive=True):
        if not gone(c.pid):
            out.add(c.pid)
    return out


def leftovers(frame: Frame | None = None, before: set[int] = frozenset()) -> dict[str, list[int]]:
    """What is still alive that a finished run should have taken with it.

    * children of this (test) process, at any depth, that were not there before the run
      (``before``: other code in this process, e.g. a test of ``concviz doctor``, may have
      started multiprocessing's forkserver or resource tracker, which live as long as we do);
    * processes in the experiment's process group (its session id is its pid);
    * the processes the tasks reported running in (workers orphaned by the experiment are no
      longer our children, so they would escape the first check).
    """
    out = {"children": sorted(children() - set(before))}
    if frame is not None:
        exp_pid = frame.header.get("experiment_pid")
        out["group"] = in_group(exp_pid) if exp_pid else []
        out["task_pids"] = sorted({t.pid for t in frame.tasks if t.pid and t.pid != os.getpid()
                                   and not gone(t.pid)})
    return {k: v for k, v in out.items() if v}


def wait_no_leftovers(frame: Frame | None = None, before: set[int] = frozenset(),
                      timeout: float = LEFTOVER_WAIT_S) -> dict:
    """Poll for up to ``timeout`` seconds until nothing is left; return what is left."""
    deadline = time.monotonic() + timeout
    left = leftovers(frame, before)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = leftovers(frame, before)
    return left


def describe_pid(pid: int) -> str:
    """'PID command line' (or 'PID (gone)'), for failure messages."""
    try:
        return f"{pid} {' '.join(psutil.Process(pid).cmdline())[:150]}"
    except psutil.Error:
        return f"{pid} (gone)"


def describe(pids: dict[str, list[int]]) -> str:
    return "; ".join(f"{kind}: {describe_pid(pid)}" for kind, items in pids.items() for pid in items)


def kill_all(left: dict[str, list[int]]) -> None:
    """SIGKILL what a failed check found, so one broken run does not leak into the next test."""
    for pid in {p for pids in left.values() for p in pids}:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# id(frame) -> CPU cores' worth of work done by *other* processes while that frame's run lasted
OTHER_LOAD: dict[int, float] = {}


def _cpu_now() -> tuple[float, float, float]:
    """(now, busy CPU seconds of the whole machine, CPU seconds of this process and every
    child it has reaped: the experiment, which has reaped its workers)."""
    sys_times = psutil.cpu_times()
    busy = sum(sys_times) - sys_times.idle - getattr(sys_times, "iowait", 0.0)
    mine = os.times()
    return time.monotonic(), busy, mine.user + mine.system + mine.children_user + mine.children_system


def run(stop=None, record: str | None = None, **spec: Any) -> Frame:
    """Run a RunSpec to its end in a child process; assert that nothing of it survives."""
    already = children()
    before = _cpu_now()
    frame = run_to_frame(RunSpec(**spec).validate(), record=record, stop=stop)
    after = _cpu_now()
    # Steal time counts as busy: on a VM it is a core taken by someone else, like any rival.
    elapsed = max(1e-3, after[0] - before[0])
    OTHER_LOAD[id(frame)] = max(0.0, (after[1] - before[1]) - (after[2] - before[2])) / elapsed
    left = wait_no_leftovers(frame, already)
    if left:
        message = f"processes left after {spec}: {describe(left)}"
        kill_all(left)
        raise AssertionError(message)
    return frame


_CACHE: dict[tuple, Frame] = {}


def cached_run(**spec: Any) -> Frame:
    """:func:`run`, once per distinct spec per session (Frames are immutable, so tests that
    only read the outcome of the same run share it)."""
    key = tuple(sorted(spec.items()))
    if key not in _CACHE:
        _CACHE[key] = run(**spec)
    return _CACHE[key]


def failure_report(frame: Frame) -> str:
    """The figures to print when an assertion on a Frame fails."""
    s = frame.stats
    keys = ("model", "workload", "wall_s", "busy_s", "parallelism", "concurrency_max",
            "gil_switches", "done", "failed")
    head = ", ".join(f"{k}={s[k]:.3f}" if isinstance(s[k], float) else f"{k}={s[k]}" for k in keys)
    tasks = "; ".join(f"{t.id}:{t.status} {t.error or ''}".strip() for t in frame.tasks)
    return f"{head} | ended={frame.ended} {frame.end_message} | {tasks}"


# --- other Pythons (issue 16: --python, the interpreters model) ---------------------------------
def pythons_here() -> dict[str, str]:
    """The CPythons 3.10+ on this machine, "3.X" -> path: pyenv's newest of each minor version,
    else python3.X on PATH (as .ci/run finds them)."""
    import glob
    import re
    import shutil

    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    for path in glob.glob(os.path.join(root, "versions", "3.*", "bin", "python")):
        m = re.fullmatch(r"3\.(\d+)\.(\d+)", os.path.basename(os.path.dirname(os.path.dirname(path))))
        if m and int(m.group(1)) >= 10 and os.access(path, os.X_OK):
            key = f"3.{m.group(1)}"
            version = (int(m.group(1)), int(m.group(2)))
            if key not in found or version > found[key][0]:
                found[key] = (version, path)
    out = {key: path for key, (_, path) in found.items()}
    for minor in range(10, 20):
        key = f"3.{minor}"
        if key not in out and shutil.which(f"python{key}"):
            out[key] = shutil.which(f"python{key}")
    return dict(sorted(out.items(), key=lambda kv: int(kv[0].split(".")[1])))


def interpreters_python() -> str | None:
    """A Python that runs the interpreters model: None for this one, where it can, else the
    newest one here that can; pytest.skip where none can."""
    import pytest

    from concviz.engine.spec import unavailable

    why = unavailable("interpreters")
    if not why:
        return None
    for path in reversed(list(pythons_here().values())):
        if not unavailable("interpreters", path):
            return path
    pytest.skip(f"no Python here runs the interpreters model ({why})")
