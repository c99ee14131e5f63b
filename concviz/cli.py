"""Command line: ``concviz [TUI flags]``, ``concviz run``, ``compare``, ``advise``, ``export``,
``replay``, ``stack``, ``talk``, ``serve``, ``doctor``, ``trace``, ``attach``.

Bad input exits with status 2 and one line naming the problem; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from typing import Any, Sequence

from concviz.engine.spec import MODEL_NAMES, SpecError, check_choice
from concviz.engine.workloads import WORKLOADS

SUBCOMMANDS = ("run", "compare", "advise", "export", "replay", "stack", "talk", "serve", "doctor", "trace", "attach")


class UsageError(Exception):
    """Raised instead of argparse's exit, so every mistake prints one line."""


class Stopped(Exception):
    """A signal (ctrl+c, SIGTERM, SIGHUP) stopped a headless run; the run was cancelled."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class SignalStop:
    """While active, SIGINT / SIGTERM / SIGHUP set ``event`` instead of killing concviz.

    The experiment runs in its own session, so a terminal's ctrl+c or hang-up reaches only us:
    the pump sees the event within ~50 ms and cancels the experiment's whole process group
    (SIGTERM, then SIGKILL), so nothing outlives concviz. (SIGKILL of concviz itself is covered
    by the experiment's parent watchdog.)
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def __enter__(self) -> "SignalStop":
        for sig in STOP_SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread: leave the defaults alone
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def check(self) -> None:
        """Raise :class:`Stopped` if a signal arrived."""
        if self.signum is not None:
            raise Stopped(self.signum)


class Parser(argparse.ArgumentParser):
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
    p.add_argument("--python", metavar="PATH", action="append" if many else "store",
                   help="run the experiment under this CPython 3.10+ (the UI stays on this one)"
                   + ("; repeat it to compare the models across Pythons" if many else ""))


def add_theme_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--theme", metavar="NAME", help="a Textual theme, or high-contrast for a projector "
                   "(default textual-dark; ctrl+p lists them all)")


def build_parsers() -> tuple[Parser, Parser]:
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


def check_limits(spec) -> None:
    """Make room for the run on this machine (raise a soft limit), or refuse it in one line."""
    from concviz.engine.limits import prepare_run

    check = prepare_run(spec)
    if not check.ok:
        raise SpecError(check.problem)


