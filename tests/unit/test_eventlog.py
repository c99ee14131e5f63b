"""EventLog keeps every event of a run on disk, gives the same trace as write_trace, and says
so when it could not keep them all."""

from __future__ import annotations

import pytest

from concviz.engine.eventlog import EventLog, EventLogError
from concviz.engine.events import ERROR, read_trace, write_trace
from concviz.engine.export import to_chrome_trace

from concviz.engine.spec import RunSpec

from tests.unit.test_prefix import random_run

# a header a recorded run could have (read_trace refuses any other): random_run's 6 tasks and cpus
HEADER = {"model": "threads", "workload": "cpu", "spec": RunSpec(model="threads", tasks=6).validate().to_dict(),
          "machine": {"cpus": 4, "gil": True, "switch_interval_ms": 5.0}}


def test_the_trace_it_writes_is_the_trace_of_every_batch(tmp_path):
    batches = random_run(2)
    batches[-1] = batches[-1] + [(ERROR, 0, 100, 0, 5, 5, -1, "boom: a \"quoted\"\nline")]
    with EventLog() as log:
        log.set_header(HEADER)
        for batch in batches:
            log.append(batch)
        log.write_trace(tmp_path / "log.jsonl", "ok", "fine")
        assert log.count == sum(map(len, batches))
        every = [e for b in batches for e in b]
        assert log.events() == every
    write_trace(tmp_path / "direct.jsonl", HEADER, every, "ok", "fine")
    assert (tmp_path / "log.jsonl").read_text() == (tmp_path / "direct.jsonl").read_text()
    header, events = read_trace(tmp_path / "log.jsonl")
    assert events == every and header["ended"] == "ok" and header["end_message"] == "fine"


def test_events_back_feed_the_chrome_export():
    batches = random_run(4)
    with EventLog(HEADER) as log:
        for batch in batches:
            log.append(batch)
        got = to_chrome_trace(HEADER, log.events())
    want = to_chrome_trace(HEADER, [e for b in batches for e in b])
    assert got == want and got["traceEvents"]


def test_close_removes_its_file_and_appends_are_refused_after(tmp_path):
    log = EventLog(directory=str(tmp_path))
    log.append([(ERROR, 1, 2, 3, 4, 5, -1, None)])
    assert log.path.exists() and log.path.parent == tmp_path
    log.close()
    assert not log.path.exists() and not list(tmp_path.iterdir())
    log.close()  # twice: nothing
    with pytest.raises(ValueError):
        log.append([(ERROR, 1, 2, 3, 4, 5, -1, None)])


def test_a_refused_batch_is_counted_and_the_trace_refused(tmp_path):
    with EventLog(HEADER) as log:
        log.append(random_run(1)[0])

        class Full:  # a disk that is full from now on
            closed = False

            def writelines(self, lines):
                raise OSError(28, "No space left on device")

            def flush(self):
                pass

        real, log._out = log._out, Full()
        lost = random_run(1)[1]
        log.append(lost)
        log._out = real
        assert log.lost == len(lost) and "No space" in log.error
        with pytest.raises(EventLogError, match=f"{len(lost)} events"):
            log.write_trace(tmp_path / "t.jsonl", "ok")
        with pytest.raises(EventLogError):
            log.events()
