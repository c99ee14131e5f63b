"""Talk decks (issue 14): good decks read as written; every kind of bad deck is refused before
anything runs, one line per problem with its line in the file; the built-in deck is valid and
can be written out; takeaways and predictions are filled from given figures."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from concviz.engine import spec as spec_module
from concviz.talk import deck as deck_module
from concviz.talk.deck import DeckError, default_deck, default_text, parse_deck, read_deck, write_default

SRC = "talk.toml"


def parse(text: str):
    return parse_deck(textwrap.dedent(text).lstrip("\n"), SRC)


def problems(text: str) -> list[str]:
    deck, found = parse(text)
    assert deck is None or not found
    return [str(p) for p in found]


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``needle`` in the dedented text."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    return hits[nth]


GOOD = """
    title = "A small talk"

    [[scene]]
    title = "Threads and processes"
    narration = "Four tasks on {cpus} cores."
    takeaway = "{processes.wall} against {threads.wall}: {ratio(threads.wall, processes.wall)} on {cpus} cores"
    workload = "cpu"
    tasks = 4
    scale = 0.5

    [[scene.run]]
    model = "threads"

    [[scene.run]]
    model = "processes"
    tasks = 2

    [scene.prediction]
    question = "Which finishes first?"
    choices = [
        { text = "about a tie", if = "ratio(threads.wall, processes.wall) < 1.1 and ratio(processes.wall, threads.wall) < 1.1" },
        { text = "threads", if = "threads.wall < processes.wall" },
        "processes",
    ]

    [[scene]]
    title = "Inline runs"
    narration = "Two pools."
    run = [{ name = "small", model = "pool", workers = 1 }, { name = "big", model = "pool", workers = 2 }]
"""


def test_a_good_deck_reads_as_written():
    deck, found = parse(GOOD)
    assert found == []
    assert deck.title == "A small talk"
    first, second = deck.scenes
    assert first.title == "Threads and processes"
    assert first.line == line_of(GOOD, "[[scene]]", 0)
    assert second.line == line_of(GOOD, "[[scene]]", 1)
    # runs are named after their model; scene settings hold for each run, a run's own win
    threads, processes = first.runs
    assert (threads.name, threads.spec.model, threads.spec.tasks, threads.spec.scale) == ("threads", "threads", 4, 0.5)
    assert (processes.name, processes.spec.model, processes.spec.tasks) == ("processes", "processes", 2)
    assert threads.line == line_of(GOOD, "[[scene.run]]", 0)
    assert processes.line == line_of(GOOD, "[[scene.run]]", 1)
    assert first.narration.render(cpus=8) == "Four tasks on 8 cores."
    choices = first.prediction.choices
    assert [c.text.render() for c in choices] == ["about a tie", "threads", "processes"]
    assert choices[2].condition is None
    small, big = second.runs
    assert (small.name, small.spec.model, small.spec.workers) == ("small", "pool", 1)
    assert (big.name, big.spec.workers) == ("big", 2)
    assert second.prediction is None and second.takeaway is None


def test_a_single_run_table_is_one_run():
    deck, found = parse("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [scene.run]
        model = "asyncio"
        workload = "io"
    """)
    assert found == []
    (run,) = deck.scenes[0].runs
    assert (run.name, run.spec.model, run.spec.workload) == ("asyncio", "asyncio", "io")


