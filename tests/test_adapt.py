"""Session adaptation (myosem_rt/profile/adapt.py): causal, batching-invariant, anchored to the enrolment,
and what the profile view does with it across sessions and refits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from myosem_rt.errors import ConfigError
from myosem_rt.profile.adapt import OFF, AdaptSettings, SessionAdaptation
from myosem_rt.profile.head import UserHead

K, F, HOP_S = 4, 12, 0.05


def _clusters(shift: float, n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n windows per class around fixed centres, all moved by ``shift`` (the session's drift), in class
    blocks as a cued session streams them."""
    centres = np.random.default_rng(123).normal(0, 1.2, (K, F))
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), n)
    drift = np.linspace(0, 1, F) * shift
    return centres[y] + drift + rng.normal(0, 1, (y.size, F)), y


def _head() -> UserHead:
    x, y = _clusters(0.0, seed=1)
    return UserHead().fit(x, y)


def test_without_history_it_is_the_heads_own_posterior() -> None:
    head = _head()
    x, _ = _clusters(0.0, seed=2)
    adapt = SessionAdaptation(head, AdaptSettings(every_s=1.0), HOP_S)
    first = adapt.posterior(x[: adapt.every])  # the first block: no refit has finished yet
    assert np.allclose(first, head.posterior(x[: adapt.every]), atol=1e-9)


def test_decisions_do_not_depend_on_batching_and_only_on_earlier_windows() -> None:
    head = _head()
    x, _ = _clusters(2.5, seed=3)
    settings = AdaptSettings(every_s=0.5, history_s=6.0)  # 10-window blocks, a ring of 120 (it wraps)
    whole = SessionAdaptation(head, settings, HOP_S).posterior(x)
    one = SessionAdaptation(head, settings, HOP_S)
    per_hop = np.concatenate([one.posterior(row[None]) for row in x])
    blocks = SessionAdaptation(head, settings, HOP_S)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), 15, replace=False))
    chunked = np.concatenate([blocks.posterior(part) for part in np.split(x, cuts)])
    assert np.allclose(whole, per_hop) and np.allclose(whole, chunked)
    # causal: changing what comes later leaves every earlier decision as it was
    later = x.copy()
    later[150:] += 5.0
    again = SessionAdaptation(head, settings, HOP_S).posterior(later)
    assert np.allclose(again[:150], whole[:150]) and not np.allclose(again[150:], whole[150:])


def test_it_follows_a_drifted_session_and_reset_starts_over() -> None:
    head = _head()
    x, y = _clusters(3.0, n=200, seed=4)
    order = np.random.default_rng(5).permutation(len(y))  # classes interleaved, as a free session
    x, y = x[order], y[order]
    plain = float((head.class_ids[head.posterior(x).argmax(1)] == y).mean())
    adapt = SessionAdaptation(head, AdaptSettings(), HOP_S)
    post = adapt.posterior(x)
    late = slice(len(y) // 2, None)  # once it has seen the session
    adapted = float((head.class_ids[post[late].argmax(1)] == y[late]).mean())
    plain_late = float((head.class_ids[head.posterior(x[late]).argmax(1)] == y[late]).mean())
    assert adapted > plain_late + 0.1, (adapted, plain_late, plain)
    assert not np.allclose(adapt.means, adapt._m0)
    adapt.reset()
    assert np.allclose(adapt.means, adapt._m0) and len(adapt.history_features()) == 0


def test_the_enrolment_prior_keeps_it_anchored() -> None:
    """A session of nothing but one class must not drag the other classes' means onto it."""
    head = _head()
    x, y = _clusters(0.0, n=200, seed=6)
    only = x[y == 2]
    adapt = SessionAdaptation(head, AdaptSettings(), HOP_S)
    adapt.posterior(only)
    moved = np.linalg.norm(adapt.means - adapt._m0, axis=1)
    gaps = np.linalg.norm(adapt._m0[:, None] - adapt._m0[None], axis=2)
    assert moved.max() < 0.25 * gaps[gaps > 0].min(), (moved, gaps)
    # and its decisions on that class stay right
    assert (head.class_ids[adapt.posterior(only[:50]).argmax(1)] == 2).mean() > 0.9


@pytest.mark.parametrize(("section", "message"), [
    ({"prior_windows": 0}, "adapt.prior_windows must be a number > 0"),
    ({"iterations": 0}, "adapt.iterations must be an integer >= 1"),
    ({"every_s": "fast"}, "adapt.every_s must be a number > 0"),
    ({"enabled": "yes"}, "adapt.enabled must be true or false"),
    ({"window": 3}, "adapt: unknown key"),
])
def test_bad_settings_are_named(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AdaptSettings.from_config({"adapt": section})


def test_config_defaults_and_off() -> None:
    from myosem_rt.config import load_config

    s = AdaptSettings.from_config(load_config(None))
    assert s.enabled and s.iterations >= 1 and not OFF.enabled
    kept = {k: getattr(s, k) for k in ("prior_windows", "iterations", "every_s", "history_s")}
    assert replace(s, enabled=False) == replace(OFF, **kept)


# --- in the profile view --------------------------------------------------------------------------------


@pytest.mark.realdata
def test_view_adapts_per_session_and_keeps_history_through_a_refit(threedc_file: Path) -> None:
    from myosem_rt.config import load_config
    from myosem_rt.profile.enrol import _windows, enrol_from_session
    from myosem_rt.profile.view import CalibratedModel
    from myosem_rt.recordings import load_session

    config = load_config(None)
    session = load_session(threedc_file)
    profile, _ = enrol_from_session(session, config, model=None, trials=1, user="t")
    ws = _windows(session, config, None)
    test = ws.subset(ws.repetition >= 5)
    x = test.x[:400]
    view = CalibratedModel(profile, None, adapt=AdaptSettings.from_config(config))
    plain = CalibratedModel(profile, None, adapt=OFF)
    z1 = view.encode(x)
    assert view._adapt is not None and plain._adapt is None
    assert np.allclose(z1[: view._adapt.every], plain.encode(x[: view._adapt.every]), atol=1e-5)
    view.new_session()  # a new session decides as the first one did: nothing leaks across sessions
    assert np.allclose(view.encode(x), z1, atol=1e-5)
    # a confirm / correct refits the profile; the new view continues the same session's history
    profile.add_examples(int(test.label[0]), view.features(test.x[:5]))
    again = view.refitted()
    assert len(again._adapt.history_features()) == len(view._adapt.history_features()) == len(x)
