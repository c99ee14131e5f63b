"""ReplaySession.seek (issue 14): a replay put at an instant shows what a live viewer saw then,
forwards or backwards, and the frame tick still sees every change."""

from __future__ import annotations

from pathlib import Path

from concviz.engine.events import read_trace
from concviz.engine.timeline import Timeline
from concviz.session import ReplaySession

FIXTURES = Path(__file__).parent.parent / "fixtures"


def recorded(name: str = "threads-cpu"):
    return read_trace(FIXTURES / f"{name}.jsonl")


def seen_at(header, events, t_ns: int):
    """What a live viewer had at ``t_ns``: the events that had ended by then."""
    timeline = Timeline(header)
    timeline.feed(sorted((e for e in events if e[5] <= t_ns), key=lambda e: e[5]))
    return timeline.snapshot(now_ns=t_ns)


def picture(frame) -> list:
    """What the lanes of a frame draw over the first 2 s (longer than either recording), 200
    columns a lane, and how many tasks have ended."""
    t0 = frame.first_ns
    t1 = t0 + 2_000_000_000
    lanes = [frame.task_codes(i, t0, t1, 200) for i in range(len(frame.tasks))]
    return [lanes, frame.stats["done"] + frame.stats["failed"]]


def test_a_seek_shows_what_a_viewer_saw_at_that_instant():
    header, events = recorded()
    session = ReplaySession(header, events)
    start = min(e[4] for e in events)
    for fraction in (0.25, 0.6):
        offset = int(session.duration_ns * fraction)
        session.seek(offset)
        frame = session.snapshot()
        expected = seen_at(header, events, start + offset)
        assert frame.now_ns == start + offset
        assert picture(frame) == picture(expected)
        assert frame.stats["wall_s"] == expected.stats["wall_s"]
        assert session.running  # mid-way: the run has not ended


def test_seeking_back_and_forth_gives_the_same_picture_and_a_new_version():
    header, events = recorded("processes-cpu")
    session = ReplaySession(header, events)
    middle = session.duration_ns // 2
    session.seek(middle)
    there = picture(session.snapshot())
    session.seek(session.duration_ns)
    assert not session.running and session.snapshot().ended == "ok"
    end_version = session.version
    session.seek(middle)  # back: the timeline is folded again from the first event
    assert session.running
    assert picture(session.snapshot()) == there
    assert session.version > end_version  # the app's tick must not take it for "nothing new"


def test_a_seek_is_kept_within_the_recording():
    header, events = recorded()
    session = ReplaySession(header, events)
    session.seek(-5)
    assert picture(session.snapshot()) == picture(seen_at(header, events, min(e[4] for e in events)))
    session.seek(session.duration_ns * 10)
    assert not session.running
    assert session.snapshot().stats["done"] == len(session.snapshot().tasks)
