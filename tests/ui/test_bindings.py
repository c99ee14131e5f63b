"""Pilot tests: the key bindings change the app's state as the footer and help promise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil
import pytest

from concviz.app import ConcvizApp
from concviz.run_control import HANG_TIMEOUT_S
from concviz.engine.events import read_trace
from concviz.engine.spec import DEFAULT_TIMEOUT_S, MAX_WORKERS, MODEL_NAMES, RunSpec, models_for, task_limit
from concviz.widgets.code import CodePane

FIXTURES = Path(__file__).parent.parent / "fixtures"


def replay(name: str) -> ConcvizApp:
    header, events = read_trace(FIXTURES / f"{name}.jsonl")
    return ConcvizApp(replay=(header, events), instant=True, live_ticks=False)


async def test_model_and_workload_cycle():
    app = ConcvizApp(RunSpec().validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        offered = models_for()  # (the models this Python can run the experiment of)
        seen = [app.runs.spec.model]
        for _ in range(len(offered)):
            await pilot.press("m")
            seen.append(app.runs.spec.model)
        assert seen[0] == seen[-1] and sorted(set(seen)) == sorted(offered)
        await pilot.press("M")
        assert app.runs.spec.model == offered[offered.index(seen[0]) - 1]
        workload = app.runs.spec.workload
        await pilot.press("w")
        assert app.runs.spec.workload != workload


async def test_task_count_and_limits():
    app = ConcvizApp(RunSpec(model="processes", tasks=4).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("plus")
        assert app.runs.spec.tasks == 6
        await pilot.press("minus", "minus")
        assert app.runs.spec.tasks == 3
        for _ in range(30):
            await pilot.press("plus")
        assert app.runs.spec.tasks == task_limit("processes", "cpu")
        for _ in range(30):
            await pilot.press("minus")
        assert app.runs.spec.tasks == 1


async def test_workers_only_for_pool_models():
    """k / K size the pool one worker at a time, within 1..MAX_WORKERS; a model without a pool
    has no size, and the size chosen follows the pool models."""
    app = ConcvizApp(RunSpec(model="threads").validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("k")
        assert app.runs.spec.workers is None
        app.runs.spec = RunSpec(model="pool", workers=3).validate()
        await pilot.press("k")
        assert app.runs.spec.workers == 4
        await pilot.press("K", "K")
        assert app.runs.spec.workers == 2
        app.runs.spec = RunSpec(model="pool", workers=MAX_WORKERS).validate()
        await pilot.press("k")
        assert app.runs.spec.workers == MAX_WORKERS
        app.runs.spec = RunSpec(model="pool", workers=1).validate()
        await pilot.press("K", "k", "k")
        assert app.runs.spec.workers == 3
        await pilot.press("m")
        assert app.runs.spec.model == "thread-pool" and app.runs.spec.workers == 3
        await pilot.press("m")
        assert app.runs.spec.model == "process-pool" and app.runs.spec.workers == 3
        await pilot.press("m")
        assert app.runs.spec.model == "asyncio" and app.runs.spec.workers is None


async def test_switch_interval_and_scale_controls(monkeypatch):
    monkeypatch.setattr(sys, "getswitchinterval", lambda: 0.005)  # the interpreter's own: 5 ms
    app = ConcvizApp(RunSpec().validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("i")  # longer than the default
        assert app.runs.spec.switch_interval_ms == 10.0
        await pilot.press("i", "i", "i")  # up to the longest step, and no further
        assert app.runs.spec.switch_interval_ms == 50.0
        await pilot.press("I", "I", "I")  # back down onto the interpreter's own: the default
        assert app.runs.spec.switch_interval_ms is None
        await pilot.press("I", "I", "I", "I")
        assert app.runs.spec.switch_interval_ms == 0.5
        await pilot.press("right_square_bracket")
        assert app.runs.spec.scale == 2.0
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.runs.spec.scale == 0.5
        app.runs.spec.validate()


async def test_toggles_code_and_log():
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        code = app.query_one("#code", CodePane)
        assert not code.display
        await pilot.press("c")
        assert code.display and app.query_one("#side").display
        assert "threading.Thread" in str(code.border_title)
        await pilot.press("l")
        assert app.query_one("#log").display
        await pilot.press("c", "l")
        assert not code.display and not app.query_one("#side").display


async def test_a_narrow_screen_gives_the_cores_place_to_the_side_panel_while_it_is_open():
    app = replay("threads-cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        cores, side = app.query_one("#cores"), app.query_one("#side")
        assert cores.display and not side.display
        await pilot.press("c")
        assert side.display and not cores.display
        await pilot.press("l", "c")  # the log keeps the panel open
        assert side.display and not cores.display
        await pilot.press("l")
        assert cores.display and not side.display
        await pilot.resize_terminal(120, 36)  # wide: the panel is a column beside the cores
        await pilot.press("c")
        assert side.display and cores.display


async def test_event_log_lists_failure():
    app = replay("threads-failed")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("l")
        text = "\n".join(app.query_one("#log").lines)
        assert "task 2 FAILED: InjectedFault" in text
        assert text.count("finished after") == 3


async def test_zoom_follow_and_fit():
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        full = app.main.zoom.window(app.main.frame).span
        await pilot.press("full_stop")
        assert app.main.zoom.window(app.main.frame).span == full // 2
        await pilot.press("full_stop", "full_stop", "full_stop", "full_stop")
        span = app.main.zoom.window(app.main.frame).span
        # zoomed in far enough to give a 5 ms switch interval at least two columns
        cells = app.query_one("#tasks").columns(app.query_one("#tasks").draw_width)[1]
        assert span / cells <= 2.5e6
        await pilot.press("left")
        assert not app.main.zoom.follow
        await pilot.press("0")
        assert app.main.zoom.span_ns is None
        await pilot.press("f")  # from the whole run: follow its edge, the last 0.5 s
        win = app.main.zoom.window(app.main.frame)
        assert app.main.zoom.follow and win.span == 500_000_000 and win.t1 == max(app.main.frame.t_end, win.origin + win.span)
        await pilot.press("f")  # stop following: the view stays where it is
        assert not app.main.zoom.follow and app.main.zoom.window(app.main.frame) == win


async def test_help_opens_and_closes():
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert type(app.screen).__name__ != "HelpScreen"


async def test_export_writes_replayable_trace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = replay("threads-failed")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("e")
    traces = list(tmp_path.glob("concviz-threads-mixed-*.jsonl"))
    perfetto = list(tmp_path.glob("concviz-threads-mixed-*.json"))
    assert len(traces) == 1 and len(perfetto) == 1
    header, events = read_trace(traces[0])
    assert header["model"] == "threads" and len(events) > 20
    # the Perfetto file is the export of that trace, as `concviz export` writes it
    from concviz.engine.export import to_chrome_trace

    assert json.loads(perfetto[0].read_text()) == json.loads(json.dumps(to_chrome_trace(header, events)))


async def test_too_small_terminal_shows_message():
    app = replay("threads-cpu")
    async with app.run_test(size=(40, 12)) as pilot:
        assert app.screen.has_class("too-small")
        assert app.query_one("#too-small").display
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert not app.screen.has_class("too-small")


@pytest.mark.slow
async def test_run_stop_and_quit_leave_no_process():
    """A real live run: r starts an experiment, s stops it, r twice restarts it, q quits;
    afterwards no child process of this test is left."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}  # e.g. a forkserver another test left
    app = ConcvizApp(RunSpec(model="processes", workload="cpu", tasks=2, scale=3).validate())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")
        for _ in range(50):
            await pilot.pause(0.1)
            if app.main.frame is not None and app.main.frame.stats["running"] >= 2:
                break
        assert app.runs.session.running and app.main.frame.stats["running"] >= 1
        await pilot.press("s")
        for _ in range(40):
            await pilot.pause(0.1)
            if not app.runs.session.running:
                break
        assert not app.runs.session.running and app.main.frame.ended == "cancelled"
        await pilot.press("r", "r")
        await pilot.pause(0.5)
        assert app.runs.session.running
        await pilot.press("q")
    ours = [p for p in me.children(recursive=True) if p.pid not in before]
    alive = psutil.wait_procs(ours, timeout=3)[1]
    assert not alive, f"left behind: {alive}"


