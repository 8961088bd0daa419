"""Naming groups of one wearer's unlabelled windows (myosem_rt/groups.py): the clustering, the one-to-one
naming, per-recording grouping, and that real 3DC windows of unseen gestures do fall into pure groups."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.groups import (
    CAUSAL_MIN_PER_GROUP,
    NAMED_BONUS,
    StreamGroups,
    causal_cuts,
    causal_grouped_scores,
    channel_pattern,
    cut_groups,
    grouped_scores,
    kmeans,
    name_groups,
)


def _blobs(k: int, n: int, rng: np.random.Generator, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(scale=3.0, size=(k, 5))
    y = np.repeat(np.arange(k), n)
    return centres[y] + rng.normal(scale=spread, size=(len(y), 5)), y


def _purity(groups: np.ndarray, y: np.ndarray) -> float:
    k = int(y.max()) + 1
    return max(float(np.mean(np.asarray(p)[groups] == y)) for p in itertools.permutations(range(k)))


def test_kmeans_recovers_separated_groups_and_is_deterministic() -> None:
    x, y = _blobs(4, 60, np.random.default_rng(1))
    groups = kmeans(x, 4, seed=3)
    assert _purity(groups, y) == 1.0
    assert np.array_equal(groups, kmeans(x, 4, seed=3))
    with pytest.raises(ValueError, match="k <= 5"):
        kmeans(x[:5], 6)


def test_groups_are_named_one_to_one_by_their_mean_score() -> None:
    """Each window's own best score is right only 45 % of the time, but each group's mean points to its own
    candidate: naming the groups gets every window right, and no candidate names two groups."""
    rng = np.random.default_rng(0)
    x, y = _blobs(3, 100, rng)
    scores = 0.05 * np.eye(3)[y] + rng.normal(scale=0.1, size=(300, 3))
    assert np.mean(scores.argmax(1) == y) < 0.6
    group = cut_groups(x, 3)
    named = name_groups(scores, group)
    assert np.mean(named == y) == 1.0
    # a biased candidate (everyone's best) still names one group only
    biased = scores + np.array([0.5, 0.0, 0.0])
    assert np.mean(biased.argmax(1) == 0) > 0.95 and np.mean(name_groups(biased, group) == y) == 1.0


def test_fewer_windows_than_candidates_fall_back_to_each_windows_best() -> None:
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.0]])
    group = cut_groups(np.zeros((2, 4)), 3)
    assert group.tolist() == [-1, -1] and name_groups(scores, group).tolist() == [1, 0]


def test_grouped_scores_rank_the_name_first_and_group_each_recording_apart() -> None:
    """Two recordings whose patterns are swapped between gestures: pooled, the groups would mix wearers;
    per recording each is named right."""
    rng = np.random.default_rng(2)
    x0, y0 = _blobs(2, 80, rng)
    x1, y1 = x0[::-1].copy(), y0.copy()  # recording 1: gesture 0 looks like recording 0's gesture 1
    y1 = 1 - y0[::-1]
    x, y = np.r_[x0, x1], np.r_[y0, y1]
    scores = 0.1 * np.eye(2)[y] + rng.normal(scale=0.1, size=(len(y), 2))
    recording = np.repeat([0, 1], 160)
    out = grouped_scores(scores, cut_groups(x, 2, recording), recording)
    assert np.mean(out.argmax(1) == y) == 1.0
    assert np.allclose(np.sort(out - scores, axis=1)[:, -1], NAMED_BONUS)  # one candidate per window
    with pytest.raises(ValueError, match="rows"):
        name_groups(scores, cut_groups(x[:10], 2))


def test_channel_pattern_ignores_force() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 200, 8)) * np.linspace(1, 3, 8)
    assert np.allclose(channel_pattern(x), channel_pattern(5.0 * x), atol=1e-4)
    assert np.allclose(channel_pattern(x).mean(axis=1), 0.0)


@pytest.mark.realdata
def test_a_wearers_unseen_gestures_fall_into_pure_groups(threedc_file: Path) -> None:
    """On a real 3DC recording, the test repetitions of three gestures (ulnar deviation, pronation, pinch
    grip) split into groups of one gesture each by their channel pattern alone (no label, no model)."""
    from myosem_rt.config import load_config
    from myosem_rt.windowing import load_windows

    ws = load_windows([threedc_file], load_config())
    ws = ws.subset(np.isin(ws.label, [3, 6, 10]) & (ws.repetition >= 5))
    groups = kmeans(channel_pattern(ws.x), 3)
    y = np.searchsorted([3, 6, 10], ws.label)
    assert _purity(groups, y) > 0.8


def test_group_purity_is_the_best_one_to_one_match_per_recording() -> None:
    from myosem_rt.groups import group_purity

    rng = np.random.default_rng(6)
    x, y = _blobs(3, 50, rng)
    assert group_purity(cut_groups(x, 3), y) == 1.0
    mixed = y.copy()
    mixed[:10] = 1  # 10 windows of group 0 carry another label: at best 140 of 150 match
    assert group_purity(cut_groups(x, 3), mixed) == pytest.approx(140 / 150)
    # two recordings, each grouped on its own: pooled, the swapped patterns would make the groups impure
    recording = np.repeat([0, 1], 150)
    assert group_purity(cut_groups(np.r_[x, x], 3, recording), np.r_[y, (y + 1) % 3], recording) == 1.0


def test_causal_grouping_uses_no_later_window() -> None:
    """Each window is named from the windows up to it: changing every later window (patterns and scores)
    leaves its named scores as they were, while the offline grouping changes; windows before the first cut
    keep their own scores."""
    rng = np.random.default_rng(4)
    x, y = _blobs(3, 40, rng)
    order = rng.permutation(len(y))  # gestures interleaved in time, as a recording's repetitions are
    x, y = x[order], y[order]
    start = np.arange(len(y)) * 50
    scores = 0.08 * np.eye(3)[y] + rng.normal(scale=0.1, size=(len(y), 3))
    cuts = causal_cuts(x, 3, start=start)
    first = 3 * CAUSAL_MIN_PER_GROUP - 1
    assert all(c is None for c in cuts[:first]) and all(c is not None for c in cuts[first:])
    assert all(c.rows[-1] == i and (start[c.rows] <= start[i]).all() for i, c in enumerate(cuts) if c)
    named = causal_grouped_scores(scores, cuts)
    assert np.array_equal(named[:first], scores[:first])
    assert np.mean(named.argmax(1) == y) > np.mean(scores.argmax(1) == y) + 0.2
    t = 60  # rewrite the future after window t
    x2, s2 = x.copy(), scores.copy()
    x2[t + 1:] = rng.normal(size=x2[t + 1:].shape)
    s2[t + 1:] = rng.normal(size=s2[t + 1:].shape)
    again = causal_grouped_scores(s2, causal_cuts(x2, 3, start=start))
    assert np.array_equal(again[: t + 1], named[: t + 1])
    offline = grouped_scores(s2, cut_groups(x2, 3))
    assert not np.array_equal(offline[: t + 1].argmax(1), grouped_scores(scores, cut_groups(x, 3))[: t + 1]
                              .argmax(1))
    with pytest.raises(ValueError, match="cuts"):
        causal_grouped_scores(scores[:5], cuts)


def test_causal_cuts_follow_time_within_each_recording() -> None:
    """Windows given out of time order and from two recordings: each cut holds its own recording's windows
    that started no later, in time order."""
    rng = np.random.default_rng(6)
    x, _ = _blobs(2, 20, rng)
    recording = np.tile([0, 1], 20)
    start = rng.permutation(40) * 10
    for i, cut in enumerate(causal_cuts(x, 2, recording, start)):
        if cut is None:
            continue
        assert (recording[cut.rows] == recording[i]).all()
        assert np.array_equal(cut.rows, np.flatnonzero((recording == recording[i]) & (start <= start[i]))[
            np.argsort(start[(recording == recording[i]) & (start <= start[i])], kind="stable")])


def test_stream_groups_name_each_window_as_the_causal_form_does() -> None:
    """Fed one window at a time (log MAV and scores), the live form names every window as
    :func:`causal_grouped_scores` does on the same windows in the same order, None before its first cut;
    ``reset`` starts again; a wrong number of scores is refused."""
    rng = np.random.default_rng(7)
    x, y = _blobs(3, 25, rng)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    scores = 0.08 * np.eye(3)[y] + rng.normal(scale=0.1, size=(len(y), 3))
    offline = causal_grouped_scores(scores, causal_cuts(x - x.mean(axis=1, keepdims=True), 3))
    stream = StreamGroups(3)
    named = [stream.push(x[i], scores[i]) for i in range(len(y))]
    first = 3 * CAUSAL_MIN_PER_GROUP - 1
    assert named[:first] == [None] * first
    assert named[first:] == offline[first:].argmax(axis=1).tolist()
    stream.reset()
    assert stream.push(x[0], scores[0]) is None
    with pytest.raises(ValueError, match="2 scores for 3"):
        stream.push(x[0], scores[0, :2])
    with pytest.raises(ValueError, match="span"):
        StreamGroups(3, span=4)
