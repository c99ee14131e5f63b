"""Lane panes: time flows left to right, one row per task / core / GIL, drawn with the Line API.

Every pane is a pure view of a Frame and a time Window. A row is computed only when it is
visible, and cached until the next frame, so the cost of a tick is O(visible rows x width) at
most; the columns of task and core lanes are also kept from frame to frame up to where their
data changed (lane_cache.LaneCodes, lane_cache.CoreCellsCache), so a live tick redoes a few columns a lane.
A row becomes one code per column, then glyphs and styles by ``str.translate`` and one segment
per run of a style (code_segments): the per-column work is in C.
"""

from __future__ import annotations

import re
from math import ceil
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as TextualStyle

from concviz.engine.cells import CODE_BLANK, CODE_FULL
from concviz.engine.frame import Frame
from concviz.view import BLOCKS, TASK_CHARS, Window, axis_ticks, format_time, short_label
from concviz.widgets.lane_cache import CoreCellsCache, LaneCodes

STATES = ("run", "gil", "cpu", "sleep", "queued", "done", "failed")
STATE_GLYPHS = {"gil": "▒", "cpu": "░", "sleep": "·", "queued": "-"}  # in COL_* order
GLYPH_BY_STATE = tuple(STATE_GLYPHS.values())
UPPER_GLYPH_BY_STATE = ("▒", "░", " ", " ")
TASK_COLOURS = 8


