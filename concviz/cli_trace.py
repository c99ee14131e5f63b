"""``concviz trace -- COMMAND`` and ``concviz attach PID``: any program, seen from outside.

On screen (the live screen's panes, drawn from /proc readings), or headless with ``--json``
(the figures of ``run --json`` where they mean the same, plus the sampler's and the command's).
Bad input exits with status 2 and one line, as everywhere in concviz.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from concviz.engine.spec import SpecError


def add_trace_parsers(sub: Any, number: Any, add_theme_flag: Any) -> None:
    """The ``trace`` and ``attach`` subcommands (``number``: cli's checked number type)."""
    from concviz.engine.sources.sampler import DEFAULT_HZ

    for name in ("trace", "attach"):
        if name == "trace":
            p = sub.add_parser("trace", help="run a command and watch its threads and processes "
                               "(read from /proc: no edits, no root)")
        else:
            p = sub.add_parser("attach", help="watch a running process and its children until it "
                               "exits (never signalled)")
        p.add_argument("--rate", type=number(float, "rate"), default=DEFAULT_HZ, metavar="HZ",
                       help=f"sampling rate asked for (default {DEFAULT_HZ:g}; lowered to keep the "
                            "sampler under 3%% of a core)")
        p.add_argument("--json", action="store_true", help="no screen: print one JSON object at the end")
        p.add_argument("--record", metavar="FILE.jsonl", help="write the trace (concviz replay, export)")
        p.add_argument("--time-limit", type=number(float, "time limit"), metavar="S", dest="time_limit_s",
                       help="stop after S seconds" + (" (the command's whole group is ended)" if name == "trace" else ""))
        if name == "trace":
            p.add_argument("--inherit-output", action="store_true",
                           help="with --json: the command writes to this terminal, not to a file")
            p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")
        else:
            p.add_argument("pid", metavar="PID", help="the process to watch")
        add_theme_flag(p)


def make_trace(args: argparse.Namespace):
    """The ProgramTrace the arguments ask for, checked (SpecError with one line if wrong)."""
    from concviz.engine.sources.program import ProgramError, ProgramTrace, check_platform, check_rate

    try:
        check_platform()
        check_rate(args.rate)
    except ProgramError as exc:
        raise SpecError(str(exc)) from None
    if args.time_limit_s is not None and not args.time_limit_s > 0:
        raise SpecError(f"time limit must be more than 0 s, got {args.time_limit_s:g}")
    if args.record:
        from concviz.cli_checks import check_writable

        check_writable(args.record)
    if args.command == "trace":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise SpecError("no command to trace: concviz trace [OPTIONS] -- COMMAND [ARGS...]")
        if args.inherit_output and not args.json:
            raise SpecError("--inherit-output is for --json: on screen, the command's output would "
                            "write over the panes")
        return ProgramTrace(lambda events: None, command=argv, rate_hz=args.rate,
                            inherit_output=args.inherit_output, time_limit_s=args.time_limit_s)
    try:
        pid = int(args.pid)
    except ValueError:
        raise SpecError(f"PID must be a whole number, got {args.pid!r}") from None
    if pid < 1:
        raise SpecError(f"no process {pid}: a PID is a positive whole number")
    return ProgramTrace(lambda events: None, pid=pid, rate_hz=args.rate, time_limit_s=args.time_limit_s)


def cmd_trace(args: argparse.Namespace) -> int:
    """``concviz trace`` and ``concviz attach``."""
    from concviz.engine.sources.program import ProgramError

    trace = make_trace(args)
    try:
        if args.json:
            return _headless(trace, args)
        from concviz.app import run_app
        from concviz.trace_session import TraceSession

        session = TraceSession(trace, record=args.record)
        session.start()
        return run_app(trace=session, theme=args.theme)
    except ProgramError as exc:
        raise SpecError(str(exc)) from None


def _headless(trace, args: argparse.Namespace) -> int:
    from concviz.cli_checks import SignalStop
    from concviz.engine.sources.program import trace_to_frame

    with SignalStop() as stop:
        frame = trace_to_frame(trace, record=args.record, stop=stop.event)
    print(json.dumps(trace_summary(frame, trace), indent=2))
    stop.check()
    return 0


def trace_summary(frame, trace) -> dict[str, Any]:
    """``run --json``'s object for a traced program: its figures (tasks are threads), each
    thread's named waits, and what the sampler and the command did."""
    out = frame.summary()
    waits: dict[str, float] = {}
    for t in frame.tasks:
        for state, ns in t.wait_ns:
            waits[state] = waits.get(state, 0.0) + ns / 1e9
    sleep = sum(t.sleep_ns for t in frame.tasks) / 1e9
    out["threads"] = len(frame.tasks)
    out["processes"] = len({t.pid for t in frame.tasks if t.pid is not None})
    out["waits_s"] = {"gil": 0.0, "lock": 0.0, "cpu": 0.0, "io": sleep, "other": 0.0, "unknown": 0.0, **waits}
    out["inferred"] = ["waits_s.gil", "waits_s.lock", "waits_s.io", "gil_switches", "per_task.gil_wait_s"]
    sampler = trace.sampler
    ending = trace.ending
    out["trace"] = {
        "command": list(trace.command) if trace.command is not None else None,
        "pid": trace.header.get("trace", {}).get("pid"),
        "rate_hz": trace.rate_hz,
        "rate_hz_used": round(trace.rate_hz_used, 1),
        "rate_hz_min": round(min(sampler.rates), 1) if sampler is not None and sampler.rates else None,
        "sweeps": sampler.sweeps if sampler is not None else 0,
        "sampler_cpu": round(sampler.mean_cost, 4) if sampler is not None else None,
        "output": trace.output,
        "exit_code": ending.returncode if ending is not None else None,
        "ended": ending.status if ending is not None else None,
    }
    if trace.output and not os.path.exists(trace.output):
        out["trace"]["output"] = None
    return out
