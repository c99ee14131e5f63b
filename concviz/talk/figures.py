"""The placeholder language of decks: named runs, a fixed set of figures, a few functions.

A takeaway is text with placeholders in braces, filled from what the scene's runs measured::

    "{processes.wall} against {threads.wall}: {ratio(threads.wall, processes.wall)} on {cpus} cores"

A prediction's choice names the measurement that makes it the answer with a condition::

    "processes.wall < threads.wall and processes.parallelism > 1.5"

Both are parsed here into small trees and evaluated against the figures of the scene's runs.
Nothing is passed to ``eval``; every name is checked against the scene before anything runs, so a
misspelt run or figure is refused with the deck, not found out in front of an audience.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence, Union

from concviz.engine.spec import suggest
from concviz.view import format_kb


@dataclass(frozen=True)
class Figure:
    """One figure a placeholder can name: where its value is in a run's figures, how it reads."""

    key: str  # the field of the run's figures (``Frame.stats``, the fields of ``run --json``)
    unit: str  # one of UNITS: how the value is written
    what: str


FIGURES: dict[str, Figure] = {
    "wall": Figure("wall_s", "s", "wall time, from the first task's spawn to the last finish"),
    "busy": Figure("busy_s", "s", "measured running time, summed over the tasks"),
    "parallelism": Figure("parallelism", "plain", "busy / wall: how many cores' worth of work at once"),
    "concurrency": Figure("concurrency_max", "count", "the most tasks in flight at once"),
    "switches": Figure("gil_switches", "count", "GIL hand-offs between the run's threads"),
    "slice": Figure("run_interval_ms_median", "ms", "median stretch a task ran uninterrupted"),
    "spawn": Figure("spawn_ms_median", "ms", "median time from a task's spawn to its start"),
    "tasks": Figure("tasks", "count", "tasks in the run"),
    "done": Figure("done", "count", "tasks that finished"),
    "failed": Figure("failed", "count", "tasks that failed"),
    "memory": Figure("mem_per_task_kb", "kb", "memory per task: (peak - baseline) / tasks, of the run's "
                                              "processes (PSS where the OS offers it)"),
    "peak": Figure("mem_peak_mb", "mb", "the most memory the run's processes held at once"),
    "kernel": Figure("mem_kernel_stacks_per_task_kb_inferred", "kb",
                     "inferred: kernel stack per task of the threads the run added (in no process's memory)"),
}
# machine facts a placeholder can name without a run
GLOBALS: dict[str, tuple[str, str]] = {"cpus": ("count", "CPUs of the machine the runs ran on")}
# name -> (fewest arguments, most arguments or None for any, what it gives)
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "ratio": (2, 2, "the first figure divided by the second, written 2.1x"),
    "min": (1, None, "the smallest of its arguments"),
    "max": (1, None, "the largest of its arguments"),
    "fastest": (0, 0, "the name of the run with the shortest wall time"),
    "slowest": (0, 0, "the name of the run with the longest wall time"),
}
UNITS = ("s", "ms", "kb", "mb", "count", "ratio", "plain", "run")
MISSING = "?"  # shown for a figure a run did not produce (it failed, or never ran)


class ExprError(ValueError):
    """A placeholder or condition that cannot be read; its message is one line."""


# --- the trees ---------------------------------------------------------------------------------
class Num(NamedTuple):
    value: float


class Ref(NamedTuple):
    """``run.figure``."""

    run: str
    figure: str


class Name(NamedTuple):
    """A bare name: a machine fact (``cpus``), or a mistake."""

    name: str


class Call(NamedTuple):
    func: str
    args: tuple


class Compare(NamedTuple):
    left: "Node"
    op: str
    right: "Node"


Node = Union[Num, Ref, Name, Call]
Condition = tuple  # of Compare: every one must hold ("and")


@dataclass(frozen=True)
class Value:
    """What a node evaluates to: a number in a unit, a run's name, or nothing (``number`` and
    ``text`` both None) when the figure was not measured."""

    number: float | None = None
    unit: str = "plain"
    text: str | None = None

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        if self.number is None:
            return MISSING
        return format_number(self.number, self.unit)


