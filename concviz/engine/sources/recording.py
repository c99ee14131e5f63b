"""Recordings of ``/proc``: what every read of a real sweep returned, to replay it in tests.

:class:`RecordingFS` wraps the live ``/proc`` and writes, per sweep, the clock, every listing
and every read (its bytes, or the error it raised). :class:`RecordedFS` serves those answers
back, sweep by sweep, so the very same reader and tracer code runs on a recorded program: a
thread that vanished between two reads while recording vanishes again in the replay.

File: gzip-compressed JSON lines; a header object (``procfs_recording``: version, the program,
the machine), then one object per sweep: ``{"t": ns, "ls": {path: [names] | errno name},
"rd": {path: [t_ns | null, text] | errno name}}``. Text is latin-1 (bytes kept as they were).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from concviz.engine.sources.livefs import LiveFS

VERSION = 1


class RecordingFS:
    """The live ``/proc``, writing down everything read; call :meth:`next_sweep` before each
    sweep and :meth:`save` at the end."""

    def __init__(self, live: LiveFS | None = None) -> None:
        self.live = live or LiveFS()
        self.sweeps: list[dict[str, Any]] = []
        self._cur: dict[str, Any] | None = None

    def next_sweep(self) -> None:
        self._cur = {"t": None, "ls": {}, "rd": {}}
        self.sweeps.append(self._cur)

    def clock(self) -> int:
        t = self.live.clock()
        if self._cur["t"] is None:
            self._cur["t"] = t
        else:
            self._cur["end"] = t
        return t

    def _rd(self, path: str, fn, stamped: bool = False) -> Any:
        try:
            out = fn(path)
        except OSError as exc:
            self._cur["rd"][path] = errno.errorcode.get(exc.errno or 0, "EIO")
            raise
        t, data = out if stamped else (None, out)
        self._cur["rd"][path] = [t, data.decode("latin-1")]
        return out

    def read(self, path: str) -> bytes:
        return self._rd(path, self.live.read)

    def read_stamped(self, path: str) -> tuple[int, bytes]:
        return self._rd(path, self.live.read_stamped, stamped=True)

    def read_whole(self, path: str) -> bytes:
        return self._rd(path, self.live.read_whole)

    def listdir(self, path: str) -> list[str]:
        try:
            names = self.live.listdir(path)
        except OSError as exc:
            self._cur["ls"][path] = errno.errorcode.get(exc.errno or 0, "EIO")
            raise
        if path == "/proc":  # only the PIDs matter, and /proc holds a hundred other names
            names = [n for n in names if n.isdigit()]
        self._cur["ls"][path] = names
        return names

    def forget(self, prefix: str) -> None:
        self.live.forget(prefix)

    def save(self, path: str | Path, header: dict[str, Any]) -> None:
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(json.dumps({"procfs_recording": VERSION, **header}) + "\n")
            for sweep in self.sweeps:
                out.write(json.dumps(sweep, separators=(",", ":")) + "\n")


class NotRecorded(LookupError):
    """The code under test read something the recording does not hold (re-record it)."""


class RecordedFS:
    """Serves a recording back. :meth:`next_sweep` moves to the next recorded sweep.

    A read that the current sweep does not hold is looked for in earlier sweeps for whole-file
    reads (a memory map is read once, whenever a rule first needs it); a read of a thread the
    sweep's listing of its process did not hold fails as it would have (ENOENT); anything else
    raises :class:`NotRecorded`.
    """

    def __init__(self, header: dict[str, Any], sweeps: list[dict[str, Any]]) -> None:
        self.header = header
        self.sweeps = sweeps
        self.index = -1

    @classmethod
    def load(cls, path: str | Path) -> "RecordedFS":
        with gzip.open(path, "rt", encoding="utf-8") as src:
            lines = src.read().splitlines()
        header = json.loads(lines[0])
        if header.get("procfs_recording") != VERSION:
            raise ValueError(f"not a procfs recording (version {VERSION}): {path}")
        return cls(header, [json.loads(line) for line in lines[1:] if line.strip()])

    def __len__(self) -> int:
        return len(self.sweeps)

    @property
    def current(self) -> dict[str, Any]:
        return self.sweeps[self.index]

    def next_sweep(self) -> bool:
        """Move to the next sweep; False when there is none."""
        if self.index + 1 >= len(self.sweeps):
            return False
        self.index += 1
        self._clock_calls = 0
        return True

    def clock(self) -> int:
        cur = self.current
        self._clock_calls += 1
        return cur["t"] if self._clock_calls == 1 else cur.get("end", cur["t"])

    def _answer(self, table: str, path: str, search_back: bool = False) -> Any:
        answer = self.current[table].get(path)
        if answer is None and search_back:
            for sweep in reversed(self.sweeps[:self.index]):
                answer = sweep[table].get(path)
                if answer is not None:
                    break
        if answer is None and table == "rd" and self._unlisted(path):
            answer = "ENOENT"  # a thread this sweep's listing had not: it was gone
        if answer is None:
            raise NotRecorded(f"sweep {self.index} of the recording has no {table} of {path}")
        if isinstance(answer, str):
            code = getattr(errno, answer, errno.EIO)
            raise OSError(code, os.strerror(code), path)
        return answer

    def _unlisted(self, path: str) -> bool:
        parts = path.split("/")  # "", "proc", pid, "task", tid, leaf
        if len(parts) != 6 or parts[3] != "task":
            return False
        names = self.current["ls"].get(f"/proc/{parts[2]}/task/")
        return isinstance(names, str) or (isinstance(names, list) and parts[4] not in names)

    def read(self, path: str) -> bytes:
        return self._answer("rd", path)[1].encode("latin-1")

    def read_stamped(self, path: str) -> tuple[int, bytes]:
        t, text = self._answer("rd", path)
        return t, text.encode("latin-1")

    def read_whole(self, path: str) -> bytes:
        return self._answer("rd", path, search_back=True)[1].encode("latin-1")

    def listdir(self, path: str) -> list[str]:
        return list(self._answer("ls", path))

    def forget(self, prefix: str) -> None:
        pass


class Replay(NamedTuple):
    """A recording run through the reader and the tracker, as a live trace would have been."""

    header: dict[str, Any]
    sweeps: list
    batches: list

    @property
    def events(self) -> list[tuple]:
        return [e for b in self.batches for e in b.events]

    @property
    def spans(self) -> list:
        return [s for b in self.batches for s in b.spans]


def replay(path: str | Path, *, attach: bool = False, full: bool = False,
           maps: bool = True) -> Replay:
    """Run a recording through :class:`ProcReader` and :class:`Tracker`.

    Args:
        attach: as ``attach`` would (the first sweep a baseline), not as ``trace``.
        full: read every file every sweep, as the recorder did.
        maps: let the GIL rule read memory maps (False: as if they could not be read).
    """
    from concviz.engine.sources.procfs import Clock, ProcReader
    from concviz.engine.sources.tracer import Tracker

    fs = RecordedFS.load(path)
    h = fs.header
    fs.next_sweep()
    reader = ProcReader(h["root_pid"], fs, group=True, full=full)
    tracker = Tracker(None if attach else h["spawn_ns"], arch=h["arch"],
                      maps=reader.maps if maps else None, clock=Clock(**h["clock"]))
    sweeps, batches = [], []
    while True:
        sweep = reader.sweep()
        sweeps.append(sweep)
        batches.append(tracker.feed(sweep))
        if not fs.next_sweep():
            break
    batches.append(tracker.close())
    return Replay(h, sweeps, batches)
