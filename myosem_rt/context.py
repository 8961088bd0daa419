"""Activity context: describe what the hand did in the last second, not only in the last 200 ms.

Why: a MyoDisCo trial cues a dynamic gesture (double tap, snap, finger gun) for about 2 s, but the gesture
itself fills about 0.5 s of it; between and after the bursts the forearm is at rest. A window-by-window
ranking therefore says "rest" for most of a snap's trial (on MyoDisCo subject 11, 55 % of the gesture
windows show no activity above half way to the trial's plateau, by :mod:`myosem_rt.profile.labels`' rule),
and no per-window method can do much better than the share of windows whose activity shows the cue. What
the wearer means by "what my hand does" is the burst. So the score vector of a hop is pooled over the last
``hops`` hops, each weighed by its muscle activity::

    pooled_t = sum_j w_j s_j / sum_j w_j,   w_j = exp(beta * (a_j - max a)),   j = t - hops .. t

with ``a`` the window activity of :func:`myosem_rt.profile.labels.window_activity` (mean over channels of
log MAV: the enrolment's activity rule, one definition). ``beta`` 0 is a plain mean of the last scores;
a large ``beta`` takes the scores of the most active window of the span. The rule is causal (the live
engine applies it per hop before smoothing), and ``hops`` 0 is the plain per-window ranking.

The span and ``beta`` belong to the model (``manifest.json`` key ``context``): they are chosen on the
model's *training* recordings by :mod:`train.context_choice` (a 3DC model of static holds chooses none),
never on the subjects it is evaluated on. :func:`pool_recording` is the offline form used by
``myosem eval``: the same rule over one recording's windows in time order, restarting after a break in the
windows longer than the span (as the live engine restarts with a new stream segment).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ContextSpec:
    """How many past hops a hop's scores are pooled over, and how sharply activity weighs them."""

    hops: int  #: past hops pooled with the current one (0: off)
    beta: float  #: activity weight (per log-MAV unit); 0 = plain mean

    def __post_init__(self) -> None:
        if not isinstance(self.hops, int) or isinstance(self.hops, bool) or self.hops < 0:
            raise ValueError(f"context hops must be an integer >= 0, got {self.hops!r}")
        if not np.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"context beta must be a finite number >= 0, got {self.beta!r}")

    @property
    def active(self) -> bool:
        return self.hops > 0

    def describe(self, hop_ms: float) -> str:
        """For figures and logs: ``last 1.05 s (21 hops), activity-weighted (beta 5)``."""
        if not self.active:
            return "per window (no context)"
        span = (self.hops + 1) * hop_ms / 1000.0
        return f"last {span:g} s ({self.hops + 1} hops), activity-weighted (beta {self.beta:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"hops": self.hops, "beta": self.beta}

    @classmethod
    def from_manifest(cls, value: Any) -> ContextSpec | None:
        """The manifest's ``context`` entry (absent, null or 0 hops: none); ValueError says what is wrong."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ValueError(f"'context' must be an object with hops and beta, got {value!r}")
        try:
            spec = cls(value["hops"], float(value["beta"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad 'context' entry {dict(value)!r} ({exc})") from None
        return spec if spec.active else None


def _weights(activity: np.ndarray, beta: float, axis: int = -1) -> np.ndarray:
    a = np.asarray(activity, dtype=np.float64)
    return np.exp(beta * (a - a.max(axis=axis, keepdims=True)))


class ActivityContext:
    """The streaming rule: feed each hop's scores and window activity, get the pooled scores back."""

    def __init__(self, spec: ContextSpec) -> None:
        self.spec = spec
        self._scores: deque[np.ndarray] = deque(maxlen=spec.hops + 1)
        self._activity: deque[float] = deque(maxlen=spec.hops + 1)

    def reset(self) -> None:
        """Forget the past hops (a new stream segment, or a changed set of candidates)."""
        self._scores.clear()
        self._activity.clear()

    def push(self, scores: np.ndarray, activity: float) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self._scores and self._scores[-1].shape != scores.shape:
            self.reset()  # the candidates changed (a typed description added): the past scores do not fit
        self._scores.append(scores)
        self._activity.append(float(activity))
        w = _weights(np.fromiter(self._activity, dtype=np.float64), self.spec.beta)
        return (w @ np.stack(self._scores)) / w.sum()


def pool_recording(scores: np.ndarray, activity: np.ndarray, start: np.ndarray, hop: int,
                   spec: ContextSpec) -> np.ndarray:
    """The rule over one recording's windows: ``scores`` (N, K), ``activity`` (N,), ``start`` (N,) first
    samples, in any order; returns the pooled (N, K) in the input order. Equal to feeding
    :class:`ActivityContext` the windows in time order, restarting after a break of more than the span."""
    scores = np.asarray(scores, dtype=np.float64)
    if not spec.active or len(scores) == 0:
        return scores.copy()
    order = np.argsort(np.asarray(start), kind="stable")
    s, a, st = scores[order], np.asarray(activity, dtype=np.float64)[order], np.asarray(start)[order]
    out = np.empty_like(s)
    breaks = np.flatnonzero(np.diff(st) > spec.hops * hop) + 1
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(s)], strict=True):
        seg_s, seg_a, k = s[lo:hi], a[lo:hi], spec.hops + 1
        # the first windows of a segment pool over fewer hops: their missing past is padding of weight 0
        pad_a = np.r_[np.full(k - 1, np.nan), seg_a]
        pad_s = np.vstack([np.zeros((k - 1, s.shape[1])), seg_s])
        wa = np.lib.stride_tricks.sliding_window_view(pad_a, k)  # (n, k) activity of each span
        ws = np.lib.stride_tricks.sliding_window_view(pad_s, k, axis=0)  # (n, K, k) scores of each span
        valid = ~np.isnan(wa)
        filled = np.where(valid, wa, np.nanmax(wa, axis=1, keepdims=True))  # padding weighed 0 just below
        w = np.where(valid, _weights(filled, spec.beta, axis=1), 0.0)
        out[lo:hi] = np.einsum("nk,nck->nc", w, ws) / w.sum(axis=1, keepdims=True)
    pooled = np.empty_like(out)
    pooled[order] = out
    return pooled
