"""``concviz talk``, ``stack``, ``--theme`` and ``compare --save`` on the command line (issue 14):
a good deck reaches the talk screen, a bad one is refused before anything runs with one line
per problem at its line and status 2; the built-in deck can be written out once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from concviz import cli, cli_screens
from concviz.talk.deck import default_text

from .helpers import children, wait_no_leftovers

FIXTURES = Path(__file__).parent.parent / "fixtures"

GOOD = """
    title = "A small talk"

    [[scene]]
    title = "Threads and processes"
    narration = "Four tasks on {cpus} cores."
    takeaway = "{processes.wall} against {threads.wall}"
    workload = "cpu"
    scale = 0.2

    [[scene.run]]
    model = "threads"

    [[scene.run]]
    model = "processes"
"""

BAD = """
    title = "A talk with three mistakes"

    [[scene]]
    title = "Threads"
    narration = "n"
    takeaway = "{thread.wall}"

    [[scene.run]]
    model = "threds"
    tasks = 4

    [[scene]]
    title = "Processes"
    narration = "n"

    [[scene.run]]
    model = "processes"
    tasks = 500
"""


def concviz(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    already = children()
    done = subprocess.run([sys.executable, "-m", "concviz", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)
    assert not wait_no_leftovers(before=already), "the command left processes behind"
    return done


def write(tmp_path: Path, text: str, name: str = "talk.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_bad_deck_is_refused_one_line_per_problem_at_its_line(tmp_path):
    deck = write(tmp_path, BAD)
    done = concviz("talk", str(deck))
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    expected = [("threds", "did you mean 'threads'?"), ("takeaway", "no run named 'thread'"),
                ("tasks = 500", "at most 64")]
    for line, (needle, words) in zip(lines, expected):
        assert line.startswith(f"{deck}:{line_of(deck, needle)}: ") and words in line, line
    assert "Traceback" not in done.stderr


def test_a_missing_deck_or_a_bad_theme_is_one_line_and_status_2(tmp_path):
    done = concviz("talk", str(tmp_path / "nope.toml"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot read the deck" in done.stderr
    for args in (["talk", "--theme", "hi-contrast"], ["--theme", "nrod"], ["stack", "x.jsonl", "--theme", "?"]):
        done = concviz(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "unknown theme" in done.stderr, args
    assert "(did you mean 'high-contrast'?)" in concviz("talk", "--theme", "hi-contrast").stderr


def test_a_good_deck_and_a_theme_reach_the_talk_screen(tmp_path, monkeypatch):
    given = []
    screen = types.SimpleNamespace(run_talk=lambda deck, theme=None, scene=0: given.append((deck, theme, scene)) or 0)
    monkeypatch.setitem(sys.modules, "concviz.talk.screen", screen)  # (engine tests import no Textual)
    assert cli.main(["talk", str(write(tmp_path, GOOD)), "--theme", "high-contrast"]) == 0
    (deck, theme, scene), = given
    assert deck.title == "A small talk" and [r.name for r in deck.scenes[0].runs] == ["threads", "processes"]
    assert theme == "high-contrast" and scene == 0
    assert cli.main(["talk", "--scene", "3"]) == 0  # no deck: the built-in one, from its third scene
    assert given[-1][0].title == "Python concurrency, measured" and given[-1][2] == 2


def test_write_default_writes_the_built_in_deck_once(tmp_path):
    done = concviz("talk", "--write-default", "mine.toml", cwd=tmp_path)
    assert done.returncode == 0 and "concviz talk mine.toml" in done.stdout
    assert (tmp_path / "mine.toml").read_text(encoding="utf-8") == default_text()
    (tmp_path / "mine.toml").write_text("# my edits\n")
    again = concviz("talk", "--write-default", "mine.toml", cwd=tmp_path)
    assert again.returncode == 2 and "mine.toml exists" in again.stderr
    assert (tmp_path / "mine.toml").read_text() == "# my edits\n"  # left as it was
    assert concviz("talk", "--write-default", str(tmp_path / "no" / "dir.toml")).returncode == 2


def test_stack_takes_one_to_four_readable_traces(tmp_path):
    trace = str(FIXTURES / "threads-cpu.jsonl")
    too_many = concviz("stack", *[trace] * 5)
    assert too_many.returncode == 2 and "at most 4 stack on one time axis" in too_many.stderr
    (tmp_path / "bad.jsonl").write_text("not a trace\n")
    bad = concviz("stack", trace, str(tmp_path / "bad.jsonl"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad.jsonl" in bad.stderr


def test_a_tab_of_serve_is_checked_before_serving():
    cli_screens.check_screen_args(["-m", "processes", "--theme", "nord"])
    cli_screens.check_screen_args(["talk"])
    cli_screens.check_screen_args(["stack", str(FIXTURES / "threads-cpu.jsonl")])
    for argv, words in ((["run"], "not 'run'"), (["talk", "nope.toml"], "cannot read the deck"),
                        (["--theme", "x"], "unknown theme")):
        with pytest.raises((cli.UsageError, cli.SpecError, ValueError)) as caught:
            cli_screens.check_screen_args(argv)
        assert words in str(caught.value), argv


@pytest.mark.slow
def test_compare_save_keeps_each_models_median_run(tmp_path):
    from concviz.engine.events import read_trace
    from concviz.session import ReplaySession

    done = concviz("compare", "--models", "threads,processes", "-n", "2", "--scale", "0.1", "--rounds", "3",
                   "--json", "--save", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["processes.jsonl", "threads.jsonl"]
    assert "concviz stack" in done.stderr  # stdout stays one JSON object
    import json

    rows = {row["model"]: row for row in json.loads(done.stdout)["rows"]}
    for model in ("threads", "processes"):
        session = ReplaySession(*read_trace(tmp_path / "runs" / f"{model}.jsonl"), instant=True)
        assert session.snapshot().stats["wall_s"] == pytest.approx(rows[model]["wall_s"], abs=1e-6)


def test_serve_is_a_command_and_checks_what_its_tabs_will_show():
    for args, words in ((["--theme", "zz"], "unknown theme 'zz'"),
                        (["--", "run"], "a browser tab shows the TUI, replay, stack or talk, not 'run'"),
                        (["--", "talk", "--write-default", "x.toml"], "run it without serve")):
        done = concviz("serve", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (args, done.stderr)
        assert done.stderr.startswith("concviz serve: error: ") and words in done.stderr, done.stderr
    assert "--theme NAME" in concviz("serve", "-h").stdout
