"""The task lanes: one lane per task, what it did in each column (running, waiting for the GIL
or a CPU, sleeping, queued), and how it ended."""

from __future__ import annotations

from rich.segment import Segment

from concviz.engine.cells import CODE_BASE, CODE_BLANK, CODE_FULL
from concviz.widgets.lane_cache import LaneCodes
from concviz.engine.timeline import DONE, FAILED, NOT_STARTED, QUEUED, RUNNING
from concviz.view import BLOCKS, failure_word, format_time, short_label
from concviz.widgets.lane_pane import STATE_GLYPHS, LanePane, code_segments

GLYPH_BY_STATE = tuple(STATE_GLYPHS.values())
UPPER_GLYPH_BY_STATE = ("▒", "░", " ", " ", "╫", " ", " ")
DEFAULT_WORKER_LABEL = "thr {tid}"  # a model the registry does not know (an old trace)


def _code_tables(waits: tuple[str, ...]) -> dict[int, str]:
    """str.translate table: a lane column's code (Frame.task_codes) -> its glyph."""
    return {c: (waits[c] if c < CODE_BLANK else " ") if c <= CODE_BLANK else BLOCKS[c // CODE_BASE]
            for c in range(CODE_FULL + 1)}


# what a code looks like: its glyph (the bottom row of a lane, and the rows above it, which show
# waits but not sleep dots or queue dashes), and its style key (an index into
# LanePane.palette("task"): the 7 states, blank, running, running over each of the 7 states)
CODE_GLYPHS = _code_tables(GLYPH_BY_STATE)
UPPER_CODE_GLYPHS = _code_tables(UPPER_GLYPH_BY_STATE)
# A full block (8 eighths) hides its cell's background, so whatever the state under it, it
# takes the plain running style: a run of full blocks is one segment, not one per change of
# the hidden state (the upper rows of a tall lane are mostly full blocks).
_RUN_KEY = CODE_BLANK + 1
CODE_STYLE_KEY = {c: chr(c if c <= CODE_BLANK else _RUN_KEY if c // CODE_BASE == 8
                         else _RUN_KEY + (c % CODE_BASE + 1) % CODE_BASE)
                  for c in range(CODE_FULL + 1)}


class TaskLanes(LanePane):
    """One lane per task: running (block height = share of the cell it ran), waiting for the
    GIL, waiting for a CPU, sleeping, queued; a note with how it ended."""

    title = "Tasks"
    max_rows_per_lane = 3
    exact_width = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._codes = LaneCodes()  # lane columns kept across frames, redone where data changed

    def lane_count(self) -> int:
        return len(self.frame.tasks) if self.frame else 0

    def worker_label(self, index: int) -> str:
        """What identifies a task under its model (the registry's worker_label): thread id,
        pid, pool worker, asyncio task."""
        t = self.frame.tasks[index]
        if t.tid is None:
            return "" if t.pid is None else f"pid {t.pid}"
        if "trace" in self.frame.header:  # a traced program's thread, under its process
            return self.traced_label(t)
        template = self.info.worker_label if self.info else DEFAULT_WORKER_LABEL
        fields = {"pid": t.pid, "tid": t.tid % 100000, "label": t.label or "task"}
        if "{worker}" in template:
            fields["worker"] = self.pool_index(t.pid)
        return template.format_map(fields)

    def traced_label(self, t) -> str:
        """A traced thread: its process's main thread as its PID, the others as "└TID",
        under it, with their name where it is not the process's (Python before 3.14 leaves its
        threads the process's name)."""
        mains = self._memo.get("mains")
        if mains is None:
            mains = self._memo["mains"] = {u.pid: u.label for u in self.frame.tasks if u.tid == u.pid}
        if t.tid == t.pid:
            return str(t.pid)
        name = t.label if t.label and t.label != mains.get(t.pid) and t.label != str(t.tid) else ""
        return f"└{t.tid} {name}".rstrip()

    def pool_index(self, pid: int) -> int:
        """The pool worker ``pid`` is, counted in the order the workers first started a task."""
        order = self._memo.get("pool-index")
        if order is None:
            order = self._memo["pool-index"] = {}
            for t in sorted(self.frame.tasks, key=lambda t: t.start_ns or 0):
                if t.pid is not None and t.tid is not None and t.pid not in order:
                    order[t.pid] = len(order)
        return order.get(pid, 0)

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame, win = self.frame, self.window
        label_w, cells_w, note_w = self.columns(width)
        t = frame.tasks[index]
        codes = self._codes.rows(frame, index, win.t0, win.t1, cells_w, levels)[level]
        top = level == levels - 1
        segs = self._label(index, label_w, top)
        segs += code_segments(codes, CODE_GLYPHS if level == 0 else UPPER_CODE_GLYPHS, CODE_STYLE_KEY,
                              self.palette("task"))
        if top and note_w:
            segs.append(self.note_for(t, note_w))
        else:
            segs.append(Segment(" " * (note_w + 1), self._base))
        return segs  # exactly label_w + cells_w + 1 + note_w == width cells

    def _label(self, index: int, label_w: int, top: bool) -> list[Segment]:
        """The tag and worker of a lane's top row (blank below it), kept while they stay."""
        t = self.frame.tasks[index]
        worker = self.worker_label(index) if top else ""
        key = ("@label", t.id, worker, label_w, top)
        segs = self._labels.get(key)
        if segs is None:
            if len(self._labels) > 50_000:  # labels of runs long gone, notes of past seconds
                self._labels.clear()
            if top:  # the worker, shortened to leave a blank before the cells
                segs = [Segment(f" T{t.id}".ljust(5), self.task_tag_style(t.id)),
                        Segment(short_label(worker, label_w - 6).ljust(label_w - 5), self.style("lane--label"))]
            else:  # the rows below: blank
                segs = [Segment(" " * label_w, self._base)]
            self._labels[key] = segs
        return segs[:]

    def note_for(self, t, note_w: int) -> Segment:
        """How the task ended (or how long it has run), for the note column (with the gap
        before it and the space after it)."""
        if t.status == DONE:
            text, style = f"✓ {format_time(t.end_ns - t.start_ns)}", "lane--done"
        elif t.stopped:
            text, style = "■ stopped", "lane--note"  # cut short by the user: not a fault
        elif t.status == FAILED:
            text, style = f"✗ {failure_word(t.error)}", "lane--failed"
        elif t.status == NOT_STARTED:  # the run ended before it began: not a failure
            text, style = "- not run", "lane--queued"
        elif t.status == RUNNING:
            text, style = f"▶ {format_time(self.frame.now_ns - t.start_ns)}", "lane--run"
        elif t.status == QUEUED:
            text, style = "- queued", "lane--queued"
        else:
            text, style = "", ""
        # one segment: the gap and the trailing space are blanks on the pane's background in
        # any style (a segment fewer per lane for the compositor to cut and encode)
        if t.status == RUNNING:  # its time changes every frame: a note kept would not be asked again
            return Segment(" " + text.ljust(note_w - 1)[: note_w - 1] + " ", self.style(style))
        key = ("@note", text, style, note_w)
        seg = self._labels.get(key)
        if seg is None:
            seg = self._labels[key] = Segment(" " + text.ljust(note_w - 1)[: note_w - 1] + " ",
                                              self.style(style) if style else self._base)
        return seg


# what the GIL lane says when no GIL is shared, longest first (the longest that fits is shown)
