"""The wearer's profile (myosem_rt.profile): activity labels, the head seen as a model, crash-safe files,
enrolment from real recordings, and the commands that use a profile (enrol, eval, query, live).

Real-data tests enrol on repetition 1 of a 3DC recording (or day 1 of MultiDay) and score repetitions 5-8
(or a later day), never the enrolment itself.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from myosem_rt import cli
from myosem_rt.config import load_config
from myosem_rt.profile import CalibratedModel, ProfileError, UserProfile
from myosem_rt.profile.adapt import OFF
from myosem_rt.profile.labels import ActivityError, activity_mask
from myosem_rt.profile.profile import json_path


def _profile(n_per: int = 30, k: int = 3, f: int = 6, seed: int = 0) -> UserProfile:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, f))
    labels = np.repeat(np.arange(k), n_per)
    feats = (centres[labels] + rng.normal(0, 1, (labels.size, f))).astype(np.float32)
    protos = np.eye(k, 8, dtype=np.float32) + 0.1
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    classes = [{"id": i, "name": f"c{i}", "description": f"gesture {i}", "origin": "new"} for i in range(k)]
    layout = {"n_channels": 2, "fs": 1000.0, "window_ms": 200.0, "hop_ms": 50.0, "patch_ms": 25.0,
              "filters": {"bandpass_hz": [20.0, 450.0], "bandpass_order": 4, "notch_hz": 50.0,
                          "notch_q": 30.0}}
    return UserProfile("alice", layout, None, {"model": "3dc-armband"}, classes, protos, feats, labels,
                       np.zeros(labels.size, np.int8), np.ones(2))


# --- activity labels ----------------------------------------------------------------------------------


def test_activity_drops_late_onset_and_fidgets() -> None:
    # rest trial (class 0) at level 0 with two fidget windows; gesture trial (class 1): 4 windows of late
    # reaction at rest level, then the plateau at 3
    label = np.array([0] * 10 + [1] * 14)
    act = np.array([0.0] * 8 + [3.0, 3.0] + [0.0] * 4 + [3.0] * 10)
    keep, report = activity_mask(label, label, act, 0.5)
    assert keep[:8].all() and not keep[8:10].any()  # fidgets out of "rest"
    assert not keep[10:14].any() and keep[14:].all()  # late reaction out of the gesture
    assert report.mode == "cue + activity" and report.kept == {0: 8, 1: 10}


def test_a_gesture_never_performed_is_refused_or_kept_by_cue() -> None:
    label = np.array([0] * 10 + [1] * 10 + [2] * 10)
    act = np.concatenate([np.zeros(10), np.full(10, 3.0), np.full(10, 0.05)])
    with pytest.raises(ActivityError, match="no muscle activity above rest while cued: g2"):
        activity_mask(label, label, act, 0.5, names={2: "g2"})
    keep, _ = activity_mask(label, label, act, 0.5, weak="cue")
    assert keep[20:].all()


def test_rest_louder_than_gestures_falls_back_to_cue_labels() -> None:
    label = np.array([0] * 10 + [1] * 10 + [2] * 10)
    act = np.concatenate([np.full(10, 2.0), np.zeros(10), np.full(10, 0.5)])
    keep, report = activity_mask(label, label, act, 0.5)
    assert keep.all() and report.mode == "cue only"


# --- the profile as a model ---------------------------------------------------------------------------


def test_view_ranks_by_the_heads_posterior_and_embeds_in_text_space(monkeypatch) -> None:
    p = _profile()
    view = CalibratedModel.__new__(CalibratedModel)  # no layout / model needed for the ranking maths
    view.profile, view.base_model = p, None
    view.adapt_settings, view._adapt = OFF, None  # the head alone (session adaptation: test_adapt.py)
    view.refresh()
    f = p.features
    z = view.embed_features(f)
    post = p.head().posterior(f)
    scores, order = view.rank(z)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert np.allclose(scores, post, atol=1e-4)  # the posterior comes back exactly from z_hat
    assert (order[:, 0] == post.argmax(axis=1)).all()
    # a typed text equal to class 1's description embedding scores class 1's windows highest
    t = view.prototypes[1]
    by_class = [float((z[p.labels == c] @ t).mean()) for c in range(3)]
    assert int(np.argmax(by_class)) == 1


def test_new_gesture_and_feedback_refit_the_head() -> None:
    p = _profile()
    n = p.labels.size
    rng = np.random.default_rng(1)
    new = p.add_class("wave", "waving the hand", rng.normal(size=8), rng.normal(9, 1, (20, 6)))
    assert new == 3 and p.labels.size == n + 20 and p.head().class_ids.tolist() == [0, 1, 2, 3]
    with pytest.raises(ProfileError, match="exists already"):
        p.add_class("wave", "again", rng.normal(size=8), rng.normal(size=(3, 6)))
    with pytest.raises(ProfileError, match="no class id 9"):
        p.add_examples(9, rng.normal(size=(2, 6)))
    p.add_examples(0, p.features[p.labels == 0][:5])
    assert (p.source == 1).sum() == 25


# --- files --------------------------------------------------------------------------------------------


def test_save_load_round_trip_and_old_arrays_removed(tmp_path: Path) -> None:
    p = _profile()
    first = p.save(tmp_path / "alice")
    arrays1 = json.loads(first.read_text())["arrays_file"]
    p.add_examples(1, p.features[:3])
    p.save(tmp_path / "alice.json")
    meta = json.loads(first.read_text())
    assert meta["arrays_file"] != arrays1 and not (tmp_path / arrays1).exists()
    q = UserProfile.load(tmp_path / "alice")
    for key, value in p.arrays().items():
        assert np.array_equal(q.arrays()[key], value)
    assert q.classes == p.classes and q.layout == p.layout


def test_a_crash_between_the_two_files_leaves_the_old_profile(tmp_path: Path) -> None:
    p = _profile()
    p.save(tmp_path / "alice")
    before = UserProfile.load(tmp_path / "alice").labels.size
    p.add_examples(1, p.features[:3])
    # the new arrays file is written, then the process dies before the JSON rename
    import io

    buf = io.BytesIO()
    np.savez(buf, **p.arrays())
    (tmp_path / "alice.0123456789ab.npz").write_bytes(buf.getvalue())
    assert UserProfile.load(tmp_path / "alice").labels.size == before


@pytest.mark.parametrize("edit", ["field", "truncate", "missing"])
def test_damaged_profile_is_refused(edit: str, tmp_path: Path) -> None:
    target = _profile().save(tmp_path / "alice")
    meta = json.loads(target.read_text())
    arrays = tmp_path / meta["arrays_file"]
    if edit == "field":
        meta["user"] = "mallory"
        target.write_text(json.dumps(meta))
        match = "changed after it was saved"
    elif edit == "truncate":
        arrays.write_bytes(arrays.read_bytes()[:100])
        match = "sha256 differs"
    else:
        arrays.unlink()
        match = "arrays not found"
    with pytest.raises(ProfileError, match=match):
        UserProfile.load(tmp_path / "alice")


# --- real recordings ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config(None)


@pytest.mark.realdata
def test_enrolment_on_real_3dc_beats_the_uncalibrated_model(data_dir: Path, config: dict) -> None:
    """S18: the one 3DC subject the shipped model never trained on."""
    from myosem_rt.commands.eval import encode
    from myosem_rt.model import MyoSemModel
    from myosem_rt.profile.enrol import _windows, enrol_from_session
    from myosem_rt.recordings import load_session

    model = MyoSemModel.load("3dc-armband")
    session = load_session(data_dir / "3dc" / "S18_E1_A1.mat")
    profile, report = enrol_from_session(session, config, model=model, trials=1, user="s18")
    assert profile.recording["repetitions"] == [1] and report["fit_ms"] < 5000
    view = CalibratedModel(profile, model)
    test = _windows(session, config, model)
    test = test.subset(test.repetition >= 5)
    r1 = float(np.mean(view.class_ids[view.rank(encode(view, test))[1][:, 0]] == test.label))
    zero = float(np.mean(model.class_ids[(encode(model, test) @ model.prototypes.T).argmax(1)] == test.label))
    assert r1 > 0.6 and r1 > zero + 0.1, (r1, zero)


@pytest.mark.realdata
def test_profile_and_encoder_share_one_feature_pass(threedc_file: Path, config: dict) -> None:
    """A profile on an encoder with window-level descriptors computes both feature sets in one pass: the
    same numbers as computing each on its own (the profile's noise threshold and the encoder's differ)."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.profile.enrol import _windows, window_features
    from myosem_rt.profile.features import classical_features, classical_features_for
    from myosem_rt.recordings import load_session

    model = MyoSemModel.load("3dc-armband")
    assert model.feature_set  # the shipped 3DC encoder takes window features
    ws = _windows(load_session(threedc_file), config, model)
    x, desc = ws.x[::40], ws.desc[::40]
    eps = 0.3 * np.asarray(model.feature_eps)
    mine, theirs = classical_features_for(x, [(eps, "td+cov+d+z"), (model.feature_eps, model.feature_set)])
    np.testing.assert_array_equal(mine, classical_features(x, eps, "td+cov+d"))
    np.testing.assert_array_equal(theirs, model.window_features(x))
    assert not np.array_equal(mine, theirs)  # the thresholds matter: a test that could fail
    model.new_session()  # an encoder with session statistics: each call continues the stream
    both = window_features(x, eps, "td+cov+d+z", model, desc)
    model.new_session()
    np.testing.assert_allclose(both[:, mine.shape[1]:], model.encode(x, desc), atol=1e-6)
    np.testing.assert_array_equal(both[:, :mine.shape[1]], mine)


