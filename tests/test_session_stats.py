"""Session statistics of the window features (myosem_rt.session_stats): the running standardisation that
training applies per recording and the runtime per stream."""

from __future__ import annotations

import numpy as np
import pytest

from myosem_rt.session_stats import SessionStats, hop_weights, recording_order


def _stream(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal([5.0, -2.0, 0.3], [2.0, 0.5, 0.1], size=(n, 3))  # a wearer off the population


def test_starts_at_the_population_and_becomes_the_sessions_own() -> None:
    f = _stream()  # the population's spread, but every feature shifted by 2.5 sd
    var0 = np.array([2.0, 0.5, 0.1]) ** 2
    mean0 = np.array([5.0, -2.0, 0.3]) - 2.5 * np.sqrt(var0)
    stats = SessionStats(mean0, var0, prior_hops=200)
    z = stats.normalise(f)
    m = (200 * mean0 + f[0]) / 201
    np.testing.assert_allclose(z[0], (f[0] - m) / np.sqrt((200 * (var0 + mean0**2) + f[0] ** 2) / 201 - m**2),
                               rtol=1e-4)
    assert np.abs(z[:50].mean(axis=0)).min() > 1.0  # at first the prior holds: off-centre, as the population
    late = z[-500:]  # after 2500 hops the session's own statistics dominate: about zero mean, unit sd
    assert np.abs(late.mean(axis=0)).max() < 0.3 and np.abs(late.std(axis=0) - 1).max() < 0.3


def test_chunks_and_reset_are_one_sequence() -> None:
    f = _stream(400)
    one = SessionStats(np.zeros(3), np.ones(3), 50).normalise(f)
    stats = SessionStats(np.zeros(3), np.ones(3), 50)
    parts = np.concatenate([stats.normalise(f[a:b]) for a, b in ((0, 1), (1, 130), (130, 400))])
    np.testing.assert_allclose(parts, one, rtol=1e-6, atol=1e-6)
    stats.reset()
    np.testing.assert_allclose(stats.normalise(f[:10]), one[:10], rtol=1e-6)


def test_a_subsampled_recording_weighted_by_hops_sees_the_full_streams_statistics() -> None:
    f = _stream(4000, seed=1)
    full = SessionStats(np.zeros(3), np.ones(3), 2000).normalise(f)
    start = np.arange(0, 4000 * 50, 50)
    keep = np.sort(np.random.default_rng(2).choice(4000, 400, replace=False))
    w = hop_weights(start[keep], 50)
    sub = SessionStats(np.zeros(3), np.ones(3), 2000).normalise(f[keep], w)
    unweighted = SessionStats(np.zeros(3), np.ones(3), 2000).normalise(f[keep])
    err_w, err_1 = np.abs(sub - full[keep])[200:].mean(), np.abs(unweighted - full[keep])[200:].mean()
    assert err_w < 0.1 and err_w < err_1 / 3, (err_w, err_1)


def test_hop_weights_and_recording_order() -> None:
    np.testing.assert_array_equal(hop_weights(np.array([100, 150, 400, 420]), 50), [1.0, 1.0, 5.0, 1.0])
    assert hop_weights(np.array([]), 50).shape == (0,)

    class WS:
        x = np.zeros((5, 2, 1))
        file_index = np.array([1, 0, 1, 0, 1])
        start = np.array([30, 20, 10, 10, 20])

    assert [g.tolist() for g in recording_order(WS())] == [[3, 1], [2, 4, 0]]


@pytest.mark.parametrize("args", [([0.0], [1.0, 1.0], 10), ([0.0], [-1.0], 10), ([0.0], [1.0], 0),
                                  ([np.nan], [1.0], 10)])
def test_bad_statistics_are_refused(args) -> None:
    with pytest.raises(ValueError, match="SessionStats"):
        SessionStats(*args)


def test_training_standardises_each_recording_in_time_order() -> None:
    """train.pipeline.window_features_of with session statistics: each training recording from a fresh
    session, in time order, weighted by hops -- the runtime's own sequence (MyoSemModel.encode)."""
    pytest.importorskip("torch")
    from types import SimpleNamespace

    from myosem_rt.profile.features import classical_features
    from train.pipeline import window_features_of

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 50, 3)) * np.where(np.arange(60) % 2 == 0, 1.0, 8.0)[:, None, None]
    ws = SimpleNamespace(x=x, file_index=np.arange(60) % 2, start=(np.arange(60) // 2)[::-1] * 40, hop=20)
    fit = np.arange(60)
    out = window_features_of(ws, "td+cov", fit, session_prior=30.0)
    raw = window_features_of(ws, "td+cov", fit)["feat"]
    assert raw.shape == out["feat"].shape and out["session"].prior_hops == 30.0
    np.testing.assert_allclose(out["session"].mean0, raw.astype(np.float64).mean(axis=0), rtol=1e-5)
    assert out["session"].seen == 0.0  # handed over fresh, for the runtime
    for k in (0, 1):
        order = np.flatnonzero(ws.file_index == k)[::-1]  # time order: starts were given descending
        stats = SessionStats(out["session"].mean0, out["session"].var0, 30.0)
        feat = classical_features(x[order], out["eps"], "td+cov")
        want = stats.normalise(feat, hop_weights(ws.start[order], 20))
        np.testing.assert_allclose(out["feat"][order], want, atol=1e-5)
