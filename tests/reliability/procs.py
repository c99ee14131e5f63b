"""Process-tree helpers for the reliability tests (psutil only; no Textual).

A zombie counts as gone: it holds no resources but its pid, and this machine's PID 1 does not
reap orphans, so an orphan that died properly can stay a zombie for the rest of the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Iterable

import psutil

from concviz.engine import spec
from concviz.engine.frame import Frame
from concviz.engine.spec import MODEL_NAMES, PROCESS_MODELS, unavailable
from tests.unit.helpers import describe_pid, gone, in_group, pythons_here  # noqa: F401 - gone is part of this module's API


def _python_of(model: str) -> str | None | bool:
    """The Python that runs ``model``: None for this one, else the newest here that can (the
    interpreters model needs 3.12+), False where none can."""
    if not unavailable(model):
        return None
    return next((p for p in reversed(list(pythons_here().values())) if not unavailable(model, p)), False)


PYTHON_OF = {m: _python_of(m) for m in MODEL_NAMES}
# every model some Python here runs (under --python where this one cannot)
ALL_MODELS = tuple(m for m in MODEL_NAMES if PYTHON_OF[m] is not False)
# the process models some Python here runs (dask only with its extra installed)
PROCESS_MODELS = tuple(m for m in PROCESS_MODELS if m in ALL_MODELS)
# the models whose tasks all run in the experiment process itself: no worker process to kill
IN_PROCESS_MODELS = tuple(m for m in MODEL_NAMES if m not in spec.PROCESS_MODELS)


def python_of(model: str) -> str | None:
    """The experiment's Python for a run of ``model`` (RunSpec.python)."""
    python = PYTHON_OF[model]
    return None if python is False else python


def model_flags(model: str) -> list[str]:
    """``-m MODEL``, and ``--python PATH`` where this Python cannot run it."""
    python = python_of(model)
    return ["-m", model] + (["--python", python] if python else [])
GONE_WITHIN_S = 3.0


def tree(pid: int) -> set[int]:
    """``pid`` and all its live descendants."""
    try:
        root = psutil.Process(pid)
        return {pid} | {c.pid for c in root.children(recursive=True) if not gone(c.pid)}
    except psutil.NoSuchProcess:
        return set()


def group(pgid: int) -> set[int]:
    """Live processes in process group ``pgid`` (the experiment's group: it is a session leader)."""
    return set(in_group(pgid))


def wait_gone(pids: Iterable[int], timeout: float = GONE_WITHIN_S) -> tuple[list[int], float]:
    """Wait until every pid is gone; return (those still alive, seconds waited)."""
    began = time.monotonic()
    alive = [p for p in pids if not gone(p)]
    while alive and time.monotonic() - began < timeout:
        time.sleep(0.02)
        alive = [p for p in alive if not gone(p)]
    return alive, time.monotonic() - began


def describe(pids: Iterable[int]) -> str:
    return "; ".join(describe_pid(pid) for pid in pids)


def kill(pids: Iterable[int]) -> None:
    """SIGKILL what a failed check left, so it does not leak into the next test."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def leftovers(frame: Frame) -> set[int]:
    """What a finished run left alive: its experiment's group, and the processes tasks ran in."""
    left = set()
    exp = frame.header.get("experiment_pid")
    if exp:
        left |= group(exp)
    left |= {t.pid for t in frame.tasks if t.pid and t.pid != os.getpid() and not gone(t.pid)}
    return left


def assert_nothing_left(frame: Frame) -> None:
    alive, _ = wait_gone(leftovers(frame))
    kill(alive)
    assert not alive, f"left behind: {describe(alive)}"


def concviz(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the real command line (``python -m concviz``) to its end."""
    return subprocess.run([sys.executable, "-m", "concviz", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
