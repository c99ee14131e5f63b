"""Themes: Textual's own, and a high-contrast one for a projector and the back of a room.

Whatever the theme, the four states of a lane stay apart twice over: by colour (running
$success, waiting for the GIL $error, waiting for a CPU $warning, sleeping $primary, four
different colours in every theme offered) and by glyph (block, ▒, ░, ·), which is all a
monochrome terminal or NO_COLOR shows.
"""

from __future__ import annotations

from textual.app import App
from textual.theme import BUILTIN_THEMES, Theme

from concviz.engine.spec import SpecError, suggest

# Pure black and white, and state colours chosen to stay apart on a washed-out projector:
# green runs, red waits for the GIL, yellow waits for a CPU, cyan sleeps.
HIGH_CONTRAST = Theme(
    name="high-contrast",
    dark=True,
    background="#000000",
    surface="#000000",
    panel="#303030",
    foreground="#FFFFFF",
    primary="#00C8FF",
    secondary="#B4A0FF",
    accent="#FF6BFF",
    success="#00E65C",
    error="#FF3B3B",
    warning="#FFD500",
    variables={"text-muted": "#DADADA"},
)
THEMES = (*BUILTIN_THEMES, HIGH_CONTRAST.name)


def check_theme(name: str) -> str:
    """``name`` if it is a theme concviz offers, else a SpecError saying which there are."""
    if name not in THEMES:
        raise SpecError(f"unknown theme {name!r}{suggest(name, THEMES)}")
    return name


def use_theme(app: App, name: str | None) -> None:
    """Offer concviz's own themes in ``app`` (the palette lists them too) and switch to
    ``name``, when given."""
    app.register_theme(HIGH_CONTRAST)
    if name:
        app.theme = check_theme(name)
