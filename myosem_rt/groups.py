"""Naming groups of one wearer's unlabelled windows: a gesture nobody trained on, found by its description.

Why: scoring a window of a gesture the model never trained on against its description is weak on its own
(eight 3DC folds: 0.562 R@1 among three held-out descriptions with the muscle-group head), but one
wearer's windows of one gesture look alike across the band: the per-channel pattern of log mean absolute
value (Hudgins' MAV, :mod:`myosem_rt.profile.features`), less its mean over channels so that force does
not matter, puts the windows of a recording's held-out gestures into groups that are 0.91 pure (3DC folds)
with plain k-means. Naming a whole group by the description its windows score best on *together* (one
description per group, the assignment with the highest total mean score: Hungarian) is far surer than
naming each window (0.747 R@1): a window's score errs at random, a group's mean much less. This is
transductive inference (Fu et al., TPAMI 2015): it uses the unlabelled windows of the recording being
described, never a label, and needs as many groups as candidates, each candidate present in the windows
(``myosem bench zeroshot``'s held-out-only setting; a recording in which every described gesture occurs).

Everything here is numpy + scipy (the runtime has no scikit-learn): a seeded k-means++ with restarts
(:func:`cut_groups`, once per set of windows) and :func:`scipy.optimize.linear_sum_assignment`
(:func:`name_groups`, once per score mix).

The *causal* form (:func:`causal_cuts`, :func:`causal_grouped_scores`) uses no window later than the one it
names: each window is named by the group it falls in when the recording's windows *up to and including it*
are cut again, so a recording can be described as it streams. On the eight 3DC folds it keeps most of the
gain (``myosem bench zeroshot``, rows "grouped causally"). :class:`StreamGroups` is the same rule fed one
window at a time over the newest :data:`STREAM_SPAN` windows (``myosem live --describe-only``). Like the
offline form it assumes that the windows grouped are the candidates' and that every candidate occurs: among
all the windows a new gesture claims while trained gestures compete too, it names worse than the windows'
own scores (a scratch check on the 3DC folds: harmonic mean 0.459 -> 0.420), so live groups only when the
wearer makes nothing but the typed gestures.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from myosem_rt.profile.features import LOG_EPS

#: added to the named candidate's score by :func:`grouped_scores`: larger than any cosine difference, so
#: the group's name ranks first and the window's own scores order the rest
NAMED_BONUS = 2.0
N_INIT = 10
MAX_ITER = 100
#: k-means restarts of each cut of the causal form (a cut per window: fewer than the offline form's)
CAUSAL_N_INIT = 3
#: windows per candidate a recording must have shown before the causal form cuts it (earlier windows are
#: named by their own scores)
CAUSAL_MIN_PER_GROUP = 3
#: windows :class:`StreamGroups` keeps (the newest): a minute at a 50 ms hop
STREAM_SPAN = 1200


def log_mav(x: np.ndarray) -> np.ndarray:
    """(N, C) log mean absolute value per channel of filtered windows ``x`` (N, W, C): the first block of
    Hudgins' features (:func:`myosem_rt.profile.features.hudgins`, same floor) without computing the rest
    (the live engine takes it every hop for the stream's novelty)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 1:
        raise ValueError(f"log_mav: expected (N, W, C) windows, got shape {x.shape}")
    return np.log(np.abs(x).mean(axis=1) + LOG_EPS)


def channel_pattern(x: np.ndarray) -> np.ndarray:
    """(N, C) level-free activation pattern of filtered windows ``x`` (N, W, C): :func:`log_mav` less its
    mean over the channels (a stronger or weaker contraction of the same gesture shifts every channel's log
    MAV alike)."""
    return level_free(log_mav(x))


def level_free(features: np.ndarray) -> np.ndarray:
    """:func:`log_mav` features (N, C) less their mean over the channels (:func:`channel_pattern`)."""
    features = np.asarray(features, dtype=np.float64)
    return features - features.mean(axis=1, keepdims=True)


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = N_INIT,
           max_iter: int = MAX_ITER) -> np.ndarray:
    """(N,) group of each row of ``x`` (N, D): Lloyd's k-means from k-means++ starts, the best of
    ``n_init`` by within-group sum of squares. Deterministic for a seed."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"kmeans: need 1 <= k <= {n} windows, got k={k}")
    rng = np.random.default_rng(seed)
    sq = (x * x).sum(axis=1)
    best, best_cost = np.zeros(n, dtype=np.int64), np.inf
    for _ in range(n_init):
        centres = _plus_plus(x, sq, k, rng)
        labels = np.full(n, -1)
        for _ in range(max_iter):
            d = sq[:, None] - 2.0 * x @ centres.T + (centres * centres).sum(axis=1)[None]
            new = d.argmin(axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = labels == j
                # an emptied group restarts at the window farthest from its own centre
                centres[j] = x[members].mean(axis=0) if members.any() else x[d.min(axis=1).argmax()]
        cost = float(np.maximum(d[np.arange(n), labels], 0.0).sum())
        if cost < best_cost:
            best, best_cost = labels.copy(), cost
    return best


def _plus_plus(x: np.ndarray, sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [x[rng.integers(x.shape[0])]]
    d = np.maximum(sq - 2.0 * x @ centres[0] + centres[0] @ centres[0], 0.0)
    for _ in range(1, k):
        total = d.sum()
        i = int(rng.choice(x.shape[0], p=d / total)) if total > 0 else int(rng.integers(x.shape[0]))
        centres.append(x[i])
        d = np.minimum(d, np.maximum(sq - 2.0 * x @ x[i] + x[i] @ x[i], 0.0))
    return np.array(centres, dtype=np.float64)


def cut_groups(pattern: np.ndarray, k: int, recording: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """(N,) group 0..k-1 of each window within its recording (``recording``: (N,) ids; one wearer's pattern
    is not another's): k-means on the windows' ``pattern`` (N, D), each recording apart; -1 for the windows
    of a recording with fewer than k of them. Depends on the patterns alone, so one cut serves every
    method and every score mix."""
    pattern = np.asarray(pattern)
    recording = np.zeros(len(pattern), dtype=np.int64) if recording is None else np.asarray(recording)
    group = np.full(len(pattern), -1, dtype=np.int64)
    for r in np.unique(recording):
        rows = np.flatnonzero(recording == r)
        if rows.size >= k:
            group[rows] = kmeans(pattern[rows], k, seed)
    return group


def name_groups(scores: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(N,) candidate column named for each window of one recording: each group of ``group`` (N,) (from
    :func:`cut_groups`, K groups for the K columns of ``scores`` (N, K)) gets a different candidate, the
    assignment that maximises the summed mean score of each group for its candidate. Windows left ungrouped
    (-1: fewer than K windows) are named by their own best score."""
    scores = np.asarray(scores, dtype=np.float64)
    group = np.asarray(group)
    n, k = scores.shape
    if group.shape[0] != n:
        raise ValueError(f"name_groups: {n} rows of scores but {group.shape[0]} of groups")
    if (group < 0).any():
        return scores.argmax(axis=1)
    from scipy.optimize import linear_sum_assignment

    # an empty group (k-means on duplicate windows) scores lowest everywhere: it takes what is left
    mean = np.stack([scores[group == g].mean(axis=0) if (group == g).any() else np.full(k, -1e9)
                     for g in range(k)])
    rows, cols = linear_sum_assignment(-mean)
    name = np.empty(k, dtype=np.int64)
    name[rows] = cols
    return name[group]


def grouped_scores(scores: np.ndarray, group: np.ndarray, recording: np.ndarray | None = None) -> np.ndarray:
    """``scores`` (N, K) with :data:`NAMED_BONUS` added to the candidate each window's group is named
    (:func:`name_groups`, each recording's groups apart; ``group`` from :func:`cut_groups` with the same
    ``recording``). Ranks the group's name first, then the rest by the window's own scores."""
    scores = np.asarray(scores, dtype=np.float64)
    recording = np.zeros(len(scores), dtype=np.int64) if recording is None else np.asarray(recording)
    out = scores.copy()
    for r in np.unique(recording):
        rows = np.flatnonzero(recording == r)
        out[rows, name_groups(scores[rows], group[rows])] += NAMED_BONUS
    return out


def group_purity(group: np.ndarray, labels: np.ndarray, recording: np.ndarray | None = None) -> float:
    """Share of windows whose group (from :func:`cut_groups` with the same ``recording``) is matched
    one-to-one to their true class by the best matching within its recording: the most any naming of the
    groups can reach. A figure of the channel patterns alone, the same for every method."""
    from scipy.optimize import linear_sum_assignment

    labels, group = np.asarray(labels), np.asarray(group)
    recording = np.zeros(len(labels), dtype=np.int64) if recording is None else np.asarray(recording)
    right = 0
    for r in np.unique(recording):
        rows = np.flatnonzero((recording == r) & (group >= 0))
        if rows.size == 0:
            continue
        classes, y = np.unique(labels[rows], return_inverse=True)
        table = np.zeros((int(group[rows].max()) + 1, classes.size), dtype=np.int64)
        np.add.at(table, (group[rows], y), 1)
        g, c = linear_sum_assignment(-table)
        right += int(table[g, c].sum())
    return right / max(len(labels), 1)


class CausalCut(NamedTuple):
    """The groups one window is named by in the causal form: its recording's windows up to and including it
    (``rows``, indices into the input, in time order, the window itself last) and their groups then."""

    rows: np.ndarray
    group: np.ndarray


def causal_cuts(pattern: np.ndarray, k: int, recording: np.ndarray | None = None,
                start: np.ndarray | None = None, seed: int = 0) -> list[CausalCut | None]:
    """Per window of ``pattern`` (N, D) (input order): its :class:`CausalCut`, k-means of its recording's
    windows up to and including it (by ``start``, (N,) first samples; input order where None); None while
    the recording has shown fewer than ``k`` * :data:`CAUSAL_MIN_PER_GROUP` windows. Depends on the
    patterns alone, so one set of cuts serves every score mix. A cut per window: time and memory grow with
    the square of a recording's windows (seconds for the ~1 000 held-out windows of a 3DC recording)."""
    pattern = np.asarray(pattern, dtype=np.float64)
    n = len(pattern)
    recording = np.zeros(n, dtype=np.int64) if recording is None else np.asarray(recording)
    start = np.arange(n) if start is None else np.asarray(start)
    cuts: list[CausalCut | None] = [None] * n
    for r in np.unique(recording):
        rows = np.flatnonzero(recording == r)
        rows = rows[np.argsort(start[rows], kind="stable")]
        for i in range(k * CAUSAL_MIN_PER_GROUP - 1, rows.size):
            past = rows[: i + 1]
            cuts[int(past[-1])] = CausalCut(past, kmeans(pattern[past], k, seed, n_init=CAUSAL_N_INIT))
    return cuts


def causal_grouped_scores(scores: np.ndarray, cuts: list[CausalCut | None]) -> np.ndarray:
    """``scores`` (N, K) with :data:`NAMED_BONUS` added, for each window, to the candidate its group is
    named when its cut (:func:`causal_cuts`) is named by :func:`name_groups` on those windows' scores:
    windows later than it play no part. A window without a cut keeps its own scores."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(cuts) != len(scores):
        raise ValueError(f"causal_grouped_scores: {len(scores)} rows of scores but {len(cuts)} cuts")
    out = scores.copy()
    for i, cut in enumerate(cuts):
        if cut is not None:
            out[i, name_groups(scores[cut.rows], cut.group)[-1]] += NAMED_BONUS
    return out


class StreamGroups:
    """:func:`causal_cuts` + :func:`causal_grouped_scores` one window at a time: :meth:`push` a new
    gesture's window (its log MAV and its ``k`` candidates' scores) and get the candidate its group is named,
    the groups cut again over the newest ``span`` windows pushed (None until ``k`` *
    :data:`CAUSAL_MIN_PER_GROUP` windows)."""

    def __init__(self, k: int, span: int = STREAM_SPAN, seed: int = 0) -> None:
        if k < 1 or span < k * CAUSAL_MIN_PER_GROUP:
            raise ValueError(f"StreamGroups: need k >= 1 and span >= {CAUSAL_MIN_PER_GROUP} k, got k {k}, "
                             f"span {span}")
        self.k, self.span, self.seed = int(k), int(span), int(seed)
        self._pattern: deque[np.ndarray] = deque(maxlen=span)
        self._scores: deque[np.ndarray] = deque(maxlen=span)

    def reset(self) -> None:
        """Forget the windows pushed (a new stream)."""
        self._pattern.clear()
        self._scores.clear()

    def push(self, log_mav_row: np.ndarray, scores: np.ndarray) -> int | None:
        """Add one window (``log_mav_row`` (C,) from :func:`log_mav`, ``scores`` (k,)); the column it is
        named, or None while too few windows have been pushed."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.size != self.k:
            raise ValueError(f"StreamGroups.push: {scores.size} scores for {self.k} candidates")
        self._pattern.append(level_free(np.asarray(log_mav_row, dtype=np.float64)[None])[0])
        self._scores.append(scores)
        if len(self._pattern) < self.k * CAUSAL_MIN_PER_GROUP:
            return None
        group = kmeans(np.stack(self._pattern), self.k, self.seed, n_init=CAUSAL_N_INIT)
        return int(name_groups(np.stack(self._scores), group)[-1])
