"""The code pane: the model's runnable snippet from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from concviz.engine.models import ModelInfo


class CodePane(VerticalScroll):
    """Shows the snippet of one model, with its one-paragraph explanation."""

    DEFAULT_CSS = "CodePane { height: 1fr; } CodePane > Static { width: auto; }"

    def compose(self):
        yield Static(id="code-text")

    def show_model(self, info: ModelInfo) -> None:
        """Show the snippet of the model ``info`` describes (a registry entry)."""
        self.border_title = f"{info.title}: runnable as is"
        # Textual's highlighter takes its colours from the theme, like the rest of the app
        # (imported on first use: it loads a lexer that start-up does not need)
        from textual.highlight import highlight

        self.query_one("#code-text", Static).update(highlight(info.snippet, language="python"))
        self.border_subtitle = "c closes"