# (deck, the line the problem must be on: text on that line, and the words of the problem)
BAD = {
    "misspelt model": ("""
        title = "t"
        [[scene]]
        title = "Processes"
        narration = "n"
        [[scene.run]]
        model = "proceses"
    """, 'model = "proceses"',
        'scene 1 "Processes": unknown model \'proceses\' (did you mean \'processes\'?)'),
    "toml syntax": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n
    """, 'narration = "n', "not valid TOML"),
    "unknown scene key": ("""
        title = "t"
        [[scene]]
        title = "s"
        naration = "n"
        [[scene.run]]
        model = "threads"
    """, "naration", "unknown key 'naration' (did you mean 'narration'?)"),
    "missing scene title": ("""
        title = "t"
        [[scene]]
        narration = "n"
        [[scene.run]]
        model = "threads"
    """, "[[scene]]", "scene 1: no title"),
    "missing narration": ("""
        title = "t"
        [[scene]]
        title = "s"
        [[scene.run]]
        model = "threads"
    """, "[[scene]]", 'scene 1 "s": no narration'),
    "missing deck title": ("""
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
    """, None, "deck: no title"),
    "too many tasks, set for the scene": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        tasks = 100
        [[scene.run]]
        model = "processes"
    """, "tasks = 100", "tasks must be at most 64 under processes, got 100"),
    "workers without a pool": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        workers = 2
    """, "workers = 2", "--workers is only for pool models"),
    "a setting of the wrong type": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        scale = "fast"
    """, 'scale = "fast"', "scale must be a number, got 'fast'"),
    "no runs": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
    """, "[[scene]]", "no runs"),
    "five runs": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        run = [{name = "a"}, {name = "b"}, {name = "c"}, {name = "d"}, {name = "e"}]
    """, "run = [", "5 runs: at most 4 stack on one time axis"),
    "two runs of one name": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [[scene.run]]
        model = "threads"
        tasks = 2
    """, ('model = "threads"', 1), "two runs are named 'threads'"),
    "a run name that is no word": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        name = "my run"
    """, 'name = "my run"', "a run's name must be one word"),
    "takeaway names a run the scene lacks": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = \"\"\"Processes against threads:
        {proceses.wall} against {threads.wall}\"\"\"
        [[scene.run]]
        model = "threads"
        [[scene.run]]
        model = "processes"
    """, "{proceses.wall}", "takeaway {proceses.wall}: no run named 'proceses' in this scene "
                            "(did you mean 'processes'?)"),
    "takeaway names an unknown figure": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = "took {threads.wal}"
        [[scene.run]]
        model = "threads"
    """, "takeaway", "unknown figure 'wal' (did you mean 'wall'?)"),
    "takeaway calls an unknown function": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = "{speedup(threads.wall, threads.busy)}"
        [[scene.run]]
        model = "threads"
    """, "takeaway", "unknown function speedup()"),
    "takeaway calls ratio with one argument": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = "{ratio(threads.wall)}"
        [[scene.run]]
        model = "threads"
    """, "takeaway", "ratio() takes 2 arguments, got 1"),
    "takeaway mixes units": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = "{max(threads.wall, threads.parallelism)}"
        [[scene.run]]
        model = "threads"
    """, "takeaway", "max() of figures in different units"),
    "takeaway with an unclosed brace": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        takeaway = "took {threads.wall"
        [[scene.run]]
        model = "threads"
    """, "takeaway", "unclosed '{'"),
    "narration names a run": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "threads took {threads.wall}"
        [[scene.run]]
        model = "threads"
    """, "narration", "the narration comes before the runs, so it can name only cpus"),
    "takeaway written under the prediction": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "q"
        choices = ["a", { text = "b", if = "threads.wall < 1" }]
        takeaway = "{threads.wall}"
    """, "takeaway", "takeaway is written under [scene.prediction], so it belongs to it"),
    "prediction without choices": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
    """, "[scene.prediction]", "a prediction needs choices"),
    "prediction with one choice": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
        choices = ["only this"]
    """, "choices", "a prediction has 2 to 4 choices, got 1"),
    "a choice's condition names a run the scene lacks": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
        choices = [
            { text = "fast", if = "threads.wall < 1" },
            { text = "slow", if = "processes.wall > 1" },
        ]
    """, '"slow"', "choice 2: if 'processes.wall > 1': no run named 'processes'"),
    "a choice's condition that compares nothing": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
        choices = [
            { text = "fast", if = "threads.wall" },
            "slow",
        ]
    """, '"fast"', "choice 1: if: expected a comparison"),
    "two choices without a condition": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
        choices = ["a", "b"]
    """, "choices", "choices 1, 2 have no condition"),
    "a condition comparing a run name": ("""
        title = "t"
        [[scene]]
        title = "s"
        narration = "n"
        [[scene.run]]
        model = "threads"
        [scene.prediction]
        question = "Which?"
        choices = [{ text = "a", if = "fastest() < 1" }, "b"]
    """, "choices", "fastest() and slowest() name a run"),
    "no scenes": ("""
        title = "t"
    """, None, "the deck has no scenes"),
    "one bracket around scene": ("""
        title = "t"
        [scene]
        title = "s"
        narration = "n"
    """, "[scene]", "write [[scene]] (two brackets) before each scene"),
}


@pytest.mark.parametrize("name", BAD)
def test_a_bad_deck_names_each_problem_at_its_line(name):
    text, where, words = BAD[name]
    found = problems(text)
    assert found, f"{name}: the deck was accepted"
    hits = [p for p in found if words in p]
    assert hits, f"{name}: {words!r} not in {found}"
    if where is None:
        return
    needle, nth = where if isinstance(where, tuple) else (where, 0)
    assert hits[0].startswith(f"{SRC}:{line_of(text, needle, nth)}: "), (name, hits[0])
    assert all("\n" not in p for p in found)


def test_the_message_reads_file_line_scene_problem():
    text, _, _ = BAD["misspelt model"]
    assert problems(text) == [
        f"{SRC}:6: scene 1 \"Processes\": unknown model 'proceses' (did you mean 'processes'?)"]


def test_every_problem_of_a_deck_is_listed_in_order():
    text = """
        title = "t"
        [[scene]]
        title = "one"
        narration = "n"
        [[scene.run]]
        model = "thredas"
        tasks = 0
        [[scene]]
        narration = "n"
        takeaway = "{threads.wall}"
        [[scene.run]]
        model = "processes"
        scale = -1
    """
    found = problems(text)
    assert [p.split(":")[1] for p in found] == [
        str(line_of(text, "thredas")), str(line_of(text, "tasks = 0")),
        str(line_of(text, "[[scene]]", 1)), str(line_of(text, "scale = -1")), str(line_of(text, "takeaway"))]
    assert "did you mean 'threads'" in found[0] and "tasks must be at least 1" in found[1]
    assert "scene 2: no title" in found[2] and "scale must be more than 0" in found[3]
    assert "no run named 'threads'" in found[4]


def test_a_workload_the_engine_gains_is_accepted_without_changing_decks(monkeypatch):
    """Deck settings are RunSpec's: `workload = "net-slow"` is accepted now that the engine has
    the net workloads (issue 12), and one it has not is refused by the same validation."""
    text = """
        title = "t"
        [[scene]]
        title = "Many connections"
        narration = "n"
        workload = "net-slow"
        [[scene.run]]
        model = "asyncio"
    """
    deck, found = parse(text)
    assert found == []
    assert deck.scenes[0].runs[0].spec.workload == "net-slow"
    assert any("unknown workload 'net-huge'" in p for p in problems(text.replace("net-slow", "net-huge")))


# --- the built-in deck -------------------------------------------------------------------------
def test_the_built_in_deck_is_valid_and_follows_the_essay():
    deck = default_deck()
    titles = [s.title.lower() for s in deck.scenes]
    for word in ("baseline", "threads", "processes", "pool", "executors", "asyncio", "verdict"):
        assert any(word in t for t in titles), word
    models = {r.spec.model for s in deck.scenes for r in s.runs}
    # every model appears in the talk, but interpreters (the talk runs under the UI's Python, and
    # that model needs 3.12 or newer) and dask (an extra, and a cluster): a talk of one's own
    # can add them
    assert models == set(spec_module.MODEL_NAMES) - {"interpreters", "dask"}
    for scene in deck.scenes:
        assert scene.prediction is not None and scene.takeaway is not None, scene.title
        assert 1 <= len(scene.runs) <= deck_module.MAX_RUNS
        assert default_text().splitlines()[scene.line - 1].strip() == "[[scene]]"


def test_the_built_in_deck_holds_many_slow_connections_before_its_verdict():
    deck = default_deck()
    titles = [s.title.lower() for s in deck.scenes]
    at = next(i for i, t in enumerate(titles) if "connections" in t)
    assert "asyncio" in titles[at - 1] and "verdict" in titles[at + 1]
    scene = deck.scenes[at]
    assert [(r.name, r.spec.model, r.spec.workload) for r in scene.runs] == [
        ("threads", "threads", "net-slow"), ("asyncio", "asyncio", "net-slow")]
    assert len({r.spec.tasks for r in scene.runs}) == 1 and scene.runs[0].spec.tasks >= 500
    # the room is asked about memory, and the answer follows the memory measured, not the time
    choices = [c.text.render() for c in scene.prediction.choices]
    lean = {"wall_s": 2.0, "mem_per_task_kb": 8.0}
    fat = {"wall_s": 1.0, "mem_per_task_kb": 18.0}
    assert choices[scene.prediction.answer({"threads": fat, "asyncio": lean}, 2)] == "asyncio"
    assert choices[scene.prediction.answer({"threads": lean, "asyncio": fat}, 2)] == "threads"
    assert choices[scene.prediction.answer({"threads": lean, "asyncio": {**lean, "mem_per_task_kb": 9}}, 2)] \
        == "about the same"
    assert scene.prediction.answer({"threads": fat, "asyncio": {"wall_s": 1.0}}, 2) is None
    assert "{threads.memory}" in scene.takeaway.source and "{asyncio.memory}" in scene.takeaway.source


def test_write_default_writes_the_built_in_deck_and_overwrites_only_when_asked(tmp_path):
    path = tmp_path / "my-talk.toml"
    assert write_default(path) == path
    assert path.read_text(encoding="utf-8") == default_text()
    assert read_deck(path).title == default_deck().title
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_default(path)
    assert path.read_text(encoding="utf-8") == "mine"  # left as it was
    write_default(path, overwrite=True)
    assert path.read_text(encoding="utf-8") == default_text()


def test_read_deck_of_a_missing_or_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(DeckError) as missing:
        read_deck(tmp_path / "nope.toml")
    assert str(missing.value) == f"{tmp_path / 'nope.toml'}: cannot read the deck: No such file or directory"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"title = \"\xff\xfe\"\n")
    with pytest.raises(DeckError) as bad:
        read_deck(binary)
    assert len(bad.value.problems) == 1 and str(bad.value).startswith(f"{binary}: cannot read the deck")


def test_read_deck_raises_with_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(BAD["misspelt model"][0]).lstrip("\n"), encoding="utf-8")
    with pytest.raises(DeckError) as err:
        read_deck(path)
    assert [str(p) for p in err.value.problems] == [str(err.value)]
    assert str(err.value).startswith(f"{path}:6: ")


def test_decks_import_no_ui():
    code = ("import sys, concviz.talk.deck, concviz.talk.figures; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
