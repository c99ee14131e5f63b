"""Shared helpers for the pane tests: one pane alone in an app, and a recorded run as a live
view saw it at some instant."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from concviz.engine.events import read_trace
from concviz.engine.frame import Frame
from concviz.engine.timeline import Timeline

FIXTURES = Path(__file__).parent.parent / "fixtures"


class PaneApp(App):
    """An app showing only ``pane`` (a LanePane subclass), with the id its class has in concviz."""

    def __init__(self, pane: type, id: str) -> None:
        super().__init__()
        self.pane, self.pane_id = pane, id

    def compose(self) -> ComposeResult:
        yield self.pane(id=self.pane_id)


class Recorded:
    """A recorded run (tests/fixtures): its events, first and last instants."""

    def __init__(self, name: str) -> None:
        self.header, self.events = read_trace(FIXTURES / f"{name}.jsonl")
        self.first = min(e[4] for e in self.events)
        self.last = max(e[5] for e in self.events)

    def at(self, fraction: float) -> int:
        return self.first + int((self.last - self.first) * fraction)

    def timeline_at(self, t: int, keep=lambda e: True) -> Timeline:
        """The run as a live view saw it at ``t``: the events that had ended by then."""
        timeline = Timeline(self.header)
        timeline.feed([e for e in self.events if e[5] <= t and keep(e)])
        return timeline

    def frame_at(self, t: int) -> Frame:
        return self.timeline_at(t).snapshot(now_ns=t)
