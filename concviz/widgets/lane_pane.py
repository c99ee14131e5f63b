"""The base of the lane panes: time flows left to right, one row per lane, drawn with the Line API.

Every pane is a pure view of a Frame and a time Window. A row is computed only when it is
visible, and cached until the next frame, so the cost of a tick is O(visible rows x width) at
most; the columns of task and core lanes are also kept from frame to frame up to where their
data changed (lane_cache: LaneCodes, CoreCellsCache, GilCellsCache), so a live tick redoes a few
columns a lane.
A row becomes one code per column, then glyphs and styles by ``str.translate`` and one segment
per run of a style (code_segments): the per-column work is in C.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as TextualStyle

from concviz.engine.frame import Frame
from concviz.view import Window, axis_ticks

if TYPE_CHECKING:
    from concviz.engine.models import ModelInfo

STATES = ("run", "gil", "cpu", "sleep", "queued", "lock", "other", "unknown", "done", "failed")
# in COL_* order; the last three are named only by a trace of a program
STATE_GLYPHS = {"gil": "▒", "cpu": "░", "sleep": "·", "queued": "-", "lock": "╫", "other": "~", "unknown": "?"}
TASK_COLOURS = 8
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
        self.info: ModelInfo | None = None
        self._cache: dict[tuple[int, int, int], Strip] = {}  # rows of the frame shown
        self._memo: dict[Any, Any] = {}  # what rows of the frame shown share (pane's own keys)
        self._styles: dict[str, Style] = {}
        self._labels: dict[tuple, Any] = {}  # segments of labels and notes, across frames
        self.rows_per_lane = 1
        self._base = Style()
        self._geometry: tuple | None = None  # what the rows in _shown were drawn for
        self._shown: dict[int, Strip] = {}  # visible row -> the strip on screen
        self._paint = (0, 0)  # (draw width, top row) while Textual paints (render_lines)
        self._headers: dict[tuple, Strip] = {}  # header rows, kept while window and note stay

    # --- data in ---------------------------------------------------------------------------
    def show(self, frame: Frame, window: Window, note: str = "", info: ModelInfo | None = None) -> None:
        """Take a new frame (``info``: the registry's entry for its model, where known); rows
        are recomputed lazily as they are drawn."""
        self.frame = frame
        self.window = window
        self.note = note
        self.info = info
        self._cache.clear()
        self._memo.clear()
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
        row, so a row that did not change is not handed to it again."""
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
            if kind == "task":  # the 7 states, blank, running, running over each of the 7 states
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
        every built-in theme) but costs a Python step per segment on every repainted row, a
        good part of Textual's render of a frame. Filters asked for by the user (NO_COLOR,
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
        # opacity around render_line's strip, at a cost per row even with none of them. A pane
        # with none of them gets its rows as they are, filtered and cropped as Textual does it
        # (a test holds the two ways to each other).
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
