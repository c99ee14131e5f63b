"""The flow of a talk: scene by scene, step by step, a scene's runs one after another.

No widgets here. The talk screen's keys call a TalkControl, and its frame tick calls
:meth:`TalkControl.advance`, which starts each run of a scene once the one before it has ended
(runs side by side would share the cores and measure each other). A run is a Session, as on the
main screen: one experiment process per run, apart from the UI. Tests give recorded runs instead
(``start``).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from typing import Callable

from concviz.engine.frame import Frame
from concviz.session import LiveSession, Session
from concviz.stack import StackedRun
from concviz.talk.scene import Deck, DeckRun, Scene


class Step(enum.Enum):
    """Where a scene stands."""

    NARRATION = "narration"  # the title and the narration
    PREDICTION = "prediction"  # the question: the room answers, the speaker presses its number
    RUNNING = "running"  # the runs, live, one after another
    RAN = "ran"  # every run is over: the room looks at the picture
    REVEAL = "reveal"  # the measured answer and the takeaway
    END = "end"  # after the last scene


SessionFactory = Callable[[DeckRun], Session]


def live_session(run: DeckRun) -> Session:
    """A live run of ``run``'s settings (not started yet)."""
    return LiveSession(dataclasses.replace(run.spec))


class TalkControl:
    """A deck given as a talk.

    Args:
        deck: the talk.
        start: makes the session of a run (live by default).
        cpus: the machine's CPUs, for the deck's {cpus}.
        scene: the scene to begin with, from 0 (to rehearse one).

    Attributes:
        index: the scene shown, from 0.
        step: where it stands.
        chosen: the index of the room's answer, None if skipped or not asked yet.
        frames: the picture of each run of the scene once it has ended (None before).
        failures: why a run could not start, by its index.
    """

    def __init__(self, deck: Deck, start: SessionFactory = live_session, cpus: int | None = None,
                 scene: int = 0) -> None:
        if cpus is None:
            from concviz.engine.experiment import machine_info

            cpus = machine_info()["cpus"]
        self.deck = deck
        self.start = start
        self.cpus = cpus
        self.index = max(0, min(scene, len(deck.scenes) - 1))
        self.step = Step.NARRATION
        self.chosen: int | None = None
        self.sessions: list[Session | None] = []
        self.frames: list[Frame | None] = []
        self.failures: dict[int, str] = {}
        self._retired: list[Session] = []  # runs cut short, still being wound down

    @property
    def scene(self) -> Scene:
        """The scene shown."""
        return self.deck.scenes[self.index]

    @property
    def running_index(self) -> int | None:
        """The run measured now, if any."""
        if self.step is not Step.RUNNING:
            return None
        return next((i for i, s in enumerate(self.sessions) if s is not None and s.running), None)

    # --- keys --------------------------------------------------------------------------------
    def next(self) -> str:
        """Space: the next step. Returns what the speaker should be told ("" for nothing)."""
        step = self.step
        if step is Step.NARRATION:
            if self.scene.prediction is not None:
                self.step = Step.PREDICTION
            else:
                self.run()
        elif step is Step.PREDICTION:
            self.chosen = None  # skipped: the room did not answer
            self.run()
        elif step is Step.RUNNING:
            return "the runs are still going: r runs them again, ← goes back a scene"
        elif step is Step.RAN:
            self.step = Step.REVEAL
        elif step is Step.REVEAL:
            self._leave()
            if self.index + 1 < len(self.deck.scenes):
                self.index += 1
                self.step = Step.NARRATION
            else:
                self.step = Step.END
        return ""

    def back(self) -> None:
        """Left: back to the start of the previous scene (of this one, from the first)."""
        self._leave()
        if self.step is not Step.END:
            self.index = max(0, self.index - 1)
        self.step = Step.NARRATION

    def predict(self, number: int) -> bool:
        """The room's answer is choice ``number`` (from 1): the runs start. False when no
        question is asked now or it has no such choice."""
        prediction = self.scene.prediction
        if self.step is not Step.PREDICTION or prediction is None or not 1 <= number <= len(prediction.choices):
            return False
        self.chosen = number - 1
        self.run()
        return True

    def run(self) -> None:
        """R: run the scene's runs (again), one after another; the room's answer stays."""
        if self.step is Step.END:
            return
        self._stop_runs()
        runs = self.scene.runs
        self.sessions = [None] * len(runs)
        self.frames = [None] * len(runs)
        self.failures = {}
        self.step = Step.RUNNING
        self._start(0)

    # --- the runs ------------------------------------------------------------------------------
    def _start(self, i: int) -> None:
        """Start run ``i``; one that cannot start is said so, and the next one is started."""
        runs = self.scene.runs
        while i < len(runs):
            session = self.start(runs[i])
            try:
                session.start()
            except OSError as exc:
                self.failures[i] = f"could not start: {exc}"
                i += 1
                continue
            self.sessions[i] = session
            return
        self.step = Step.RAN

    def advance(self) -> bool:
        """Take the picture of each run that has ended and start the next. Returns True while
        there is something new to draw (a run goes on, or one just ended)."""
        if self.step is not Step.RUNNING:
            return False
        moved = False
        for i, session in enumerate(self.sessions):
            if session is None or self.frames[i] is not None:
                continue
            if session.running:
                return True
            session.advance()
            self.frames[i] = session.snapshot()
            self._start(i + 1)
            moved = True
        return moved

    def stacked(self) -> list[StackedRun]:
        """The scene's runs as a stack: over, in progress (a fresh picture, sweeping), or
        waiting."""
        out = []
        for i, run in enumerate(self.scene.runs):
            session = self.sessions[i] if i < len(self.sessions) else None
            frame = self.frames[i] if i < len(self.frames) else None
            live = session is not None and frame is None
            if frame is None and session is not None and self.step is Step.RUNNING:
                session.advance()
                frame = session.snapshot()
            out.append(StackedRun(run.name, run.spec, frame, live=live))
        return out

    # --- what was measured ------------------------------------------------------------------
    def figures(self) -> dict[str, dict]:
        """Each complete run's figures (``Frame.stats``) by its name: a run that failed or was
        cut short has none, and a takeaway then shows '?' where it is named."""
        out = {}
        for run, frame in zip(self.scene.runs, self.frames):
            if frame is not None and frame.ended == "ok" and frame.stats["failed"] == 0:
                out[run.name] = frame.stats
        return out

    def answer(self) -> int | None:
        """The index of the choice the measurement makes right (None: it cannot tell)."""
        prediction = self.scene.prediction
        return prediction.answer(self.figures(), self.cpus) if prediction else None

    def takeaway(self) -> str:
        """The scene's takeaway, its numbers the runs' own."""
        scene = self.scene
        return scene.takeaway.render(self.figures(), self.cpus) if scene.takeaway else ""

    # --- leaving --------------------------------------------------------------------------------
    def _leave(self) -> None:
        """Leave the scene: its runs stop, its answer is forgotten."""
        self._stop_runs()
        self.sessions, self.frames, self.failures, self.chosen = [], [], {}, None

    def _stop_runs(self) -> None:
        self._retired = [s for s in self._retired if s.running]
        for session in self.sessions:
            if session is not None and session.running:
                session.close(0.0)  # it winds down in the background; shutdown waits for it
                self._retired.append(session)

    def shutdown(self, wait_s: float = 1.0) -> None:
        """Stop every run still going and wait (bounded) for its processes to be gone."""
        sessions = [s for s in (*self.sessions, *self._retired) if s is not None]
        for s in sessions:
            s.close(0.0)
        deadline = time.monotonic() + wait_s
        for s in sessions:
            s.close(max(0.0, deadline - time.monotonic()))
