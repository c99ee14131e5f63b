"""Bad input (issues 5 and 13): every malformed input, and every trace holding values no run
records, exits 2 with one line naming the problem, never a traceback, and nothing is run.

The table runs ``concviz.cli.main`` in-process (fast); a few cases go through the real
``python -m concviz`` too. As a guard, a run that should have been refused fails the test instead
of running, and a replay that should have been refused fails instead of opening the TUI.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import types

import pytest

from concviz import cli, cli_args, cli_checks
from concviz.engine import experiment
from concviz.talk.deck import default_deck

GOOD_HEADER = {"concviz_trace": 1, "model": "threads", "workload": "io",
               "spec": {"model": "threads", "workload": "io", "tasks": 1}, "machine": {"cpus": 2}}
GOOD_EVENTS = [[0, 0, 1, 1, 100, 100, -1, None], [1, 0, 1, 1, 110, 110, 0, "Thread-0"],
               [4, 0, 1, 1, 900, 900, -1, None]]


def lines(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


TRACES = {
    "empty.jsonl": "",
    "blank.jsonl": "\n\n",
    "text.jsonl": "hello, world\n",
    "list-header.jsonl": lines([1, 2, 3]),
    "no-header.jsonl": lines({"model": "threads"}, *GOOD_EVENTS),
    "v99.jsonl": lines({**GOOD_HEADER, "concviz_trace": 99}, *GOOD_EVENTS),
    "v-string.jsonl": lines({**GOOD_HEADER, "concviz_trace": "1"}, *GOOD_EVENTS),
    "v-true.jsonl": lines({**GOOD_HEADER, "concviz_trace": True}, *GOOD_EVENTS),
    "header-only.jsonl": lines(GOOD_HEADER),
    "truncated.jsonl": lines(GOOD_HEADER, *GOOD_EVENTS[:2]) + json.dumps(GOOD_EVENTS[2])[:9],
    "bad-event.jsonl": lines(GOOD_HEADER, [0, "task", 1, 1, 100, 100, -1, None]),
    "short-event.jsonl": lines(GOOD_HEADER, [0, 0, 1]),
    "bad-kind.jsonl": lines(GOOD_HEADER, [42, 0, 1, 1, 100, 100, -1, None]),
    # well-formed, but no recorded run holds these values (issue 13)
    "no-cpus.jsonl": lines({**GOOD_HEADER, "machine": {"cpus": 0}}, *GOOD_EVENTS),
    "huge-run.jsonl": lines({**GOOD_HEADER, "spec": {**GOOD_HEADER["spec"], "tasks": 10**6}}, *GOOD_EVENTS),
    "task-9.jsonl": lines(GOOD_HEADER, *GOOD_EVENTS[:2], [4, 9, 1, 1, 900, 900, -1, None]),
    "backwards.jsonl": lines(GOOD_HEADER, [3, 0, 1, 1, 500, 400, -1, None]),
}

SCENES = len(default_deck().scenes)  # the built-in deck's

# (argv, words the one line must contain); {d} is a folder holding the files above
BAD = [
    # models and workloads: unknown, empty, misspelt (with a suggestion)
    (["run", "-m", "thredas"], "did you mean 'threads'"),
    (["run", "-m", "Pool"], "did you mean 'pool'"),
    (["run", "-m", ""], "model is empty"),
    (["run", "-m", "   "], "model is empty"),
    (["run", "-m", "greenlets"], "unknown model 'greenlets'"),
    (["run", "-w", "cpuu"], "did you mean 'cpu'"),
    (["run", "-w", ""], "workload is empty"),
    (["compare", "--models", "threads,asyncoi"], "did you mean 'asyncio'"),
    (["compare", "--models", ""], "model is empty"),
    (["compare", "--rounds", "0"], "rounds must be 1 to 100"),
    (["compare", "--models", "processes", "-n", "100"], "nothing to compare: processes skipped"),
    (["compare", "--models", "threads", "--kill-task", "1"], "nothing to compare: threads skipped"),
    (["compare", "--rounds", "two"], "rounds must be a whole number"),
    (["advise", "--cases", "net-slwo"], "did you mean 'net-slow'"),
    (["advise", "--cases", "io"], "unknown case 'io'"),
    (["advise", "--cases", ""], "case is empty"),
    (["advise", "--rounds", "0"], "rounds must be 1 to 100"),
    (["advise", "--rounds", "many"], "rounds must be a whole number"),
    (["-m", "procesess"], "did you mean 'processes'"),  # the TUI's flags are checked the same way
    # counts, scales, intervals: <= 0, over the limits, not numbers
    (["run", "-n", "0"], "tasks must be at least 1"),
    (["run", "-n", "-3"], "tasks must be at least 1"),
    (["run", "-n", "2.5"], "tasks must be a whole number"),
    (["run", "-n", "many"], "tasks must be a whole number"),
    (["run", "-n", "1e9"], "tasks must be a whole number"),
    (["run", "-m", "processes", "-n", "65"], "tasks must be at most 64 under processes"),
    (["run", "-m", "asyncio", "-n", "10001"], "tasks must be at most 10000 under asyncio"),
    (["run", "-m", "pool", "--workers", "0"], "workers must be at least 1"),
    (["run", "-m", "dask", "--threads-per-worker", "0"], "threads per worker must be at least 1"),
    (["run", "-m", "threads", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is only for the dask model"),
    (["run", "-m", "dask", "--scheduler", "http://127.0.0.1:8786"], "only tcp:// addresses"),
    (["run", "-m", "pool", "--workers", "65"], "workers must be at most 64"),
    (["run", "--scale", "0"], "scale must be more than 0"),
    (["run", "--scale", "-1"], "scale must be more than 0"),
    (["run", "--scale", "101"], "scale must be at most 100"),
    (["run", "--scale", "nan"], "scale must be a finite number"),
    (["run", "--scale", "inf"], "scale must be a finite number"),
    (["run", "--scale=-inf"], "scale must be a finite number"),
    (["run", "--scale", ""], "scale must be a number"),
    (["run", "--switch-interval", "0"], "switch interval (ms) must be more than 0"),
    (["run", "--switch-interval", "1001"], "switch interval (ms) must be at most 1000"),
    (["run", "--switch-interval", "NaN"], "switch interval must be a finite number"),
    (["run", "--timeout", "0"], "timeout (s) must be more than 0"),
    (["run", "--timeout", "-5"], "timeout (s) must be more than 0"),
    (["run", "--timeout", "infinity"], "timeout must be a finite number"),
    (["run", "--seed", "-1"], "seed must be at least 0"),
    (["replay", "{d}/v99.jsonl", "--speed", "0"], "speed must be more than 0"),
    # the net workloads (issue 12): their own settings, refused elsewhere; runs that cannot end
    (["run", "-w", "net", "--latency", "-1"], "latency (ms) must be at least 0, got -1"),
    (["run", "-w", "net-slow", "--latency", "60001"], "latency (ms) must be at most 60000"),
    (["run", "-w", "net", "--latency", "nan"], "latency must be a finite number"),
    (["run", "-w", "net", "--latency", "soon"], "latency must be a number"),
    (["run", "-w", "net", "--requests", "0"], "requests must be at least 1, got 0"),
    (["run", "-w", "net-fast", "--requests", "1.5"], "requests must be a whole number"),
    (["run", "-w", "net", "--requests", "100001"], "requests must be at most 100000"),
    (["run", "-w", "cpu", "--latency", "5"], "--latency is only for the net workloads"),
    (["run", "-w", "io", "--requests", "3"], "--requests is only for the net workloads"),
    (["run", "--kill-server"], "--kill-server is only for the net workloads"),
    (["run", "-w", "net-fast", "--scale", "2"], "--scale is not for the net workloads"),
    (["run", "-m", "threads", "-w", "net", "-n", "10001"], "tasks must be at most 10000 under threads"),
    (["run", "-m", "threads", "-w", "cpu", "-n", "1001"], "tasks must be at most 1000 under threads"),
    (["run", "-m", "asyncio", "-w", "io", "-n", "100001"], "tasks must be at most 100000 under asyncio"),
    (["run", "-m", "asyncio", "-w", "net-slow", "-n", "10001"], "tasks must be at most 10000 under asyncio"),
    (["run", "-m", "sequential", "-w", "net-slow", "-n", "500"], "sequential needs at least 500 s for 500 connections"),
    (["run", "-m", "pool", "--workers", "2", "-w", "net-slow"], "pool needs at least 1000 s"),
    (["run", "-m", "threads", "-w", "net", "--latency", "2000", "--requests", "40"], "over its time limit of 60 s (--timeout)"),
    (["-w", "net", "--requests", "-2"], "requests must be at least 1"),
    (["compare", "-w", "net-slow", "--models", "sequential,pool"], "nothing to compare: sequential skipped"),
    # faults: outside the run, on a model without worker processes, two on one task
    (["run", "-n", "4", "--fail-task", "4"], "--fail-task 4 is outside the run (tasks are 0..3)"),
    (["run", "--hang-task", "-1"], "--hang-task -1 is outside the run"),
    (["run", "-m", "processes", "-n", "2", "--kill-task", "7"], "--kill-task 7 is outside the run"),
    (["run", "-m", "threads", "--kill-task", "0"], "--kill-task needs a process model"),
    (["run", "-m", "asyncio", "--kill-task", "0"], "--kill-task needs a process model"),
    (["run", "--fail-task", "1", "--hang-task", "1"], "task 1 is given two faults (fail and hang)"),
    (["run", "-m", "pool", "--fail-task", "0", "--kill-task", "0"], "task 0 is given two faults"),
    # conflicting flags
    (["run", "-m", "threads", "--workers", "3"], "--workers is only for pool models"),
    (["run", "-m", "sequential", "--workers", "1"], "--workers is only for pool models"),
    # start methods
    (["run", "--start-method", "spwan"], "did you mean 'spawn'"),
    (["run", "--start-method", ""], "start method is empty"),
    # commands and arguments
    (["runn"], "unknown command 'runn' (did you mean 'run'?)"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "-n"], "expected one argument"),
    (["run", "stray"], "unrecognized arguments: stray"),
    (["export", "{d}/v99.jsonl"], "required: -o/--output"),
    # traces for replay and export: missing, empty, truncated, not JSON, wrong version
    (["replay", "{d}/missing.jsonl"], "trace not found"),
    (["replay", "{d}/empty.jsonl"], "trace is empty"),
    (["replay", "{d}/blank.jsonl"], "trace is empty"),
    (["replay", "{d}/text.jsonl"], "first line is not JSON"),
    (["replay", "{d}/list-header.jsonl"], "not a concviz trace"),
    (["replay", "{d}/no-header.jsonl"], "not a concviz trace"),
    (["replay", "{d}/v99.jsonl"], "trace version 99 is not supported"),
    (["replay", "{d}/v-string.jsonl"], "trace version '1' is not supported"),
    (["replay", "{d}/v-true.jsonl"], "trace version True is not supported"),
    (["replay", "{d}/header-only.jsonl"], "header but no events"),
    (["replay", "{d}/truncated.jsonl"], "truncated or corrupt at line 4"),
    (["replay", "{d}/bad-event.jsonl"], "malformed event at line 2"),
    (["replay", "{d}/bad-kind.jsonl"], "malformed event at line 2"),
    (["replay", "{d}"], "cannot read trace"),  # a folder
    (["replay", "{d}/no-cpus.jsonl"], "impossible header at line 1 (machine.cpus must be a whole number"),
    (["replay", "{d}/huge-run.jsonl"], "impossible header at line 1 (spec: tasks must be at most 10000 under threads"),
    (["replay", "{d}/task-9.jsonl"], "impossible event at line 4 (task 9 is outside the run"),
    (["replay", "{d}/backwards.jsonl"], "impossible event at line 2 (it ends before it starts"),
    (["export", "{d}/missing.jsonl", "-o", "{d}/out.json"], "trace not found"),
    (["export", "{d}/empty.jsonl", "-o", "{d}/out.json"], "trace is empty"),
    (["export", "{d}/truncated.jsonl", "-o", "{d}/out.json"], "truncated or corrupt"),
    (["export", "{d}/text.jsonl", "-o", "{d}/out.json"], "not JSON"),
    (["export", "{d}/v99.jsonl", "-o", "{d}/out.json"], "not supported"),
    (["export", "{d}/short-event.jsonl", "-o", "{d}/out.json"], "malformed event"),
    (["export", "{d}/no-cpus.jsonl", "-o", "{d}/out.json"], "impossible header at line 1"),
    (["export", "{d}/task-9.jsonl", "-o", "{d}/out.json"], "impossible event at line 4"),
    # unwritable output paths
    (["export", "{d}/good.jsonl", "-o", "{d}/no/such/folder/out.json"], "does not exist"),
    (["export", "{d}/good.jsonl", "-o", "{d}"], "it is a directory"),
    (["export", "{d}/good.jsonl", "-o", "{d}/good.jsonl/out.json"], "does not exist"),
    (["export", "{d}/good.jsonl", "-o", ""], "output path is empty"),
    (["export", "{d}/good.jsonl", "-o", "/proc/concviz-out.json"], "cannot write /proc/concviz-out.json"),
    (["run", "--record", "{d}/no/such/folder/t.jsonl"], "does not exist"),
    (["run", "--record", "{d}"], "it is a directory"),
    (["run", "--record", "/proc/concviz-trace.jsonl"], "cannot write /proc/concviz-trace.jsonl"),
    # the screens (issue 14): themes, stacks, talks, saved comparisons
    (["--theme", "nrod"], "unknown theme 'nrod' (did you mean 'nord'?)"),
    (["replay", "{d}/good.jsonl", "--theme", "darkk"], "unknown theme 'darkk'"),
    (["stack", "{d}/good.jsonl", "--theme", ""], "unknown theme ''"),
    (["stack", "{d}/good.jsonl", "{d}/missing.jsonl"], "trace not found"),
    (["stack"], "the following arguments are required: FILE.jsonl"),
    (["talk", "--theme", "hi-contrast"], "(did you mean 'high-contrast'?)"),
    (["talk", "--write-default", "{d}/no/such/folder/deck.toml"], "does not exist"),
    (["talk", "--scene", str(SCENES + 1)], f"scene must be 1 to {SCENES} (the deck's scenes), got {SCENES + 1}"),
    (["talk", "--scene", "two"], "scene must be a whole number"),
    (["compare", "--save", "{d}/good.jsonl"], "it is not a folder"),
    (["compare", "--save", "{d}/no/such/folder"], "does not exist"),
    # the experiment's Python (issue 16): not there, not a program, not Python, not CPython, too
    # old, or without what the model needs (the fake ones are scripts in {d}: see FAKE_PYTHONS)
    (["run", "--python", "{d}/missing-python"], "--python {d}/missing-python: no such file"),
    (["run", "--python", "{d}/good.jsonl"], "--python {d}/good.jsonl: not an executable file"),
    (["run", "--python", "{d}"], "not an executable file"),
    (["run", "--python", ""], "--python is empty"),
    (["run", "--python", "no-such-python-here"], "--python no-such-python-here: no such command on PATH"),
    (["run", "--python", "{d}/mute"], "--python {d}/mute: not a Python interpreter"),
    (["run", "--python", "{d}/pypy"], "PyPy 3.10.14, not CPython"),
    (["run", "--python", "{d}/py39"], "Python 3.9.18 is too old: the experiment needs 3.10 or newer"),
    (["run", "-m", "interpreters", "--python", "{d}/py311"],
     "the interpreters model needs Python 3.12 or newer (an interpreter with its own GIL, PEP 684); "
     "this is Python 3.11.7"),
    (["-m", "interpreters", "--python", "{d}/py311"], "the interpreters model needs Python 3.12 or newer"),
    (["--python", "{d}/pypy"], "not CPython"),
    (["compare", "--python", "{d}/py39"], "Python 3.9.18 is too old"),
    (["compare", "--python", "{d}/py311", "--python", "{d}/mute"], "not a Python interpreter"),
    (["compare", "--models", "interpreters", "--python", "{d}/py311"],
     "nothing to compare: interpreters skipped (the interpreters model needs Python 3.12 or newer"),
    # a program traced from outside (issue 15): nothing is started for any of these
    (["trace"], "no command to trace"),
    (["trace", "--json", "--"], "no command to trace"),
    (["trace", "--json", "--", "{d}/no-such-program"], "command not found"),
    (["trace", "--json", "--", "{d}"], "cannot run"),
    (["trace", "--rate", "0", "--", "true"], "rate must be 1 to 1000 Hz, got 0"),
    (["trace", "--rate", "fast", "--", "true"], "rate must be a number"),
    (["trace", "--time-limit", "0", "--", "true"], "time limit must be more than 0 s"),
    (["trace", "--record", "{d}", "--", "true"], "it is a directory"),
    (["trace", "--inherit-output", "--", "true"], "--inherit-output is for --json"),
    (["trace", "--theme", "nrod", "--", "true"], "unknown theme 'nrod'"),
    (["attach", "abc"], "PID must be a whole number"),
    (["attach", "0"], "no process 0"),
    (["attach", "--json", "999999999"], "no process 999999999"),
    (["attach", "--rate", "5000", "1"], "rate must be 1 to 1000 Hz"),
    (["attach", "--time-limit", "soon", "1"], "time limit must be a number"),
    (["attach", "--theme", "", "1"], "unknown theme ''"),
    (["attach"], "the following arguments are required: PID"),
]

# name -> what the fake Python prints when asked (pythons.describe runs it with -c): enough to be
# taken for what it claims, without any such interpreter on this machine
FAKE_PYTHONS = {
    "mute": "",
    "pypy": '{"version": "3.10.14", "version_info": [3, 10, 14], "implementation": "PyPy"}',
    "py39": '{"version": "3.9.18", "version_info": [3, 9, 18], "implementation": "CPython"}',
    "py311": ('{"version": "3.11.7", "version_info": [3, 11, 7], "implementation": "CPython", "gil": true, '
              '"free_threaded_build": false, "interpreters": ""}'),
}


@pytest.fixture
def folder(tmp_path):
    for name, text in TRACES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "good.jsonl").write_text(lines(GOOD_HEADER, *GOOD_EVENTS), encoding="utf-8")
    for name, facts in FAKE_PYTHONS.items():
        script = tmp_path / name
        script.write_text("#!/bin/sh\n" + (f"echo 'concviz-facts {facts}'\n" if facts else "exit 0\n"))
        script.chmod(0o755)
    return tmp_path


@pytest.fixture
def nothing_runs(monkeypatch):
    """A refused input must stop before any experiment starts or any UI opens."""

    def refuse(*args, **kwargs):
        raise AssertionError("this input should have been refused before running")

    monkeypatch.setattr(experiment, "run_to_frame", refuse)
    monkeypatch.setitem(sys.modules, "concviz.app", types.SimpleNamespace(run_app=refuse))
    monkeypatch.setitem(sys.modules, "concviz.talk.screen", types.SimpleNamespace(run_talk=refuse))


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, out: str, err: str, words: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", out
    got = err.splitlines()
    assert len(got) == 1, err
    assert got[0].startswith("concviz: error: "), err
    assert words in got[0], f"{words!r} not in {got[0]!r}"


def test_every_option_that_takes_a_value_has_a_bad_case():
    """A new option joins the table: every option of the TUI and of each command that takes a
    value (not a switch such as --json) is given a bad value in BAD at least once. The run flags
    are one function shared by the TUI, run and compare: a case under run serves all three."""
    tui, main_parser = cli_args.build_parsers()
    commands = next(a for a in main_parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    parsers = {"concviz": tui, **commands}
    tried = {(argv[0] if argv[0] in commands else "concviz", arg.split("=")[0]) for argv, _ in BAD for arg in argv}
    run_flags = {o for a in commands["run"]._actions for o in a.option_strings}
    missing = []
    for name, parser in parsers.items():
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            where = {name, "run"} if run_flags & set(action.option_strings) else {name}
            if not any((w, o) in tried for w in where for o in action.option_strings):
                missing.append(f"{name} {action.option_strings[-1]}")
    assert not missing, f"no bad-value case for: {', '.join(missing)}"


@pytest.mark.parametrize("argv,words", BAD, ids=[" ".join(a) or "-" for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(argv, words, folder, nothing_runs, capsys):
    argv = [a.replace("{d}", str(folder)) for a in argv]
    assert_one_line(*call(argv, capsys), words.replace("{d}", str(folder)))


def test_trace_needs_linux(monkeypatch, nothing_runs, capsys):
    monkeypatch.setattr(sys, "platform", "darwin")
    code, out, err = call(["trace", "--json", "--", "true"], capsys)
    assert_one_line(code, out, err, "they need Linux (this is darwin)")


def test_a_start_method_this_platform_lacks(monkeypatch, nothing_runs, capsys):
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    code, out, err = call(["run", "--start-method", "fork"], capsys)
    assert_one_line(code, out, err, "start method 'fork' is not available on this platform (available: spawn)")


def test_refused_output_leaves_no_file(folder, nothing_runs, capsys):
    # a refused run is refused before its output path is tried: no file appears
    target = folder / "new.jsonl"
    code, out, err = call(["run", "-n", "0", "--record", str(target)], capsys)
    assert code == 2 and not target.exists()


def test_the_writability_check_leaves_no_file(folder):
    """The check opens the path to know it can write there (the only way on read-only and
    virtual file systems); a path that was new is gone again, a file that was there is as it was."""
    new, old = folder / "new.jsonl", folder / "good.jsonl"
    before = old.read_bytes()
    cli_checks.check_writable(str(new))
    cli_checks.check_writable(str(old))
    assert not new.exists()
    assert old.read_bytes() == before


@pytest.mark.parametrize("argv,words", [
    (["run", "-m", "thredas"], "did you mean 'threads'"),
    (["run", "--scale", "nan"], "finite"),
    (["frobnicate"], "unknown command"),
    (["replay", "/no/such/trace.jsonl"], "trace not found"),
], ids=["model", "nan", "command", "trace"])
def test_the_real_command_line(argv, words):
    done = subprocess.run([sys.executable, "-m", "concviz", *argv], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert_one_line(done.returncode, done.stdout, done.stderr, words)


@pytest.mark.parametrize("command", ["replay", "export"])
def test_the_real_command_line_refuses_an_impossible_trace(command, folder):
    """An impossible value (not a malformed line) stops ``python -m concviz`` with one line and
    exit 2, and naming the file and line; export writes nothing."""
    trace = folder / "task-9.jsonl"
    out = folder / "out.json"
    argv = [command, str(trace)] + (["-o", str(out)] if command == "export" else [])
    done = subprocess.run([sys.executable, "-m", "concviz", *argv], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert_one_line(done.returncode, done.stdout, done.stderr,
                    f"impossible event at line 4 (task 9 is outside the run (tasks are 0..0)): {trace}")
    assert not out.exists()
