"""The command line's grammar: the TUI's flags, every subcommand's, and the RunSpec they describe.

A mistake raises :class:`UsageError` (argparse would print its usage and exit); cli.main turns
it into one line and exit status 2. The commands' bodies are in cli.py, cli_screens.py and
cli_trace.py.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from concviz.engine.spec import MODEL_NAMES
from concviz.engine.workloads import WORKLOADS

SUBCOMMANDS = ("run", "compare", "advise", "export", "replay", "stack", "talk", "serve", "doctor", "trace", "attach")


class UsageError(Exception):
    """Raised instead of argparse's exit, so every mistake prints one line."""


class Parser(argparse.ArgumentParser):
    """argparse, raising UsageError for a mistake instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _number(kind: type, name: str):
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a {'whole ' if kind is int else ''}number, got {text!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {text!r}")
        return value

    convert.__name__ = name
    return convert


def add_run_flags(p: argparse.ArgumentParser, *, with_model: bool = True) -> None:
    """The flags of a run's settings (all but ``--python``); ``with_model``: also -m and --workers."""
    if with_model:
        p.add_argument("-m", "--model", default="threads", help=f"one of: {', '.join(MODEL_NAMES)}")
    p.add_argument("-w", "--workload", default="cpu", help=f"one of: {', '.join(WORKLOADS)}")
    p.add_argument("-n", "--tasks", type=_number(int, "tasks"),
                   help="number of tasks (default 4; a net preset's own: net 16, net-fast 8, net-slow 2000)")
    if with_model:
        p.add_argument("--workers", type=_number(int, "workers"), help="pool size (pool models only; default: CPUs)")
    p.add_argument("--threads-per-worker", type=_number(int, "threads per worker"), metavar="N",
                   help="dask: threads in each worker process (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask: run on the existing cluster whose scheduler "
                   "is at ADDRESS (tcp://HOST:PORT) instead of starting a LocalCluster")
    p.add_argument("--scale", type=_number(float, "scale"), default=1.0, help="multiply all work and sleeps")
    p.add_argument("--seed", type=_number(int, "seed"), default=0, help="seed for the random sleeps")
    p.add_argument("--switch-interval", type=_number(float, "switch interval"), metavar="MS",
                   dest="switch_interval_ms", help="sys.setswitchinterval for the run, in ms")
    p.add_argument("--start-method", help="multiprocessing start method: fork, spawn, forkserver")
    p.add_argument("--timeout", type=_number(float, "timeout"), dest="timeout_s", default=None,
                   help="stop the run after this many seconds (default 60)")
    p.add_argument("--fail-task", type=_number(int, "--fail-task"), help="task N raises an exception")
    p.add_argument("--kill-task", type=_number(int, "--kill-task"), help="the process running task N is SIGKILLed")
    p.add_argument("--hang-task", type=_number(int, "--hang-task"), help="task N never finishes")
    p.add_argument("--latency", type=_number(float, "latency"), metavar="MS", dest="latency_ms",
                   help="net workloads: the server replies after MS ms (net 50, net-fast 2, net-slow 1000)")
    p.add_argument("--requests", type=_number(int, "requests"), metavar="N",
                   help="net workloads: requests per connection (net 10, net-fast 200, net-slow 1)")
    p.add_argument("--kill-server", action="store_true",
                   help="net workloads: the server is SIGKILLed once half the replies are sent")


