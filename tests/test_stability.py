"""Rejection, hold and dwell of the live engine's shown label, and the stability benchmark's figures.

The rules are checked on constructed score sequences through :meth:`LiveEngine.step` (a fake model whose
"embedding" is the score vector itself), so they are the engine's code, not a copy; the real-data test
runs the benchmark's measurement on a stretch of 3DC S18 with the shipped model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from myosem_rt import cli
from myosem_rt.errors import ConfigError
from myosem_rt.live.engine import UNCERTAIN, LiveEngine, LiveSettings, ms_to_hops
from myosem_rt.live.stability import OLD, stability_figures

A, B, C = (np.array(v, dtype=np.float32) for v in ([0.6, 0.1, 0.0], [0.1, 0.6, 0.0], [0.0, 0.1, 0.6]))
TIE = np.array([0.40, 0.39, 0.0], dtype=np.float32)  # margin 0.01 < min_margin 0.02: rejected


class FakeModel:
    """The model contract :class:`LiveEngine` uses; ``rank`` returns the "embedding" as the scores."""

    class_ids = np.array([10, 11, 12])
    class_names = ["a", "b", "c"]
    descriptions = ["class a", "class b", "class c"]
    hop_ms = 50.0
    directory = "fake"

    def __init__(self, score_kind: str | None = None) -> None:
        if score_kind is not None:
            self.score_kind = score_kind

    def encode(self, samples: np.ndarray, descriptors: Any) -> np.ndarray:
        return np.asarray(samples, dtype=np.float32)[None]

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = np.atleast_2d(z)
        return scores, np.argsort(-scores, axis=1, kind="stable")


@dataclass
class Hop:
    index: int
    segment: int
    timestamp: float
    samples: np.ndarray
    descriptors: None = None


def _run(seq: list[np.ndarray], segments: list[int] | None = None, model: Any = None,
         **settings: Any) -> list[Any]:
    """Results of every hop of ``seq``; no smoothing (alpha 1) unless asked, so decisions = raw top-1."""
    settings = {"ema_alpha": 1.0, **settings}
    engine = LiveEngine(model or FakeModel(), LiveSettings.from_config({}, **settings))
    segments = segments or [0] * len(seq)
    return [engine.step(Hop(i, s, i * 0.05, x)) for i, (x, s) in enumerate(zip(seq, segments, strict=True))]


def _labels(results: list[Any]) -> list[str]:
    return [r.label for r in results]


def test_dwell_is_whole_hops_rounded_up() -> None:
    assert [ms_to_hops(ms, 50.0) for ms in (0, 1, 50, 51, 100, 200, 210)] == [1, 1, 1, 2, 2, 4, 5]


def test_a_one_hop_blip_never_changes_the_shown_label() -> None:
    results = _run([A] * 6 + [B] + [A] * 3, dwell_ms=200, hold_ms=0)
    labels = _labels(results)
    assert labels[:3] == [UNCERTAIN] * 3 and labels[3:] == ["a"] * 7  # shown after 4 hops (200 ms) ...
    assert results[6].decision == "b" and results[6].label == "a"  # ... and the blip is only a decision
    assert [r.topk[0]["name"] for r in results] == ["a"] * 6 + ["b"] + ["a"] * 3  # raw ranking untouched


def test_a_sustained_change_is_shown_after_exactly_the_dwell() -> None:
    for dwell_ms, hops in ((200, 4), (150, 3), (0, 1)):
        labels = _labels(_run([A] * 6 + [B] * 6, dwell_ms=dwell_ms, hold_ms=0))
        first_b = labels.index("b")
        assert first_b == 6 + hops - 1, (dwell_ms, labels)
        assert labels[first_b:] == ["b"] * (12 - first_b)
        assert labels[6:first_b] == ["a"] * (hops - 1)


def test_another_class_restarts_the_dwell_and_the_shown_one_cancels_it() -> None:
    labels = _labels(_run([A] * 4 + [B, B, C, C, C, A, B, B, B, B], dwell_ms=200, hold_ms=0))
    assert labels[:4] == [UNCERTAIN] * 3 + ["a"]
    assert labels[4:13] == ["a"] * 9  # b twice, c three times, a, b three times: no run of 4
    assert labels[13] == "b"


def test_rejection_holds_the_label_then_shows_uncertain() -> None:
    results = _run([A] * 4 + [TIE] * 4 + [A], dwell_ms=200, hold_ms=100)  # hold 2 hops
    assert _labels(results)[3:] == ["a", "a", "a", UNCERTAIN, UNCERTAIN, UNCERTAIN]
    assert [r.rejected for r in results[4:8]] == [True] * 4 and results[4].decision == UNCERTAIN
    assert results[4].label_id == 10 and results[6].label_id is None
    # hold 0 is the behaviour before the gate: uncertain at the first rejected hop
    assert _labels(_run([A, TIE, A], **OLD)) == ["a", UNCERTAIN, "a"]


def test_rejected_hops_neither_count_toward_nor_break_a_dwell() -> None:
    labels = _labels(_run([A] * 4 + [B, TIE, B, TIE, B, B], dwell_ms=200, hold_ms=1000))
    assert labels[4:9] == ["a"] * 5 and labels[9] == "b"  # the 4th accepted b, two rejected hops between


def test_a_new_segment_restarts_smoothing_and_the_gate() -> None:
    labels = _labels(_run([A] * 6, segments=[0, 0, 0, 0, 1, 1], dwell_ms=100, hold_ms=1000))
    assert labels == [UNCERTAIN, "a", "a", "a", UNCERTAIN, "a"]


def test_old_settings_show_the_per_hop_decision() -> None:
    rng = np.random.default_rng(0)
    seq = [rng.random(3).astype(np.float32) for _ in range(200)]
    results = _run(seq, smoothing="ema", ema_alpha=0.3, **OLD)
    assert all(r.label == r.decision for r in results)
    assert any(r.rejected for r in results) and any(not r.rejected for r in results)


def test_posterior_models_are_judged_by_min_posterior() -> None:
    p = [np.array([0.5, 0.3, 0.2], dtype=np.float32)] * 3
    strict_cosine = {"min_score": 0.9, "dwell_ms": 0, "hold_ms": 0}
    assert _labels(_run(p, model=FakeModel(), **strict_cosine)) == [UNCERTAIN] * 3
    assert _labels(_run(p, model=FakeModel("cosine"), **strict_cosine)) == [UNCERTAIN] * 3
    posterior = FakeModel("posterior")
    assert _labels(_run(p, model=posterior, **strict_cosine, min_posterior=0.4)) == ["a"] * 3
    assert _labels(_run(p, model=posterior, **strict_cosine, min_posterior=0.6)) == [UNCERTAIN] * 3
    engine = LiveEngine(FakeModel("posterior"), LiveSettings.from_config({}, min_posterior=0.6))
    assert engine.score_kind == "posterior" and engine.smoother.reject_below == 0.6
    with pytest.raises(ConfigError, match="score_kind 'logit'"):
        LiveEngine(FakeModel("logit"), LiveSettings.from_config({}))


def test_settings_are_validated_and_the_record_keeps_its_keys() -> None:
    with pytest.raises(ConfigError, match="live.dwell_ms"):
        LiveSettings.from_config({}, dwell_ms=-1)
    record = _run([A])[0].record()
    assert {"t", "topk", "label", "score", "latency_ms", "segment"} <= set(record)
    assert record["decision"] == "a" and record["rejected"] is False


def test_stability_figures_on_a_constructed_sequence() -> None:
    truth = np.array([1] * 10 + [2] * 10 + [1] * 10)
    shown = np.array([1] * 12 + [-1] * 3 + [2] * 5 + [1] * 10)  # 2 shown 5 hops late; back to 1 at once
    f = stability_figures(shown, truth, np.zeros(30, dtype=int), hop_ms=100.0)  # 3 s = 0.05 min
    assert f["hops"] == 30 and f["truth_changes"] == 2 and f["missed"] == 0
    assert f["changes_per_min"] == pytest.approx(3 / 0.05) and f["truth_changes_per_min"] == pytest.approx(40)
    assert f["accuracy"] == pytest.approx(25 / 30) and f["uncertain"] == pytest.approx(3 / 30)
    assert f["delay_ms"] == pytest.approx((500 + 0) / 2)
    never = stability_figures(np.ones(30, dtype=int), truth, np.zeros(30, dtype=int), hop_ms=100.0)
    assert never["missed"] == 1 and never["delay_ms"] == 0.0 and never["changes_per_min"] == 0.0


def test_bench_stability_needs_a_recording(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["bench", "stability", "--model", "3dc-armband"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "--data FILE" in err[0]


@pytest.mark.realdata
def test_new_settings_flicker_less_on_an_unseen_subject(data_dir: Path) -> None:
    """Two minutes of 3DC S18 (never seen by the shipped model): fewer shown-label changes per minute with
    the configured rejection/hold/dwell than before them, for about the same accuracy."""
    from myosem_rt.config import default_config
    from myosem_rt.live.stability import measure, replay_hops, truth_ids
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session

    path = data_dir / "3dc" / "S18_E1_A1.mat"
    model, session, config = MyoSemModel.load("3dc-armband", threads=1), load_session(path), default_config()
    hops = replay_hops(model, config, session, truth_ids(model, session, path), duration_s=120.0)
    assert len(hops) > 2000 and np.unique(hops.truth).size > 3
    (_, raw), (_, old), (_, new) = measure(model, config, hops, [("old", OLD), ("new", {})])
    print(f"\nS18, 2 min: changes/min raw {raw['changes_per_min']:.1f}, old {old['changes_per_min']:.1f}, "
          f"new {new['changes_per_min']:.1f} (truth {new['truth_changes_per_min']:.1f}); accuracy old "
          f"{old['accuracy']:.3f}, new {new['accuracy']:.3f}")
    assert new["changes_per_min"] < 0.5 * old["changes_per_min"] < raw["changes_per_min"]
    assert new["accuracy"] > old["accuracy"] - 0.05


@pytest.mark.realdata
def test_typed_gestures_never_made_are_counted_as_false_alarms(data_dir: Path) -> None:
    """``bench stability --describe``: 30 s of 3DC S18 ranked with two typed gestures it never shows; the
    share of hops showing one is reported, the typed gestures never count as right, and the same hops
    through the stream's novelty go through the live rule (a fresh stream for each engine)."""
    from myosem_rt.config import default_config
    from myosem_rt.live.engine import LiveSettings
    from myosem_rt.live.stability import measure, replay_hops, truth_ids
    from myosem_rt.model import MyoSemModel
    from myosem_rt.recordings import load_session
    from myosem_rt.typed import parse_typed, with_typed

    path = data_dir / "3dc" / "S18_E1_A1.mat"
    config = default_config()
    typed = parse_typed(["thumb_up", "tap=Tapping the tip of the thumb against the side of the index finger"])
    view = with_typed(MyoSemModel.load("3dc-armband", threads=1), typed,
                      LiveSettings.from_config(config, describe_novelty=0.5))
    session = load_session(path)
    hops = replay_hops(view, config, session, truth_ids(view, session, path), duration_s=30.0)
    (_, raw), (_, shown) = measure(view, config, hops, [("configured", {})])
    assert 0.0 <= raw["typed"] <= 1.0 and 0.0 <= shown["typed"] <= 1.0
    assert shown["accuracy"] <= 1.0 - shown["typed"]  # a typed gesture shown is never the truth
    again = measure(view, config, hops, [("configured", {})])
    assert again[1][1] == shown  # each engine starts the stream afresh: the same figures