def check_writable(path: str) -> None:
    """Refuse an output path before any work is done (a run's --record, export's -o)."""
    if not path.strip():
        raise SpecError("output path is empty")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise SpecError(f"cannot write {path}: it is a directory")
    if not os.path.isdir(folder):
        raise SpecError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise SpecError(f"cannot write {path}: permission denied")
    # os.access says yes to root everywhere, and knows nothing of read-only or virtual file
    # systems (/proc, /sys): only opening the file tells. Append mode leaves a file as it was.
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        os.unlink(path)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except (UsageError, SpecError) as exc:
        print(f"concviz: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:
        name = signal.Signals(exc.signum).name
        print(f"concviz: stopped by {name}: the run was cancelled and every process it started has ended",
              file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("concviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:  # the machine, not the input: e.g. the disk filled up mid-run
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"concviz: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    from concviz.engine.events import TraceError

    if argv[:1] == ["serve"]:  # its own options, and the app's after "--"
        from concviz.serve import main as serve_main

        return serve_main(argv[1:])
    args = parse(argv)
    if getattr(args, "theme", None) is not None:
        from concviz.themes import check_theme

        check_theme(args.theme)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "advise":
            return cmd_advise(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command in ("replay", "stack", "talk"):
            from concviz import cli_screens

            return getattr(cli_screens, f"cmd_{args.command}")(args)
        if args.command in ("trace", "attach"):
            from concviz.cli_trace import cmd_trace

            return cmd_trace(args)
        if args.command == "doctor":
            from concviz.doctor import doctor

            return doctor(as_json=args.json)
        return cmd_tui(args)
    except TraceError as exc:
        raise SpecError(str(exc)) from None


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


def cmd_run(args: argparse.Namespace) -> int:
    from concviz.engine.experiment import run_to_frame
    from concviz.report import format_run

    spec = spec_from_args(args).check_runnable()
    check_limits(spec)
    if args.record:
        check_writable(args.record)
    with SignalStop() as stop:
        frame = run_to_frame(spec, record=args.record, stop=stop.event)
    stop.check()
    if args.json:
        print(json.dumps(frame.summary(), indent=2))
    else:
        print(format_run(frame))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from concviz.engine.limits import runnable_specs
    from concviz.report import compare

    models = MODEL_NAMES
    if args.models is not None:
        models = tuple(dict.fromkeys(check_choice("model", m, MODEL_NAMES) for m in args.models.split(",")))
    from concviz.engine.pythons import labelled

    specs, skipped = {}, {}
    pythons = labelled(args.python)
    for python, label in pythons.items():
        def make(m: str, python: str | None = python):
            return spec_from_args(args, model=m, python=python).check_runnable()

        got, missed = runnable_specs(models, make)  # those that cannot run sit out: the others compare
        specs.update({(f"{m}@{label}" if len(pythons) > 1 else m): sp for m, sp in got.items()})
        skipped.update({(f"{m}@{label}" if len(pythons) > 1 else m): why for m, why in missed.items()})
    if not specs:
        raise SpecError("nothing to compare: " + "; ".join(f"{m} skipped ({why})" for m, why in skipped.items()))
    if args.rounds is not None and not 1 <= args.rounds <= 100:
        raise SpecError(f"rounds must be 1 to 100, got {args.rounds}")
    if args.save is not None:
        check_folder(args.save)
    progress = _progress_line if sys.stderr.isatty() else None
    with SignalStop() as stop:
        try:
            code = compare(specs, skipped, as_json=args.json, stop=stop.event, rounds=args.rounds,
                           progress=progress, save=args.save)
        finally:
            if progress is not None:
                progress("")
    stop.check()
    if args.save and code == 0:
        saved = [os.path.join(args.save, f"{m}.jsonl") for m in specs]
        print(f"saved each model's median run in {args.save}; to see some on one time axis: "
              f"concviz stack {' '.join(saved[:2])}", file=sys.stderr if args.json else sys.stdout)
    return code


def cmd_advise(args: argparse.Namespace) -> int:
    from concviz.advise import CASE_NAMES, CASES, advise

    names = CASE_NAMES
    if args.cases is not None:
        names = tuple(dict.fromkeys(check_choice("case", c, CASE_NAMES) for c in args.cases.split(",")))
    if args.rounds is not None and not 1 <= args.rounds <= 100:
        raise SpecError(f"rounds must be 1 to 100, got {args.rounds}")
    progress = _progress_line if sys.stderr.isatty() else None
    with SignalStop() as stop:
        try:
            code = advise([c for c in CASES if c.name in names], rounds=args.rounds, as_json=args.json,
                          stop=stop.event, progress=progress)
        finally:
            if progress is not None:
                progress("")
    stop.check()
    return code


def _progress_line(text: str) -> None:
    """What runs now, on one line of the terminal (stderr), overwritten by the next."""
    sys.stderr.write("\r\x1b[2K" + (f"  {text}..." if text else ""))
    sys.stderr.flush()


def cmd_export(args: argparse.Namespace) -> int:
    from concviz.engine.events import read_trace
    from concviz.engine.export import write_chrome_trace

    header, events = read_trace(args.trace)
    check_writable(args.output)
    try:
        write_chrome_trace(header, events, args.output)
    except OSError as exc:  # e.g. the disk filled up while writing
        raise SpecError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output}: open it in https://ui.perfetto.dev or chrome://tracing")
    return 0


def check_folder(path: str) -> None:
    """Refuse a folder to write traces into before any run (compare --save); it is made if
    its parent exists."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SpecError(f"cannot save into {path}: it is not a folder")
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise SpecError(f"cannot save into {path}: folder {parent} does not exist")
        try:
            os.mkdir(path)
        except OSError as exc:
            raise SpecError(f"cannot make {path}: {exc.strerror or exc}") from None
    probe = os.path.join(path, ".concviz-write-check")
    check_writable(probe)


def cmd_tui(args: argparse.Namespace) -> int:
    if args.version:
        from concviz import __version__

        print(f"concviz {__version__}")
        return 0
    spec = spec_from_args(args).check_runnable()
    if args.run:
        check_limits(spec)
    from concviz.app import run_app

    return run_app(spec=spec, autorun=args.run, theme=args.theme)
