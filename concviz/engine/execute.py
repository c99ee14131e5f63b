"""A task's body between its brackets: START, the work, then FINISH or ERROR.

A module of its own, outside the models package (whose import loads every model): the
interpreters model runs this in each subinterpreter, which should import what a task needs and
no more (see subprobe.py).
"""

from __future__ import annotations

import os

from concviz.engine.probe import Recorder
from concviz.engine.workloads import WorkParams, run_sync


def error_text(exc: BaseException) -> str:
    """One line: the exception type and message, and where it was raised."""
    import traceback  # (only when a task fails: an interpreter's start imports what it needs)

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def execute(rec: Recorder, task: int, params: WorkParams, label: str | None = None,
            started_ns: int | None = None) -> bool:
    """Run one task with START and FINISH/ERROR around it; never raises."""
    rec.start(task, label, started_ns)
    try:
        run_sync(rec, task, params)
    except Exception as exc:  # noqa: BLE001 - a failing task is data, not a crash
        rec.error(task, error_text(exc))
        return False
    rec.finish(task)
    return True
