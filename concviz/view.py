"""Pure view logic shared by the panes: the visible time window, axis ticks, labels, glyphs.

No widgets here, so it is unit-testable without a terminal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from concviz.engine.frame import Frame

MIN_SPAN_NS = 10_000_000  # 10 ms: at 100 columns, 0.1 ms per column
FIT_MIN_SPAN_NS = 200_000_000  # a fresh live run starts with a 0.2 s axis, not a zoomed-in blur
FOLLOW_SPAN_NS = 500_000_000  # following the live edge from a view of the whole run: the last 0.5 s

BLOCKS = " ▁▂▃▄▅▆▇█"
TASK_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Window:
    """The time span shown, ``[t0, t1)`` in perf_counter_ns, and where the run started."""

    t0: int
    t1: int
    origin: int

    @property
    def span(self) -> int:
        return self.t1 - self.t0


@dataclass
class Zoom:
    """The user's view choice: fit the whole run, or a fixed span (following the live edge or
    panned to a position measured from the run's start)."""

    span_ns: int | None = None  # None: fit the whole run
    follow: bool = True
    offset_ns: int = 0  # left edge relative to the run's start, when not following

    def window(self, frame: Frame) -> Window:
        origin = frame.first_ns if frame.first_ns is not None else frame.now_ns
        end = max(frame.t_end, origin)
        if self.span_ns is None:
            if frame.running:
                # a live run sweeps across a steady axis that grows in round steps, instead of
                # squeezing the whole picture a little on every frame
                span = nice_ceil(max(end - origin, FIT_MIN_SPAN_NS))
            else:
                span = max(end - origin, MIN_SPAN_NS)
            return Window(origin, origin + span, origin)
        span = self.span_ns
        if self.follow:
            t1 = max(end, origin + span)
            return Window(t1 - span, t1, origin)
        t0 = origin + max(0, self.offset_ns)
        return Window(t0, t0 + span, origin)

    def zoom_in(self, frame: Frame) -> None:
        """Halve the span: at the live edge while a run is followed, else around the middle."""
        win = self.window(frame)
        self._rescale(frame, win, max(MIN_SPAN_NS, win.span // 2))

    def zoom_out(self, frame: Frame) -> None:
        if self.span_ns is None:
            return
        full = max(frame.t_end - (frame.first_ns or frame.t_end), MIN_SPAN_NS)
        new = self.span_ns * 2
        if new >= full:
            self.span_ns, self.follow, self.offset_ns = None, True, 0
            return
        self._rescale(frame, self.window(frame), new)

    def _rescale(self, frame: Frame, win: Window, span: int) -> None:
        self.span_ns = span
        if frame.running and self.follow:
            return  # keep following the live edge
        self.follow = False
        middle = (win.t0 + win.t1) // 2
        self.offset_ns = max(0, middle - span // 2 - win.origin)

    def toggle_follow(self, frame: Frame) -> None:
        """Follow the live edge (from a view of the whole run: its last FOLLOW_SPAN_NS), or stop
        following and keep the view where it is, to look at it while the run goes on."""
        if self.span_ns is None:
            self.span_ns, self.follow = FOLLOW_SPAN_NS, True
            return
        if self.follow:
            win = self.window(frame)
            self.offset_ns = max(0, win.t0 - win.origin)
        self.follow = not self.follow

    def pan(self, frame: Frame, direction: int) -> None:
        if self.span_ns is None:
            return
        win = self.window(frame)
        self.follow = False
        self.offset_ns = max(0, win.t0 - win.origin + direction * self.span_ns // 4)


NICE_SPANS = (1, 1.5, 2, 3, 5, 7.5)  # x 10^k: the spans an axis grows or sweeps in


def nice_ceil(ns: int) -> int:
    """The smallest of NICE_SPANS x 10^k that is at least ``ns`` (an axis span)."""
    exp = 10 ** math.floor(math.log10(max(ns, 1)))
    for m in (*NICE_SPANS, 10):
        if m * exp >= ns:
            return int(m * exp)
    return int(10 * exp)


def nice_floor(ns: int) -> int:
    """The largest of NICE_SPANS x 10^k that is at most ``ns`` (1 at least)."""
    exp = 10 ** math.floor(math.log10(max(ns, 1)))
    return int(max(m for m in NICE_SPANS if m * exp <= max(ns, 1)) * exp)


def nice_step(span_ns: int, width: int, min_gap: int = 12) -> int:
    """A round tick step (1, 2 or 5 x 10^k ns) leaving at least ``min_gap`` columns between
    labels."""
    if width <= 0 or span_ns <= 0:
        return max(span_ns, 1)
    raw = span_ns * min_gap / width
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * exp >= raw:
            return int(m * exp)
    return int(10 * exp)


def format_time(ns: float, step_ns: int | None = None) -> str:
    """A time for an axis label (digits to suit the tick ``step_ns``) or a figure (3 digits)."""
    if step_ns is None:
        if abs(ns) >= 1e9:
            return f"{ns / 1e9:.2f} s"
        if abs(ns) >= 1e7:
            return f"{ns / 1e6:.0f} ms"
        return f"{ns / 1e6:.1f} ms" if abs(ns) >= 1e6 else f"{ns / 1e6:.2f} ms"
    if step_ns >= 100_000_000:
        digits = max(0, -math.floor(math.log10(step_ns / 1e9) + 1e-9))
        return f"{ns / 1e9:.{digits}f} s"
    digits = max(0, -math.floor(math.log10(step_ns / 1e6) + 1e-9))
    return f"{ns / 1e6:.{digits}f} ms"


# a failed task's note: the OS's word for what ended its connection, where that is what failed
FAILURE_WORDS = (("ConnectionRefusedError", "refused"), ("ConnectionResetError", "reset"),
                 ("ServerClosed", "closed"), ("BrokenPipeError", "broken"), ("TimeoutError", "timed out"))


def failure_word(error: str | None) -> str:
    """One word for why a task failed, for its lane's note ("refused", "reset", ...; else
    "failed"): the whole reason is in the event log."""
    for prefix, word in FAILURE_WORDS:
        if error and error.startswith(prefix):
            return word
    return "failed"


def format_kb(kb: float | None) -> str:
    """Memory in KB, three digits at most: '7.3 KB', '312 KB', '2.1 MB'; '-' when not measured."""
    if kb is None:
        return "-"
    if abs(kb) < 100:
        return f"{kb:.1f} KB"
    if abs(kb) < 1024:
        return f"{kb:.0f} KB"
    mb = kb / 1024
    return f"{mb:.1f} MB" if abs(mb) < 100 else f"{mb:.0f} MB"


def axis_ticks(win: Window, width: int) -> list[tuple[int, str]]:
    """(column, label) pairs for the time axis; times are relative to the run's start."""
    if width <= 0:
        return []
    step = nice_step(win.span, width)
    rel0 = win.t0 - win.origin
    first = math.ceil(rel0 / step) * step
    out = []
    t = first
    while t < rel0 + win.span:
        col = int((t - rel0) / win.span * width)
        out.append((col, "0" if t == 0 else format_time(t, step)))
        t += step
    return out


_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def short_label(text: str, room: int) -> str:
    """``text`` in at most ``room`` cells. A trailing number (a thread id, a pid) keeps its last
    digits, which tell neighbours apart (threads 18198 and 18199 -> "thr 198", "thr 199"),
    not its first (which would make them "thr 181" twice); where the word before it leaves no
    room for a digit, the word is cut instead ("interp 12" -> "inte 12")."""
    if len(text) <= room:
        return text
    m = _TRAILING_NUMBER.match(text)
    if m and len(m.group(1)) < room:
        return m.group(1) + m.group(2)[len(m.group(1)) - room:]
    if m and len(m.group(2)) + 2 <= room:
        word = m.group(1).rstrip()
        gap = m.group(1)[len(word):]
        return word[:room - len(gap) - len(m.group(2))] + gap + m.group(2)
    return text[:room]
