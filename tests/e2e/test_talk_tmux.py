"""End to end (issue 14): the built-in deck given in a real terminal (tmux), start to finish at
120x36 and at 80x24, by keys as a speaker gives it; every scene shows its narration, its
question, its runs live and a reveal whose takeaway is filled from the runs' own figures; no
process is left after the last scene, nor after q in the middle of a run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from concviz.talk.deck import default_deck

from .test_tmux import _alive, _cmd, assert_all_gone, tmux, tree, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

RUN_TIMEOUT_S = 120  # a scene's runs, on a machine busy with other work
FIGURE = re.compile(r"\d+\.\d\d s")


@pytest.fixture
def talk(request):
    """``concviz talk`` in a tmux session of the size asked for: (name, pane pid)."""
    width, height = getattr(request, "param", (120, 36))
    name = f"concviz-talk-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                    f"{sys.executable} -m concviz talk"], check=True, env=env)
    pane_pid = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    yield name, pane_pid
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def shows(name: str, *words: str, timeout: float = 10) -> str:
    """Wait until the screen shows every one of ``words``; return it."""
    found = wait_for(lambda: (s := screen(name)) and all(w in s for w in words) and s, timeout, 0.2)
    assert found, f"{words} never shown: {screen(name)}"
    return found


def experiments(pane_pid: int) -> list:
    return [p for p in tree(pane_pid) if "concviz.engine.experiment" in " ".join(_cmd(p)) and _alive(p)]


def takeaway(text: str) -> str:
    """The rows between the last "in parallel" row and the legend: the takeaway."""
    rows = text.splitlines()
    last = max(i for i, row in enumerate(rows) if "in parallel" in row)
    legend = next(i for i, row in enumerate(rows) if "GIL" in row and "failed" in row)
    return " ".join(row.strip() for row in rows[last + 1:legend] if row.strip())


@pytest.mark.parametrize("talk", [(120, 36), (80, 24)], indirect=True, ids=["120x36", "80x24"])
def test_the_built_in_deck_start_to_finish(talk):
    name, pane_pid = talk
    scenes = default_deck().scenes
    t0 = time.monotonic()
    for k, scene in enumerate(scenes, 1):
        shows(name, f"{k} / {len(scenes)}", "space")
        tmux("send-keys", "-t", name, "space")
        # the question, and the room's answer by its number
        shows(name, "1-", scene.prediction.question.render(cpus=os.cpu_count() or 1)[:20])
        tmux("send-keys", "-t", name, "1")
        live = wait_for(lambda: experiments(pane_pid) or "space: the answer" in screen(name), 20)
        assert live, f"scene {k}: no run started: {screen(name)}"
        ran = shows(name, "space: the answer", timeout=RUN_TIMEOUT_S)
        assert all(run.name in ran for run in scene.runs)
        tmux("send-keys", "-t", name, "space")
        revealed = shows(name, "Measured:")
        said = takeaway(revealed)
        assert said and "?" not in said, f"scene {k}: takeaway {said!r}\n{revealed}"
        assert FIGURE.search(said) or FIGURE.search(revealed), revealed
        assert not experiments(pane_pid), f"scene {k}: a run still going after the reveal"
        tmux("send-keys", "-t", name, "space")
    shows(name, "That was the talk")
    procs = tree(pane_pid)
    assert not experiments(pane_pid)
    print(f"{len(scenes)} scenes in {time.monotonic() - t0:.0f} s")
    tmux("send-keys", "-t", name, "q")
    assert_all_gone(procs)


def test_q_in_the_middle_of_a_run_leaves_nothing(talk):
    name, pane_pid = talk
    shows(name, "1 / ")
    tmux("send-keys", "-t", name, "space")
    shows(name, "1-")
    tmux("send-keys", "-t", name, "1")
    live = wait_for(lambda: experiments(pane_pid), 20)
    assert live, f"no run started: {screen(name)}"
    procs = tree(pane_pid)
    tmux("send-keys", "-t", name, "q")
    assert_all_gone(procs)
