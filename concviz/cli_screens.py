"""The commands that open a screen other than the live one: ``concviz replay``, ``stack`` and
``talk``; and the check ``concviz serve`` makes of a browser tab's options before serving them.

Bad input exits with status 2 and one line naming each problem, as everywhere in concviz.
"""

from __future__ import annotations

import argparse
import sys

from concviz.cli_checks import check_writable
from concviz.cli_args import UsageError, parse, spec_from_args
from concviz.engine.spec import SpecError

SCREEN_COMMANDS = (None, "replay", "stack", "talk")  # what a browser tab can be (concviz serve)


def check_screen_args(argv: list[str]) -> None:
    """Check the options a browser tab's app is given (concviz serve) once, before serving:
    UsageError or SpecError when they are wrong or name no screen."""
    from concviz.engine.events import TraceError
    from concviz.talk.scene import DeckError

    args = parse(argv)
    if args.command not in SCREEN_COMMANDS:
        raise UsageError(f"a browser tab shows the TUI, replay, stack or talk, not {args.command!r}")
    if getattr(args, "theme", None) is not None:
        from concviz.themes import check_theme

        check_theme(args.theme)
    try:
        if args.command is None:
            spec_from_args(args).check_runnable()
        elif args.command == "talk":
            if args.write_default:
                raise UsageError("--write-default writes a file and exits: run it without serve")
            load_deck(args.deck)
        else:
            read_traces(args.traces if args.command == "stack" else [args.trace])
    except (TraceError, DeckError) as exc:  # (a deck's problems: one line each)
        raise SpecError(str(exc)) from None


def read_traces(paths: list[str]) -> list[tuple[dict, list]]:
    """The traces at ``paths``, each read and checked (TraceError names a bad one)."""
    from concviz.engine.events import read_trace
    from concviz.stack import MAX_STACK

    if len(paths) > MAX_STACK:
        raise SpecError(f"{len(paths)} traces: at most {MAX_STACK} stack on one time axis")
    return [read_trace(path) for path in paths]


def cmd_replay(args: argparse.Namespace) -> int:
    """``concviz replay FILE``: a recorded run played back on the live screen."""
    if not args.speed > 0:
        raise SpecError(f"speed must be more than 0, got {args.speed:g}")
    (trace,) = read_traces([args.trace])
    from concviz.app import run_app

    return run_app(replay=trace, speed=args.speed, theme=args.theme)


def cmd_stack(args: argparse.Namespace) -> int:
    """``concviz stack FILE...``: recorded runs stacked on one time axis."""
    traces = read_traces(args.traces)
    from concviz.app import run_app

    return run_app(stack=traces, theme=args.theme)


def load_deck(path: str | None):
    """The deck at ``path`` (the built-in one for None), read and checked: a DeckError lists
    every problem."""
    from concviz.talk.deck import default_deck, read_deck

    return read_deck(path) if path else default_deck()


def cmd_talk(args: argparse.Namespace) -> int:
    """``concviz talk [DECK]``: give a deck; ``--write-default FILE``: write the built-in one."""
    from concviz.talk.scene import DeckError

    if args.write_default:
        from concviz.talk.deck import write_default

        if args.deck:
            raise UsageError("--write-default writes the built-in deck: give it no DECK")
        check_writable(args.write_default)
        try:
            write_default(args.write_default)
        except FileExistsError:
            raise SpecError(f"{args.write_default} exists: give a new file (it is left as it was)") from None
        print(f"wrote {args.write_default}: edit it, then concviz talk {args.write_default}")
        return 0
    try:
        deck = load_deck(args.deck)
    except DeckError as exc:
        for problem in exc.problems:  # one line each, as a compiler says it: file:line: what
            print(problem, file=sys.stderr)
        return 2
    if not 1 <= args.scene <= len(deck.scenes):
        raise SpecError(f"scene must be 1 to {len(deck.scenes)} (the deck's scenes), got {args.scene}")
    from concviz.talk.screen import run_talk

    return run_talk(deck, theme=args.theme, scene=args.scene - 1)


