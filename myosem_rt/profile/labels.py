"""Which enrolment windows hold the cued gesture: labels from the cue *and* from muscle activity.

Why: people react late to a cue and let go early, so the first and last few hundred milliseconds of a
"hold <gesture>" cue are often rest (or a transition) carrying the gesture's label. Fitting the user's
classifier on them blurs every class toward rest. The rule, the same for a live guided session and for
``myosem enrol --recording``:

* the activity of a window is the mean over channels of ``log(MAV)`` (mean absolute value of the filtered
  window): a log scale, so it is comparable across electrodes whose gains differ by orders of magnitude;
* the user's rest level ``r0`` is the median activity of the rest-class windows (class id 0) of the
  enrolment, or, when no rest was recorded, the 10th percentile of all enrolment windows;
* every gesture trial (one class, one repetition) has a plateau ``p``: the 90th percentile of its windows'
  activity (not the median: a dynamic gesture such as a snap fills 0.5 s of a 2 s cue, so most of its
  windows are rest). A window of the trial is kept when its activity is at least ``r0 + fraction * (p -
  r0)`` (``fraction`` 0.5 by default: the windows past half way from rest to the plateau, on the log
  scale);
* a rest window is kept when its activity is at most ``r0 + (1 - fraction) * (p_min - r0)`` with ``p_min``
  the lowest gesture plateau (a user who fidgets while told to relax does not teach "rest" that fidget);
* at least :data:`MIN_WINDOWS` windows of every trial are kept (its most active ones, or for rest its
  quietest ones), so a weak gesture still has examples;
* a gesture whose plateau is less than :data:`MIN_PLATEAU` (log units, i.e. a MAV ratio of 1.25) above
  the rest level is reported as *not performed* (:class:`ActivityError` lists them): it would teach the
  classifier a second "rest". On the shared recordings (repetition 1 of every 3DC subject, MyoDisCo day 1,
  CIIL training sessions) every plateau is at least 1.58x rest but one: CIIL S20's Wrist_Flexion at 0.73x,
  which this rule rightly refuses. ``weak="cue"`` labels such a class by its cue instead;
* unless rest is not the quietest state of this device at all: when fewer than half of the gestures are
  above rest by that margin (MultiDay's amplifier records "No Motion" louder than most motions), activity
  says nothing about who held what, and the windows are labelled by the cue alone (the report says so).

``fraction`` 0.5 was chosen on the 3DC subjects (mean R@1 on repetitions 5-8 with the default features:
0.836 / 0.838 / 0.841 / 0.838 / 0.813 at 0.3 / 0.4 / 0.5 / 0.6 / 0.8, cue labels alone 0.817); the other
suites of docs/results/enrolment.md were not used for any choice. It is config ``enrol.activity_fraction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from myosem_rt.errors import MyosemError

#: Default share of the rest -> plateau distance a gesture window must reach (config enrol.activity_fraction).
DEFAULT_FRACTION = 0.5
#: Windows kept per trial at least.
MIN_WINDOWS = 5
#: A gesture's plateau must exceed the rest level by this much (log MAV), else it was not performed.
MIN_PLATEAU = float(np.log(1.25))
REST_ID = 0


class ActivityError(MyosemError):
    """A cued gesture shows no muscle activity above rest (never performed, or a dead armband)."""


def window_activity(x: np.ndarray) -> np.ndarray:
    """(N,) mean over channels of log MAV of filtered windows ``x`` (N, W, C)."""
    return _activity(np.abs(np.asarray(x, dtype=np.float64)).mean(axis=1))


def _activity(mav: np.ndarray) -> np.ndarray:
    """(N,) the activity of windows from their (N, C) MAV: the mean over channels of log MAV."""
    return np.log(mav + 1e-12).mean(axis=1)


def trial_ids(repetition: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(N,) one id per trial (class, repetition), as the recordings are laid out."""
    return np.asarray(repetition, dtype=np.int64) * 100_003 + np.asarray(label, dtype=np.int64)


@dataclass(frozen=True)
class ActivityReport:
    """What :func:`activity_mask` decided, per class id: windows kept / cued, and plateau above rest."""

    rest_level: float
    mode: str  #: "cue + activity", or "cue only" when rest is not quieter than the gestures
    kept: dict[int, int]
    cued: dict[int, int]
    plateau: dict[int, float]  #: median plateau - rest level (log MAV), gestures only

    def lines(self, names: dict[int, str]) -> list[str]:
        out = [f"labels: {self.mode}"]
        for c in sorted(self.cued):
            above = f", plateau x{np.exp(self.plateau[c]):.2f} rest MAV" if c in self.plateau else ""
            out.append(f"{names.get(c, str(c))}: {self.kept[c]}/{self.cued[c]} windows kept{above}")
        return out


