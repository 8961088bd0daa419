"""Retrieval metrics (myosem_rt.retrieval) against hand-computed rankings, ties, episodes and bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt.retrieval import (
    bootstrap_std,
    chance,
    emg_to_text,
    ranks_of_true,
    sample_episodes,
    text_to_emg,
)

EYE = np.eye(4)
IDS = [10, 20, 30, 40]  # class ids need not be 0..K-1


def test_perfect_ranking() -> None:
    labels = np.repeat(IDS, 5)
    z = EYE[np.repeat(np.arange(4), 5)] * 3.0  # unnormalised on purpose: cosine ignores the scale
    r = emg_to_text(z, labels, EYE, IDS)
    assert r["R@1"] == r["R@3"] == r["R@5"] == r["MRR"] == 1.0
    assert all(v == 0.0 for v in r["std"].values())
    assert r["n"] == 20 and r["n_candidates"] == 4


def test_worst_ranking() -> None:
    labels = np.array(IDS)
    r = emg_to_text(-EYE, labels, EYE, IDS)  # true class scores -1, the three others 0
    assert r["R@1"] == 0.0 and r["R@3"] == 0.0 and r["R@5"] == 1.0
    assert r["MRR"] == pytest.approx(0.25)


def test_hand_computed_mixture() -> None:
    # window 0: true first; window 1: one class better; windows 2 and 3: all three others better
    z = np.array([[1.0, 0.5, 0.2, 0.1],
                  [0.9, 0.5, 0.2, 0.1],
                  [0.9, 0.8, 0.2, 0.7],
                  [0.9, 0.8, 0.7, 0.1]])
    labels = np.array([10, 20, 30, 40])
    assert ranks_of_true(z @ EYE.T, np.arange(4)).tolist() == [1, 2, 4, 4]
    r = emg_to_text(z, labels, EYE, IDS)
    # cosine keeps each row's order (row-wise scaling), so the ranks above hold
    assert r["R@1"] == pytest.approx(0.25) and r["R@3"] == pytest.approx(0.5) and r["R@5"] == 1.0
    assert r["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 4) / 4)
    assert r["per_class"] == {10: 1.0, 20: 0.0, 30: 0.0, 40: 0.0}


def test_ties_are_pessimistic() -> None:
    protos = EYE[:3, :3]
    z = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    r = emg_to_text(z, np.array([0, 1, 2]), protos, [0, 1, 2], ks=(1, 2))
    # windows 0 and 1 tie with one other class -> rank 2; the all-zero window ties with everything -> rank 3
    assert r["R@1"] == 0.0 and r["R@2"] == pytest.approx(2 / 3)
    assert r["MRR"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 3) / 3)
    assert ranks_of_true(np.array([[0.5, 0.5 + 1e-12, 0.4]]), np.array([0])).tolist() == [2]


def test_one_class() -> None:
    r = emg_to_text(np.random.default_rng(0).normal(size=(7, 4)), np.full(7, 3), EYE[:1], [3])
    assert r["R@1"] == r["MRR"] == 1.0
    assert r["chance"] == {"R@1": 1.0, "R@3": 1.0, "R@5": 1.0, "MRR": 1.0}
    t = text_to_emg(np.ones((7, 4)), np.full(7, 3), EYE[:1], [3], episodes=5)
    assert t["R@1"] == 1.0 and t["n_candidates"] == 1


def test_chance_levels() -> None:
    c = chance(4)
    assert c["R@1"] == 0.25 and c["R@3"] == 0.75 and c["R@5"] == 1.0
    assert c["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    # a random embedding scores near chance on many windows
    rng = np.random.default_rng(1)
    labels = rng.choice(IDS, 4000)
    r = emg_to_text(rng.normal(size=(4000, 4)), labels, EYE, IDS)
    assert abs(r["R@1"] - 0.25) < 0.03 and abs(r["MRR"] - c["MRR"]) < 0.03


def test_unknown_label_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\[99\] have no prototype"):
        emg_to_text(EYE[:2], np.array([10, 99]), EYE, IDS)


def test_bootstrap_deterministic_and_calibrated() -> None:
    hits = np.tile([0.0, 1.0], 200)  # p = 0.5, n = 400: binomial std of the mean = 0.025
    a = bootstrap_std({"R@1": hits}, n_resamples=200, seed=3)
    assert a == bootstrap_std({"R@1": hits}, n_resamples=200, seed=3)
    assert a != bootstrap_std({"R@1": hits}, n_resamples=200, seed=4)
    assert a["R@1"] == pytest.approx(0.025, rel=0.2)
    assert bootstrap_std({"R@1": np.ones(50), "MRR": np.ones(50)}) == {"R@1": 0.0, "MRR": 0.0}


def test_episodes_are_balanced() -> None:
    labels = np.array([0] * 30 + [1] * 5 + [2] * 100)
    chosen = sample_episodes(labels, [0, 1, 2], episodes=50, seed=0)
    assert chosen.shape == (50, 3)
    assert (labels[chosen] == np.array([0, 1, 2])[None, :]).all()
    assert len(set(chosen[:, 2].tolist())) > 10  # windows are drawn, not fixed
    assert (chosen == sample_episodes(labels, [0, 1, 2], episodes=50, seed=0)).all()


def test_text_to_emg_hand_computed() -> None:
    protos = EYE[:2, :2]
    # class 0 windows look like class 0; class 1 windows alternate good (e1) and confusable (e0)
    z = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0], [1.0, 0.0]] * 4)
    labels = np.array([0] * 4 + [1] * 8)
    good = np.array([True] * 4 + [True, False] * 4)
    episodes, seed = 40, 7
    chosen = sample_episodes(labels, [0, 1], episodes, seed)
    # good class-1 candidate: both queries rank their own first; confusable: both tie -> rank 2
    per_episode = good[chosen[:, 1]].astype(float)
    t = text_to_emg(z, labels, protos, [0, 1], episodes=episodes, seed=seed)
    assert t["R@1"] == pytest.approx(per_episode.mean())
    assert t["MRR"] == pytest.approx(np.mean(np.where(per_episode == 1, 1.0, 0.5)))
    assert t["se"]["R@1"] == pytest.approx(per_episode.std(ddof=1) / np.sqrt(episodes))
    assert t["chance"]["R@1"] == 0.5 and t["n_queries"] == 2


def test_text_to_emg_perfect_and_skips_absent_classes() -> None:
    labels = np.repeat([10, 30], 6)
    z = EYE[np.repeat([0, 2], 6)]
    t = text_to_emg(z, labels, EYE, IDS, episodes=20)
    assert t["R@1"] == t["MRR"] == 1.0 and t["se"]["R@1"] == 0.0
    assert t["n_candidates"] == 2 and t["chance"]["R@1"] == 0.5
