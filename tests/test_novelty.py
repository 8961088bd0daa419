"""A window's novelty against the wearer's known gestures (myosem_rt/novelty.py), its use as a bias
correction in the generalised setting (myosem_rt/retrieval.py), and that on a real 3DC recording the test
windows of gestures never trained on are more novel than those of the trained ones -- with the wearer's
labels, and from the unlabelled stream labelled by a model (offline and live forms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from myosem_rt.novelty import (
    KnownGestures,
    StreamNovelty,
    causal_stream_novelty,
    recording_novelty,
    recording_stream_novelty,
    stream_known,
    stream_novelty,
)


def _auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive window scores above a negative one (ties count half)."""
    pos, neg = score[positive], score[~positive]
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def _gestures(means: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.repeat(np.arange(len(means)), n)
    return means[y] + rng.normal(scale=0.2, size=(len(y), means.shape[1])), y


def test_known_windows_sit_near_zero_and_new_ones_far_above() -> None:
    rng = np.random.default_rng(0)
    means = rng.normal(scale=2.0, size=(4, 6))
    x, y = _gestures(means, 60, rng)
    known = KnownGestures.fit(x[y < 3], y[y < 3])
    held, new = _gestures(means[:3], 40, rng)[0], x[y == 3]
    assert abs(float(np.median(known.novelty(held)))) < 0.3  # as close as the known windows themselves
    assert float(known.novelty(new).min()) > float(np.quantile(known.novelty(held), 0.99))
    # the scale is the wearer's own: a band with twice the spread gives the same novelty
    assert np.allclose(KnownGestures.fit(2 * x[y < 3], y[y < 3]).novelty(2 * new), known.novelty(new))


def test_each_recording_is_measured_against_its_own_known_gestures() -> None:
    """Two wearers whose known gestures are each other's new one: pooled, nothing would look new."""
    rng = np.random.default_rng(1)
    means = rng.normal(scale=2.0, size=(3, 5))
    a, ya = _gestures(means, 30, rng)
    b, yb = _gestures(means, 30, rng)
    known = np.r_[a[ya < 2], b[yb > 0]]
    labels = np.r_[ya[ya < 2], yb[yb > 0]]
    known_rec = np.r_[np.zeros((ya < 2).sum()), np.ones((yb > 0).sum())]
    test = np.r_[means[[2, 0]], means[[2, 0]]]
    rec = np.array([0, 0, 1, 1])
    nov = recording_novelty(known, labels, known_rec, test, rec)
    assert nov[0] > 2 and nov[1] < 1  # wearer 0 never made gesture 2
    assert nov[3] > 2 and nov[2] < 1  # wearer 1 never made gesture 0
    assert np.array_equal(recording_novelty(known, labels, known_rec, test, rec + 5), np.zeros(4))  # unknown


def test_too_few_windows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2 or more windows"):
        KnownGestures.fit(np.zeros((3, 4)), np.array([0, 1, 2]))


def test_novelty_moves_new_gestures_ahead_of_their_trained_siblings() -> None:
    """Generalised setting: a held-out class scores a little below its trained sibling on every window;
    stacking alone cannot tell the windows apart, novelty can."""
    from myosem_rt.retrieval import generalised_curve_scores

    labels = np.repeat([0, 1], 50)  # class 1 held out, column 0 its trained sibling
    scores = np.c_[np.full(100, 0.6), np.full(100, 0.5)]
    novelty = np.where(labels == 1, 1.0, -0.5)
    plain = generalised_curve_scores(scores, labels, [0, 1], [1])
    assert max(plain["harmonic"]) == 0.0  # whatever gamma: all windows go one way
    with_novelty = generalised_curve_scores(scores, labels, [0, 1], [1], novelty=novelty, beta=0.2)
    at_zero = with_novelty["gamma"].index(0.0)
    assert with_novelty["harmonic"][at_zero] == 1.0  # gamma 0: 0.5 + 0.2 > 0.6 and 0.5 - 0.1 < 0.6
    assert with_novelty["false_alarm"][at_zero] == 0.0


def test_false_alarms_count_known_windows_taken_for_a_new_gesture() -> None:
    """The curve's false alarms: the share of the seen classes' windows (rest included) whose best candidate
    is a held-out class, whichever held-out class it is; they rise with gamma, never fall."""
    from myosem_rt.retrieval import generalised_curve_scores

    labels = np.array([0, 0, 2, 2, 1, 1, 3, 3])  # 1 and 3 held out; 0 (rest) and 2 trained
    scores = np.array([[0.9, 0.1, 0.2, 0.1],   # rest, clearly rest
                       [0.5, 0.45, 0.2, 0.1],  # rest, a new gesture close behind
                       [0.1, 0.2, 0.8, 0.75],  # trained 2, new gesture 3 close behind
                       [0.1, 0.0, 0.9, 0.1],
                       [0.1, 0.5, 0.6, 0.1], [0.1, 0.1, 0.6, 0.55],
                       [0.1, 0.1, 0.2, 0.9], [0.1, 0.1, 0.7, 0.4]])
    curve = generalised_curve_scores(scores, labels, [0, 1, 2, 3], [1, 3], gammas=(0.0, 0.1, 1.0))
    assert curve["false_alarm"] == [0.0, 0.5, 1.0]  # at 0.1 the two close calls flip to the new gestures
    assert curve["held_out"] == [0.25, 0.25, 0.75]  # only at 1.0 do three of the four go to a new gesture


@pytest.mark.realdata
def test_unseen_gestures_of_a_real_wearer_are_more_novel(threedc_file: Path) -> None:
    """3DC: known gestures from repetitions 1-4 of all but ulnar deviation, pronation and pinch grip; on
    repetitions 5-8 the windows of those three are more novel than the known gestures' own windows."""
    from myosem_rt.config import load_config
    from myosem_rt.groups import log_mav
    from myosem_rt.windowing import load_windows

    ws = load_windows([threedc_file], load_config())
    held = np.isin(ws.label, [3, 6, 10])
    train = ~held & (ws.repetition <= 4)
    test = ws.repetition >= 5
    known = KnownGestures.fit(log_mav(ws.x[train]), ws.label[train])
    nov = known.novelty(log_mav(ws.x[test]))
    assert _auroc(nov, held[test]) > 0.7


def _stream(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three known gestures and a new one; a model's known-class scores: clear on the known gestures'
    windows, unclear (two classes alike) on the new one's."""
    means = rng.normal(scale=2.0, size=(4, 6))
    x, y = _gestures(means, n, rng)
    scores = np.eye(4)[y][:, :3] + rng.normal(scale=0.05, size=(len(y), 3))
    scores[y == 3] = [0.5, 0.5, 0.0] + rng.normal(scale=0.05, size=((y == 3).sum(), 3))
    return x, y, scores


def test_the_stream_labelled_by_a_model_stands_for_the_known_gestures() -> None:
    rng = np.random.default_rng(3)
    x, y, scores = _stream(rng)
    known = stream_known(x, scores)
    assert known is not None and known.classes.tolist() == [0, 1, 2]  # the unclear half (the new one) out
    nov = recording_stream_novelty(x, scores, np.zeros(len(x)))
    np.testing.assert_allclose(nov, stream_novelty(known, x, scores))
    assert _auroc(nov, y == 3) > 0.95  # measured against the gesture the model takes each window for
    assert stream_known(x, np.c_[scores[:, :1], scores[:, :1]]) is None  # one gesture: nothing to fit
    assert stream_known(x[:1], scores[:1]) is None
    with pytest.raises(ValueError, match="share"):
        stream_known(x, scores, share=0.0)


def test_a_known_gesture_the_stream_has_not_shown_gets_no_novelty() -> None:
    """The start of a live stream holds only some of the known gestures: a window of another known gesture
    (the model sure of it) has no mean to be measured against, so it gets none -- not a large one -- while a
    new gesture's window (the model unsure between two shown gestures) is far from the one it is taken for."""
    rng = np.random.default_rng(5)
    x, y, scores = _stream(rng, 40)
    shown = np.flatnonzero(y < 2)
    known = stream_known(x[shown], scores[shown])
    assert known is not None and known.classes.tolist() == [0, 1]
    nov = known.novelty_to(x, scores.argmax(axis=1))
    assert np.isnan(nov[y == 2]).all() and not np.isnan(nov[y != 2]).any()
    assert np.nanmin(nov[y == 3]) > np.nanmax(nov[y < 2])
    np.testing.assert_allclose(stream_novelty(known, x, scores)[y == 2], 0.0)
    assert np.array_equal(stream_novelty(None, x, scores), np.zeros(len(x)))


def test_live_stream_novelty_waits_refits_and_forgets() -> None:
    rng = np.random.default_rng(4)
    x, y, scores = _stream(rng, 40)
    order = rng.permutation(len(x))
    assert len(order) == 160
    live = StreamNovelty(span=100, refit=10, min_windows=90)
    values = [live.push(x[i], scores[i]) for i in order]
    assert all(v is None for v in values[:90]) and live.known is not None  # nothing before the first fit
    later = [(v, y[i]) for v, i in zip(values[90:], order[90:], strict=True)]
    assert all(v is not None for v, _ in later)  # every gesture the model names has a mean by then
    new = [v for v, c in later if c == 3]
    old = [v for v, c in later if c != 3]
    assert np.median(new) > np.median(old) + 1.0
    np.testing.assert_allclose(causal_stream_novelty(x[order], scores[order], np.zeros(160), span=100,
                                                     refit=10, min_windows=90)[90:], [v for v, _ in later])
    assert np.isnan(causal_stream_novelty(x[order], scores[order], np.zeros(160), min_windows=60)[:60]).all()
    assert len(live._features) == 100  # only the last span hops are kept
    first = live.known  # 160 hops: last refitted at the 160th; the next at the 170th
    for i in order[:9]:
        live.push(x[i], scores[i])
    assert live.known is first
    live.push(x[order[9]], scores[order[9]])
    assert live.known is not first
    live.reset()
    assert live.known is None and live.push(x[0], scores[0]) is None
    with pytest.raises(ValueError, match="min_windows"):
        StreamNovelty(span=10, min_windows=20)


@pytest.mark.realdata
def test_a_model_labelling_the_stream_finds_the_unseen_gestures(threedc_file: Path) -> None:
    """3DC, repetitions 5-8: the shipped model's scores of all classes but ulnar deviation, pronation and
    pinch grip label the stream (no labels used; the model did train on those three, their columns are
    dropped); the windows of those three are the more novel."""
    from myosem_rt.commands.eval import encode
    from myosem_rt.config import load_config
    from myosem_rt.groups import log_mav
    from myosem_rt.model import MyoSemModel, trained_config
    from myosem_rt.windowing import load_windows

    model = MyoSemModel.load("3dc-armband")
    ws = load_windows([threedc_file], trained_config(model, load_config()))
    ws = ws.subset(ws.repetition >= 5)
    known = ~np.isin(model.class_ids, [3, 6, 10])
    scores = model.rank(encode(model, ws))[0][:, known]
    nov = recording_stream_novelty(log_mav(ws.x), scores, np.zeros(len(ws)))
    assert _auroc(nov, np.isin(ws.label, [3, 6, 10])) > 0.7