async def test_fault_cycle_follows_the_model():
    app = ConcvizApp(RunSpec(model="processes", tasks=4).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("x")
        assert app.runs.spec.faults == {2: "fail"}
        await pilot.press("x")
        assert app.runs.spec.faults == {2: "kill"}
        await pilot.press("x")
        assert app.runs.spec.faults == {2: "hang"} and app.runs.spec.timeout_s == HANG_TIMEOUT_S != DEFAULT_TIMEOUT_S
        await pilot.press("x")
        assert app.runs.spec.faults == {} and app.runs.spec.timeout_s == DEFAULT_TIMEOUT_S
        await pilot.press("x", "x")  # kill again, then switch to a thread model: no kill there
        for _ in range(len(MODEL_NAMES)):  # processes -> ... -> sequential
            if app.runs.spec.model == "sequential":
                break
            await pilot.press("m")
        assert app.runs.spec.model == "sequential" and app.runs.spec.kill_task is None
        app.runs.spec.validate()
        await pilot.press("x")
        assert app.runs.spec.faults == {2: "fail"}
        await pilot.press("plus", "plus")  # 4 -> 8 tasks: the fault moves to the middle task
        assert app.runs.spec.faults == {4: "fail"}


@pytest.mark.parametrize("theme", ["textual-light", "nord", "gruvbox"])
async def test_built_in_themes_draw_the_lanes(theme):
    """Colours come from theme variables: every built-in theme draws the lanes in colour."""
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        app.theme = theme
        await pilot.pause()
        lanes = app.query_one("#tasks")
        styles = {seg.style.color for y in range(1, 6) for seg in lanes.render_line(y) if seg.style and seg.style.color}
        assert len(styles) >= 3  # task tag, running, waiting for the GIL at least


async def test_a_tick_while_shutting_down_draws_nothing():
    """The frame timer can fire once more after the app started closing (its widgets are being
    removed); that tick must not fail (it did: NoMatches from a query, a traceback on quit)."""
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        drawn = app.frames_drawn
    app.tick(force=True)  # the widgets are gone now
    assert app.frames_drawn == drawn


async def test_gc_thresholds_while_running_and_restored_after():
    """The app collects cyclic garbage less often while it runs (a full pass walks every event
    recorded: it stalled frames under a flood) and gives the process its thresholds back."""
    import gc

    from concviz.app import GC_THRESHOLDS

    before = gc.get_threshold()
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_threshold() == before


async def test_every_key_is_a_command_in_the_palette():
    app = ConcvizApp(RunSpec().validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Run every model in turn and rank them" in titles  # the tooltip, not "All"
        assert "Results: this session's runs, ranked" in titles
        missing = [b.key for b in app.main.BINDINGS if (b.tooltip or b.description) not in titles]
        assert not missing  # every key of the screen is also a command, found by its name


async def test_event_log_is_in_time_order():
    from types import SimpleNamespace

    from textual.widgets import Log

    app = ConcvizApp(RunSpec().validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        log = app.query_one("#log", Log)
        # a tick's batch from two threads: task 0's finish arrived before task 1's earlier start
        first = SimpleNamespace(log=[(0, 0, "a"), (3_000_000, 0, "d"), (1_000_000, 0, "b")], log_total=3, first_ns=0)
        app.main.append_log(first)
        await pilot.pause()
        assert [line[-1] for line in log.lines] == ["a", "b", "d"]
        # the next tick brings one from before the last line: at the end of the run, the whole
        # log is written again in time order
        last = SimpleNamespace(log=first.log + [(2_000_000, 0, "c")], log_total=4, first_ns=0)
        app.main.append_log(last)
        await pilot.pause()
        assert [line[-1] for line in log.lines] == ["a", "b", "d", "c"]
        app.main.append_log(last, final=True)
        await pilot.pause()
        assert [line[-1] for line in log.lines] == ["a", "b", "c", "d"]
        assert log.lines[2] == "  0.002 s  c"