def add_python_flag(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """``--python PATH``; ``many``: it may be repeated (compare)."""
    p.add_argument("--python", metavar="PATH", action="append" if many else "store",
                   help="run the experiment under this CPython 3.10+ (the UI stays on this one)"
                   + ("; repeat it to compare the models across Pythons" if many else ""))


def add_theme_flag(p: argparse.ArgumentParser) -> None:
    """``--theme NAME``, for every command that opens a screen."""
    p.add_argument("--theme", metavar="NAME", help="a Textual theme, or high-contrast for a projector "
                   "(default textual-dark; ctrl+p lists them all)")


def build_parsers() -> tuple[Parser, Parser]:
    """The TUI's parser (``concviz [flags]``) and the subcommands' (``concviz COMMAND ...``)."""
    tui = Parser(prog="concviz", description="See Python concurrency happen: threads, processes, asyncio.",
                 epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (concviz SUBCOMMAND -h)")
    add_run_flags(tui)
    add_python_flag(tui)
    tui.add_argument("--run", action="store_true", help="start the run at once")
    tui.add_argument("--version", action="store_true", help="print the version and exit")
    add_theme_flag(tui)

    main = Parser(prog="concviz")
    sub = main.add_subparsers(dest="command", parser_class=Parser)
    run = sub.add_parser("run", help="run one model headless and print what was measured")
    add_run_flags(run)
    add_python_flag(run)
    run.add_argument("--record", metavar="FILE.jsonl", help="write every event to a trace file")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    cmp_ = sub.add_parser("compare", help="run every model on the same workload and rank them")
    add_run_flags(cmp_, with_model=False)
    add_python_flag(cmp_, many=True)
    cmp_.add_argument("--models", help="comma-separated subset of models")
    cmp_.add_argument("--rounds", type=_number(int, "rounds"), metavar="N",
                      help="run every model N times and rank the medians (default 3, or 1 if a round "
                           "takes over 20 s)")
    cmp_.add_argument("--json", action="store_true", help="print one JSON object")
    cmp_.add_argument("--save", metavar="DIR", help="keep each model's median run as DIR/MODEL.jsonl "
                      "(concviz stack opens them on one time axis)")
    adv = sub.add_parser("advise", help="measure the rule of thumb's three cases on this machine")
    adv.add_argument("--cases", help="comma-separated subset of: cpu, net-fast, net-slow")
    adv.add_argument("--rounds", type=_number(int, "rounds"), metavar="N",
                     help="run every model of a case N times (default 3, or 1 if a round takes over 20 s)")
    adv.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    exp = sub.add_parser("export", help="convert a trace to Chrome trace-event JSON (Perfetto)")
    exp.add_argument("trace", metavar="FILE.jsonl")
    exp.add_argument("-o", "--output", required=True, metavar="FILE.json")
    rep = sub.add_parser("replay", help="replay a recorded trace in the TUI")
    rep.add_argument("trace", metavar="FILE.jsonl")
    rep.add_argument("--speed", type=_number(float, "speed"), default=1.0, help="replay speed (0.1 = slow motion)")
    add_theme_flag(rep)
    stack = sub.add_parser("stack", help="recorded runs one above the other on one time axis")
    stack.add_argument("traces", nargs="+", metavar="FILE.jsonl", help="up to 4 traces (run --record, "
                       "compare --save, or e in the TUI)")
    add_theme_flag(stack)
    talk = sub.add_parser("talk", help="give a talk: scenes of narration, a question, live runs, the answer")
    talk.add_argument("deck", nargs="?", metavar="DECK.toml", help="a deck of scenes (default: the built-in deck)")
    talk.add_argument("--write-default", metavar="FILE", help="write the built-in deck to FILE, to start "
                      "a deck of your own, and exit")
    talk.add_argument("--scene", type=_number(int, "scene"), metavar="N", default=1,
                      help="begin at scene N (to rehearse one)")
    add_theme_flag(talk)
    sub.add_parser("serve", help="serve concviz in a browser, one app per tab (concviz serve -h)")
    doc = sub.add_parser("doctor", help="check this machine before a talk")
    doc.add_argument("--json", action="store_true")
    from concviz.cli_trace import add_trace_parsers

    add_trace_parsers(sub, _number, add_theme_flag)
    return tui, main


def spec_from_args(args: argparse.Namespace, model: str | None = None, python: str | None = None):
    """The RunSpec the flags describe (validated); ``python``: the experiment's Python, else
    the one ``--python`` names (resolved to an absolute path), else None (this one)."""
    from concviz.engine.pythons import resolve
    from concviz.engine.spec import DEFAULT_TIMEOUT_S, RunSpec, default_tasks

    if python is None and isinstance(getattr(args, "python", None), str):
        python = resolve(args.python)
    return RunSpec(
        model=model or args.model, workload=args.workload,
        tasks=args.tasks if args.tasks is not None else default_tasks(str(args.workload).strip()),
        workers=getattr(args, "workers", None), scale=args.scale, seed=args.seed,
        switch_interval_ms=args.switch_interval_ms, start_method=args.start_method,
        fail_task=args.fail_task, kill_task=args.kill_task, hang_task=args.hang_task,
        timeout_s=args.timeout_s if args.timeout_s is not None else DEFAULT_TIMEOUT_S, python=python,
        latency_ms=args.latency_ms, requests=args.requests, kill_server=args.kill_server,
        threads_per_worker=args.threads_per_worker, scheduler=args.scheduler,
    ).validate()


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line as parsed (``command`` None for the TUI); UsageError if it is wrong."""
    tui, main_parser = build_parsers()
    if argv and not argv[0].startswith("-"):
        if argv[0] not in SUBCOMMANDS:
            from concviz.engine.spec import suggest

            raise UsageError(f"unknown command {argv[0]!r}{suggest(argv[0], SUBCOMMANDS)}")
        return main_parser.parse_args(argv)
    args = tui.parse_args(argv)
    args.command = None
    return args
