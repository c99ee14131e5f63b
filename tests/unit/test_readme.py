"""Every ``concviz`` command the README shows runs as shown.

The commands are read from the README itself (its ``sh`` and ``console`` blocks and its inline
code), so a command added there is checked here without a line of this file changing; a form
this file does not know fails the test. Placeholders (MODEL, FILE.jsonl, PATH...) get real
values. The headless commands run for real, sized down where the README's size would take
long; the commands that open a screen (the TUI, replay, stack, talk, a browser tab) are checked
the way ``concviz serve`` checks a tab before serving it: every option and every file they name,
without drawing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from concviz import cli, cli_args
from concviz.cli_screens import check_screen_args

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIXTURES = ROOT / "tests" / "fixtures"
# commands that open a screen: checked, not drawn
SCREENS = (None, "replay", "stack", "talk")
# not commands but names in a sentence; and the refusal the README quotes (tested below)
MENTIONS = ("concviz trace", "concviz run -m processes -n 100")
# what a command sized down for the test adds to its own flags (the later flag wins)
SMALLER = {
    "run": ["--scale", "0.05"],
    "compare": ["--scale", "0.05", "-n", "2", "--rounds", "1"],
}


def readme_commands() -> list[str]:
    """The concviz command lines the README shows, in order, each once."""
    text = README.read_text(encoding="utf-8")
    found = []
    for lang, block in re.findall(r"```(sh|console)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if lang == "console" and not line.startswith("$ "):
                continue  # what the command printed
            line = line.removeprefix("$ ").split("#")[0].strip()
            if line.startswith("concviz ") or line == "concviz":
                found.append(line)
            elif ".venv/bin/concviz" in line:  # the install line: it opens the TUI
                found.append("concviz" + line.split(".venv/bin/concviz", 1)[1])
    for span in re.findall(r"`(concviz(?:\s[^`]*)?)`", text):
        found.append(" ".join(span.split()))  # an inline span may break across lines
    return list(dict.fromkeys(found))


def real(line: str, tmp_path: Path) -> list[str]:
    """``line`` with its placeholders given real values, split as a shell would."""
    trace = str(FIXTURES / "threads-cpu.jsonl")
    values = {
        "MODEL": "threads", "WORKLOAD": "cpu", "TASKS": "2",
        "FILE.jsonl": trace, "A.jsonl": trace, "B.jsonl": str(FIXTURES / "processes-cpu.jsonl"),
        "FILE.json": str(tmp_path / "out.json"), "my-talk.toml": str(tmp_path / "my-talk.toml"),
        "PATH/TO/python3.12": sys.executable, "PATH/TO/python3.13": sys.executable, "PATH": sys.executable,
        "tcp://HOST:8786": "tcp://127.0.0.1:9",  # nothing answers there
        "PID": str(os.getpid()),
        "python my_program.py": f"{sys.executable} {ROOT / 'examples' / 'cpu_threads.py'} 0.3",
    }
    for name in sorted(values, key=len, reverse=True):  # PATH/TO/... before PATH
        line = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w/.-])", values[name], line)
    return shlex.split(line)[1:]


def check(line: str, tmp_path: Path, capsys) -> None:
    """Run (or, for a screen, check) one README command; fail naming it if it does not work."""
    argv = real(line, tmp_path)
    if argv[:1] == ["serve"]:  # serve's own options, then a tab's after "--"
        check_screen_args(argv[argv.index("--") + 1:] if "--" in argv else [])
        return
    args = cli_args.parse(argv)
    if args.command == "talk" and args.write_default:
        assert cli.main(argv) == 0, line
        assert Path(args.write_default).is_file(), line
    elif args.command in SCREENS:
        if getattr(args, "scheduler", None):
            # a real cluster: an address that does not answer is refused in one line
            with pytest.raises(cli.SpecError, match="cannot reach the Dask scheduler"):
                check_screen_args(argv)
            return
        check_screen_args(argv)
    elif args.command == "attach":
        from concviz.cli_trace import make_trace

        make_trace(args)  # the form and the PID check out; watching a program is test_procfs's
    elif args.command == "advise":
        # the whole advise takes minutes: its slowest case, once (test_advise measures it for real)
        assert cli.main([*argv, "--cases", "net-slow", "--rounds", "1", "--json"]) == 0, line
        assert json.loads(capsys.readouterr().out)["cases"], line
    elif args.command == "trace":
        assert cli.main(["trace", "--json", *argv[1:]]) == 0, line
        out = json.loads(capsys.readouterr().out)
        assert out["threads"] >= 4 and out["trace"]["exit_code"] == 0, line  # the example's four threads
    else:
        assert cli.main([*argv, *SMALLER.get(args.command, [])]) == 0, line
        assert capsys.readouterr().out.strip(), line


def kind(line: str) -> str | None:
    """Which command a README line is (None: the TUI)."""
    argv = real(line, Path("/nowhere"))
    return "serve" if argv[:1] == ["serve"] else cli_args.parse(argv).command


def test_the_readme_shows_the_commands_this_test_knows():
    kinds = {kind(line) for line in readme_commands()}
    # a change to the README that drops a kind of command, or this reader that stops finding
    # them, is seen here
    assert kinds >= {None, "run", "compare", "advise", "export", "replay", "stack", "talk", "doctor",
                     "trace", "attach", "serve"}, kinds


@pytest.mark.parametrize("line", [line for line in readme_commands() if line not in MENTIONS])
def test_a_readme_command_runs_as_shown(line, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a command writes stays in the test's folder
    if "my-talk.toml" in line and "--write-default" not in line:  # the README writes it first
        assert cli.main(["talk", "--write-default", str(tmp_path / "my-talk.toml")]) == 0
    capsys.readouterr()
    check(line, tmp_path, capsys)


def test_the_readmes_refused_command_says_what_the_readme_quotes(capsys):
    text = " ".join(README.read_text(encoding="utf-8").split())
    quoted = re.search(r"`concviz run -m processes -n 100`: `([^`]*)`", text)
    assert quoted, "the README no longer quotes the refusal"
    assert cli.main(["run", "-m", "processes", "-n", "100"]) == 2
    assert capsys.readouterr().err.strip() == quoted.group(1)
