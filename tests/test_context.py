"""The activity context (myosem_rt/context.py): one rule offline (eval) and per hop (the live engine), its
choice on training recordings (train/context_choice.py), and what it does on real MyoDisCo recordings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from myosem_rt.context import ActivityContext, ContextSpec, pool_recording
from myosem_rt.live.engine import LiveEngine, LiveSettings
from myosem_rt.profile.labels import window_activity

RNG = np.random.default_rng(7)


def _stream(n: int = 120, k: int = 4, hop: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = RNG.normal(size=(n, k))
    activity = RNG.normal(size=n)
    start = np.arange(n) * hop
    start[70:] += 50 * hop  # a break longer than any span tried: the context restarts there
    return scores, activity, start


@pytest.mark.parametrize("spec", [ContextSpec(3, 0.0), ContextSpec(5, 2.0), ContextSpec(12, 50.0)])
def test_offline_pooling_is_the_streaming_rule(spec: ContextSpec) -> None:
    scores, activity, start = _stream()
    order = RNG.permutation(len(scores))  # eval's windows come in any order: pooling follows time
    pooled = pool_recording(scores[order], activity[order], start[order], 10, spec)
    ctx, expected = ActivityContext(spec), np.empty_like(scores)
    for t in range(len(scores)):
        if t == 70:
            ctx.reset()
        expected[t] = ctx.push(scores[t], activity[t])
    np.testing.assert_allclose(pooled, expected[order], rtol=1e-10, atol=1e-12)


def test_pooling_weights() -> None:
    scores, activity, start = _stream(30)
    same = pool_recording(scores, activity, start, 10, ContextSpec(0, 5.0))
    np.testing.assert_array_equal(same, scores)  # no span: the per-window ranking
    mean = pool_recording(scores, activity, start, 10, ContextSpec(4, 0.0))
    np.testing.assert_allclose(mean[10], scores[6:11].mean(axis=0))  # beta 0: the plain mean
    np.testing.assert_allclose(mean[1], scores[:2].mean(axis=0))  # fewer hops at the start
    sharp = pool_recording(scores, activity, start, 10, ContextSpec(4, 1e3))
    np.testing.assert_allclose(sharp[10], scores[6 + np.argmax(activity[6:11])])  # the most active window


def test_candidates_that_change_restart_the_context() -> None:
    ctx = ActivityContext(ContextSpec(4, 1.0))
    ctx.push(np.ones(3), 5.0)
    np.testing.assert_allclose(ctx.push(np.zeros(4), 0.0), np.zeros(4))  # a typed description was added


@pytest.mark.parametrize("value, message", [
    ({"hops": -1, "beta": 1}, "hops"), ({"hops": 2.5, "beta": 1}, "hops"), ({"hops": 4}, "beta"),
    ({"hops": 4, "beta": float("nan")}, "beta"), ([4, 1], "object"),
])
def test_bad_manifest_entries(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ContextSpec.from_manifest(value)
    assert ContextSpec.from_manifest(None) is None
    assert ContextSpec.from_manifest({"hops": 0, "beta": 2}) is None  # chosen: none


def test_a_bad_context_in_a_model_manifest_is_one_line(tmp_path) -> None:
    import json
    import shutil

    from myosem_rt.model import ModelError, MyoSemModel, resolve_model

    model_dir = tmp_path / "m"
    shutil.copytree(resolve_model("myo-armband"), model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["context"] = {"hops": "many", "beta": 1}
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"manifest.json: bad 'context' entry"):
        MyoSemModel.load(model_dir)


@dataclass
class _Window:
    index: int
    segment: int
    timestamp: float
    samples: np.ndarray
    descriptors: np.ndarray


class _ScoreModel:
    """A model whose "embedding" of a window is the score vector passed as its descriptors."""

    class_ids = np.array([1, 2, 3, 4])
    class_names = ["a", "b", "c", "d"]
    descriptions = ["a", "b", "c", "d"]
    hop_ms = 50.0
    directory = "fake"
    context = ContextSpec(6, 3.0)

    def encode(self, samples: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        return np.asarray(descriptors, dtype=np.float32)[None]

    def rank(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return z, np.argsort(-z, axis=1, kind="stable")


def test_the_live_engine_ranks_what_eval_scores() -> None:
    n = 60
    samples = RNG.normal(size=(n, 40, 8)) * np.exp(RNG.normal(size=(n, 1, 1)))  # activity varies
    scores = RNG.uniform(0, 1, size=(n, 4)).astype(np.float32)
    engine = LiveEngine(_ScoreModel(), LiveSettings.from_config({}))
    live = np.stack([engine.step(_Window(i, 0, i * 0.05, samples[i], scores[i])).scores for i in range(n)])
    offline = pool_recording(scores, window_activity(samples), np.arange(n) * 10, 10, _ScoreModel.context)
    np.testing.assert_allclose(live, offline, rtol=1e-5, atol=1e-6)
    assert not np.allclose(live, scores)  # the context did something


def test_choice_prefers_the_shorter_span_on_a_tie() -> None:
    from train.context_choice import best

    rows = [{"hops": 0, "beta": 0.0, "objective": 0.5}, {"hops": 8, "beta": 2.0, "objective": 0.7},
            {"hops": 4, "beta": 5.0, "objective": 0.70005}, {"hops": 4, "beta": 1.0, "objective": 0.6}]
    assert (best(rows)["hops"], best(rows)["beta"]) == (4, 5.0)
    assert best(rows[:1])["hops"] == 0


def test_mark_activity_marks_the_windows_activity_labels_keep(data_dir) -> None:
    from myosem_rt.config import load_config
    from myosem_rt.windowing import load_windows

    path = data_dir / "myodisco" / "S11_day1.mat"
    marked = load_windows([path], load_config(), mark_activity=0.5)
    kept = load_windows([path], load_config(), activity_fraction=0.5)
    assert marked.shows_cue is not None and kept.shows_cue is None
    np.testing.assert_array_equal(marked.start[marked.shows_cue], kept.start)
    assert 0 < marked.shows_cue.sum() < len(marked)
    sub = marked.subset(np.arange(0, len(marked), 3))
    np.testing.assert_array_equal(sub.shows_cue, marked.shows_cue[::3])


def test_shipped_myo_model_context_on_an_unseen_recording(data_dir) -> None:
    """MyoDisCo S11 was never trained on; the context chosen on training recordings must help there, by cue
    and on the active windows, and the active windows are scored after encoding the whole stream."""
    from myosem_rt.commands.eval import evaluate
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel

    model = MyoSemModel.load("myo-armband")
    assert model.context is not None and model.context.hops > 0
    files = [data_dir / "myodisco" / "S11_day1.mat"]
    for fraction in (None, 0.5):
        r = evaluate(model, "myo-armband", files, load_config(), n_resamples=0, episodes=2,
                     activity_fraction=fraction)
        assert r["context"]["hops"] == model.context.hops
        assert r["emg_to_text_context"]["R@1"] > r["emg_to_text"]["R@1"] + 0.03
    off = evaluate(model, "myo-armband", files, load_config(), n_resamples=0, episodes=2, context=None)
    assert "emg_to_text_context" not in off and off["context"] is None


def test_activity_scoring_encodes_the_whole_stream(data_dir) -> None:
    """The session statistics of an encoder see every window of a recording, as live; only the scoring is
    restricted to the windows whose activity shows the cue (encoding those alone inflated the figure)."""
    from myosem_rt.commands.eval import embed_files, encode
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel, trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    model = MyoSemModel.load("myo-armband")
    assert model.session_stats is not None
    path = data_dir / "myodisco" / "S11_day1.mat"
    got = embed_files(model, "myo-armband", [path], load_config(), activity_fraction=0.5)
    spec = WindowSpec(model.window, model.hop, model.patch, model.fs)
    ws = load_windows([path], trained_config(model, load_config()), spec=spec, mark_activity=0.5,
                      vocabulary=load_vocabulary(model.vocabulary))
    whole = encode(model, ws)
    np.testing.assert_allclose(got.z, whole[ws.shows_cue], atol=1e-5)
    np.testing.assert_array_equal(got.labels, ws.label[ws.shows_cue])
    alone = encode(model, ws.subset(ws.shows_cue))  # what the old scoring encoded
    assert np.abs(alone - got.z).max() > 1e-2


def test_live_context_can_be_switched_off() -> None:
    from myosem_rt.errors import ConfigError

    scores = RNG.uniform(0, 1, size=(5, 4)).astype(np.float32)
    engine = LiveEngine(_ScoreModel(), LiveSettings.from_config({"live": {"context": "off"}}))
    live = [engine.step(_Window(i, 0, i * 0.05, np.ones((40, 8)), scores[i])).scores for i in range(5)]
    np.testing.assert_array_equal(np.stack(live), scores)
    with pytest.raises(ConfigError, match="live.context must be 'model' or 'off'"):
        LiveSettings.from_config({"live": {"context": "yes"}})


def test_a_subsample_gets_no_context_figure(data_dir) -> None:
    from myosem_rt.commands.eval import evaluate
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel

    r = evaluate(MyoSemModel.load("myo-armband"), "myo-armband", [data_dir / "myodisco" / "S11_day1.mat"],
                 load_config(), n_resamples=0, episodes=2, max_windows_per_file=500)
    assert r["context"] is None and "emg_to_text_context" not in r