def _code_tables(waits: tuple[str, ...]) -> dict[int, str]:
    """str.translate table: a lane column's code (Frame.task_codes) -> its glyph."""
    return {c: (waits[c] if c < CODE_BLANK else " ") if c <= CODE_BLANK else BLOCKS[c // 5]
            for c in range(CODE_FULL + 1)}


# what a code looks like: its glyph (the bottom row of a lane, and the rows above it, which show
# waits but not sleep dots or queue dashes), and its style key (an index into
# LanePane.palette("task"): the 4 states, blank, running, running over each of the 4 states)
CODE_GLYPHS = _code_tables(GLYPH_BY_STATE)
UPPER_CODE_GLYPHS = _code_tables(UPPER_GLYPH_BY_STATE)
# A full block (8 eighths) hides its cell's background, so whatever the state under it, it
# takes the plain running style: a run of full blocks is one segment, not one per change of
# the hidden state (the upper rows of a tall lane are mostly full blocks).
CODE_STYLE_KEY = {c: chr(c if c <= CODE_BLANK else 5 if c // 5 == 8 else 5 + (c % 5 + 1) % 5)
                  for c in range(CODE_FULL + 1)}
SAME_RUN = re.compile(r"((.)\2*)", re.S)  # a run of one character: (the run, the character)
_segment = tuple.__new__  # Segment(text, style, None) without the Python-level NamedTuple __new__


def code_segments(codes: list[int], glyphs: dict[int, str], keys: dict[int, str],
                  styles: list[Style]) -> list[Segment]:
    """Segments for a row of column codes (ints < 256): each code's glyph and style key come
    from ``str.translate`` tables, in C; a run of one style key becomes one segment."""
    text = bytes(codes).decode("latin-1")
    return keyed_segments(text.translate(glyphs), text.translate(keys), styles)


def keyed_segments(shown: str, keyed: str, styles: list[Style]) -> list[Segment]:
    """``shown`` cut into one segment per run of one character in ``keyed`` (the style key of
    each column: its ord indexes ``styles``)."""
    out = []
    append = out.append
    a = 0
    for run, key in SAME_RUN.findall(keyed):
        b = a + len(run)
        append(_segment(Segment, (shown[a:b], styles[ord(key)], None)))
        a = b
    return out


# the "in parallel" row's column: 0 nothing ran, else eighths of all cores busy (1-8), plus 9
# where more than one core's worth ran
TOTAL_GLYPHS = {c: BLOCKS[c % 9] for c in range(18)}
TOTAL_STYLE_KEY = {c: chr(0 if c == 0 else 1 if c < 9 else 2) for c in range(18)}

# a GIL lane's column: the style key of idle, and of each task colour (plain, bold)
GIL_IDLE = chr(0)
GIL_KEYS = [(chr(1 + 2 * i), chr(2 + 2 * i)) for i in range(TASK_COLOURS)]

# a core lane's column: 0 idle, else 1 + 9 x (task colour) + eighths busy (0-8)
CORE_GLYPHS = {c: " " if c == 0 else BLOCKS[(c - 1) % 9] for c in range(1 + 9 * TASK_COLOURS)}
CORE_STYLE_KEY = {c: chr(0 if c == 0 else 1 + (c - 1) // 9) for c in range(1 + 9 * TASK_COLOURS)}


def gil_columns_seen(now_ns: int | None, t0: int, t1: int, width: int) -> int:
    """How many of ``width`` columns of [t0, t1) begin before ``now_ns`` (the frame's latest
    instant): the GIL lane draws only those."""
    if now_ns is None or now_ns >= t1:
        return width
    if now_ns <= t0:
        return 0
    return min(width, ceil((now_ns - t0) * width / (t1 - t0)))


class LanePane(ScrollView):
    """Base class: a sticky header row (optional), then lanes of label | cells | note."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lane--label", "lane--axis", "lane--title", "lane--note", "lane--parallel",
        *(f"lane--{s}" for s in STATES),
        *(f"task--{i}" for i in range(TASK_COLOURS)),
    }
    DEFAULT_CSS = """
    LanePane { height: auto; scrollbar-size-vertical: 1; overflow-x: hidden; }
    """
    header_rows = 1
    title = ""
    max_rows_per_lane = 1
    exact_width = False  # True where render_lane always returns exactly `width` cells

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.frame: Frame | None = None
        self.window: Window | None = None
        self.note = ""
        self._cache: dict[tuple[int, int, int], Strip] = {}
        self._styles: dict[str, Style] = {}
        self._labels: dict[tuple, Any] = {}  # segments of labels and notes, across frames
        self.rows_per_lane = 1
        self._base = Style()
        self._geometry: tuple | None = None  # what the rows in _shown were drawn for
        self._shown: dict[int, Strip] = {}  # visible row -> the strip on screen
        self._paint = (0, 0)  # (draw width, top row) while Textual paints (render_lines)
        self._headers: dict[tuple, Strip] = {}  # header rows, kept while window and note stay

    # --- data in ---------------------------------------------------------------------------
    def show(self, frame: Frame, window: Window, note: str = "") -> None:
        """Take a new frame; rows are recomputed lazily as they are drawn."""
        self.frame = frame
        self.window = window
        self.note = note
        self._cache.clear()
        if not self._styles:
            self._base = self.rich_style  # computing rich_style is costly: once per frame
        lanes = self.lane_count()
        # (Textual works out a widget's size from the screen's map on every read: once here)
        size = self.size
        room = size.height - self.header_rows
        # Few lanes in a tall pane: make each lane taller, so a room can read it from the back.
        self.rows_per_lane = max(1, min(self.max_rows_per_lane, room // lanes if lanes else 1))
        height = lanes * self.rows_per_lane + self.header_rows
        virtual = self.virtual_size
        if virtual.height != height or virtual.width != size.width:
            virtual = self.virtual_size = Size(size.width, height)
        self._refresh_changed(size, virtual)

    def _refresh_changed(self, size: Size, virtual: Size) -> None:
        """Repaint only the visible rows whose content changed since the last frame.

        A live run changes a few rows per tick (the running lanes' right edge, their notes); the
        header, finished lanes and blank rows stay as they were. Textual's cost is per repainted
        row, so repainting only what changed roughly halves the UI's CPU during a run."""
        width = self.draw_width
        scroll = self.scroll_offset
        geometry = (size, virtual, scroll, self.rows_per_lane, width)
        top = int(scroll.y)
        if geometry != self._geometry:
            self._geometry = geometry
            self._shown = {y: self._line(y, width, top) for y in range(size.height)}
            self.refresh()
            return
        # rows below the last lane are blank, and stay so until the geometry changes
        used = min(size.height, self.header_rows + self.lane_count() * self.rows_per_lane - top)
        shown = self._shown
        changed = []  # runs of changed rows, [first, last + 1): one region each
        for y in range(used):
            strip = self._line(y, width, top)
            if shown.get(y) != strip:
                shown[y] = strip
                if changed and changed[-1][1] == y:
                    changed[-1][1] = y + 1
                else:
                    changed.append([y, y + 1])
        if changed:
            self.refresh(*(Region(0, a, size.width, b - a) for a, b in changed))

    def lane_count(self) -> int:
        return 0

    # --- geometry --------------------------------------------------------------------------
    def columns(self, width: int) -> tuple[int, int, int]:
        """(label, cells, note) widths for a pane ``width`` wide (less the scrollbar)."""
        label = 16 if width >= 100 else 13
        note = 10 if width >= 60 else 0
        return label, max(1, width - label - note - 1), note

    @property
    def draw_width(self) -> int:
        return self.scrollable_content_region.width

    # --- styles ----------------------------------------------------------------------------
    def style(self, name: str) -> Style:
        s = self._styles.get(name)
        if s is None:
            # on the pane's own background, so every cell of a row shares one background
            s = self._styles[name] = self._base + self.get_component_rich_style(name, partial=True)
        return s

    def task_style(self, task: int) -> Style:
        return self.style(f"task--{task % TASK_COLOURS}")

    def task_tag_style(self, task: int) -> Style:
        """The task's colour, bold: its tag at the start of its lane."""
        key = f"@tag{task % TASK_COLOURS}"
        s = self._styles.get(key)
        if s is None:
            s = self._styles[key] = self.task_style(task) + Style(bold=True)
        return s

    def palette(self, kind: str) -> list[Style]:
        """The styles a kind of row's style keys index (see the *_STYLE_KEY tables and
        GIL_KEYS), made once per theme: one object per look, so a row's columns are joined into
        segments by key, without comparing styles."""
        key = f"@palette-{kind}"
        styles = self._styles.get(key)
        if styles is None:
            if kind == "task":  # the 4 states, blank, running, running over each of the 4 states
                run = self.style("lane--run")
                styles = [*(self.style(f"lane--{name}") for name in STATE_GLYPHS), self._base, run,
                          *(run + self.shade(name) for name in STATE_GLYPHS)]
            elif kind == "core":  # idle, then each task colour
                styles = [self._base, *(self.task_style(i) for i in range(TASK_COLOURS))]
            elif kind == "total":  # nothing ran, one core's worth, more (parallel)
                styles = [self._base, self.style("lane--run"), self.style("lane--parallel")]
            else:  # "gil": idle, then each task colour plain and bold
                styles = [self.style("lane--label")]
                for i in range(TASK_COLOURS):
                    styles += [self.task_style(i), self.task_tag_style(i)]
            self._styles[key] = styles
        return styles

    def shade(self, name: str, amount: float = 0.55) -> Style:
        """A background made from a state's colour, faded towards the pane's background."""
        key = f"{name}@bg"
        s = self._styles.get(key)
        if s is None:
            fg = self.style(f"lane--{name}").color
            bg = self.background_colors[1]
            if fg is None:
                s = Style()
            else:
                s = Style(bgcolor=Color.from_rich_color(fg).blend(bg, amount).rich_color)
            self._styles[key] = s
        return s

    # --- drawing ---------------------------------------------------------------------------
    def get_line_filters(self) -> list:
        """Textual's filters but ANSIToTruecolor, which would turn ANSI colours and dim text into
        true colours: a lane's styles are made of the theme's colours, true colours already,
        and none is dim, so for a lane the filter changes nothing (a test holds it to that, in
        every built-in theme) but costs a Python step per segment on every repainted row: 30%
        of Textual's render of a 64-lane frame. Filters asked for by the user (NO_COLOR,
        TEXTUAL_FILTERS=dim) still apply; with an ANSI theme the filter is off anyway."""
        return [f for f in super().get_line_filters() if not isinstance(f, ANSIToTruecolor)]

    def notify_style_update(self) -> None:
        """The theme or CSS changed: forget the styles cached from it."""
        super().notify_style_update()
        self._styles.clear()
        self._labels.clear()
        self._cache.clear()
        self._headers.clear()
        self._geometry = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # the width and scroll position are read once per paint, not once per row
        self._paint = width, top = self.draw_width, int(self.scroll_offset.y)
        if not self.plain_box():
            return super().render_lines(crop)
        # Textual's styles cache would draw each row's border, padding, outline, hatch, tint and
        # opacity around render_line's strip: ~15 us a row, even with none of them (a 64-lane
        # frame: ~1 ms). A pane with none of them gets its rows as they are, filtered and cropped
        # as Textual does it (a test holds the two ways to each other).
        line = self._line
        strips = [line(y, width, top) for y in crop.line_range]
        full = self.region.width
        filters = self.get_line_filters()
        if full > width or filters:  # (background_colors walks the ancestors: read it once)
            base, background = self.background_colors
        if full > width:  # the columns under the scrollbar, as Textual pads them (hidden by it)
            pad = TextualStyle(background=base + background).rich_style
            strips = [strip.adjust_cell_length(full, pad) for strip in strips]
        if filters:
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        if crop.column_span != (0, full):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def plain_box(self) -> bool:
        """True while nothing in the pane's styles draws around or over its rows: no border,
        outline, padding, hatch, tint or opacity, and no link under the mouse."""
        styles = self.styles
        return (not any(edge for edge, _ in styles.border) and not any(edge for edge, _ in styles.outline)
                and styles.padding == (0, 0, 0, 0) and styles.tint.a == 0 and self.opacity == 1.0
                and styles.text_opacity == 1.0 and (not styles.has_rule("hatch") or styles.hatch == "none")
                and not (self.auto_links and self.hover_style._link_id))

    def render_line(self, y: int) -> Strip:
        width, top = self._paint
        return self._line(y, width, top)

    def _line(self, y: int, width: int, top: int) -> Strip:
        """Visible row ``y``: the sticky header, or a row of a lane (cached per frame)."""
        if self.frame is None or self.window is None:
            return Strip.blank(width, self._base)
        if y < self.header_rows:
            # the header changes with the window and the note only: kept across frames (a live
            # run's window stays put between the round steps it grows in)
            key = (y, width, self.header_key())
            strip = self._headers.get(key)
            if strip is None:
                if len(self._headers) > 64:
                    self._headers.clear()
                strip = self._headers[key] = self.render_header(y, width).adjust_cell_length(width, self._base)
            return strip
        line = y - self.header_rows + top
        index, row = divmod(line, self.rows_per_lane)
        key = (index, row, width)
        strip = self._cache.get(key)
        if strip is None:
            if index < self.lane_count():
                segs = self.render_lane(index, width, self.rows_per_lane - 1 - row, self.rows_per_lane)
                if self.exact_width:  # the lane says it is exactly `width` cells: skip measuring
                    strip = Strip(segs, width)
                else:
                    strip = Strip(segs).adjust_cell_length(width, self._base)
            else:
                strip = Strip.blank(width, self._base)
            self._cache[key] = strip
        return strip

    def header_key(self) -> tuple:
        """What the header row shows depends on (render_header)."""
        return self.window, self.note

    def render_header(self, y: int, width: int) -> Strip:
        """The title in the label column, time ticks over the cells, the zoom in the note."""
        label_w, cells_w, note_w = self.columns(width)
        axis = [" "] * cells_w
        for col, text in axis_ticks(self.window, cells_w):
            if col + len(text) <= cells_w:
                axis[col:col + len(text)] = list(text)
        segs = [
            Segment(f" {self.title}".ljust(label_w)[:label_w], self.style("lane--title")),
            Segment("".join(axis) + " ", self.style("lane--axis")),
            Segment(self.note.rjust(note_w)[:note_w], self.style("lane--axis")),
        ]
        return Strip(segs)

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        """Segments of row ``level`` (0 = bottom) of a lane drawn ``levels`` rows tall."""
        return []


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
        """What identifies a task under its model: thread id, pid, pool worker, asyncio task."""
        frame = self.frame
        t = frame.tasks[index]
        if t.tid is None:
            return "" if t.pid is None else f"pid {t.pid}"
        model = frame.model
        if model in ("pool", "process-pool"):
            return f"w{self.pool_index(t.pid)} {t.pid}"
        if model == "processes":
            return f"pid {t.pid}"
        if model == "asyncio":
            return t.label or "task"
        return f"thr {t.tid % 100000}"

    def pool_index(self, pid: int) -> int:
        key = ("pool-index",)
        order = self.frame._cache.get(key)
        if order is None:
            order = {}
            for t in sorted(self.frame.tasks, key=lambda t: t.start_ns or 0):
                if t.pid is not None and t.tid is not None and t.pid not in order:
                    order[t.pid] = len(order)
            self.frame._cache[key] = order
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
        if t.status == "done":
            text, style = f"✓ {format_time(t.end_ns - t.start_ns)}", "lane--done"
        elif t.stopped:
            text, style = "■ stopped", "lane--note"  # cut short by the user: not a fault
        elif t.status == "failed":
            text, style = "✗ failed", "lane--failed"
        elif t.status == "running":
            text, style = f"▶ {format_time(self.frame.now_ns - t.start_ns)}", "lane--run"
        elif t.status == "queued":
            text, style = "- queued", "lane--queued"
        else:
            text, style = "", ""
        key = ("@note", text, style, note_w)
        seg = self._labels.get(key)
        if seg is None:
            # one segment: the gap and the trailing space are blanks on the pane's background in
            # any style (a segment fewer per lane for the compositor to cut and encode)
            seg = self._labels[key] = Segment(" " + text.ljust(note_w - 1)[: note_w - 1] + " ",
                                              self.style(style) if style else self._base)
        return seg


# what the GIL lane says when no GIL is shared, longest first (the longest that fits is shown)
GIL_OFF = ("GIL off (free-threaded build): threads can run in parallel", "GIL off: threads run in parallel")
_PER_WORKER = ("each worker process has its own GIL: nothing to hand off",
               "each worker has its own GIL: nothing to hand off", "a GIL per worker: none shared")
NO_GIL_SHARED = {
    "processes": ("each process has its own GIL: nothing is shared, nothing to hand off",
                  "each process has its own GIL: nothing to hand off", "a GIL per process: none shared"),
    "pool": _PER_WORKER,
    "process-pool": _PER_WORKER,
    "asyncio": ("one thread runs every task: the GIL never changes hands",
                "one thread runs every task: no GIL hand-off", "one thread: no GIL hand-off"),
    "sequential": ("one thread: the GIL never changes hands",),
}


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

    def lane_count(self) -> int:
        if not self.frame:
            return 0
        return max(1, min(2, len(self.frame.thread_pids)))

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame, win = self.frame, self.window
        label_w, cells_w, note_w = self.columns(width)
        pids = sorted(frame.thread_pids)
        title = Segment(" GIL holder".ljust(label_w)[:label_w], self.style("lane--title"))
        why = GIL_OFF if not frame.gil else None if pids else NO_GIL_SHARED.get(
            frame.model, ("no threads sharing a GIL yet",))
        if why:  # no GIL hand-offs to draw: say why
            return [title, Segment(fit_words(why, cells_w + note_w), self.style("lane--label"))]
        g = frame.gil_cells(pids[index], win.t0, win.t1, cells_w)
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


class CoreLanes(LanePane):
    """One lane per logical CPU: how busy it was with task work (block height) and with which
    task (colour), as recorded by the probe; the label shows the OS's live utilisation."""

    title = "Cores"
    exact_width = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.os_percent: tuple[float, ...] = ()
        self._cells = CoreCellsCache()  # core columns kept across frames, redone where changed

    def lane_count(self) -> int:
        # one lane per CPU, plus "all": how many cores' worth of task work ran in each slice
        return self.frame.cpu_count + 1 if self.frame else 0

    def header_key(self) -> tuple:
        return self.window, bool(self.os_percent)

    def render_header(self, y: int, width: int) -> Strip:
        label_w, cells_w, note_w = self.columns(width)
        marks = [" "] * cells_w
        for col, _ in axis_ticks(self.window, cells_w):
            if col < cells_w:
                marks[col] = "╷"
        title = " Cores" + ("  OS%" if self.os_percent else "")
        return Strip([
            Segment(title.ljust(label_w)[:label_w], self.style("lane--title")),
            Segment("".join(marks) + " ", self.style("lane--axis")),
            Segment("busy".rjust(note_w - 1)[: note_w - 1] if note_w else "", self.style("lane--axis")),
        ])

    def _core(self, cpu: int, cells_w: int):
        win = self.window
        return self._cells.cells(self.frame, cpu, win.t0, win.t1, cells_w)

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        n = frame.cpu_count
        if index == n:
            return self.render_total(width)
        cc = self._core(index, cells_w)
        codes = [0 if who < 0 else 1 + 9 * (who % TASK_COLOURS) + (min(8, ceil(busy * 8 - 1e-9)) if busy > 0.001 else 0)
                 for busy, who in zip(cc.busy, cc.task)]
        pct = f"{self.os_percent[index]:3.0f}%" if index < len(self.os_percent) else ""
        label = f" cpu{index}".ljust(label_w - 5) + pct.rjust(4) + " "
        busy_ns = sum(row["busy_s"] for row in frame.stats["per_core"] if row["cpu"] == index) * 1e9
        note = format_time(busy_ns) if busy_ns else "idle"
        return ([Segment(label[:label_w], self.style("lane--label"))]
                + code_segments(codes, CORE_GLYPHS, CORE_STYLE_KEY, self.palette("core"))
                + [Segment(" " + note.rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ", self.style("lane--note"))])

    def render_total(self, width: int) -> list[Segment]:
        """Cores busy at once in each slice: the block's height is the share of all cores, the
        colour says whether more than one core's worth ran (true parallelism)."""
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        n = frame.cpu_count
        total = [sum(col) for col in zip(*(self._core(cpu, cells_w).busy for cpu in range(n)))] if n else [0.0] * cells_w
        codes = [(min(8, ceil(v / n * 8 - 1e-9)) + (9 if v > 1.05 else 0)) if v > 0.001 else 0 for v in total]
        p = frame.stats["parallelism"]
        return ([Segment(" in parallel".ljust(label_w)[:label_w], self.style("lane--title"))]
                + code_segments(codes, TOTAL_GLYPHS, TOTAL_STYLE_KEY, self.palette("total"))
                + [Segment(" " + f"×{p:.2f}".rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ",
                           self.style("lane--note"))])
