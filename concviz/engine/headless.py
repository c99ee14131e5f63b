"""A run to its end without the UI: ``concviz run``, ``compare``, ``advise`` and the tests.

The experiment runs in its child process (:class:`concviz.engine.experiment.Experiment`), its
events fold into a Timeline here, and its memory is read from here while it runs (MEMORY
events, in the Timeline and the trace like the run's own).
"""

from __future__ import annotations

import threading
from typing import Any

from concviz.engine.spec import RunSpec


def run_to_frame(spec: RunSpec, record: str | None = None, stop: threading.Event | None = None):
    """Run ``spec`` to the end in a child process and return the final Frame, its memory read
    from here while it ran (MEMORY events, in the Timeline and the trace like the run's own).

    Args:
        spec: a validated RunSpec.
        record: optional path of a JSON-lines trace to write as events arrive.
        stop: set it (from another thread) to cancel the run.
    """
    from concviz.engine.events import TraceWriter
    from concviz.engine.experiment import Experiment  # (it imports this module)
    from concviz.engine.resources import RunMemory
    from concviz.engine.timeline import Timeline

    timeline = Timeline(tasks=spec.tasks)
    writer: TraceWriter | None = None
    lock = threading.Lock()  # the trace is written by the pump and the memory sampler
    exp = Experiment(spec)

    def keep(events: list) -> None:
        timeline.feed(events)
        if writer is not None:
            with lock:
                writer.write(events)

    def on_message(tag: str, payload: Any) -> None:
        nonlocal writer
        if tag == "E":
            keep(payload)
        elif tag == "H":
            timeline.set_header(payload)
            if record:
                writer = TraceWriter(record, payload)
            memory.header(payload)

    try:
        exp.start()
    except BaseException:
        exp.close()
        raise
    memory = RunMemory(exp.pid, keep, lambda: timeline.first_ns)
    memory.start()
    try:
        status, message, stopped_ns = exp.pump_to_end(on_message, stop=stop)  # closes exp
    except BaseException:
        memory.stop()
        if writer is not None:  # (ctrl+c while pumping) do not leak the trace's file
            writer.close()
        raise
    memory.stop()
    extra = timeline.end(status, message, t_ns=stopped_ns)
    if writer is not None:
        writer.write(extra)
        writer.close(status, message)
    return timeline.snapshot()
