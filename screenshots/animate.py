"""Regenerate screenshots/demo.svg: the README's moving picture, made from recorded runs.

    python screenshots/animate.py [--frames DIR]

The app replays two recorded traces (tests/fixtures/threads-cpu.jsonl, then processes-cpu.jsonl)
as if they were live: the script moves the replay's clock itself, a step at a time, and takes
Textual's SVG export of the screen after each step. The frames are merged into one SVG that shows
them in turn with CSS keyframes (no script, no new dependency): four threads taking turns on the
GIL, then four processes filling both cores, each run held whole at its end. A viewer that does
not animate SVG shows the last frame. ``--frames DIR`` also writes each frame as an SVG of its
own, to look at one by one.

Textual's export draws every cell run as a rect and a text; most of a frame is the same as the
one before. So the frames are parsed back (Rich's SVG format), runs of blank text dropped,
neighbouring rects of one colour joined, and each drawn element is written once, in a group that
is visible for the frames it appears in.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from concviz.app import ConcvizApp  # noqa: E402
from concviz.engine.events import read_trace  # noqa: E402
from concviz.view import Zoom  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "screenshots" / "demo.svg"
SIZE = (100, 26)  # columns, rows: wide enough for the lanes, small enough for a README
CLIPS = ("threads-cpu", "processes-cpu")
# Both runs in the same slow motion, so that their lengths compare: a frame every 70 ms of the
# recorded run, shown for 0.2 s (x0.35).
STEP_S = 0.07
FRAME_S = 0.2
HOLD_S = 3.5  # how long each whole run is shown at the end of its clip


@dataclass(frozen=True)
class Frame:
    """One screen: its drawn elements (SVG text, background first) and how long it shows."""

    rects: tuple[str, ...]
    texts: tuple[str, ...]
    seconds: float


# --- taking the frames -----------------------------------------------------------------------------
async def capture(trace: str, step_s: float = STEP_S) -> list[str]:
    """Textual's SVG export of the app replaying ``trace``, every ``step_s`` of the recorded run
    from its first event, and at its last."""
    header, events = read_trace(FIXTURES / f"{trace}.jsonl")
    app = ConcvizApp(replay=(header, events), instant=False, live_ticks=False)
    shots = []
    async with app.run_test(size=SIZE) as pilot:
        # The app's replay, put at each instant by the script (its frame timer is off): the
        # replay's own clock is the wall clock, which this script does not keep in step with.
        session = app.runs.session
        length_ns = session.duration_ns
        step_ns = int(step_s * 1e9)
        steps = math.ceil(length_ns / step_ns)
        # the axis the whole run will have, from the start: the lanes grow across a still axis
        # (the live default re-scales it in steps, redrawing every lane at each step)
        app.main.zoom = Zoom(span_ns=length_ns, follow=False)
        for step in range(steps + 1):
            session.seek(min(length_ns, step * step_ns))
            if step == steps:
                app.main.zoom = Zoom()  # the run is over: the app's own view of it, the whole run
            app.main.show(session.snapshot())
            app.main.refresh_bars(at_once=True)  # the figures of this instant, not of a step ago
            await pilot.pause()
            shots.append(app.export_screenshot(simplify=True))
    return shots


# --- reading Rich's SVG back -----------------------------------------------------------------------
STYLE = re.compile(r"\.terminal-\d+-(r\d+) \{ ([^}]*) \}")
RECT = re.compile(r'<rect fill="([^"]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" '
                  r'shape-rendering="crispEdges"/>')
TEXT = re.compile(r'<text class="terminal-\d+-(r\d+)" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)" '
                  r'clip-path="url\(#terminal-\d+-line-\d+\)">(.*?)</text>', re.S)
CELL_W = 12.2  # Rich's cell: 0.61 of its 20 px font
NBSP = "&#160;"


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class Styles:
    """Every text style of every frame, each given one short class name."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def name(self, css: str) -> str:
        if css not in self.names:
            self.names[css] = f"c{len(self.names)}"
        return self.names[css]

    def css(self) -> str:
        return "\n".join(f".{name}{{{css.replace(' ', '')}}}" for css, name in self.names.items())


def parse(svg: str, styles: Styles, background: str, seconds: float) -> Frame:
    """A Rich SVG as compact elements: rects of ``background`` dropped (one rect paints it),
    neighbouring rects of one colour joined, blank texts dropped and the blank ends of texts
    trimmed."""
    local = dict(STYLE.findall(svg))
    rows: dict[str, list[list]] = defaultdict(list)
    for fill, x, y, w, h in RECT.findall(svg):
        row = rows[y]
        x, w = float(x), float(w)
        if row and row[-1][0] == fill and abs(row[-1][1] + row[-1][2] - x) < 0.05:
            row[-1][2] += w
        else:
            row.append([fill, x, w, h])
    rects = tuple(f'<rect fill="{fill}" x="{_num(x)}" y="{y}" width="{_num(w)}" height="{h}"/>'
                  for y, row in rows.items() for fill, x, w, h in row if fill != background)
    texts = []
    for cls, x, y, length, content in TEXT.findall(svg):
        lead, stripped = 0, content
        while stripped.startswith(NBSP):
            stripped, lead = stripped[len(NBSP):], lead + 1
        trail = 0
        while stripped.endswith(NBSP):
            stripped, trail = stripped[:-len(NBSP)], trail + 1
        if not stripped.strip():
            continue
        x0 = float(x) + lead * CELL_W
        width = float(length) - (lead + trail) * CELL_W
        # one cell needs no stretching to its width: only a run of cells can drift from the grid
        stretch = f' textLength="{_num(width)}"' if width > CELL_W * 1.5 else ""
        texts.append(f'<text class="{styles.name(local[cls])}" x="{_num(x0)}" y="{y}"{stretch}>{stripped}</text>')
    return Frame(rects, tuple(texts), seconds)


