"""The stacked view (issue 14 s.2): the last runs of a session, or recorded traces, one above the
other on one time axis; the v key, its place in the footer, help and palette; a live run's sweep."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets._footer import FooterKey

from concviz.app import ConcvizApp
from concviz.engine.spec import RunSpec
from concviz.session import ReplaySession
from concviz.stack import StackedRun, sweep_span
from concviz.widgets.stack import StackScreen, StackView

from .helpers import Recorded

CSS = Path(__file__).resolve().parent.parent.parent / "concviz" / "concviz.tcss"


def traces(*names: str) -> list[tuple]:
    return [(r.header, r.events) for r in map(Recorded, names)]


def label(block) -> str:
    return str(block.label.render())


async def test_recorded_traces_open_stacked_each_from_its_own_start():
    app = ConcvizApp(stack=traces("threads-cpu", "processes-cpu"), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, StackScreen)
        view = app.screen.query_one(StackView)
        blocks = [b for b in view.blocks if b.display]
        assert len(blocks) == 2
        walls = [run.frame.stats["wall_s"] for run in view.runs]
        for block, name, wall in zip(blocks, ("threads", "processes"), walls):
            assert label(block).lstrip().startswith(name) and f"{wall:.2f} s" in label(block)
            assert "cpu · 4 tasks" in label(block)
        windows = [b.lanes.window for b in blocks]
        assert windows[0].span == windows[1].span  # one span for all
        for block, window in zip(blocks, windows):
            assert window.t0 == window.origin == block.lanes.frame.first_ns  # from its own start
            assert block.parallel.window == window
        # the longest run fills the axis; every lane is as tall as every other
        assert windows[0].span == view.runs[0].frame.t_end - view.runs[0].frame.first_ns
        assert blocks[0].lanes.rows_per_lane == blocks[1].lanes.rows_per_lane > 1
        await pilot.press("escape")
        assert app.screen is app.main


def footer_keys(app) -> set[str]:
    return {key.action for key in app.main.query(FooterKey) if key.display}


async def test_the_stack_key_is_offered_once_two_runs_have_ended():
    first, second = traces("threads-cpu", "processes-cpu")
    app = ConcvizApp(replay=first, instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert len(app.runs.last_runs) == 1  # the replay, once it had ended
        assert "stack" not in footer_keys(app)
        await pilot.press("v")  # one run: shown alone all the same
        assert isinstance(app.screen, StackScreen) and len(app.screen.runs) == 1
        await pilot.press("v")
        assert app.screen is app.main
        session = ReplaySession(*second, instant=True)
        assert app.runs.remember(session, session.snapshot())
        assert not app.runs.remember(session, session.snapshot())  # kept once
        app.main.last_runs_changed()
        await pilot.pause()
        assert "stack" in footer_keys(app)
        commands = [c.title for c in app.get_system_commands(app.main)]
        assert "Stack the last runs of this session on one time axis" in commands


async def test_the_last_four_runs_are_kept_oldest_first():
    names = ("sequential-cpu", "threads-cpu", "processes-cpu", "pool-cpu", "asyncio-cpu")
    app = ConcvizApp(stack=traces(*names[:1]), live_ticks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for trace in traces(*names[1:]):
            session = ReplaySession(*trace, instant=True)
            app.runs.remember(session, session.snapshot())
        assert [run.frame.model for run in app.runs.last_runs] == ["threads", "processes", "pool", "asyncio"]


class OneStack(App):
    CSS_PATH = str(CSS)

    def compose(self) -> ComposeResult:
        yield StackView()


async def test_a_live_run_sweeps_and_the_others_keep_the_whole_span():
    done, live = Recorded("processes-cpu"), Recorded("threads-cpu")
    spec = RunSpec(model="threads", tasks=4, scale=0.6).validate()
    at = live.at(0.7)
    runs = [StackedRun("processes", RunSpec(model="processes").validate(), done.frame_at(done.last)),
            StackedRun("threads", spec, live.frame_at(at), live=True),
            StackedRun("pool", RunSpec(model="pool").validate())]
    app = OneStack()
    async with app.run_test(size=(120, 36)) as pilot:
        view = app.query_one(StackView)
        view.show(runs)
        await pilot.pause()
        first, sweeping, waiting = view.blocks[:3]
        cells = sweeping.lanes.columns(sweeping.lanes.draw_width)[1]
        span = sweep_span(5.0, cells)
        window = sweeping.lanes.window
        assert window.span == span and window.t0 <= at < window.t1
        assert sweeping.lanes.note == f"▶ {span // 1_000_000} ms"
        assert first.lanes.window.span == done.frame_at(done.last).t_end - done.first
        # the sweeping run draws its own axis; the run waiting is blank, and says so
        assert sweeping.lanes.axis and waiting.lanes.frame is None
        assert "waiting" in label(waiting)
        # the run ends: it is drawn whole, over the longer of the two spans
        timeline = live.timeline_at(live.last)
        timeline.end("ok")
        runs[1] = StackedRun("threads", spec, timeline.snapshot(), live=True)
        view.show(runs)
        await pilot.pause()
        whole = view.blocks[1].lanes.window
        assert whole.t0 == whole.origin and whole.span == first.lanes.window.span
        assert whole.span >= live.last - live.first


async def test_short_of_rows_a_sweeping_run_shows_the_lanes_that_run_now():
    run = Recorded("sequential-io")  # four tasks one after another: at 60% the third one runs
    spec = RunSpec(model="sequential", workload="io", tasks=4, scale=0.4).validate()
    app = OneStack()
    async with app.run_test(size=(80, 5)) as pilot:  # a label, an axis, 2 lanes, "in parallel"
        view = app.query_one(StackView)
        view.show([StackedRun("sequential", spec, run.frame_at(run.at(0.6)), live=True)])
        await pilot.pause()
        block = view.blocks[0]
        assert block.lanes.scroll_offset.y == 2  # T2 and T3, not T0 and T1, which are over
        assert "2 of 4 lanes shown" in label(block)
        timeline = run.timeline_at(run.last)
        timeline.end("ok")
        view.show([StackedRun("sequential", spec, timeline.snapshot(), live=True)])  # over: drawn whole
        await pilot.pause()
        assert block.lanes.scroll_offset.y == 0
