"""Run control as the app uses it: any Session is drawn, labelled and ranked by what it says of
itself; the task ceiling of the workload chosen holds; a run started over another goes on being
drawn after the one it replaced has ended."""

from __future__ import annotations

import psutil
import pytest

from concviz.app import ConcvizApp
from concviz.engine import spec as spec_module
from concviz.engine.events import read_trace
from concviz.engine.frame import Frame
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline
from concviz.session import Session

from .helpers import FIXTURES


class RecordedRun(Session):
    """A finished recording that presents itself as a live, ranked run from somewhere else."""

    live = True
    ranked = True

    def __init__(self, name: str) -> None:
        header, events = read_trace(FIXTURES / f"{name}.jsonl")
        self.spec = RunSpec.from_dict(header["spec"])
        self.timeline = Timeline(header)
        self.timeline.feed(events)
        self.timeline.end("ok")

    @property
    def running(self) -> bool:
        return False

    @property
    def source_label(self) -> str:
        return "from elsewhere"

    def now_ns(self) -> int:
        return self.timeline.last_ns

    def snapshot(self) -> Frame:
        return self.timeline.snapshot()

    def stop(self) -> None:
        pass

    def export(self, path: str) -> None:
        raise OSError("not here")


async def test_the_app_asks_a_session_what_it_is():
    """The title's label, the results and the verdict follow the Session's own answers, not
    its class."""
    session = RecordedRun("threads-cpu")
    app = ConcvizApp(session.spec, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.runs.session = session
        app.run_ended(session, "ok")
        await pilot.pause()
        assert "from elsewhere" in str(app.main.w["title"].render())
        assert [row["model"] for row in app.runs.results.rows(session.spec)] == ["threads"]


async def test_keys_hold_the_task_ceiling_of_the_workload(monkeypatch):
    monkeypatch.setitem(spec_module.TASK_LIMIT_BY_WORKLOAD, ("processes", "io"), 100)
    app = ConcvizApp(RunSpec(model="processes", workload="io", tasks=64).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("plus")
        assert app.runs.spec.tasks == 100
        await pilot.press("plus")
        assert app.runs.spec.tasks == 100
        assert any("limited to 100 tasks" in n.message for n in app._notifications)
        await pilot.press("w")  # io -> cpu: back to the model's own ceiling
        assert app.runs.spec.workload == "cpu" and app.runs.spec.tasks == 64


@pytest.mark.slow
async def test_a_run_started_over_another_goes_on_being_drawn():
    """r while a run goes on: the old run winds down in the background, and its end must not
    be taken for the end of the new one (the frame timer was paused, the new run frozen)."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    app = ConcvizApp(RunSpec(model="threads", workload="io", tasks=2, scale=4).validate())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")
        first = app.runs.session
        for _ in range(50):
            await pilot.pause(0.1)
            if app.main.frame is not None and app.main.frame.header:
                break
        await pilot.press("r")
        second = app.runs.session
        for _ in range(50):
            await pilot.pause(0.1)
            if not first.running:
                break
        assert first is not second and not first.running and second.running
        await pilot.pause(0.3)
        drawn = app.frames_drawn
        await pilot.pause(0.6)
        assert second.running and app.frames_drawn > drawn + 2, "the new run is no longer drawn"
        await pilot.press("q")
    ours = [p for p in me.children(recursive=True) if p.pid not in before]
    assert not psutil.wait_procs(ours, timeout=3)[1]


async def test_a_palette_command_does_what_its_key_does():
    app = ConcvizApp(RunSpec(model="threads").validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        result = commands["Model"]()
        if result is not None:
            await result
        await pilot.pause()
        assert app.runs.spec.model == "processes"  # as m does