def background_of(svg: str) -> str:
    """The terminal's background: the colour most of its cells have."""
    area: Counter[str] = Counter()
    for fill, _x, _y, w, _h in RECT.findall(svg):
        area[fill] += float(w)
    return area.most_common(1)[0][0]


# --- writing the animation -------------------------------------------------------------------------
HEAD = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">
<!-- concviz replaying two recorded runs (screenshots/animate.py, from tests/fixtures) -->
<style>
text{{font-family:"Fira Code",Menlo,"DejaVu Sans Mono",monospace;font-size:20px;white-space:pre;font-variant-east-asian:full-width}}
{styles}
{timing}
</style>
<rect width="{w}" height="{h}" rx="8" fill="#292929" stroke="rgba(255,255,255,0.35)"/>
<text x="{mid}" y="27" fill="#c5c8c6" text-anchor="middle" style="font:bold 18px arial">concviz</text>
<g transform="translate(9, 41)">
<rect width="{tw}" height="{th}" fill="{background}"/>
"""


def assemble(frames: list[Frame], styles: Styles, background: str, size: tuple[int, int]) -> str:
    """One SVG showing ``frames`` in turn, each element written once for the frames it is in."""
    starts, total = [], 0.0
    for frame in frames:
        starts.append(total)
        total += frame.seconds
    last = len(frames)
    spans: dict[tuple[str, int, int], list[str]] = defaultdict(list)  # (layer, first, end) -> elements
    for layer in ("rects", "texts"):
        seen: dict[str, list[int]] = {}
        for i, frame in enumerate(frames):
            for element in getattr(frame, layer):
                seen.setdefault(element, []).append(i)
        for element, where in seen.items():
            begin = where[0]
            for prev, cur in zip(where, where[1:] + [None]):
                if cur != prev + 1:  # a run of consecutive frames ends at prev
                    spans[(layer, begin, prev + 1)].append(element)
                    begin = cur
    timing = [(f"s{a}_{b}", a, b) for a, b in sorted({(a, b) for _, a, b in spans})]
    css = []
    for name, a, b in timing:
        pa, pb = 100 * starts[a] / total, (100 * starts[b] / total if b < last else 100.0)
        steps = [f"0%{{visibility:{'visible' if a == 0 else 'hidden'}}}"]
        if a:
            steps.append(f"{pa:.3f}%{{visibility:visible}}")
        if b < last:
            steps.append(f"{pb:.3f}%{{visibility:hidden}}")
        css.append(f".{name}{{visibility:{'visible' if b == last else 'hidden'};"
                   f"animation:k{name} {total:.2f}s step-end infinite}}"
                   f"@keyframes k{name}{{{''.join(steps)}}}")
    cols, rows = size
    w, h = round(cols * CELL_W + 30), round(rows * 24.4 + 52)
    out = [HEAD.format(w=w, h=h, mid=w // 2, tw=_num(cols * CELL_W), th=_num(rows * 24.4 + 1.5),
                       background=background, styles=styles.css(), timing="\n".join(css))]
    for layer in ("rects", "texts"):
        for name, a, b in timing:
            elements = spans.get((layer, a, b))
            if elements:
                out.append(f'<g class="{name}">' + "".join(elements) + "</g>\n")
    out.append("</g>\n</svg>\n")
    return "".join(out)


def still(frame: Frame, styles: Styles, background: str, size: tuple[int, int]) -> str:
    """One frame as an SVG of its own (for looking at the frames one by one)."""
    return assemble([Frame(frame.rects, frame.texts, 1.0)], styles, background, size)


async def make() -> tuple[list[Frame], Styles, str]:
    shots: list[tuple[str, float]] = []
    for trace in CLIPS:
        svgs = await capture(trace)
        shots += [(svg, FRAME_S) for svg in svgs[:-1]] + [(svgs[-1], HOLD_S)]
    background = background_of(shots[-1][0])
    styles = Styles()
    return [parse(svg, styles, background, seconds) for svg, seconds in shots], styles, background


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=Path, help="also write each frame to DIR/frame-NN.svg")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    frames, styles, background = asyncio.run(make())
    svg = assemble(frames, styles, background, SIZE)
    args.output.write_text(svg, encoding="utf-8")
    print(f"wrote {args.output} ({len(svg.encode()) / 1024:.0f} KiB, {len(frames)} frames, "
          f"{sum(f.seconds for f in frames):.1f} s a loop)")
    if args.frames:
        args.frames.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            (args.frames / f"frame-{i:02d}.svg").write_text(still(frame, styles, background, SIZE), encoding="utf-8")
        print(f"wrote {len(frames)} frames to {args.frames}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
