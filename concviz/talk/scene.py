"""What a deck is made of, once read and checked: scenes, their runs, predictions, templates.

Plain frozen dataclasses, filled by :mod:`concviz.talk.deck`; a talk screen only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from concviz.engine.spec import RunSpec
from concviz.talk import figures as fig


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a deck, said in one line: ``file:line: message``."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class DeckError(ValueError):
    """A deck that cannot be used; ``problems`` lists every reason, each one line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Template:
    """Text with placeholders, as written and parsed."""

    source: str
    parts: tuple

    def render(self, figures: Mapping[str, Mapping] | None = None, cpus: int = 1) -> str:
        """The text with its placeholders filled from ``figures`` (run name -> that run's
        ``Frame.stats``) and the machine's ``cpus``."""
        return fig.render(self.parts, figures or {}, cpus)


@dataclass(frozen=True)
class DeckRun:
    """One run of a scene: the name its figures go by, and its validated settings."""

    name: str
    spec: RunSpec
    line: int


@dataclass(frozen=True)
class Choice:
    """An answer the room can give, and the measurement that makes it the right one (no
    condition: the answer when no other choice's condition holds)."""

    text: Template
    condition: tuple | None


@dataclass(frozen=True)
class Prediction:
    """A question for the room before the run(s), judged afterwards by what was measured."""

    question: Template
    choices: tuple[Choice, ...]

    def answer(self, figures: Mapping[str, Mapping], cpus: int) -> int | None:
        """The index of the choice the measurement makes right: the first whose condition
        holds, else the one without a condition. None when a figure a condition needs was not
        measured, or no choice fits: the reveal must then say so, not guess."""
        otherwise = None
        for i, choice in enumerate(self.choices):
            if choice.condition is None:
                otherwise = i
                continue
            verdict = fig.holds(choice.condition, figures, cpus)
            if verdict is None:
                return None
            if verdict:
                return i
        return otherwise


@dataclass(frozen=True)
class Scene:
    """One step of a talk."""

    title: str
    narration: Template
    runs: tuple[DeckRun, ...]
    prediction: Prediction | None
    takeaway: Template | None
    line: int


@dataclass(frozen=True)
class Deck:
    """A talk: a title and its scenes, in order."""

    title: str
    scenes: tuple[Scene, ...]
    source: str
