"""A live session spills its events to disk (EventLog) instead of keeping them in memory: its
export is the whole run, and closing the session leaves no file behind."""

from __future__ import annotations

import threading

from concviz.engine.events import FINISH, MEMORY, RUN_LEVEL, START, read_trace
from concviz.engine.spec import RunSpec
from concviz.session import LiveSession


def test_a_live_run_exports_every_event_and_leaves_no_file(tmp_path):
    ended = threading.Event()
    session = LiveSession(RunSpec(model="threads", workload="mixed", tasks=3, scale=0.05).validate(),
                          on_end=lambda s, status: ended.set())
    session.start()
    assert ended.wait(30), "the run did not end"
    assert session.status == "ok"
    assert not hasattr(session, "events")  # nothing kept in memory beside the Timeline
    session.export(tmp_path / "run.jsonl")
    header, events = read_trace(tmp_path / "run.jsonl")
    assert header["model"] == "threads" and header["ended"] == "ok"
    assert len(events) == session.log.count
    # the run's own events, and the memory read from outside while it ran (run-level events,
    # which the Timeline folds apart and does not count among the run's)
    assert len([e for e in events if e[0] not in RUN_LEVEL]) == session.timeline.events
    assert len([e for e in events if e[0] == MEMORY]) == len(session.timeline.resources.memory) > 0
    assert sorted(e[1] for e in events if e[0] == START) == [0, 1, 2]
    assert sorted(e[1] for e in events if e[0] == FINISH) == [0, 1, 2]
    spill = session.log.path
    assert spill.exists()
    session.close(5.0)
    assert not spill.exists()
