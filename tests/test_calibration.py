"""Per-user calibration profiles (myosem_rt.calibration): the update rule, corrections, enrolled classes,
the profile files (round trip, every kind of damage refused with the file named), ``myosem live
--profile`` refusing a bad profile, and ``myosem calibrate-eval`` on real data.

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
from myosem_rt.calibration import Profile, ProfileError, model_sha
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


def test_round_trip(model: SimpleNamespace, tmp_path: Path) -> None:
    p = Profile.new(model, "alice")
    p.add_examples(0, l2_normalize(np.ones((2, D))))
    p.enroll("thumbs up", "Thumb up", np.eye(1, D, 7)[0], np.eye(1, D, 8))
    json_path, npz_path = p.save(tmp_path / "profiles" / "alice")
    assert json_path.name == "alice.json" and npz_path.name == "alice.npz"
    assert sorted(f.name for f in json_path.parent.iterdir()) == ["alice.json", "alice.npz"]  # no temp files
    for name in ("alice", "alice.json", "alice.npz"):
        q = Profile.load(tmp_path / "profiles" / name, model)
        for key in ("class_ids", "prototypes", "counts", "text_prototypes", "sums"):
            np.testing.assert_array_equal(getattr(q, key), getattr(p, key))
        assert q.enrolled == p.enrolled and q.user == "alice" and (q.k0, q.beta) == (p.k0, p.beta)
    q.correct(np.eye(1, D, 8)[0], 3)  # a loaded profile keeps learning
    assert q.counts[3] == 2
    q.save(json_path)  # overwrite in place
    assert Profile.load(json_path, model).counts[3] == 2


def _damage(case: str, base: Path, model: SimpleNamespace, tmp_path: Path) -> tuple[SimpleNamespace, str]:
    """Damage the saved profile at ``base`` (or give another model); returns the model and the file named."""
    import hashlib
    import io

    js, npz = base.with_suffix(".json"), base.with_suffix(".npz")
    if case == "corrupt-json":
        js.write_text(js.read_text()[:40])
        return model, "alice.json"
    if case == "missing-npz":
        npz.unlink()
        return model, "alice.npz"
    if case == "missing-key":
        meta = json.loads(js.read_text())
        del meta["model_sha"]
        js.write_text(json.dumps(meta))
        return model, "alice.json"
    if case == "truncated-npz":
        npz.write_bytes(npz.read_bytes()[:200])
        return model, "alice.npz"
    if case in ("nan", "bad-shape"):
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        if case == "nan":
            arrays["prototypes"][1, 3] = np.nan
        else:
            arrays["sums"] = arrays["sums"][:, :-1]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        npz.write_bytes(buf.getvalue())
        meta = json.loads(js.read_text())
        meta["arrays_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()  # consistent pair: the array
        js.write_text(json.dumps(meta))  # check itself must catch it
        return model, "alice.npz"
    if case == "other-model":
        return _fake_model(tmp_path / "other", manifest=b'{"schema": "other"}\n'), "alice.json"
    if case == "other-dim":
        other = _fake_model(model.directory, dim=D + 1)  # same manifest bytes, other embedding size
        other.prototypes = np.eye(3, D + 1, dtype=np.float32)
        return other, "alice.json"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["corrupt-json", "missing-npz", "missing-key", "truncated-npz", "nan",
                                  "bad-shape", "other-model", "other-dim"])
def test_damaged_profile_is_refused(case: str, model: SimpleNamespace, tmp_path: Path) -> None:
    p = Profile.new(model, "alice")
    p.add_examples(1, np.eye(1, D, 4))
    base = tmp_path / "alice"
    p.save(base)
    used, named = _damage(case, base, model, tmp_path)
    with pytest.raises(ProfileError) as err:
        Profile.load(base, used)
    msg = str(err.value)
    assert named in msg and "\n" not in msg, msg
    expect = {"corrupt-json": "not JSON", "missing-npz": "not found", "missing-key": "model_sha",
              "truncated-npz": "sha256", "nan": "NaN", "bad-shape": "'sums'", "other-model": "another model",
              "other-dim": "dimension"}[case]
    assert expect in msg, msg


# --- real data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_model_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return quick_3dc_model(data_dir, tmp_path_factory)


@pytest.mark.realdata
@pytest.mark.slow
def test_live_refuses_a_bad_profile(real_model_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from myosem_rt.model import MyoSemModel

    model = MyoSemModel.load(real_model_dir)
    p = Profile.new(model, "alice")
    p.save(tmp_path / "alice")
    (tmp_path / "alice.json").write_text("{not json")
    # the profile is checked before any stream is looked for (none exists under this name)
    argv = ["live", "--model", str(real_model_dir), "--profile", str(tmp_path / "alice"),
            "--name", "no-such-stream-calibration-test", "--duration", "1"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("myosem live: error:") and "alice.json" in err and len(err.splitlines()) == 1
    other = _fake_model(tmp_path / "other")
    Profile.new(other, "bob").save(tmp_path / "bob")
    assert cli.main([*argv[:4], str(tmp_path / "bob"), *argv[5:]]) == 2
    assert "another model" in capsys.readouterr().err


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
    after, _ = p.apply(model).rank(z[ev])
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
