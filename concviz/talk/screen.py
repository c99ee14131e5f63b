"""The talk screen: a deck given scene by scene (``concviz talk``).

Per scene: the narration; the question, whose answer the speaker keys in for the room (1-4) or
skips (space); the runs, live, stacked on one time axis, each sweeping while it runs; then the
reveal: the answer the measurement gives against the room's, and the takeaway filled from the
runs' own figures. The flow is concviz.talk.control's; this module only draws it and maps keys.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from concviz.app import TICK_HZ, run_until_quit
from concviz.stack import settings_text
from concviz.talk.control import SessionFactory, Step, TalkControl, live_session
from concviz.talk.figures import format_number
from concviz.talk.scene import Deck
from concviz.themes import use_theme
from concviz.widgets.bars import Bar, legend_markup
from concviz.widgets.stack import StackView

SHORT = 30  # rows: below this the reveal shows the takeaway in the narration's place
KEYS = "space next · ← back · r again · q quit"
CSS_PATH = Path(__file__).resolve().parent.parent / "concviz.tcss"


def esc(text: str) -> str:
    """``text`` shown as it is written (a deck's "[" is not markup)."""
    return text.replace("[", "\\[")


class TalkScreen(Screen):
    """One scene at a time, drawn from ``talk`` (a TalkControl)."""

    BINDINGS = [
        Binding("space,right", "next", "Next"),
        Binding("left", "back", "Back a scene"),
        Binding("r", "again", "Run again"),
        *(Binding(str(n), f"predict({n})", f"The room answers {n}", show=False) for n in range(1, 5)),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, talk: TalkControl) -> None:
        super().__init__()
        self.talk = talk
        self.w: dict[str, Bar | Static | StackView] = {}
        self._shown: dict[str, str] = {}  # the markup each text part shows

    def compose(self) -> ComposeResult:
        yield Bar(id="talk-head")
        yield Static(id="talk-narration")
        yield Static(id="talk-question")
        yield StackView(id="talk-stack")
        yield Static(id="talk-takeaway")
        yield Bar(id="talk-legend")
        yield Bar(id="talk-hint")

    def on_mount(self) -> None:
        self.w = {name: self.query_one(f"#talk-{name}") for name in
                  ("head", "narration", "question", "stack", "takeaway", "legend", "hint")}
        self._timer = self.set_interval(1 / TICK_HZ, self.tick, pause=not getattr(self.app, "live_ticks", True))
        self.redraw()

    def on_unmount(self) -> None:
        self._timer.stop()

    def on_resize(self) -> None:
        self.redraw()

    # --- keys ------------------------------------------------------------------------------
    def action_next(self) -> None:
        said = self.talk.next()
        if said:
            self.notify(said)
        self.tick(force=True)

    def action_back(self) -> None:
        self.talk.back()
        self.tick(force=True)

    def action_again(self) -> None:
        self.talk.run()
        self.tick(force=True)

    def action_predict(self, number: int) -> None:
        if self.talk.predict(number):
            self.tick(force=True)

    # --- drawing ---------------------------------------------------------------------------
    def tick(self, force: bool = False) -> None:
        """Start the next run where one ended, and draw what moved."""
        if self.talk.advance() or force:
            self.redraw()

    def redraw(self) -> None:
        """Every part of the screen for the scene and step shown (a part that did not change
        is left alone)."""
        if not self.w:
            return
        talk, step, width = self.talk, self.talk.step, self.size.width
        scene = talk.scene
        with self.app.batch_update():
            self.w["head"].set_markup(head_markup(talk, width - 2))
            shows_runs = step in (Step.RUNNING, Step.RAN, Step.REVEAL)
            self.set_class(shows_runs, "runs")
            if step is Step.END:
                self._text("narration", f"That was the talk: [b]{esc(talk.deck.title)}[/]. Thank you!")
                self._text("question", "")
            else:
                # a short screen's reveal shows the takeaway in the narration's place
                short = step is Step.REVEAL and self.size.height < SHORT
                self._text("narration", "" if short else esc(scene.narration.render(cpus=talk.cpus)))
                self._text("question", question_markup(talk))
            self._text("takeaway", takeaway_markup(talk) if step is Step.REVEAL else "")
            self.w["legend"].set_markup(legend_markup(width))
            self.w["hint"].set_markup(hint_markup(talk))
            self.w["stack"].show(talk.stacked() if shows_runs else [])

    def _text(self, name: str, markup: str) -> None:
        widget = self.w[name]
        widget.display = bool(markup)
        if self._shown.get(name) != markup:
            self._shown[name] = markup
            widget.update(markup)


def head_markup(talk: TalkControl, width: int) -> str:
    """'concviz talk   3 / 7   Processes: real parallelism ...   space next · ← back · ...'."""
    n = len(talk.deck.scenes)
    where = "end" if talk.step is Step.END else f"{talk.index + 1} / {n}"
    title = "" if talk.step is Step.END else talk.scene.title
    left = f"concviz talk   {where}   {title}"
    keys = KEYS if cell_len(left) + cell_len(KEYS) + 3 <= width else "space · ← · r · q"
    gap = max(2, width - cell_len(left) - cell_len(keys))
    return f"[b]concviz talk[/]   [b $accent]{where}[/]   [b]{esc(title)}[/]{' ' * gap}[dim]{keys}[/]"


def question_markup(talk: TalkControl) -> str:
    """Before the runs: what will run, or the question and its numbered choices; with the
    runs: the room's answer; at the reveal: the measured one beside it."""
    scene, step, cpus = talk.scene, talk.step, talk.cpus
    prediction = scene.prediction
    if step is Step.NARRATION:
        runs = " · ".join(f"[b]{esc(r.name)}[/] [dim]({settings_text(r.name, r.spec)})[/]" for r in scene.runs)
        return f"[dim]The run{'s' * (len(scene.runs) != 1)}:[/] {runs}"
    if prediction is None:
        return ""
    if step is Step.PREDICTION:
        lines = [f"[b]{esc(prediction.question.render(cpus=cpus))}[/]", ""]
        lines += [f"  [b $accent]{i}[/]  {esc(c.text.render(cpus=cpus))}" for i, c in enumerate(prediction.choices, 1)]
        return "\n".join(lines)

    def choice(i: int) -> str:
        return f"({i + 1}) {esc(prediction.choices[i].text.render(cpus=cpus))}"

    said = f"The room said [b]{choice(talk.chosen)}[/]" if talk.chosen is not None else "[dim]No answer from the room[/]"
    if step is not Step.REVEAL:
        return said
    answer = talk.answer()
    if answer is None:
        measured = "[b $warning]the runs do not settle it[/] (a figure was not measured)"
    else:
        verdict = "" if talk.chosen is None else (
            "  [b $success]✓ right[/]" if answer == talk.chosen else "  [b $error]✗ not this time[/]")
        measured = f"[b]{choice(answer)}[/]{verdict}"
    return f"{said}.   Measured: {measured}"


def takeaway_markup(talk: TalkControl) -> str:
    """The takeaway, and why a run has no figures where one failed."""
    lines = [f"[b]{esc(talk.takeaway())}[/]"] if talk.scene.takeaway else []
    for i, run in enumerate(talk.scene.runs):
        frame = talk.frames[i] if i < len(talk.frames) else None
        why = talk.failures.get(i) or (None if frame is None or run.name in talk.figures()
                                       else f"ended {frame.ended}, {frame.stats['failed']} failed")
        if why:
            lines.append(f"[$warning]{esc(run.name)}: {esc(why)}: its figures show as ?[/]")
    return "\n".join(lines)


def hint_markup(talk: TalkControl) -> str:
    """What the next key does, at the foot of the screen."""
    step = talk.step
    if step is Step.NARRATION:
        return "[b]space[/]: " + ("the question" if talk.scene.prediction else "run it")
    if step is Step.PREDICTION:
        n = len(talk.scene.prediction.choices)
        return f"[b]1-{n}[/]: the room's answer   [b]space[/]: no answer, run it"
    if step is Step.RUNNING:
        i = talk.running_index
        runs = talk.scene.runs
        now = f"running [b]{esc(runs[i].name)}[/] ({i + 1} of {len(runs)})…" if i is not None else "starting…"
        return f"{now}   [dim]r again · ← back[/]"
    if step is Step.RAN:
        walls = [f"{esc(r.name)} {format_number(f.stats['wall_s'], 's')}"
                 for r, f in zip(talk.scene.runs, talk.frames) if f is not None]
        return "[b]space[/]: the answer   [dim]" + " · ".join(walls) + "[/]"
    if step is Step.REVEAL:
        last = talk.index + 1 == len(talk.deck.scenes)
        return "[b]space[/]: " + ("the end" if last else "next scene") + "   [dim]r again · ← back[/]"
    return "[b]q[/]: quit   [dim]← back a scene[/]"


class TalkApp(App[int]):
    """``concviz talk``: a deck given as a talk.

    Args:
        deck: the talk.
        start: makes each run's session (live by default; tests give recorded runs).
        cpus: the machine's CPUs for {cpus} (this machine's by default).
        scene: the scene to begin with, from 0.
        theme: a name from concviz.themes.THEMES.
        live_ticks: run the frame timer (tests drive the screen themselves).
    """

    CSS_PATH = str(CSS_PATH)
    TITLE = "concviz talk"
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, deck: Deck, *, start: SessionFactory = live_session, cpus: int | None = None,
                 scene: int = 0, theme: str | None = None, live_ticks: bool = True) -> None:
        super().__init__()
        use_theme(self, theme)
        self.talk = TalkControl(deck, start, cpus, scene)
        self.live_ticks = live_ticks

    def get_default_screen(self) -> Screen:
        return TalkScreen(self.talk)

    async def action_quit(self) -> None:
        self.talk.shutdown()
        self.exit(0)


def run_talk(deck: Deck, theme: str | None = None, scene: int = 0) -> int:
    """Give ``deck`` (from scene ``scene``, from 0) until q; every run it started is gone when
    this returns."""
    app = TalkApp(deck, theme=theme, scene=scene)
    return run_until_quit(app, app.talk.shutdown)