@pytest.mark.realdata
def test_bad_enrolments_name_the_problem(threedc_file: Path, config: dict) -> None:
    from myosem_rt.profile.enrol import enrol_from_session
    from myosem_rt.recordings import load_session

    s = load_session(threedc_file)
    emg = np.array(s.emg)
    emg[:, 3] = 0.0  # a dead electrode
    with pytest.raises(ProfileError, match="channel.*ch4.*flat"):
        enrol_from_session(replace(s, emg=emg), config, trials=1)
    # class 7 (Power Grip) "performed" with the rest trial's samples: no activity above rest
    emg = np.array(s.emg)
    rep1 = s.repetition == 1
    rest, grip = np.flatnonzero(rep1 & (s.label == 0)), np.flatnonzero(rep1 & (s.label == 7))
    n = min(rest.size, grip.size)
    emg[grip[:n]] = emg[rest[:n]]
    with pytest.raises(ActivityError, match="Power Grip"):
        enrol_from_session(replace(s, emg=emg), config, trials=1)


@pytest.mark.realdata
def test_enrol_eval_query_commands(threedc_file: Path, tmp_path: Path, capsys) -> None:
    prof = tmp_path / "me"
    assert cli.main(["enrol", "--recording", str(threedc_file), "--trials", "1", "--profile", str(prof),
                     "--user", "s1"]) == 0
    assert json_path(prof).is_file()
    assert cli.main(["enrol", "--recording", str(threedc_file), "--trials", "1", "--profile", str(prof)]) == 2
    assert "exists already" in capsys.readouterr().err
    out = tmp_path / "eval.json"
    assert cli.main(["-q", "eval", "--profile", str(prof), "--data", str(threedc_file), "--repetitions",
                     "5-8", "--episodes", "10", "--bootstrap", "5", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n_windows"] > 3000 and r["emg_to_text"]["R@1"] > 0.6
    # without --repetitions the enrolment's own repetition is never scored
    assert cli.main(["-q", "eval", "--profile", str(prof), "--data", str(threedc_file), "--episodes", "5",
                     "--bootstrap", "2", "--json", str(out), "--force"]) == 0
    assert json.loads(out.read_text())["n_windows"] < r["n_windows"] * 7 / 4 + 1
    q = tmp_path / "q.json"
    assert cli.main(["-q", "query", "clench my fist tightly", "--profile", str(prof), "--data",
                     str(threedc_file), "--repetitions", "5", "6", "7", "8", "--json", str(q)]) == 0
    assert json.loads(q.read_text())["best_class"] == "Power Grip"
    assert cli.main(["eval", "--profile", str(prof), "--data", str(threedc_file), "--json",
                     str(tmp_path / "no" / "such" / "eval.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.realdata
def test_device_only_profile_on_multiday(data_dir: Path, tmp_path: Path, capsys) -> None:
    day1, day4 = data_dir / "multiday" / "S1_D1.mat", data_dir / "multiday" / "S1_D4.mat"
    prof = tmp_path / "md"
    assert cli.main(["enrol", "--recording", str(day1), "--profile", str(prof)]) == 0
    text = capsys.readouterr().out
    assert "'Wrist Adduction' -> wrist_ulnar_deviation" in text and "labels: cue only" in text
    meta = json.loads(json_path(prof).read_text())
    assert meta["model"] is None and meta["layout"]["n_channels"] == 4 and meta["layout"]["fs"] == 2048.0
    assert meta["feature_set"] == "td+cov+d+dd"  # "auto" without a model
    out = tmp_path / "e.json"
    assert cli.main(["-q", "eval", "--profile", str(prof), "--data", str(day4), "--episodes", "10",
                     "--bootstrap", "5", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["emg_to_text"]["R@1"] > 0.6


@pytest.mark.realdata
def test_swapped_leads_are_found_and_undone(data_dir: Path, config: dict) -> None:
    """Channels 2 and 4 of a later MultiDay day inverted by hand: the view finds exactly those from the
    first 2 s (no labels) and scores as on the untouched day; the untouched day flips nothing."""
    from myosem_rt.commands.eval import encode
    from myosem_rt.profile.enrol import _windows, enrol_from_session
    from myosem_rt.recordings import load_session

    profile, _ = enrol_from_session(load_session(data_dir / "multiday" / "S1_D1.mat"), config, trials=1)
    view = CalibratedModel(profile, None)
    s = load_session(data_dir / "multiday" / "S1_D4.mat")
    flipped = replace(s, emg=np.array(s.emg) * np.array([1, -1, 1, -1], dtype=np.float32))
    r1 = {}
    for name, session in (("same", s), ("flipped", flipped)):
        ws = _windows(session, config, None)
        view.new_session()
        r1[name] = float(np.mean(view.class_ids[view.rank(encode(view, ws))[1][:, 0]] == ws.label))
        assert view.signs.tolist() == ([1, 1, 1, 1] if name == "same" else [1, -1, 1, -1])
    assert abs(r1["same"] - r1["flipped"]) < 0.02 and r1["same"] > 0.8, r1


@pytest.mark.realdata
def test_any_armband_one_channel_at_100_hz(threedc_file: Path, config: dict) -> None:
    """The smallest device the profile accepts: one channel at 100 Hz (3DC S1 channel 2, decimated 10x)."""
    from scipy.signal import decimate

    from myosem_rt.commands.eval import encode
    from myosem_rt.profile.enrol import _windows, enrol_from_session
    from myosem_rt.recordings import load_session
    from myosem_rt.recordings.session import Session

    s = load_session(threedc_file)
    emg = decimate(np.asarray(s.emg[:, 1], np.float64), 10)[:, None].astype(np.float32)
    n = emg.shape[0]
    tiny = Session(emg=emg, label=s.label[::10][:n], repetition=s.repetition[::10][:n], fs=100.0,
                   class_names=dict(s.class_names), dataset="one-channel", subject=1, session="day1")
    profile, _ = enrol_from_session(tiny, config, trials=1, weak="cue")
    view = CalibratedModel(profile, None)
    assert profile.model is None and view.window == 16 and view.n_channels == 1
    ws = _windows(tiny, config, None)
    test = ws.subset(ws.repetition >= 5)
    r1 = float(np.mean(view.class_ids[view.rank(encode(view, test))[1][:, 0]] == test.label))
    # one channel below 50 Hz holds little of 3DC's EMG: about 0.12 over ~4000 windows, still above chance
    assert r1 > 1 / 11 + 0.01, r1



@pytest.mark.realdata
def test_activity_windows_judged_per_recording_before_subsampling(data_dir: Path, config: dict) -> None:
    """``load_windows(activity_fraction=...)`` (train / eval --labels activity) keeps exactly the windows the
    enrolment rule keeps on each recording alone, and subsamples only after."""
    from myosem_rt.profile.labels import window_set_mask
    from myosem_rt.windowing import load_windows

    files = [data_dir / "ciil_shift" / "S1_train.mat", data_dir / "ciil_shift" / "S2_train.mat"]
    both = load_windows(files, config, activity_fraction=0.5)
    for i, f in enumerate(files):
        full = load_windows([f], config)
        want = set(full.start[window_set_mask(full, 0.5, weak="cue")[0]].tolist())
        got = set(both.start[both.file_index == i].tolist())
        assert got == want and 0 < len(want) < len(full)
    few = load_windows(files[:1], config, activity_fraction=0.5, max_windows_per_file=100)
    assert len(few) == 100 and set(few.start.tolist()) <= set(both.start[both.file_index == 0].tolist())
