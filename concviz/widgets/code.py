"""The code pane: the model's runnable snippet from the registry."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.content import Content

    from concviz.engine.models import ModelInfo

WARM_AFTER_S = 0.5  # after mounting, the highlighter is loaded in the background


@lru_cache(maxsize=None)
def highlighted(snippet: str) -> Content:
    """``snippet`` highlighted as Python (Textual's highlighter takes its colours from the theme
    when drawn, so one highlighting serves every theme)."""
    # imported on first use: it loads a lexer that start-up does not need
    from textual.highlight import highlight

    return highlight(snippet, language="python")


class CodePane(VerticalScroll):
    """Shows the snippet of one model, with its one-paragraph explanation."""

    DEFAULT_CSS = "CodePane { height: 1fr; } CodePane > Static { width: auto; }"

    _shown: str | None = None  # the snippet in the pane

    def compose(self):
        yield Static(id="code-text")

    def on_mount(self) -> None:
        # The first highlighting imports the highlighter and compiles the lexer's patterns,
        # tens of milliseconds that would otherwise delay the first c (during a run too): done
        # once the first screen is up, in a thread, so that no key waits for it.
        self.set_timer(WARM_AFTER_S, lambda: threading.Thread(
            target=highlighted, args=("import threading\n",), name="concviz-warm-highlighter", daemon=True).start())

    def show_model(self, info: ModelInfo) -> None:
        """Show the snippet of the model ``info`` describes (a registry entry)."""
        self.border_title = f"{info.title}: runnable as is"
        self.border_subtitle = "c closes"
        if info.snippet != self._shown:  # (an update lays the text out again, pane reopened or not)
            self._shown = info.snippet
            self.query_one("#code-text", Static).update(highlighted(info.snippet))
