"""The GIL lane: for each process whose threads share a GIL, which task's thread held it."""

from __future__ import annotations

from math import ceil

from rich.segment import Segment

from concviz.view import TASK_CHARS
from concviz.widgets.lane_cache import GilCellsCache
from concviz.widgets.lane_pane import TASK_COLOURS, LanePane, keyed_segments

# a GIL lane's column: the style key of idle, and of each task colour (plain, bold)
GIL_IDLE = chr(0)
GIL_KEYS = [(chr(1 + 2 * i), chr(2 + 2 * i)) for i in range(TASK_COLOURS)]


def gil_columns_seen(now_ns: int | None, t0: int, t1: int, width: int) -> int:
    """How many of ``width`` columns of [t0, t1) begin before ``now_ns`` (the frame's latest
    instant): the GIL lane draws only those."""
    if now_ns is None or now_ns >= t1:
        return width
    if now_ns <= t0:
        return 0
    return min(width, ceil((now_ns - t0) * width / (t1 - t0)))


# what the GIL lane says when no GIL is shared, longest first (the longest that fits is shown)
GIL_OFF = ("GIL off (free-threaded build): threads can run in parallel", "GIL off: threads run in parallel")
NO_THREADS_YET = ("no threads sharing a GIL yet",)
# a traced program: a holder is inferred only where threads waited on a GIL's futex
NO_GIL_SEEN = ("no thread seen waiting for a GIL (inferred from futex waits)", "no GIL waits seen")


def fit_words(texts: tuple[str, ...], room: int) -> str:
    """The first of ``texts`` that fits in ``room`` cells, else the last one cut at a word
    boundary with an ellipsis (never mid-word)."""
    for text in texts:
        if len(text) <= room:
            return text
    text = texts[-1]
    cut = text.rfind(" ", 0, room)
    return (text[:cut] if cut > 0 else text[:room - 1]) + "…" if room > 0 else ""


class GilLane(LanePane):
    """The GIL holder over time: for each process whose threads share a GIL, which task's thread
    ran in each column (its task character, in its colour)."""

    header_rows = 0

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cells = GilCellsCache()  # GIL columns kept across frames, redone where changed

    def lane_count(self) -> int:
        if not self.frame:
            return 0
        return max(1, min(2, len(self.frame.thread_pids)))

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame, win = self.frame, self.window
        label_w, cells_w, note_w = self.columns(width)
        pids = sorted(frame.thread_pids)
        traced = "trace" in frame.header
        name = (" GIL inferred" if label_w > 13 else " GIL (inf.)") if traced else " GIL holder"
        title = Segment(name.ljust(label_w)[:label_w],
                        self.style("lane--title"))
        if not frame.gil:
            why = GIL_OFF
        elif not pids:  # no threads share a GIL: why not, for this model, else "not yet"
            why = NO_GIL_SEEN if traced else (self.info.gil_note if self.info else ()) or NO_THREADS_YET
        else:
            why = ()
        if why:  # no GIL hand-offs to draw: say why
            return [title, Segment(fit_words(why, cells_w + note_w), self.style("lane--label"))]
        g = self._cells.cells(frame, pids[index], win.t0, win.t1, cells_w)
        # per column: the holder's task character, bold in its colour where it held the GIL
        # most of the column; a dot where nobody did; blank past the last instant recorded (a
        # live run's future, or after the run), as in the other lanes
        n = len(TASK_CHARS)
        past = gil_columns_seen(frame.now_ns, win.t0, win.t1, cells_w)
        cols = list(zip(g.task[:past], g.busy[:past]))
        shown = "".join(["·" if who < 0 else (" " if b < 0.05 else TASK_CHARS[who % n])
                         for who, b in cols]) + " " * (cells_w - past)
        keyed = "".join([GIL_IDLE if who < 0 or b < 0.05 else GIL_KEYS[who % TASK_COLOURS][b > 0.5]
                         for who, b in cols]) + GIL_IDLE * (cells_w - past)
        note = f"{frame.gil_switches} sw" if index == 0 else ""
        return ([title] + keyed_segments(shown, keyed, self.palette("gil"))
                + [Segment(" " + note.ljust(note_w - 1)[: note_w - 1], self.style("lane--note"))])
