"""A recorded trace as an event source, with the same interface as a live run.

Events become visible when they would have reached a live viewer: an interval when it ended,
an instant when it happened. The replay clock runs at ``speed`` times real time (0.1 = slow
motion, so 5 ms GIL hand-offs become 50 ms and can be watched).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from typing import Any

from concviz.engine.timeline import Timeline


class ReplaySource:
    """Feeds a Timeline from a trace as a virtual clock advances.

    Args:
        header: the trace header (from ``read_trace``).
        events: the trace's events.
        speed: how fast the virtual clock runs relative to real time.
    """

    def __init__(self, header: dict[str, Any], events: list[tuple], speed: float = 1.0) -> None:
        self.header = header
        self.events = sorted(events, key=lambda e: e[5])  # by end time: when a viewer sees it
        self._ends = [e[5] for e in self.events]
        self.speed = speed
        self.start_ns = min(e[4] for e in events) if events else 0
        self.end_ns = self._ends[-1] if events else 0
        self.cursor_ns = self.start_ns
        self._fed = 0
        self._wall0: float | None = None
        self.timeline = Timeline(header)

    @property
    def done(self) -> bool:
        return self._fed >= len(self.events)

    def advance(self, wall_s: float | None = None) -> bool:
        """Move the virtual clock to match the wall clock; feed what became visible.

        Returns True when the replay has reached its end (and the timeline has been ended)."""
        wall_s = time.monotonic() if wall_s is None else wall_s
        if self._wall0 is None:
            self._wall0 = wall_s
        self.cursor_ns = self.start_ns + int((wall_s - self._wall0) * self.speed * 1e9)
        return self._feed_until(self.cursor_ns)

    def finish(self) -> None:
        """Jump to the end at once (used by snapshot tests and the 'skip' action)."""
        self.cursor_ns = self.end_ns
        self._feed_until(self.end_ns)

    def seek(self, t_ns: int) -> bool:
        """Put the virtual clock at ``t_ns`` (perf_counter_ns, kept within the recording): the
        timeline then holds what a live viewer had seen at that instant. Going back folds the
        events again from the first (a timeline only grows); a later ``advance`` plays on from
        here at ``speed``.

        Returns True when ``t_ns`` is the end of the recording (and the timeline has ended)."""
        t_ns = max(self.start_ns, min(self.end_ns, t_ns))
        if t_ns < self.cursor_ns:
            self.timeline = Timeline(self.header)
            self._fed = 0
        self.cursor_ns = t_ns
        self._wall0 = time.monotonic() - (t_ns - self.start_ns) / self.speed / 1e9
        return self._feed_until(t_ns)

    def _feed_until(self, t_ns: int) -> bool:
        upto = bisect_right(self._ends, t_ns)
        if upto > self._fed:
            self.timeline.feed(self.events[self._fed:upto])
            self._fed = upto
        if self.done and self.timeline.ended is None:
            self.timeline.end(self.header.get("ended", "ok"), self.header.get("end_message", ""))
            return True
        return self.done
