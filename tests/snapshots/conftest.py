"""Snapshot tests replay recorded traces: the live pump and the frame timer are off, so the
picture depends only on the trace, the terminal size and the keys pressed."""

from __future__ import annotations

from pathlib import Path

import pytest

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace

FIXTURES = Path(__file__).parent.parent / "fixtures"


def replay_app(name: str) -> ConcvizApp:
    """The app showing the whole of ``tests/fixtures/NAME.jsonl`` at once."""
    header, events = read_trace(FIXTURES / f"{name}.jsonl")
    return ConcvizApp(replay=(header, events), instant=True, live_ticks=False)


@pytest.fixture
def replay():
    return replay_app
