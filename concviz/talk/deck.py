"""Decks: a talk as a TOML file of scenes, read and checked whole before anything runs.

A deck has a title and scenes in order. A scene has a title, a narration, the settings of one
run or of several stacked on one time axis, an optional prediction for the room, and a takeaway
whose numbers come from the figures the runs measured (the placeholder language is in
:mod:`concviz.talk.figures`)::

    title = "Python concurrency, measured"

    [[scene]]
    title = "Processes: real parallelism"
    narration = "Four CPU-bound tasks. Threads share one GIL; processes each have their own."
    workload = "cpu"          # settings here hold for every run of the scene
    tasks = 4
    scale = 0.5

    [[scene.run]]
    model = "threads"         # a run is named after its model unless given a name
    [[scene.run]]
    model = "processes"

    [scene.prediction]
    question = "Which finishes first?"
    choices = [
        { text = "threads", if = "threads.wall < processes.wall" },
        { text = "processes", if = "processes.wall < threads.wall" },
    ]

Scene and run settings are the fields of :class:`~concviz.engine.spec.RunSpec` and are checked
by its validation, so a deck accepts whatever models and workloads the engine has. Every problem
of a deck is found in one pass and reported one line each, with its line in the file.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from concviz.engine.spec import RunSpec, SpecError, suggest
from concviz.stack import MAX_STACK
from concviz.talk import figures as fig
from concviz.talk.locate import Locator
from concviz.talk.scene import Choice, Deck, DeckError, DeckRun, Prediction, Problem, Scene, Template

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_RUNS = MAX_STACK  # a scene's runs are stacked on one time axis
MIN_CHOICES, MAX_CHOICES = 2, 4
RUN_SETTINGS = tuple(f.name for f in dataclasses.fields(RunSpec) if f.name != "faults")
DECK_KEYS = ("title", "scene")
SCENE_KEYS = ("title", "narration", "run", "prediction", "takeaway") + RUN_SETTINGS
RUN_KEYS = ("name",) + RUN_SETTINGS
PREDICTION_KEYS = ("question", "choices")
CHOICE_KEYS = ("text", "if")
RUN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
RESERVED_NAMES = frozenset(fig.GLOBALS) | {"and"}
DEFAULT_DECK = "default.toml"


# --- reading -----------------------------------------------------------------------------------
def parse_deck(text: str, source: str = "deck.toml") -> tuple[Deck | None, list[Problem]]:
    """Read and check a deck. Returns the deck (None if there are problems) and every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\s*\(at line (\d+), column \d+\)", message)
        line = int(m.group(1)) if m else None
        if m:
            message = message[:m.start()] + message[m.end():]
        elif "end of document" in message:
            line = text.count("\n") + 1
        return None, [Problem(source, line, f"not valid TOML: {message}")]
    reader = _Reader(source, Locator(text))
    deck = reader.deck(data)
    return (None if reader.problems else deck), reader.problems


