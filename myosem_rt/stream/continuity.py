"""Where a stream's timestamps break: lost samples or a clock that went back, told apart from jitter.

Why adaptive: with a fixed tolerance of 100 ms, 20 or 50 lost samples at 1 kHz went unreported and windows
ran across the hole (``myosem bench fault``), yet a Bluetooth armband whose chunks are stamped on arrival
jitters by tens of milliseconds, which a tight fixed tolerance would call a gap at every chunk. So the
tolerance follows the source: it starts at :data:`MAX_TOLERANCE_S` (nothing is known yet) and then sits at
:data:`JITTER_FACTOR` times the largest timestamp jitter seen recently (a peak that decays with time
constant :data:`JITTER_MEMORY_S`, so one spike keeps the tolerance up for a while), never below
:data:`MIN_TOLERANCE_SAMPLES` sample periods. Only steps that were not breaks feed the peak, so a reported
hole never makes the next one harder to see. A source with exact stamps (a replay, most wired amplifiers)
reaches the floor within about 8 s and a hole of 3 samples is then reported; a jittery one keeps the
tolerance its jitter needs (a false break needs a step 3x beyond the worst jitter of the last seconds).
"""

from __future__ import annotations

import math

import numpy as np

MAX_TOLERANCE_S = 0.1  #: the tolerance at the start, and its ceiling
MIN_TOLERANCE_SAMPLES = 2.5  #: the floor, in sample periods
JITTER_FACTOR = 3.0  #: tolerance = this x the recent peak jitter
JITTER_MEMORY_S = 2.0  #: time constant of the peak jitter's decay (stream time)


class GapDetector:
    """Timestamp continuity of one stream at ``fs`` Hz, chunk by chunk (module docstring)."""

    def __init__(self, fs: float) -> None:
        self.step = 1.0 / float(fs)
        self.floor = min(MIN_TOLERANCE_SAMPLES * self.step, MAX_TOLERANCE_S)
        self.peak = MAX_TOLERANCE_S / JITTER_FACTOR  # recent peak |step - 1/fs|, seconds

    @property
    def tolerance_s(self) -> float:
        """A step more than this beyond one sample period, or back by more than this, is a break."""
        return min(max(JITTER_FACTOR * self.peak, self.floor), MAX_TOLERANCE_S)

    def breaks(self, ts: np.ndarray, previous: float | None) -> np.ndarray:
        """Indices into ``ts`` where a new segment starts (0: between ``previous``, the last timestamp of
        the chunk before, and ``ts[0]``); the jitter of the steps that are not breaks updates the
        tolerance for the next chunk."""
        if previous is None:
            d, offset = np.diff(ts), 1
        else:
            d, offset = np.diff(ts, prepend=previous), 0
        if not len(d):
            return np.zeros(0, dtype=np.int64)
        tol = self.tolerance_s
        broken = (d > self.step + tol) | (d < -tol)
        calm = np.abs(d[~broken] - self.step)
        if len(calm):
            elapsed = float(ts[-1] - ts[0]) + (0.0 if previous is None else float(ts[0]) - previous)
            decay = math.exp(-max(elapsed, 0.0) / JITTER_MEMORY_S)
            self.peak = max(float(calm.max()), self.peak * decay)
        return np.flatnonzero(broken) + offset
