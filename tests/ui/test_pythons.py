"""The app under another Python (issue 16): the model cycle offers what the experiment's Python
can run, the title bar names that Python before any run, and a free-threaded one without the
GIL is said so on every pane (title, start screen, figures, GIL lane, caption).

No free-threaded build is on this machine: its facts are faked (a describe() that returns them,
a trace header that carries them), the rest of the app is real.
"""

from __future__ import annotations

import dataclasses
import sys

import pytest

from concviz import report
from concviz.app import ConcvizApp
from concviz.engine import pythons
from concviz.engine.events import FINISH, RUN, SPAWN, START
from concviz.engine.models import MODELS
from concviz.engine.spec import MODEL_NAMES, RunSpec, models_for
from concviz.engine.timeline import Timeline
from concviz.session import ReplaySession
from concviz.view import Window
from concviz.widgets.bars import stats_markup, title_markup, welcome_markup
from concviz.widgets.gil_lane import GIL_OFF, GilLane

from .helpers import PaneApp

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent.parent.parent))
from tests.unit.helpers import pythons_here  # noqa: E402

FREE = pythons.PythonFacts(executable="/opt/python3.13t", version="3.13.0", gil=False, free_threaded_build=True,
                           interpreters="_interpreters")


@pytest.fixture
def free_threaded(monkeypatch):
    """/opt/python3.13t is a free-threaded 3.13 with the GIL off (the facts only)."""
    real = pythons.describe
    monkeypatch.setattr(pythons, "describe", lambda python: FREE if python == FREE.executable else real(python))
    return FREE.executable


async def cycle(app: ConcvizApp, pilot) -> list[str]:
    seen = [app.runs.spec.model]
    for _ in range(len(MODEL_NAMES) + 1):
        await pilot.press("m")
        seen.append(app.runs.spec.model)
    return seen


async def test_the_model_cycle_offers_what_the_experiments_python_runs():
    app = ConcvizApp(RunSpec().validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        assert set(await cycle(app, pilot)) == set(models_for())


async def test_another_python_offers_the_interpreters_model(free_threaded):
    app = ConcvizApp(RunSpec(python=free_threaded).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        assert set(await cycle(app, pilot)) == set(MODEL_NAMES) - {"dask"}  # (it has no Dask)
        await pilot.press("a")  # every model, interpreters too, is queued (and the first started)
        assert "interpreters" in [s.model for s in app.runs.queue]
        app.runs.shutdown()


def test_the_title_names_the_experiments_python_before_any_run(free_threaded):
    machine = pythons.describe(free_threaded).as_machine()
    title = title_markup(None, RunSpec(python=free_threaded), "", 200, machine)
    assert "Python 3.13.0 free-threaded · [b $warning]GIL off[/]" in title
    short = title_markup(None, RunSpec(python=free_threaded), "", 60, machine)
    assert "Py 3.13t · [b $warning]GIL off[/]" in short
    assert "GIL on" in title_markup(None, RunSpec(), "", 200, pythons.this_python().as_machine())


@pytest.mark.skipif("3.13" not in pythons_here(), reason="needs a CPython 3.13 here")
async def test_the_app_says_which_python_before_a_run():
    python = pythons_here()["3.13"]
    app = ConcvizApp(RunSpec(python=python).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert f"Python {pythons.describe(python).version}" in str(app.main.w["title"].render())


def test_the_start_screen_says_the_gil_is_off(free_threaded):
    machine = pythons.describe(free_threaded).as_machine()
    text = welcome_markup(RunSpec(model="threads"), MODELS["threads"], machine)
    assert "free-threaded build with the GIL off: threads run Python in parallel" in text
    assert "free-threaded" not in welcome_markup(RunSpec(model="threads"), MODELS["threads"],
                                                 pythons.this_python().as_machine())


def two_threads_in_parallel(machine: dict) -> Timeline:
    """Two CPU-bound threads of one process running at the same time, as on 3.13t."""
    ms = 1_000_000
    header = {"model": "threads", "workload": "cpu", "machine": machine,
              "spec": {"model": "threads", "workload": "cpu", "tasks": 2, "timeout_s": 60}}
    tl = Timeline(header)
    events = [(SPAWN, t, 9, 1, 0, 0, -1, None) for t in (0, 1)]
    events += [(START, t, 9, 10 + t, 0, 0, t, f"Thread-{t}") for t in (0, 1)]
    events += [(RUN, t, 9, 10 + t, 0, 40 * ms, t, None) for t in (0, 1)]
    events += [(FINISH, t, 9, 10 + t, 40 * ms, 40 * ms, -1, None) for t in (0, 1)]
    tl.feed(events)
    tl.end("ok")
    return tl


async def test_every_pane_says_threads_ran_without_a_gil(free_threaded):
    machine = dataclasses.replace(FREE).as_machine()
    frame = two_threads_in_parallel(machine).snapshot()
    assert "[b $warning]GIL off[/]" in stats_markup(frame, None)
    assert "GIL switches" not in stats_markup(frame, None)
    assert "GIL off" in title_markup(frame, RunSpec(), "")
    assert "true parallelism" in report.caption(frame)
    assert "GIL off (free-threaded build)" in report.format_run(frame).splitlines()[0]
    app = PaneApp(GilLane, "gil")
    async with app.run_test(size=(120, 10)) as pilot:
        pane = app.query_one(GilLane)
        pane.show(frame, Window(frame.first_ns, frame.t_end, frame.first_ns), info=MODELS["threads"])
        await pilot.pause()
        assert GIL_OFF[0] in pane._line(0, pane.draw_width, 0).text
    summary = frame.summary()
    assert summary["python"] == {"version": "3.13.0", "gil_enabled": False, "free_threaded_build": True,
                                 "executable": "/opt/python3.13t"}


def test_a_replay_from_elsewhere_runs_here_under_this_python(tmp_path):
    """A trace names the Python it ran under; where this machine has no such file, a live run
    from the replay's settings uses this Python."""
    header = {"model": "threads", "workload": "cpu", "machine": {"cpus": 2},
              "spec": {"model": "threads", "workload": "cpu", "tasks": 1, "python": "/elsewhere/bin/python3.14"}}
    events = [(SPAWN, 0, 1, 1, 0, 0, -1, None), (START, 0, 1, 1, 1, 1, 0, "t"), (FINISH, 0, 1, 1, 5, 5, -1, None)]
    app = ConcvizApp(replay=(header, events), instant=True, live_ticks=False)
    assert isinstance(app.runs.session, ReplaySession) and app.runs.spec.python is None
