"""The trivial child of the direct spawn-latency measurement (see spawn_direct.py).

It lives in its own module, importing what concviz's worker entry point imports
(concviz.engine.models.base), so that a spawn/forkserver child loads the same code as a concviz
worker before its first line runs: the comparison then measures concviz's bookkeeping, not a
difference in imports.
"""

from __future__ import annotations

import time

import concviz.engine.models.base  # noqa: F401  (the same imports as a concviz worker)


def first_line(conn, index: int, linger_s: float) -> None:
    t = time.perf_counter_ns()  # the child's first line
    conn.send((index, t))
    time.sleep(linger_s)  # stay alive like an I/O task, so the next starts see the same load


def thread_first_line(conn, index: int, linger_s: float) -> None:
    """As first_line, from a thread: the first line goes through a pipe as a process child's
    does, and as a concviz task's START does (its probe writes it out before the task's first
    sleep), so that the next threads start under the same load."""
    t = time.perf_counter_ns()
    conn.send((index, t))
    time.sleep(linger_s)