def format_number(v: float, unit: str) -> str:
    """A figure as a talk shows it: '1.04 s', '5.0 ms', '17.9 KB', '34.7 MB', '2.1x', '398', '1.93'."""
    if unit in ("kb", "mb"):
        return format_kb(v * 1024 if unit == "mb" else v)
    if unit == "s":
        return f"{v:.1f} s" if abs(v) >= 10 else f"{v:.2f} s"
    if unit == "ms":
        if abs(v) >= 10:
            return f"{v:.0f} ms"
        return f"{v:.1f} ms" if abs(v) >= 1 else f"{v:.2f} ms"
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "ratio":
        return f"{v:.0f}x" if abs(v) >= 10 else f"{v:.1f}x"
    return f"{v:.2f}"


# --- reading -----------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
                    r"|(?P<op><=|>=|<|>|\(|\)|,|\.)|(?P<bad>\S))")
COMPARISONS = ("<", "<=", ">", ">=")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "bad":
                raise ExprError(f"unexpected {m.group(kind)!r} in {text.strip()!r}")
            if kind:
                self.tokens.append((kind, m.group(kind)))
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            want = f"{value!r}" if value else "more"
            raise ExprError(f"{self.text.strip()!r} ends early: expected {want}")
        if value is not None and tok[1] != value:
            raise ExprError(f"expected {value!r} in {self.text.strip()!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def end(self) -> None:
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r} in {self.text.strip()!r}")

    def value(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Num(float(text))
        if kind != "name" or text == "and":
            raise ExprError(f"expected a figure, a number or a function in {self.text.strip()!r}, "
                            f"found {text!r}")
        nxt = self.peek()
        if nxt == ("op", "."):
            self.take(".")
            kind2, figure = self.take()
            if kind2 != "name":
                raise ExprError(f"expected a figure after '{text}.' in {self.text.strip()!r}")
            return Ref(text, figure)
        if nxt == ("op", "("):
            self.take("(")
            args: list[Node] = []
            if self.peek() != ("op", ")"):
                args.append(self.value())
                while self.peek() == ("op", ","):
                    self.take(",")
                    args.append(self.value())
            self.take(")")
            return Call(text, tuple(args))
        return Name(text)


def parse_value(text: str) -> Node:
    """Read one placeholder's contents (``threads.wall``, ``ratio(a.wall, b.wall)``, ``cpus``)."""
    reader = _Reader(text)
    if reader.peek() is None:
        raise ExprError("empty placeholder {}")
    node = reader.value()
    reader.end()
    return node


def parse_condition(text: str) -> Condition:
    """Read a condition: comparisons joined by ``and`` (``a.wall < b.wall and a.parallelism > 1.5``)."""
    reader = _Reader(text)
    if reader.peek() is None:
        raise ExprError("empty condition")
    parts = []
    while True:
        left = reader.value()
        tok = reader.peek()
        if tok is None or tok[1] not in COMPARISONS:
            found = f"found {tok[1]!r}" if tok else "it ends"
            raise ExprError(f"expected a comparison ({' '.join(COMPARISONS)}) in {text.strip()!r}, {found}")
        op = reader.take()[1]
        parts.append(Compare(left, op, reader.value()))
        if reader.peek() != ("name", "and"):
            break
        reader.take("and")
    reader.end()
    return tuple(parts)


class Placeholder(NamedTuple):
    source: str  # as written, braces included: for finding its line and for error messages
    node: Node


def parse_template(text: str) -> list[str | Placeholder]:
    """Split text into literal pieces and placeholders; ``{{`` and ``}}`` are literal braces."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(ch)
            i += 2
        elif ch == "{":
            close = text.find("}", i)
            if close < 0:
                raise ExprError(f"unclosed '{{' in {text[i:i + 30]!r}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Placeholder(text[i:close + 1], parse_value(text[i + 1:close])))
            i = close + 1
        elif ch == "}":
            raise ExprError(f"a '}}' without its '{{' in {text[max(0, i - 20):i + 1]!r} (write '}}}}' for a brace)")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


# --- checking against a scene ------------------------------------------------------------------
def unit_of(node: Node, runs: Sequence[str]) -> tuple[str, list[str]]:
    """The unit a node evaluates to, and every problem with the names it uses."""
    if isinstance(node, Num):
        return "plain", []
    if isinstance(node, Ref):
        problems = []
        if node.run not in runs:
            problems.append(f"no run named {node.run!r} in this scene{suggest(node.run, tuple(runs))}")
        figure = FIGURES.get(node.figure)
        if figure is None:
            problems.append(f"unknown figure {node.figure!r}{suggest(node.figure, tuple(FIGURES))}")
        return (figure.unit if figure else "plain"), problems
    if isinstance(node, Name):
        if node.name in GLOBALS:
            return GLOBALS[node.name][0], []
        if node.name in runs:
            return "plain", [f"{node.name!r} is a run: name one of its figures, e.g. {node.name}.wall"]
        names = tuple(GLOBALS) + tuple(runs)
        return "plain", [f"unknown name {node.name!r}{suggest(node.name, names)}"]
    spec = FUNCTIONS.get(node.func)
    if spec is None:
        return "plain", [f"unknown function {node.func}(){suggest(node.func, tuple(FUNCTIONS))}"]
    low, high, _ = spec
    problems = []
    if len(node.args) < low or (high is not None and len(node.args) > high):
        count = f"{low} argument{'s' * (low != 1)}".replace("0 arguments", "no arguments")
        problems.append(f"{node.func}() takes {'' if low == high else 'at least '}{count}, "
                        f"got {len(node.args)}")
    units = []
    for arg in node.args:
        unit, more = unit_of(arg, runs)
        problems += more
        units.append(unit)
    if "run" in units:
        problems.append(f"{node.func}() needs figures, not run names")
    if node.func in ("fastest", "slowest"):
        return "run", problems
    if node.func == "ratio":
        return "ratio", problems
    real = {u for u, a in zip(units, node.args) if not isinstance(a, Num)}
    if len(real) > 1:
        problems.append(f"{node.func}() of figures in different units ({', '.join(sorted(real))})")
    return (real.pop() if len(real) == 1 else "plain"), problems


def condition_problems(condition: Condition, runs: Sequence[str]) -> list[str]:
    """Every problem with a condition's names and units."""
    problems: list[str] = []
    for cmp in condition:
        left, p1 = unit_of(cmp.left, runs)
        right, p2 = unit_of(cmp.right, runs)
        problems += p1 + p2
        if "run" in (left, right):
            problems.append("fastest() and slowest() name a run: compare figures instead "
                            "(e.g. a.wall < b.wall)")
        elif left != right and not isinstance(cmp.left, Num) and not isinstance(cmp.right, Num):
            problems.append(f"compares figures in different units ({left} and {right})")
    return problems


# --- evaluating --------------------------------------------------------------------------------
def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def evaluate(node: Node, figures: Mapping[str, Mapping], cpus: int) -> Value:
    """The value of a node, from each run's figures (run name -> that run's ``Frame.stats``)."""
    if isinstance(node, Num):
        return Value(node.value)
    if isinstance(node, Ref):
        figure = FIGURES[node.figure]
        stats = figures.get(node.run)
        return Value(_number(stats.get(figure.key)) if stats else None, figure.unit)
    if isinstance(node, Name):
        return Value(float(cpus), GLOBALS[node.name][0])
    if node.func in ("fastest", "slowest"):
        walls = {run: _number(stats.get("wall_s")) for run, stats in figures.items()}
        known = {run: w for run, w in walls.items() if w is not None}
        if not known or len(known) < len(walls):
            return Value(None, "run")
        pick = min if node.func == "fastest" else max
        return Value(unit="run", text=pick(known, key=known.__getitem__))
    args = [evaluate(a, figures, cpus) for a in node.args]
    numbers = [a.number for a in args]
    if node.func == "ratio":
        a, b = numbers
        return Value(a / b if a is not None and b else None, "ratio")
    unit = next((a.unit for a, n in zip(args, node.args) if not isinstance(n, Num)), "plain")
    if any(n is None for n in numbers):
        return Value(None, unit)
    return Value((min if node.func == "min" else max)(numbers), unit)


_OPS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}


def holds(condition: Condition, figures: Mapping[str, Mapping], cpus: int) -> bool | None:
    """Whether every comparison holds; None when a figure it needs was not measured."""
    result = True
    for cmp in condition:
        a = evaluate(cmp.left, figures, cpus).number
        b = evaluate(cmp.right, figures, cpus).number
        if a is None or b is None:
            return None
        result = result and _OPS[cmp.op](a, b)
    return result


def render(parts: Sequence[str | Placeholder], figures: Mapping[str, Mapping], cpus: int) -> str:
    """A parsed template with every placeholder filled ('?' where a figure was not measured)."""
    return "".join(p if isinstance(p, str) else str(evaluate(p.node, figures, cpus)) for p in parts)
