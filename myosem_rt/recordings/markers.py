"""Per-sample labels from a marker stream: THE rule, shared by the XDF reader and ``myosem record``.

A marker (an LSL string sample with its time) says which class starts at that time. Each marker labels the
samples from the one nearest its time up to the next marker (half a sample period of tolerance: the same
instant's stamps differ in their last digits once clocks are corrected or dejittered); samples before the
first marker are class 0. The repetition of a trial is the count of that class's trials so far, rest
included: the numbering of every shared recording.
"""

from __future__ import annotations

import logging
import re

import numpy as np

log = logging.getLogger(__name__)

_OURS = re.compile(r"(\d+):(.*)", flags=re.S)


def project_marker(text: str) -> tuple[int, str] | None:
    """(class id, name) of a marker in this project's ``"<id>:<name>"`` form (a non-negative integer id;
    the name may contain ':'), None for any other text."""
    m = _OURS.fullmatch(str(text))
    return None if m is None else (int(m[1]), m[2])


def label_samples(ts: np.ndarray, marker_ts: np.ndarray, ids: np.ndarray, fs: float) -> np.ndarray:
    """(T,) int64 class id of every sample at times ``ts`` (module docstring)."""
    ts = np.asarray(ts, dtype=np.float64)
    if not len(ids):
        return np.zeros(len(ts), dtype=np.int64)
    marker_ts = np.asarray(marker_ts, dtype=np.float64)
    order = np.argsort(marker_ts, kind="stable")
    marker_ts, ids = marker_ts[order], np.asarray(ids, dtype=np.int64)[order]
    at = np.searchsorted(marker_ts, ts + 0.5 / fs, side="right") - 1
    before = int((at < 0).sum())
    if before:
        log.info("%d sample(s) before the first marker are class 0", before)
    return np.where(at >= 0, ids[np.clip(at, 0, None)], 0).astype(np.int64)


def trial_repetitions(label: np.ndarray) -> np.ndarray:
    """(T,) int64: trial k of a class has repetition k (1-based), rest included."""
    label = np.asarray(label)
    rep = np.zeros(len(label), dtype=np.int64)
    if not len(label):
        return rep
    starts = np.concatenate(([0], np.flatnonzero(np.diff(label) != 0) + 1, [len(label)]))
    count: dict[int, int] = {}
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        c = int(label[a])
        count[c] = count.get(c, 0) + 1
        rep[a:b] = count[c]
    return rep
