"""The bars of a traced program's screen (concviz trace / attach)."""

from __future__ import annotations

from concviz.engine.events import START, WAIT
from concviz.engine.sources.program import trace_header
from concviz.engine.timeline import Timeline
from concviz.widgets.bars import legend_markup, trace_caption_markup, trace_controls_markup

MS = 1_000_000


def header() -> dict:
    return trace_header(["python", "prog.py"], 10, 200.0, "/tmp/out.log", 0)


def test_what_could_not_be_read_is_named_on_screen():
    """A thread of another user's process: its waits are unknown, and the bar says why (the
    routine unknowns of every trace stay in the log)."""
    from concviz.engine.sources.tracer import ENDED_UNMEASURED

    tl = Timeline(header())
    tl.feed([(START, 0, 10, 11, 0, 0, 0, "main"),
             (WAIT, 0, 10, 11, 0, 5 * MS, -1, f"unknown: {ENDED_UNMEASURED}")])
    assert "unknown" not in trace_controls_markup(tl.snapshot(), True)
    why = "syscall not readable (another user's process: it needs the same user or CAP_SYS_PTRACE)"
    tl.feed([(WAIT, 0, 10, 11, 5 * MS, 9 * MS, -1, f"unknown: {why}")])
    frame = tl.snapshot()
    assert frame.unknown == (ENDED_UNMEASURED, why)
    assert f"unknown: {why}" in trace_controls_markup(frame, True)


def test_the_bars_say_what_is_inferred_and_where_the_output_went():
    tl = Timeline(header())
    tl.feed([(START, 0, 10, 10, 0, 0, 0, "main"), (2, 0, 10, 10, 0, 2 * MS, 0, None),
             (3, 0, 10, 10, 2 * MS, 100 * MS, -1, None)])
    frame = tl.snapshot(now_ns=100 * MS)
    controls = trace_controls_markup(frame, True)
    assert "/tmp/out.log" in controls and "s[/] ends the command" in controls
    assert "inferred" in legend_markup(80, traced=True) and "(inferred)" in legend_markup(200, traced=True)
    assert "Mostly waiting, not computing: in I/O (inferred)" in trace_caption_markup(frame)
