"""The trivial task of the direct interpreter start measurement (see interp_direct.py).

Imported inside each subinterpreter, it imports what concviz's task entry point there imports
(concviz.engine.subprobe), so that its first line runs after the same imports as run_task's:
the comparison then measures concviz's bookkeeping, not a difference in imports.
"""

from __future__ import annotations

import os
import time

import concviz.engine.subprobe  # noqa: F401  (the same imports as a concviz task in an interpreter)


def first_line(fd: int, index: int, linger_s: float) -> None:
    t = time.perf_counter_ns()  # the task's first line
    os.write(fd, f"{index} {t}\n".encode())  # one write, well under PIPE_BUF: whole
    time.sleep(linger_s)  # stay alive like an I/O task, so the next starts see the same load