def activity_mask(label: np.ndarray, trial: np.ndarray, activity: np.ndarray,
                  fraction: float = DEFAULT_FRACTION, names: dict[int, str] | None = None,
                  weak: str = "error") -> tuple[np.ndarray, ActivityReport]:
    """Keep-mask over enrolment windows (module docstring). ``trial`` groups windows of one cue (any ints).

    Raises :class:`ActivityError` naming every gesture whose plateau is not above rest, unless ``weak`` is
    ``"cue"`` (those classes keep every cued window).
    """
    label = np.asarray(label, dtype=np.int64)
    trial = np.asarray(trial, dtype=np.int64)
    activity = np.asarray(activity, dtype=np.float64)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"activity fraction must be in [0, 1), got {fraction}")
    rest = label == REST_ID
    r0 = float(np.median(activity[rest])) if rest.any() else float(np.percentile(activity, 10))
    keep = np.zeros(label.size, dtype=bool)
    plateaus: dict[tuple[int, int], float] = {}
    for c, t in sorted({(int(a), int(b)) for a, b in zip(label, trial, strict=True)}):
        if c != REST_ID:
            plateaus[(c, t)] = float(np.percentile(activity[(label == c) & (trial == t)], 90))
    per_class = {c: float(np.median([p for (k, _), p in plateaus.items() if k == c])) - r0
                 for c in {k for k, _ in plateaus}}
    flat = sorted(c for c, p in per_class.items() if p < MIN_PLATEAU)
    classes = sorted(set(label.tolist()))
    if per_class and len(flat) > len(per_class) / 2:
        keep[:] = True
        return keep, ActivityReport(r0, "cue only", {c: int((label == c).sum()) for c in classes},
                                    {c: int((label == c).sum()) for c in classes}, per_class)
    if flat and weak != "cue":
        names = names or {}
        which = ", ".join(f"{names.get(c, c)} (x{np.exp(per_class[c]):.2f})" for c in flat)
        raise ActivityError(f"no muscle activity above rest while cued: {which} -- MAV within 1.25x of "
                            "rest; perform the gesture during its cue (or check the electrodes)")
    p_min = min((p for (c, _), p in plateaus.items() if c not in flat), default=r0)
    for key in sorted({(int(a), int(b)) for a, b in zip(label, trial, strict=True)}):
        c, t = key
        idx = np.flatnonzero((label == c) & (trial == t))
        a = activity[idx]
        if c in flat:
            ok = np.ones(idx.size, dtype=bool)
        elif c == REST_ID:
            ok = a <= r0 + (1.0 - fraction) * (p_min - r0)
            order = np.argsort(a, kind="stable")  # quietest first
        else:
            ok = a >= r0 + fraction * (plateaus[key] - r0)
            order = np.argsort(-a, kind="stable")  # most active first
        if ok.sum() < min(MIN_WINDOWS, idx.size):
            ok = np.zeros(idx.size, dtype=bool)
            ok[order[: min(MIN_WINDOWS, idx.size)]] = True
        keep[idx[ok]] = True
    report = ActivityReport(r0, "cue + activity", {c: int((keep & (label == c)).sum()) for c in classes},
                            {c: int((label == c).sum()) for c in classes}, per_class)
    return keep, report


def window_set_mask(ws: Any, fraction: float = DEFAULT_FRACTION, names: dict[int, str] | None = None,
                    weak: str = "error") -> tuple[np.ndarray, ActivityReport]:
    """:func:`activity_mask` of a :class:`~myosem_rt.windowing.WindowSet`'s windows, one trial per (class,
    repetition) as the recordings are laid out."""
    return activity_mask(ws.label, trial_ids(ws.repetition, ws.label), window_activity(ws.x), fraction,
                         names, weak)


def recording_mask(filtered: np.ndarray, starts: np.ndarray, window: int, label: np.ndarray,
                   repetition: np.ndarray, fraction: float = DEFAULT_FRACTION) -> np.ndarray:
    """:func:`window_set_mask` (``weak="cue"``) of the windows at ``starts`` of one filtered recording
    (T, C), with ``repetition`` per window, before they are cut: the MAV comes from a running sum, so
    windows that will not be kept are never materialised (``load_windows(activity_fraction=...)``)."""
    cs = np.cumsum(np.abs(filtered, dtype=np.float64), axis=0)
    cs = np.concatenate([np.zeros((1, filtered.shape[1])), cs])
    mav = (cs[starts + window] - cs[starts]) / window
    return activity_mask(label, trial_ids(repetition, label), _activity(mav), fraction, weak="cue")[0]

