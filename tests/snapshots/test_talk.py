"""Talk mode and the stacked view (issue 14), from recorded runs, at 80x24 and 120x36.

The built-in deck's third scene, "Processes: real parallelism", with the recorded threads-cpu
and processes-cpu runs in place of live ones, and its seventh, "Many slow connections", with
the recorded net-slow runs; the machine's CPUs fixed at 2. Each docstring
says what a reviewer should see in the SVG.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.talk.deck import default_deck
from concviz.talk.screen import TalkApp

FIXTURES = Path(__file__).parent.parent / "fixtures"

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


def talk(held: tuple[str, ...] = (), scene: int = 3) -> TalkApp:
    """The talk at a scene, from 1 (as ``concviz talk --scene 3``)."""
    from tests.fixtures.recorded_runs import Recordings  # (as test_screens reads its results)

    return TalkApp(default_deck(), start=Recordings(held), cpus=2, scene=scene - 1, live_ticks=False)


@pytest.mark.parametrize("size", SIZES)
def test_talk_prediction(snap_compare, size):
    """Scene 3 / 8 in the header with the keys; the narration; the question "The same four
    tasks: which finishes first?" with its three numbered choices; the hint "1-3: the room's
    answer, space: no answer, run it". No runs yet."""
    assert snap_compare(talk(), press=["space"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_talk_live_run(snap_compare, size):
    """The room answered (3) processes; the threads run is under way, held half-way: its lanes
    sweep a short window (the header's note "▶ 150 ms" or so, each GIL turn a few columns wide,
    ▒ waits between the threads' turns) at the live edge, its label "▶ 0.80 s"; the processes
    run waits below it; the hint says "running threads (1 of 2)"."""
    assert snap_compare(talk(held=("threads",)), press=["space", "3"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_talk_reveal(snap_compare, size):
    """The reveal: "The room said (3) processes. Measured: (3) processes ✓ right"; the two runs
    stacked on one time axis, each from its own start: threads 1.60 s across the whole width,
    processes 0.66 s ending under half-way, "in parallel" ×0.97 against ×1.87; the takeaway
    "Processes 0.66 s, threads 1.60 s: 2.4x on 2 cores. Parallelism 1.87 against the threads'
    0.97." (at 80x24 in the narration's place)."""
    assert snap_compare(talk(), press=["space", "3", "space"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_talk_many_connections_reveal(snap_compare, size):
    """Scene 7 / 8, "Many slow connections", revealed (the recorded threads-net-slow-1000 and
    asyncio-net-slow-1000 runs): "The room said (3) asyncio. Measured: (3) asyncio ✓ right";
    each run labelled "net-slow · 1,000 connections x 1 request, 1000 ms replies", its lanes
    dotted (waiting on the socket), and under its "in parallel" row a memory row on one scale
    for both: threads rising to the top block (33.9 MB), asyncio stopping near half (24.3 MB).
    The takeaway: threads 1.94 s, asyncio 1.24 s; a thread 17.9 KB (+ 16.0 KB of kernel stack,
    inferred), an asyncio task 8.3 KB: 2.2x (at 80x24 in the narration's place)."""
    assert snap_compare(talk(scene=7), press=["space", "3", "space"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_stacked_view(snap_compare, size):
    """concviz stack of three recorded runs (sequential, threads, processes; CPU-bound): one
    above the other, each labelled with its model, settings and wall time, each from its own
    start over the longest run's span: threads 1.60 s fills the width, sequential 0.63 s and
    processes 0.66 s end part-way; every lane equally tall; the footer offers Back and Quit."""
    traces = [read_trace(FIXTURES / f"{name}.jsonl") for name in ("sequential-cpu", "threads-cpu", "processes-cpu")]
    assert snap_compare(ConcvizApp(stack=traces, live_ticks=False), terminal_size=size)
