"""The placeholder language of decks: takeaways filled from given figures, predictions judged by
them, and what is written when a figure was not measured."""

from __future__ import annotations

import textwrap

import pytest

from concviz.talk import figures as fig
from concviz.talk.deck import parse_deck

# two runs' figures, as Frame.stats gives them (the fields of `concviz run --json`)
THREADS = {"wall_s": 2.2104, "busy_s": 2.13, "parallelism": 0.9637, "concurrency_max": 4,
           "gil_switches": 398, "run_interval_ms_median": 5.02, "spawn_ms_median": 0.087,
           "tasks": 4, "done": 4, "failed": 0}
PROCESSES = {"wall_s": 1.0412, "busy_s": 2.01, "parallelism": 1.9305, "concurrency_max": 4,
             "gil_switches": 0, "run_interval_ms_median": 48.4, "spawn_ms_median": 1.32,
             "tasks": 4, "done": 4, "failed": 0}
FIGURES = {"threads": THREADS, "processes": PROCESSES}


def render(text: str, figures=FIGURES, cpus: int = 2) -> str:
    return fig.render(fig.parse_template(text), figures, cpus)


@pytest.mark.parametrize("text, expected", [
    ("{processes.wall} against {threads.wall}: {ratio(threads.wall, processes.wall)} on {cpus} cores",
     "1.04 s against 2.21 s: 2.1x on 2 cores"),
    ("parallelism {processes.parallelism}, {threads.switches} hand-offs of {threads.slice}",
     "parallelism 1.93, 398 hand-offs of 5.0 ms"),
    ("spawn {threads.spawn} / {processes.spawn}; slice {processes.slice}", "spawn 0.09 ms / 1.3 ms; slice 48 ms"),
    ("{fastest()} first in {min(threads.wall, processes.wall)}, {slowest()} last in {max(threads.wall, processes.wall)}",
     "processes first in 1.04 s, threads last in 2.21 s"),
    ("{threads.done} of {threads.tasks} done, {threads.failed} failed, at most {threads.concurrency} at once",
     "4 of 4 done, 0 failed, at most 4 at once"),
    ("literal {{braces}} and {cpus}", "literal {braces} and 2"),
])
def test_placeholders_render_from_given_figures(text, expected):
    assert render(text) == expected


def test_a_figure_not_measured_is_a_question_mark_never_a_number():
    failed = {"threads": THREADS, "processes": {"done": 0, "failed": 4, "wall_s": None}}
    assert render("{processes.wall}, {ratio(threads.wall, processes.wall)}, {fastest()}", failed) == "?, ?, ?"
    assert render("{processes.wall}", {"threads": THREADS}) == "?"  # the run never ran
    assert render("{ratio(threads.wall, processes.wall)}", {"threads": THREADS, "processes": {"wall_s": 0}}) == "?"


def test_long_and_short_figures_keep_readable_digits():
    figures = {"a": {"wall_s": 12.345, "spawn_ms_median": 0.0042, "run_interval_ms_median": 123.4}}
    assert render("{a.wall} {a.spawn} {a.slice} {ratio(a.wall, a.spawn)}", figures) == "12.3 s 0.00 ms 123 ms 2939x"


