"""The view logic behind the panes (no terminal needed): time window, axis ticks, glyphs."""

from __future__ import annotations

from concviz.engine.events import FINISH, RUN, SPAWN, START
from concviz.engine.timeline import Timeline
from concviz.view import Window, Zoom, axis_ticks, format_time, nice_ceil

MS = 1_000_000


def frame_of(end_ms: int, running: bool):
    tl = Timeline(tasks=1)
    tl.feed([(SPAWN, 0, 1, 1, 0, 0, -1, None), (START, 0, 1, 1, 0, 0, 0, None),
             (RUN, 0, 1, 1, 0, end_ms * MS, 0, None)])
    if not running:
        tl.feed([(FINISH, 0, 1, 1, end_ms * MS, end_ms * MS, -1, None)])
        tl.end("ok")
    return tl.snapshot(now_ns=end_ms * MS)


def test_live_fit_window_grows_in_round_steps_and_finished_fits_exactly():
    live = [Zoom().window(frame_of(ms, running=True)).span // MS for ms in (50, 210, 990, 1001, 4200)]
    assert live == [200, 300, 1000, 1500, 5000]
    assert Zoom().window(frame_of(1234, running=False)).span == 1234 * MS


def test_zoom_in_follow_and_pan():
    done = frame_of(2000, running=False)
    zoom = Zoom()
    zoom.zoom_in(done)  # a finished run: zoom around the middle of what is shown
    assert zoom.span_ns == 1000 * MS and not zoom.follow
    win = zoom.window(done)
    assert (win.t0, win.t1) == (500 * MS, 1500 * MS)
    zoom.pan(done, -1)
    assert zoom.window(done).t0 == 250 * MS
    for _ in range(20):
        zoom.zoom_in(done)
    assert zoom.span_ns == 10 * MS  # the floor: 0.1 ms a column at 100 columns
    for _ in range(20):
        zoom.zoom_out(done)
    assert zoom.span_ns is None and zoom.follow  # back to fitting the whole run
    live = frame_of(2000, running=True)
    zoom = Zoom()
    zoom.zoom_in(live)  # a live run: keep following its edge
    assert zoom.follow and zoom.window(live).t1 == 2000 * MS


def test_axis_ticks_are_round_and_spaced():
    ticks = axis_ticks(Window(0, 2000 * MS, 0), 80)
    assert [label for _, label in ticks] == ["0", "0.5 s", "1.0 s", "1.5 s"]
    cols = [c for c, _ in ticks]
    assert all(b - a >= 12 for a, b in zip(cols, cols[1:]))
    assert [label for _, label in axis_ticks(Window(0, 20 * MS, 0), 100)] == ["0", "5 ms", "10 ms", "15 ms"]


def test_nice_spans_and_times():
    assert nice_ceil(1) == 1 and nice_ceil(7_600) == 10_000
    assert format_time(1.5e9) == "1.50 s" and format_time(5.2e6) == "5.2 ms"


def test_short_labels_keep_the_digits_that_differ():
    from concviz.view import short_label

    assert short_label("thr 18198", 10) == "thr 18198"  # fits: as is
    assert [short_label(f"thr {tid}", 7) for tid in (18198, 18199, 18200)] == ["thr 198", "thr 199", "thr 200"]
    assert short_label("w1 4242424", 7) == "w1 2424" and short_label("pid 123456", 8) == "pid 3456"
    assert short_label("Task-10007", 7) == "Task-07"
    assert short_label("a-long-name", 4) == "a-lo"  # no number: cut
    # a word too long to leave a digit: the word is cut, the number kept
    assert short_label("interp 1", 7) == "inter 1" and short_label("interp 12", 7) == "inte 12"


def test_follow_starts_at_the_live_edge_and_stops_where_the_view_is():
    zoom = Zoom()
    zoom.toggle_follow(frame_of(2000, running=True))  # from the whole run: its last 0.5 s, followed
    assert zoom.follow and zoom.window(frame_of(2000, running=True)).t1 == 2000 * MS
    assert zoom.window(frame_of(2000, running=True)).span == 500 * MS
    assert zoom.window(frame_of(2600, running=True)).t1 == 2600 * MS  # it moves with the run
    zoom.toggle_follow(frame_of(2600, running=True))  # stop: the view stays where it was
    assert not zoom.follow
    assert (zoom.window(frame_of(3500, running=True)).t0, zoom.window(frame_of(3500, running=True)).t1) \
        == (2100 * MS, 2600 * MS)
    zoom.toggle_follow(frame_of(3500, running=True))  # and back to the edge
    assert zoom.follow and zoom.window(frame_of(3500, running=True)).t1 == 3500 * MS
