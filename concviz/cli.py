"""Command line: ``concviz [TUI flags]``, ``concviz run``, ``compare``, ``advise``, ``export``,
``replay``, ``stack``, ``talk``, ``serve``, ``doctor``, ``trace``, ``attach``.

This module is the entry point (:func:`main`) and the bodies of the headless commands; their
flags are parsed in cli_args.py, and checked before any work in cli_checks.py. Bad input exits
with status 2 and one line naming the problem; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Sequence

from concviz.cli_args import UsageError, parse, spec_from_args
from concviz.cli_checks import SignalStop, Stopped, check_folder, check_limits, check_writable
from concviz.engine.spec import MODEL_NAMES, SpecError, check_choice


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv); the exit status."""
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


def cmd_run(args: argparse.Namespace) -> int:
    """``concviz run``: one run, headless; its report or ``--json``."""
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
    """``concviz compare``: every model (or ``--models``) on the same work, under each ``--python``."""
    from concviz.engine.limits import runnable_specs
    from concviz.ranking import compare

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
    """``concviz advise``: the rule of thumb's cases (or ``--cases``), measured here."""
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
    """``concviz export``: a trace as Chrome trace-event JSON."""
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


def cmd_tui(args: argparse.Namespace) -> int:
    """``concviz [flags]``: the live screen (or ``--version``)."""
    if args.version:
        from concviz import __version__

        print(f"concviz {__version__}")
        return 0
    spec = spec_from_args(args).check_runnable()
    if args.run:
        check_limits(spec)
    from concviz.app import run_app

    return run_app(spec=spec, autorun=args.run, theme=args.theme)
