"""Prototype blending (myosem_rt.calibration, the v1 calibration kept as a measured baseline): the update
rule, corrections, enrolled classes, and ``myosem calibrate-eval`` on real data. The wearer's profile
proper (files, damage, ``live --profile``) is tested in tests/test_profile.py.

Unit tests use a stand-in model (a directory with a manifest.json and three orthogonal prototypes); the
real-data ones the quick 3DC model of tests/test_query.py (trained once per session).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from myosem_rt import cli
from myosem_rt.calibration import ProfileError, model_sha
from myosem_rt.calibration import PrototypeBlend as Profile
from myosem_rt.text_encoder import l2_normalize
from tests.test_query import quick_3dc_model

D = 16


def _fake_model(folder: Path, dim: int = D, manifest: bytes = b'{"schema": "test"}\n') -> SimpleNamespace:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_bytes(manifest)
    return SimpleNamespace(directory=folder, dim=dim, class_ids=np.array([0, 1, 2]),
                           prototypes=np.eye(3, dim, dtype=np.float32), class_names=["rest", "fist", "open"],
                           descriptions=["relaxed", "a fist", "open hand"], actions=["rest", "fist", "open"],
                           classes=[{"id": i, "name": n, "t2": n}
                                    for i, n in enumerate(["rest", "fist", "open"])],
                           manifest={}, rank=None)


def _rank(model: SimpleNamespace, z: np.ndarray) -> list[int]:
    scores = l2_normalize(np.atleast_2d(z)) @ model.prototypes.T
    return [int(model.class_ids[i]) for i in np.argsort(-scores[0])]


@pytest.fixture
def model(tmp_path: Path) -> SimpleNamespace:
    return _fake_model(tmp_path / "model")


def test_new_profile_is_the_model(model: SimpleNamespace) -> None:
    p = Profile.new(model, "alice")
    assert p.model_sha == model_sha(model) and p.dim == D and p.user == "alice"
    np.testing.assert_array_equal(p.class_ids, [0, 1, 2])
    np.testing.assert_allclose(p.prototypes, model.prototypes)
    assert p.counts.tolist() == [0, 0, 0] and p.enrolled == []
    view = p.apply(model)
    assert view is not model and view.class_names == model.class_names
    np.testing.assert_allclose(view.prototypes, model.prototypes)


def test_update_rule(model: SimpleNamespace) -> None:
    p = Profile.new(model, "alice", k0=1.0, beta=1.0)
    emg = l2_normalize(np.eye(1, D, 5)[0] + 0.2 * np.eye(1, D, 1)[0])  # the user's fist lands off-text
    p.add_examples(1, emg[None])
    want = l2_normalize(0.5 * model.prototypes[1] + 0.5 * emg)  # w = 1 / (1 + 1)
    np.testing.assert_allclose(p.prototypes[1], want, atol=1e-6)
    p.add_examples(1, np.stack([emg, emg]))  # n = 3: w = 3/4
    want = l2_normalize(0.25 * model.prototypes[1] + 0.75 * emg)
    np.testing.assert_allclose(p.prototypes[1], want, atol=1e-6)
    np.testing.assert_allclose(p.prototypes[[0, 2]], model.prototypes[[0, 2]])  # others untouched
    assert p.counts.tolist() == [0, 3, 0]
    capped = Profile.new(model, "bob", k0=2.0, beta=0.5)
    assert capped.weight(2) == pytest.approx(0.25) and capped.weight(10**6) == pytest.approx(0.5, abs=1e-5)
    with pytest.raises(ProfileError, match="no class id 7"):
        p.add_examples(7, emg)
    with pytest.raises(ProfileError, match="NaN"):
        p.add_examples(1, np.full(D, np.nan))


def test_correction_moves_the_ranking(model: SimpleNamespace) -> None:
    p = Profile.new(model, "alice")
    # the user's "open" hop lands closer to the fist prototype than to the open one
    hop = l2_normalize(0.6 * np.eye(1, D, 1)[0] + 0.5 * np.eye(1, D, 2)[0] + 0.3 * np.eye(1, D, 9)[0])
    assert _rank(p.apply(model), hop)[0] == 1
    before = p.prototypes.copy()
    for _ in range(3):  # a user correcting the same mistake a few times
        p.correct(hop, 2)
    assert not np.allclose(p.prototypes[2], before[2]) and np.allclose(p.prototypes[[0, 1]], before[[0, 1]])
    view = p.apply(model)
    assert _rank(view, hop)[0] == 2
    assert (hop @ view.prototypes[2]) > (hop @ model.prototypes[2])


def test_enrolled_class_ranks(model: SimpleNamespace) -> None:
    p = Profile.new(model, "alice")
    text_z = l2_normalize(np.eye(1, D, 7)[0] + 0.1)
    examples = l2_normalize(np.eye(1, D, 8)[0] + 0.05 * np.random.default_rng(0).standard_normal((4, D)))
    new_id = p.enroll("thumbs up", "Thumb up, other fingers curled", text_z, examples)
    assert new_id == 3 and p.counts.tolist() == [0, 0, 0, 4]
    view = p.apply(model)
    assert view.class_ids.tolist() == [0, 1, 2, 3] and view.class_names[-1] == "thumbs up"
    assert view.descriptions[-1] == "Thumb up, other fingers curled" and len(view.classes) == 4
    assert model.class_names == ["rest", "fist", "open"]  # the model itself is unchanged
    assert _rank(view, examples[0])[0] == 3
    assert p.enroll("pointing", "Index finger pointing", np.eye(1, D, 11)[0], np.empty((0, D))) == 4
    with pytest.raises(ProfileError, match="already enrolled"):
        p.enroll("thumbs up", "again", text_z, examples)


# --- real data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_model_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quick_3dc_model(data_dir, tmp_path_factory)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_corrections_and_calibrate_eval(real_model_dir: Path, data_dir: Path, threedc_file: Path,
                                             tmp_path: Path) -> None:
    from myosem_rt.commands.calibrate import halves
    from myosem_rt.commands.eval import encode
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel, trained_config
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.windowing import load_windows

    model = MyoSemModel.load(real_model_dir)
    spec = WindowSpec(model.window, model.hop, model.patch, model.fs)
    ws = load_windows([threedc_file], trained_config(model, load_config(None)), spec=spec)
    ws = ws.subset(ws.repetition >= 5)  # never trained on
    pool, ev = halves(ws)
    assert not (pool & ev).any() and (pool | ev).all()
    assert set(np.unique(ws.repetition[pool])) == {5, 6} and set(np.unique(ws.repetition[ev])) == {7, 8}
    z = encode(model, ws)
    # corrections with real embeddings: the worst-ranked class gains on held-out windows of it
    scores, _ = model.rank(z[ev])
    cols = np.searchsorted(model.class_ids, ws.label[ev])
    acc = [(scores.argmax(1)[cols == c] == c).mean() for c in range(len(model.class_ids))]
    worst = int(np.argmin(acc))
    cid = int(model.class_ids[worst])
    p = Profile.new(model, "s1")
    for i in np.flatnonzero(pool & (ws.label == cid))[::10][:5]:
        p.correct(z[i], cid)
    after = z[ev] @ p.prototypes.T
    assert (after.argmax(1)[cols == worst] == worst).mean() > acc[worst]
    # the command: pooled before/after figures, written where asked
    out = tmp_path / "res"
    assert cli.main(["-q", "calibrate-eval", "--model", str(real_model_dir), "--data", str(data_dir),
                     "--protocol", "3dc-rand", "--subjects", "1", "--k", "1", "5", "--repeats", "3",
                     "--results", str(out)]) == 0
    res = json.loads((out / "calibration.json").read_text())["3dc-rand"]
    assert res["n_files"] == 1 and res["n_eval_windows"] == int(ev.sum())
    assert set(res["after"]) == {"1", "5"} and res["after"]["5"]["R@1_std"] >= 0
    table = (out / "calibration.md").read_text()
    assert "| protocol | in-distribution R@1 | before | k=1 | k=5 |" in table and "| 3dc-rand |" in table
    assert res["command"].startswith("myosem calibrate-eval --model ") and "--subjects 1" in res["command"]
