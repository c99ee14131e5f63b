"""screenshots/animate.py (issue 14): the README's moving picture shows each frame of the replay
exactly, in turn, and the last one where SVG is not animated."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location("animate", ROOT / "screenshots" / "animate.py")
animate = importlib.util.module_from_spec(_spec)
sys.modules["animate"] = animate  # (dataclasses look their module up there)
_spec.loader.exec_module(animate)

GROUP = re.compile(r'<g class="(s(\d+)_(\d+))">(.*?)</g>', re.S)
ELEMENT = re.compile(r"<(?:rect|text)\b[^>]*?(?:/>|>.*?</text>)", re.S)


def shown_at(svg: str, index: int) -> set[str]:
    """The elements the CSS makes visible while frame ``index`` shows."""
    out = set()
    for _, a, b, body in GROUP.findall(svg):
        if int(a) <= index < int(b):
            out.update(ELEMENT.findall(body))
    return out


def timing(svg: str) -> dict[str, tuple[str, list[tuple[float, str]]]]:
    """class -> (its visibility without animation, its keyframes as (percent, visibility))."""
    out = {}
    for name, base, keys in re.findall(r"\.(s\d+_\d+)\{visibility:(\w+);animation:k\1 [\d.]+s step-end infinite\}"
                                      r"@keyframes k\1\{(.*?)\}(?=\.|\n)", svg):
        out[name] = (base, [(float(p), v) for p, v in re.findall(r"([\d.]+)%\{visibility:(\w+)\}", keys)])
    return out


def frames(*contents: tuple[list[str], float]) -> list:
    return [animate.Frame(tuple(e for e in els if e.startswith("<rect")),
                          tuple(e for e in els if e.startswith("<text")), s) for els, s in contents]


A = '<text class="c0" x="0" y="20">a</text>'
B = '<text class="c0" x="12.2" y="20">b</text>'
C = '<text class="c1" x="0" y="44.4">c</text>'
R = '<rect fill="#4ebf71" x="0" y="1.5" width="12.2" height="24.65"/>'


def test_each_frame_shows_exactly_its_own_elements_for_its_own_time():
    made = frames(([A, R], 1.0), ([A, B], 1.0), ([A, B, C], 2.0), ([A, R], 4.0))
    svg = animate.assemble(made, animate.Styles(), "#121212", (2, 2))
    for i, frame in enumerate(made):
        assert shown_at(svg, i) == set(frame.rects + frame.texts), i
    assert svg.count(A) == 1  # shown in every frame, written once
    assert svg.count(R) == 2  # frames 0 and 3: two runs of frames
    total = 8.0
    groups = timing(svg)
    # C shows from 2 s to 4 s of the 8 s loop: keyframes at 25% (visible) and 50% (hidden)
    assert groups["s2_3"] == ("hidden", [(0.0, "hidden"), (25.0, "visible"), (50.0, "hidden")])
    # the last frame's elements are visible without animation (a still viewer shows the end)
    assert groups["s3_4"][0] == "visible" and groups["s0_4"][0] == "visible"
    assert f"animation:ks0_4 {total:.2f}s" in svg


def test_a_rich_export_is_read_back_compactly():
    svg = ('<style>.terminal-1-r1 { fill: #e0e0e0 }\n.terminal-1-r2 { fill: #4ebf71;font-weight: bold }</style>'
           '<rect fill="#121212" x="0" y="1.5" width="24.4" height="24.65" shape-rendering="crispEdges"/>'
           '<rect fill="#4ebf71" x="24.4" y="1.5" width="12.2" height="24.65" shape-rendering="crispEdges"/>'
           '<rect fill="#4ebf71" x="36.6" y="1.5" width="12.2" height="24.65" shape-rendering="crispEdges"/>'
           '<text class="terminal-1-r1" x="0" y="20" textLength="61" clip-path="url(#terminal-1-line-0)">'
           '&#160;&#160;ab&#160;</text>'
           '<text class="terminal-1-r2" x="61" y="20" textLength="12.2" clip-path="url(#terminal-1-line-0)">✓</text>'
           '<text class="terminal-1-r1" x="73.2" y="20" textLength="36.6" clip-path="url(#terminal-1-line-0)">'
           '&#160;&#160;&#160;</text>')
    styles = animate.Styles()
    frame = animate.parse(svg, styles, background="#121212", seconds=1.0)
    # the background's rect is dropped, the two green cells joined
    assert frame.rects == ('<rect fill="#4ebf71" x="24.4" y="1.5" width="24.4" height="24.65"/>',)
    # blanks trimmed from the ends (the text moves right), a blank text dropped, one cell unstretched
    assert frame.texts == ('<text class="c0" x="24.4" y="20" textLength="24.4">ab</text>',
                           '<text class="c1" x="61" y="20">✓</text>')
    assert styles.css() == ".c0{fill:#e0e0e0}\n.c1{fill:#4ebf71;font-weight:bold}"


@pytest.mark.slow
def test_a_replay_is_captured_as_it_grows():
    """The real app, replaying the processes trace: the lanes fill frame by frame, and the last
    frame is the finished run."""
    import asyncio

    shots = asyncio.run(animate.capture("processes-cpu", step_s=0.2))
    assert len(shots) == 5  # 0, 0.2, 0.4, 0.6 s and the end (0.66 s)
    styles = animate.Styles()
    parsed = [animate.parse(svg, styles, animate.background_of(shots[-1]), 1.0) for svg in shots]
    drawn = [sum(len(t) for t in f.texts) for f in parsed]
    assert drawn == sorted(drawn) and drawn[0] < drawn[-1], drawn  # more drawn at each step
    # the legend's "✓ done" is always there; a lane's ✓ only once its task has finished
    assert "".join(parsed[1].texts).count("✓") == 1 and "running" in "".join(parsed[1].texts)
    assert "".join(parsed[-1].texts).count("✓") == 1 + 4
