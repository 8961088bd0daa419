"""The terminal view of a guided enrolment: the cue, its countdown and the session's progress.

A deliberate terminal view (it writes to ``out``, stdout by default): on a TTY a few lines redrawn in place
REDRAW_HZ times a second, otherwise one log line per cue, so a log file gets the session's story without
the redraws. :class:`Status` is what any view of a session reads (the window's panel too).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from myosem_rt.profile.cues import Cue

log = logging.getLogger(__name__)

#: Redraws of the terminal view per second (TTY).
REDRAW_HZ = 10.0


@dataclass
class Status:
    """One snapshot for the view."""

    cue: Cue | None
    n_cues: int
    t: float  #: stream seconds since the first sample
    progress: float  #: 0..1 over the whole session
    left_s: float | None  #: session seconds left (None with markers)
    samples: int
    gaps: int
    waiting: str = ""  #: shown before the first sample


class EnrolView:
    """Countdown, cue, progress over the session, samples and gaps: a few lines redrawn in place on a TTY,
    one log line per cue otherwise (a deliberate terminal view: it writes to ``out``, stdout by default)."""

    def __init__(self, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = bool(self.out.isatty()) if tty is None else tty
        self._drawn = 0
        self._next = 0.0
        self._cue_key: tuple[int, str] | None = None

    def update(self, s: Status, force: bool = False) -> None:
        key = None if s.cue is None else (s.cue.index, s.cue.phase)
        changed = key != self._cue_key
        self._cue_key = key
        if not self.tty:
            if changed and s.cue is not None:
                c = s.cue
                if c.end_s is None:  # markers: no cue numbers, the count of finished trials instead
                    where = f"{round(s.progress * s.n_cues)} of {s.n_cues} trials done"
                    log.info("repetition %d: %s  [%s, %d samples, %d gap(s)]", c.repetition, c.text, where,
                             s.samples, s.gaps)
                else:
                    log.info("cue %d/%d, repetition %d: %s (%g s)  [%d samples, %d gap(s)]", c.index + 1,
                             s.n_cues, c.repetition, c.text, c.end_s - c.start_s, s.samples, s.gaps)
            return
        now = time.monotonic()
        if not (force or changed or now >= self._next):
            return
        self._next = now + 1.0 / REDRAW_HZ
        self._draw(self._lines(s))

    def _lines(self, s: Status) -> list[str]:
        from tqdm import tqdm

        width = max(40, shutil.get_terminal_size((100, 20)).columns - 1)
        c = s.cue
        if c is None:
            first = s.waiting or "session over"
            second = ""
        else:
            first = "HOLD" + c.text[4:] if c.phase == "hold" else c.text
            if c.end_s is None:
                done = round(s.progress * s.n_cues)
                second = (f"   {s.t - c.start_s:5.1f} s   repetition {c.repetition}   {done} of {s.n_cues} "
                          "trials done")
            else:
                left = max(c.end_s - s.t, 0.0)
                span = max(c.end_s - c.start_s, 1e-9)
                bar = tqdm.format_meter(min(s.t - c.start_s, span), span, 0, ncols=24, bar_format="{bar}")
                count = f"in {left:4.1f} s" if c.phase == "ready" else f"{left:4.1f} s left"
                second = (f"   |{bar}| {count}   repetition {c.repetition}   cue {c.index + 1} of "
                          f"{s.n_cues}")
        bar = tqdm.format_meter(round(100 * s.progress), 100, 0, ncols=24, bar_format="{bar}")
        left = "" if s.left_s is None else f"  {s.left_s:5.0f} s left"
        third = f"session |{bar}| {100 * s.progress:3.0f}%{left}   {s.samples} samples   gaps {s.gaps}"
        return [line[:width] for line in (first, second, third)]

    def _draw(self, lines: list[str]) -> None:
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def close(self, s: Status | None = None) -> None:
        if self.tty and s is not None:
            self._draw(self._lines(s))

