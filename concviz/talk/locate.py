"""Line numbers for the values of a TOML deck.

TOML parsers give a line number only for a syntax error, not for where a value was written. This
module finds it in the text: it marks what is code (outside strings and comments), splits the
file into its tables (``[[scene]]``, ``[[scene.run]]``, ``[scene.prediction]``), and finds a key
in its table, or in the n-th inline table of a key's value (``run = [{...}, {...}]``). A key it
cannot find is reported at the line of the table that holds it, never at a wrong key.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([A-Za-z0-9_.\- \t\"']+?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.M)


@dataclass(frozen=True)
class Section:
    """One table of the file: its dotted name, which [[scene]] it belongs to, and its text span."""

    name: str  # "" for the keys before the first header
    scene: int | None  # index of the enclosing [[scene]], None before the first one
    start: int  # offset of the header (or 0)
    end: int  # offset of the next header (or the end of the text)


def _code_mask(text: str) -> bytearray:
    """1 for each character outside strings and comments."""
    mask = bytearray(len(text))
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif ch in "\"'":
            triple = text.startswith(ch * 3, i)
            quote = ch * 3 if triple else ch
            j = i + len(quote)
            while j < n:
                if ch == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    j += len(quote)
                    break
                if not triple and text[j] == "\n":
                    break
                j += 1
            i = j
        else:
            mask[i] = 1
            i += 1
    return mask


class Locator:
    """Where things are in a deck's text (lines are 1-based)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.code = _code_mask(text)
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self.sections: list[Section] = []
        heads = [m for m in _HEADER.finditer(text) if self.code[m.start(1)]]
        starts = [(0, "")] + [(m.start(1), re.sub(r"[ \t\"']", "", m.group(2))) for m in heads]
        scene = None
        for k, (start, name) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
            if name == "scene":
                scene = 0 if scene is None else scene + 1
            self.sections.append(Section(name, scene if name.startswith("scene") else None, start, end))

    def line_of(self, offset: int) -> int:
        """The line holding the character at ``offset``."""
        return bisect_right(self._newlines, offset - 1) + 1

    def section(self, scene: int | None, name: str, nth: int = 0) -> Section | None:
        """The ``nth`` table called ``name`` in scene ``scene`` (or at the top: scene None)."""
        found = [s for s in self.sections if s.name == name and s.scene == scene]
        return found[nth] if nth < len(found) else None

    def scene_line(self, scene: int) -> int:
        """The line of the ``scene``-th ``[[scene]]`` header (1 if there is none)."""
        found = self.section(scene, "scene")
        return self.line_of(found.start) if found else 1

    def _key_at(self, key: str, start: int, end: int, top_level: bool) -> int | None:
        """Offset of ``key =`` between start and end (at a line's start if ``top_level``)."""
        pattern = (r"^[ \t]*" if top_level else r"(?:^|[{,])[ \t]*") + rf"(\"?){re.escape(key)}\1[ \t]*="
        for m in re.finditer(pattern, self.text[start:end], re.M):
            at = start + m.end() - 1  # the "=", which is code wherever the key is
            if self.code[at]:
                return start + m.start()
        return None

    def key_line(self, scene: int | None, name: str, key: str | None = None, nth: int = 0) -> int:
        """The line of ``key`` in the ``nth`` table ``name`` of a scene (its header's line when
        the key is not written there; with no ``key``, the header's line)."""
        section = self.section(scene, name, nth)
        if section is None:
            return self.scene_line(scene) if scene is not None else 1
        if key is not None:
            at = self._key_at(key, section.start, section.end, top_level=True)
            if at is not None:
                return self.line_of(at)
        return self.line_of(section.start) if section.name else 1

    def item_line(self, scene: int | None, name: str, key: str, item: int, subkey: str | None = None) -> int:
        """The line of the ``item``-th inline table of ``key``'s value (``key = [{...}, {...}]``),
        or of ``subkey`` inside it; falls back to the line of ``key``."""
        section = self.section(scene, name)
        fallback = self.key_line(scene, name, key)
        if section is None:
            return fallback
        at = self._key_at(key, section.start, section.end, top_level=True)
        if at is None:
            return fallback
        depth, count, i = 0, -1, self.text.index("=", at) + 1
        while i < section.end:
            ch = self.text[i]
            if self.code[i]:
                if ch == "{":
                    depth += 1
                    if depth == 1:
                        count += 1
                        if count == item:
                            close = self._close(i, section.end)
                            if subkey is not None:
                                sub = self._key_at(subkey, i, close, top_level=False)
                                if sub is not None:
                                    return self.line_of(sub)
                            return self.line_of(i)
                elif ch == "}":
                    depth -= 1
                elif ch == "\n" and depth == 0 and not self._continues(at, i):
                    break
            i += 1
        return fallback

    def _close(self, open_at: int, end: int) -> int:
        depth = 0
        for i in range(open_at, end):
            if self.code[i] and self.text[i] in "{}":
                depth += 1 if self.text[i] == "{" else -1
                if depth == 0:
                    return i
        return end

    def _continues(self, key_at: int, newline: int) -> bool:
        """True while the value that starts at ``key_at`` has an array still open at ``newline``."""
        opened = sum(1 for i in range(key_at, newline) if self.code[i] and self.text[i] == "[")
        closed = sum(1 for i in range(key_at, newline) if self.code[i] and self.text[i] == "]")
        return opened > closed

    def find_text(self, needle: str, from_line: int) -> int | None:
        """The first line at or after ``from_line`` where ``needle`` is written (placeholders in
        a multi-line takeaway)."""
        start = 0 if from_line <= 1 else self._newlines[min(from_line - 2, len(self._newlines) - 1)] + 1
        at = self.text.find(needle, start)
        return None if at < 0 else self.line_of(at)
