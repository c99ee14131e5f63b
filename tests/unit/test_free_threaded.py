"""Free-threaded builds (issue 5): where ``sys._is_gil_enabled()`` returns False, concviz says the
GIL is off (machine_info, ``run --json``, the ``run`` summary) and draws no GIL hand-offs.

No free-threaded interpreter is needed: ``sys._is_gil_enabled`` and the ``Py_GIL_DISABLED`` config
var are monkeypatched (the build and the GIL's state apart, so that each fact is seen to come from
its own source), and the Frame is built from a Timeline fed the events two threads of one process
would record.
"""

from __future__ import annotations

import sys
import sysconfig

import pytest

from concviz.engine import experiment
from concviz.engine.events import FINISH, RUN, SPAWN, START
from concviz.engine.timeline import Timeline
from concviz.report import format_run, gil_label

MS = 1_000_000
PID = 4242


def interpreter(monkeypatch, build: bool | None, gil: bool | None) -> None:
    """Make this interpreter look like another: ``build`` is its Py_GIL_DISABLED config var
    (None: a Python that has none), ``gil`` what ``sys._is_gil_enabled()`` returns (None: a
    Python before 3.13, which has no such function)."""
    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var",
                        lambda name: (int(build) if build is not None else None) if name == "Py_GIL_DISABLED" else real(name))
    if gil is None:
        monkeypatch.delattr(sys, "_is_gil_enabled", raising=False)
    else:
        monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil, raising=False)


@pytest.fixture
def no_gil(monkeypatch):
    """A free-threaded build running without the GIL (3.13t's default)."""
    interpreter(monkeypatch, build=True, gil=False)


def two_threads_taking_turns(machine: dict) -> Timeline:
    """Two CPU-bound threads of one process, running in alternate 5 ms slices, as a GIL-bound
    run looks; with the GIL off the same picture must not be called GIL switching."""
    header = {"model": "threads", "workload": "cpu", "machine": machine,
              "spec": {"model": "threads", "workload": "cpu", "tasks": 2, "timeout_s": 60}}
    tl = Timeline(header)
    events = [(SPAWN, t, PID, 1, 0, 0, -1, None) for t in (0, 1)]
    events += [(START, t, PID, 10 + t, 0, 0, 0, f"Thread-{t}") for t in (0, 1)]
    for i in range(8):
        task = i % 2
        events.append((RUN, task, PID, 10 + task, i * 5 * MS, (i + 1) * 5 * MS, 0, None))
    events += [(FINISH, t, PID, 10 + t, 40 * MS, 40 * MS, -1, None) for t in (0, 1)]
    tl.feed(events)
    tl.end("ok")
    return tl


@pytest.mark.parametrize("build,gil,says_gil,says_free_threaded", [
    (None, None, True, False),  # before 3.13: no free-threaded builds, no GIL switch
    (False, True, True, False),  # a standard 3.13 build
    (True, False, False, True),  # 3.13t without the GIL
    (True, True, True, True),  # 3.13t with the GIL back on (PYTHON_GIL=1): the build is still free-threaded
    (None, False, False, True),  # the GIL off where the config var is missing: only such a build does that
], ids=["before 3.13", "standard build", "free-threaded", "free-threaded with the GIL on", "GIL off, no config var"])
def test_machine_info_tells_the_build_from_the_gil(monkeypatch, build, gil, says_gil, says_free_threaded):
    """machine_info reports two facts: whether the GIL is on now (the run's state) and whether
    the build is free-threaded; neither may be read from the other."""
    interpreter(monkeypatch, build, gil)
    info = experiment.machine_info()
    assert (info["gil"], info["free_threaded_build"]) == (says_gil, says_free_threaded)


@pytest.mark.skipif(bool(sysconfig.get_config_var("Py_GIL_DISABLED")), reason="a free-threaded build")
def test_machine_info_on_a_standard_build():
    info = experiment.machine_info()
    assert info["gil"] is True and info["free_threaded_build"] is False


def test_frame_draws_no_gil_switches_without_the_gil(no_gil):
    frame = two_threads_taking_turns(experiment.machine_info()).snapshot()
    assert frame.gil is False
    assert frame.gil_switches == 0
    assert all(t["gil_wait_s"] == 0 for t in frame.per_task())
    summary = frame.summary()
    assert summary["python"]["gil_enabled"] is False
    assert summary["python"]["free_threaded_build"] is True
    assert summary["gil_switches"] == 0
    assert "GIL off (free-threaded build)" in format_run(frame).splitlines()[0]


@pytest.mark.skipif(bool(sysconfig.get_config_var("Py_GIL_DISABLED")), reason="a free-threaded build")
def test_the_same_events_with_the_gil_are_gil_switches():
    frame = two_threads_taking_turns(experiment.machine_info()).snapshot()
    assert frame.gil is True
    assert frame.gil_switches == 7  # 8 slices, alternating threads
    assert "GIL on" in format_run(frame).splitlines()[0]


def test_gil_labels():
    assert gil_label({"gil": True, "free_threaded_build": False}) == "GIL on"
    assert gil_label({"gil": False, "free_threaded_build": True}) == "GIL off (free-threaded build)"
    assert gil_label({"gil": True, "free_threaded_build": True}).startswith("GIL on (free-threaded build")
    assert gil_label({}) == "GIL on"  # an old trace without the facts