@pytest.mark.parametrize("text, problem", [
    ("{}", "empty placeholder"),
    ("{threads.}", "ends early"),
    ("{ratio(threads.wall processes.wall)}", "expected ')'"),
    ("{threads.wall + 1}", "unexpected '+'"),
    ("{1 2}", "unexpected '2'"),
    ("a } b", "a '}' without its '{'"),
])
def test_unreadable_placeholders_say_why(text, problem):
    with pytest.raises(fig.ExprError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        fig.parse_template(text)


@pytest.mark.parametrize("text, problem", [
    ("", "empty condition"),
    ("threads.wall", "expected a comparison"),
    ("threads.wall < ", "ends early"),
    ("threads.wall == processes.wall", "unexpected '='"),
    ("threads.wall < 1 or processes.wall < 1", "unexpected 'or'"),
])
def test_unreadable_conditions_say_why(text, problem):
    with pytest.raises(fig.ExprError, match=problem):
        fig.parse_condition(text)


def test_conditions_hold_from_figures_and_are_unknown_without_them():
    cond = fig.parse_condition("processes.wall < threads.wall and processes.parallelism > 1.5")
    assert fig.holds(cond, FIGURES, 2) is True
    assert fig.holds(fig.parse_condition("processes.wall >= threads.wall"), FIGURES, 2) is False
    assert fig.holds(fig.parse_condition("ratio(threads.wall, processes.wall) <= cpus"), FIGURES, 2) is False
    assert fig.holds(fig.parse_condition("ratio(threads.wall, processes.wall) <= cpus"), FIGURES, 4) is True
    assert fig.holds(cond, {"threads": THREADS}, 2) is None


PREDICTION = textwrap.dedent("""
    title = "t"
    [[scene]]
    title = "s"
    narration = "n"
    run = [{ model = "threads" }, { model = "processes" }]
    [scene.prediction]
    question = "Which finishes first on {cpus} cores?"
    choices = [
        { text = "a tie", if = "ratio(threads.wall, processes.wall) < 1.1 and ratio(processes.wall, threads.wall) < 1.1" },
        { text = "threads", if = "threads.wall < processes.wall" },
        "processes",
    ]
""")


def test_a_prediction_is_judged_by_the_first_choice_that_holds():
    deck, found = parse_deck(PREDICTION, "p.toml")
    assert found == []
    prediction = deck.scenes[0].prediction
    assert prediction.question.render(cpus=2) == "Which finishes first on 2 cores?"
    assert prediction.answer(FIGURES, 2) == 2  # processes: no condition of the others held
    swapped = {"threads": PROCESSES, "processes": THREADS}
    assert prediction.answer(swapped, 2) == 1
    tie = {"threads": THREADS, "processes": {**PROCESSES, "wall_s": 2.15}}
    assert prediction.answer(tie, 2) == 0  # the tie comes first, so it wins over "threads"


def test_a_prediction_whose_figures_were_not_measured_has_no_answer():
    deck, _ = parse_deck(PREDICTION, "p.toml")
    assert deck.scenes[0].prediction.answer({"threads": THREADS}, 2) is None


# two net-slow runs' memory figures, as Frame.stats gives them
NET = {
    "threads": {"wall_s": 1.74, "tasks": 1000, "concurrency_max": 1000, "mem_per_task_kb": 17.932,
                "mem_peak_mb": 34.686, "mem_kernel_stacks_per_task_kb_inferred": 16.139},
    "asyncio": {"wall_s": 1.21, "tasks": 1000, "concurrency_max": 1000, "mem_per_task_kb": 8.218,
                "mem_peak_mb": 24.685, "mem_kernel_stacks_per_task_kb_inferred": 0.016},
}


def test_memory_figures_render_in_kb_and_mb():
    text = ("{threads.tasks} connections: a thread {threads.memory} (+ {threads.kernel} kernel), "
            "a task {asyncio.memory}, {ratio(threads.memory, asyncio.memory)}; peaks {threads.peak} "
            "and {asyncio.peak}; least {min(threads.memory, asyncio.memory)}")
    assert render(text, NET) == ("1,000 connections: a thread 17.9 KB (+ 16.1 KB kernel), a task 8.2 KB, 2.2x; "
                                 "peaks 34.7 MB and 24.7 MB; least 8.2 KB")
    big = {"a": {"mem_per_task_kb": 2048.0, "mem_peak_mb": 0.5}}
    assert render("{a.memory} {a.peak}", big) == "2.0 MB 512 KB"


def test_memory_not_measured_is_a_question_mark():
    # a run whose memory was not read (stats_without: the keys are there, their values None)
    unread = {"threads": {**NET["threads"], "mem_per_task_kb": None, "mem_peak_mb": None},
              "asyncio": NET["asyncio"]}
    assert render("{threads.memory} {threads.peak} {ratio(threads.memory, asyncio.memory)}", unread) == "? ? ?"
    cond = fig.parse_condition("asyncio.memory < threads.memory")
    assert fig.holds(cond, NET, 2) is True
    assert fig.holds(cond, unread, 2) is None


def test_memory_is_compared_with_memory_only():
    runs = ("threads", "asyncio")
    assert fig.condition_problems(fig.parse_condition("asyncio.memory < threads.kernel"), runs) == []
    assert fig.condition_problems(fig.parse_condition("asyncio.memory < 10"), runs) == []
    for text, units in (("asyncio.memory < threads.wall", "kb and s"), ("asyncio.memory < threads.peak", "kb and mb")):
        assert fig.condition_problems(fig.parse_condition(text), runs) == [
            f"compares figures in different units ({units})"]
    _, problems = fig.unit_of(fig.parse_value("max(threads.memory, asyncio.peak)"), runs)
    assert problems == ["max() of figures in different units (kb, mb)"]
    _, problems = fig.unit_of(fig.parse_value("threads.mem"), runs)
    assert problems == ["unknown figure 'mem' (did you mean 'memory'?)"]
