"""The flow of a talk with live runs (issue 14): a scene's runs run one after another, never side
by side (they would share the cores and measure each other); the reveal's figures are theirs;
leaving a scene or quitting in the middle of a run leaves no process behind."""

from __future__ import annotations

import time

import pytest

from concviz.talk.control import Step, TalkControl
from concviz.talk.deck import parse_deck

from .helpers import children, describe, wait_no_leftovers

DECK = """
title = "Two runs"

[[scene]]
title = "Threads and processes"
narration = "Two CPU-bound tasks."
takeaway = "{threads.wall} against {processes.wall}"
workload = "cpu"
tasks = 2
scale = 0.15

[[scene.run]]
model = "threads"

[[scene.run]]
model = "processes"

[scene.prediction]
question = "Which finishes first?"
choices = [{ text = "threads", if = "threads.wall < processes.wall" }, { text = "processes" }]

[[scene]]
title = "Again"
narration = "Once more."
[[scene.run]]
model = "processes"
workload = "cpu"
tasks = 2
scale = 2.0
"""


def deck():
    parsed, problems = parse_deck(DECK, "two.toml")
    assert not problems, problems
    return parsed


def until(talk: TalkControl, step: Step, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while talk.step is not step and time.monotonic() < deadline:
        talk.advance()
        time.sleep(0.05)
    assert talk.step is step, (talk.step, talk.running_index)


@pytest.mark.slow
def test_a_scenes_runs_run_one_after_another_and_leave_nothing():
    before = children()
    talk = TalkControl(deck(), cpus=2)
    talk.next()
    assert talk.predict(2)
    until(talk, Step.RAN)
    threads, processes = talk.frames
    assert threads.ended == processes.ended == "ok"
    # the second run began after the first one's last task had finished
    assert processes.first_ns > threads.t_end
    assert talk.answer() in (0, 1)
    talk.next()
    assert talk.takeaway() == f"{threads.stats['wall_s']:.2f} s against {processes.stats['wall_s']:.2f} s"
    left = wait_no_leftovers(before=before)
    assert not left, describe(left)


@pytest.mark.slow
def test_leaving_a_scene_or_quitting_mid_run_leaves_nothing():
    before = children()
    talk = TalkControl(deck(), cpus=2, scene=1)
    talk.next()  # no question in this scene: the run starts
    assert talk.step is Step.RUNNING
    deadline = time.monotonic() + 20
    while not children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children() - before, "the run started no process"
    talk.back()  # to the first scene: the run is stopped
    assert talk.step is Step.NARRATION and talk.index == 0
    talk.run()  # and one of the first scene's runs, stopped by quitting
    talk.shutdown()
    left = wait_no_leftovers(before=before)
    assert not left, describe(left)


def test_the_flow_of_a_talk_and_the_stack_import_no_ui():
    import subprocess
    import sys

    code = ("import sys, concviz.talk.control, concviz.stack; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