def read_deck(path: str | Path) -> Deck:
    """Read and check the deck at ``path``; raise :class:`DeckError` listing every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DeckError([Problem(name, None, f"cannot read the deck: {why}")]) from None
    deck, problems = parse_deck(text, name)
    if problems:
        raise DeckError(problems)
    return deck


def default_text() -> str:
    """The built-in deck, as TOML text."""
    return resources.files("concviz.talk").joinpath(DEFAULT_DECK).read_text(encoding="utf-8")


def default_deck() -> Deck:
    """The built-in deck, read and checked."""
    deck, problems = parse_deck(default_text(), "built-in deck")
    if problems:
        raise DeckError(problems)
    return deck


def write_default(path: str | Path, overwrite: bool = False) -> Path:
    """Write the built-in deck to ``path`` as a starting point for a talk of one's own.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False (the file is left as it was).
    """
    path = Path(path)
    with open(path, "w" if overwrite else "x", encoding="utf-8") as out:
        out.write(default_text())
    return path


class _Reader:
    """Turns parsed TOML into a Deck, collecting every problem instead of stopping at one."""

    def __init__(self, source: str, where: Locator) -> None:
        self.source = source
        self.where = where
        self.problems: list[Problem] = []

    def problem(self, line: int | None, message: str) -> None:
        found = Problem(self.source, line, message)
        if found not in self.problems:  # a scene setting wrong for each of its runs: said once
            self.problems.append(found)

    def unknown_keys(self, table: Mapping, known: tuple, label: str, line_of, table_name: str = "") -> None:
        for key in table:
            if key in known:
                continue
            if table_name and key in SCENE_KEYS:
                # TOML's trap: a key belongs to the last [table] above it, whatever it means
                self.problem(line_of(key), f"{label}{key} is written under [{table_name}], so it belongs "
                                           f"to it: move it above the scene's first [[scene.run]] or "
                                           f"[scene.prediction]")
                continue
            self.problem(line_of(key), f"{label}unknown key {key!r}{suggest(key, known)}")

    def text(self, table: Mapping, key: str, label: str, line: int, required: bool = True) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                self.problem(line, f"{label}no {key}")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(line, f"{label}{key} must be some text, got {value!r}")
            return None
        return value.strip()

    def deck(self, data: Mapping) -> Deck:
        self.unknown_keys(data, DECK_KEYS, "", lambda k: self.where.key_line(None, "", k))
        title = self.text(data, "title", "deck: ", self.where.key_line(None, "", "title")) or ""
        raw = data.get("scene")
        if isinstance(raw, dict):
            self.problem(self.where.scene_line(0), "write [[scene]] (two brackets) before each scene")
            raw = [raw]
        if not raw:
            self.problem(None, "the deck has no scenes: add a [[scene]] table for each")
            raw = []
        elif not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
            self.problem(self.where.key_line(None, "", "scene"), "scene must be [[scene]] tables")
            raw = []
        scenes = tuple(self.scene(i, s) for i, s in enumerate(raw))
        return Deck(title, scenes, self.source)

    def scene(self, i: int, data: Mapping) -> Scene:
        where = self.where
        title = data.get("title") if isinstance(data.get("title"), str) else ""
        label = f"scene {i + 1}" + (f' "{title.strip()}"' if title.strip() else "") + ": "

        def line(key: str | None = None) -> int:
            return where.key_line(i, "scene", key)

        self.unknown_keys(data, SCENE_KEYS, label, line)
        title = self.text(data, "title", label, line("title")) or ""
        narration = self.template(data, "narration", label, line("narration"), runs=None)
        runs = self.runs(i, data, label)
        names = tuple(r.name for r in runs)
        prediction = None
        if "prediction" in data:
            prediction = self.prediction(i, data["prediction"], label, names)
        takeaway = None
        if "takeaway" in data:
            takeaway = self.template(data, "takeaway", label, line("takeaway"), runs=names)
        return Scene(title, narration or Template("", ()), runs, prediction, takeaway, where.scene_line(i))

    def template(self, table: Mapping, key: str, label: str, line: int, runs: tuple | None) -> Template | None:
        """Parse and check a template; ``runs`` None: shown before any run, so only machine
        facts may be named."""
        text = self.text(table, key, label, line)
        if text is None:
            return None
        try:
            parts = fig.parse_template(text)
        except fig.ExprError as exc:
            self.problem(line, f"{label}{key}: {exc}")
            return None
        for part in parts:
            if isinstance(part, str):
                continue
            at = self.where.find_text(part.source, line) or line
            if runs is None:
                if _names_a_run(part.node):
                    self.problem(at, f"{label}{key} {part.source}: the {key} comes before the runs, "
                                     f"so it can name only {', '.join(fig.GLOBALS)}")
                    continue
                _, problems = fig.unit_of(part.node, ())
            else:
                _, problems = fig.unit_of(part.node, runs)
            for message in problems:
                self.problem(at, f"{label}{key} {part.source}: {message}")
        return Template(text, tuple(parts))

    def runs(self, i: int, data: Mapping, label: str) -> tuple[DeckRun, ...]:
        where = self.where
        raw = data.get("run")
        inline = False
        if isinstance(raw, dict):
            raw = [raw]
        elif isinstance(raw, list) and where.section(i, "scene.run") is None:
            inline = True  # run = [{...}, {...}] in the scene's own table
        if not raw:
            self.problem(where.key_line(i, "scene"), f"{label}no runs: add a [[scene.run]] table with a model")
            return ()
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            self.problem(where.key_line(i, "scene", "run"), f"{label}run must be [[scene.run]] tables")
            return ()
        if len(raw) > MAX_RUNS:
            self.problem(where.key_line(i, "scene", "run") if inline else where.key_line(i, "scene.run", nth=MAX_RUNS),
                         f"{label}{len(raw)} runs: at most {MAX_RUNS} stack on one time axis")
        shared = {k: v for k, v in data.items() if k in RUN_SETTINGS}
        runs = []
        for j, run in enumerate(raw):
            def line(key: str | None = None, j: int = j) -> int:
                if inline:
                    return where.item_line(i, "scene", "run", j, key)
                return where.key_line(i, "scene.run", key, nth=j)

            who = f"{label[:-2]}, run {j + 1}: " if len(raw) > 1 else label
            self.unknown_keys(run, RUN_KEYS, who, line, "" if inline else "[scene.run]")
            spec = self.spec(shared, run, who, line, lambda key: where.key_line(i, "scene", key))
            name = run.get("name", spec.model)
            if not isinstance(name, str) or not RUN_NAME.match(name) or name in RESERVED_NAMES:
                reserved = " or ".join(repr(n) for n in sorted(RESERVED_NAMES))
                self.problem(line("name"), f"{who}a run's name must be one word of letters, digits, - and _ "
                                           f"(and not {reserved}), got {name!r}")
                name = f"run{j + 1}"
            elif name in (r.name for r in runs):
                self.problem(line("name" if "name" in run else "model"),
                             f"{who}two runs are named {name!r}: give each a name = \"...\"")
            runs.append(DeckRun(name, spec, line()))
        return tuple(runs)

    def spec(self, shared: Mapping, run: Mapping, who: str, run_line, scene_line) -> RunSpec:
        """A validated RunSpec from the scene's settings and the run's own (which win). Each
        setting is added in RunSpec's field order and validated, so a bad one is reported at its
        own line and dropped, and the others are still checked."""
        settings = {**shared, **{k: v for k, v in run.items() if k in RUN_SETTINGS}}
        spec = RunSpec()
        for key in RUN_SETTINGS:
            if key not in settings:
                continue
            trial = dataclasses.replace(spec, **{key: settings[key]})
            try:
                spec = trial.validate()
            except (SpecError, TypeError) as exc:
                line = run_line(key) if key in run else scene_line(key)
                self.problem(line, f"{who}{exc}")
        return spec

    def prediction(self, i: int, data: Any, label: str, runs: tuple) -> Prediction | None:
        where = self.where
        section = "scene.prediction" if where.section(i, "scene.prediction") else "scene"

        def line(key: str | None = None) -> int:
            if section == "scene":
                return where.key_line(i, "scene", "prediction")
            return where.key_line(i, section, key)

        if not isinstance(data, dict):
            self.problem(line(), f"{label}prediction must be a table: [scene.prediction]")
            return None
        self.unknown_keys(data, PREDICTION_KEYS, label + "prediction: ", line,
                          "scene.prediction" if section != "scene" else "")
        question = self.template(data, "question", label + "prediction: ", line("question"), runs=None)
        raw = data.get("choices")
        if not isinstance(raw, list) or not raw:
            self.problem(line("choices" if "choices" in data else None),
                         f"{label}a prediction needs choices = [...] ({MIN_CHOICES} to {MAX_CHOICES})")
            return None
        if not MIN_CHOICES <= len(raw) <= MAX_CHOICES:
            self.problem(line("choices"), f"{label}a prediction has {MIN_CHOICES} to {MAX_CHOICES} choices, "
                                          f"got {len(raw)}")
        choices = []
        for j, item in enumerate(raw):
            def at(key: str | None = None, j: int = j) -> int:
                if section == "scene":
                    return line()
                return where.item_line(i, section, "choices", j, key)

            who = f"{label}choice {j + 1}: "
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict):
                self.problem(at(), f"{who}a choice is some text or {{ text = \"...\", if = \"...\" }}")
                continue
            self.unknown_keys(item, CHOICE_KEYS, who, at)
            text = self.template(item, "text", who, at("text"), runs=None)
            condition = None
            if "if" in item:
                source = item["if"]
                try:
                    if not isinstance(source, str):
                        raise fig.ExprError(f"must be a condition in quotes, got {source!r}")
                    condition = fig.parse_condition(source)
                except fig.ExprError as exc:
                    self.problem(at("if"), f"{who}if: {exc}")
                else:
                    for message in fig.condition_problems(condition, runs):
                        self.problem(at("if"), f"{who}if {source!r}: {message}")
            choices.append(Choice(text or Template("", ()), condition))
        open_choices = [j for j, c in enumerate(choices) if c.condition is None]
        if len(open_choices) > 1:
            self.problem(line("choices"), f"{label}choices {', '.join(str(j + 1) for j in open_choices)} have "
                                          "no condition (if = \"...\"): only one can be the answer otherwise")
        return Prediction(question or Template("", ()), tuple(choices))


def _names_a_run(node: Any) -> bool:
    if isinstance(node, fig.Ref):
        return True
    if isinstance(node, fig.Call):
        return node.func in ("fastest", "slowest") or any(_names_a_run(a) for a in node.args)
    return False