def test_bench_stability_describe_bad_input(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["bench", "stability", "--model", "3dc-armband", "--data", "x.mat", "--profile", "p",
                     "--describe", "thumb_up"]) == 2
    assert "not with --profile" in capsys.readouterr().err


def test_shown_columns_is_what_the_engine_shows_hop_by_hop() -> None:
    """The offline form benches use (myosem_rt.live.engine.shown_columns) gives, for the default settings
    (EMA, margin rejection, hold, dwell) and for majority voting, with segments that restart them, exactly
    the labels LiveEngine.step shows for the same scores; several rankings at once give each one's own."""
    from myosem_rt.live.engine import shown_columns

    rng = np.random.default_rng(0)
    names = np.array(FakeModel.class_names)
    rankings = []
    for _ in range(3):
        seq = rng.choice(np.float32([0.0, 0.4, 0.6]), size=(120, 3))
        seq[10:14] = TIE
        rankings.append(seq)
    segments = np.array([0] * 50 + [1] * 40 + [3] * 30)
    for smoothing in ("ema", "majority"):
        settings = LiveSettings.from_config({}, smoothing=smoothing)
        shown = shown_columns(np.stack(rankings), segments, settings, FakeModel.hop_ms)
        for seq, row in zip(rankings, shown, strict=True):
            results = _run(list(seq), segments.tolist(), smoothing=smoothing, ema_alpha=settings.ema_alpha)
            assert [UNCERTAIN if c < 0 else names[c] for c in row] == _labels(results)
            np.testing.assert_array_equal(shown_columns(seq, segments, settings, FakeModel.hop_ms), row)
        assert (shown < 0).any() and len(set(shown[shown >= 0].tolist())) == 3  # every kind of hop occurs
