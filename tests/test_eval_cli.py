"""``myosem eval``: windows as the model was trained, protocols, figures, JSON and one-line errors.

The runtime model loader is replaced by a fake with the MyoSemModel interface: a nearest-centroid model on
mean log-energy descriptors, whose prototypes are fitted on CIIL ElectrodeShift S1 ``train``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from myosem_rt import cli
from myosem_rt.commands import eval as eval_cmd
from myosem_rt.config import default_config
from myosem_rt.windowing import load_windows

CONFIG = default_config()


class FakeModel:
    """The MyoSemModel interface: lengths in samples, class ids / names, prototypes, encode, manifest."""

    def __init__(self, prototypes: np.ndarray, class_ids: list[int], *, n_channels: int = 8,
                 fs: float = 200.0, window: int = 40, hop: int = 10, patch: int = 5,
                 filters: dict | None = None, centre: np.ndarray | None = None,
                 vocabulary: str = "myodisco") -> None:
        self.vocabulary = vocabulary
        self.prototypes = prototypes / np.linalg.norm(prototypes, axis=1, keepdims=True)
        self.class_ids = class_ids
        self.class_names = {i: f"class {i}" for i in class_ids}
        self.n_channels, self.fs, self.window, self.hop, self.patch = n_channels, fs, window, hop, patch
        self.window_ms, self.hop_ms, self.patch_ms = (1000.0 * v / fs for v in (window, hop, patch))
        self.manifest = {"filters": filters if filters is not None else CONFIG["filters"]}
        self.centre = centre if centre is not None else np.zeros(prototypes.shape[1])
        self.seen_x: list[np.ndarray] = []

    def encode(self, x: np.ndarray, desc: np.ndarray) -> np.ndarray:
        self.seen_x.append(x)
        z = desc[..., 1].mean(axis=1) - self.centre  # mean log-energy per channel, centred
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def myo_file(data_dir: Path) -> Path:
    return data_dir / "myodisco" / "S1_day1.mat"


@pytest.fixture(scope="module")
def ciil_train(data_dir: Path) -> Path:
    return data_dir / "ciil_shift" / "S1_train.mat"


@pytest.fixture(scope="module")
def centroid_model(ciil_train: Path) -> FakeModel:
    ws = load_windows([ciil_train], CONFIG)
    feat = ws.desc[..., 1].mean(axis=1)
    centre = feat.mean(axis=0)
    protos = np.stack([(feat[ws.label == c] - centre).mean(axis=0) for c in range(5)])
    return FakeModel(protos, list(range(5)), centre=centre, vocabulary="ciil")


def _random_model(n_classes: int = 10, **kwargs) -> FakeModel:
    dim = kwargs.get("n_channels", 8)
    return FakeModel(np.random.default_rng(0).normal(size=(n_classes, dim)), list(range(n_classes)), **kwargs)


def _main(monkeypatch: pytest.MonkeyPatch, model: FakeModel, argv: list[str]) -> int:
    monkeypatch.setitem(cli.COMMANDS, "eval", "myosem_rt.commands.eval")
    monkeypatch.setattr(eval_cmd, "_load_model", lambda path: model)
    return cli.main(["-q", "eval", "--model", "MODEL_DIR", *argv])


@pytest.mark.realdata
def test_eval_protocol_prints_and_writes_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                              tmp_path: Path, data_dir: Path,
                                              centroid_model: FakeModel) -> None:
    out = tmp_path / "figures.json"
    argv = ["--data", str(data_dir), "--protocol", "ciil-shift", "--subjects", "1", "--json", str(out)]
    assert _main(monkeypatch, centroid_model, argv) == 0
    text = capsys.readouterr().out
    assert "EMG->text" in text and "text->EMG" in text and "chance" in text and "R@5" in text
    result = json.loads(out.read_text())
    shifted = load_windows([data_dir / "ciil_shift" / f"S1_shift{i}.mat" for i in range(1, 5)], CONFIG)
    assert result["n_windows"] == len(shifted) and result["protocol"] == "ciil-shift"
    e2t, t2e = result["emg_to_text"], result["text_to_emg"]
    assert e2t["chance"]["R@1"] == pytest.approx(0.2) and t2e["chance"]["R@1"] == pytest.approx(0.2)
    # the centroid model retrieves across the electrode shift: well above chance in both directions
    assert e2t["R@1"] > 0.35 and t2e["R@1"] > 0.4 and e2t["MRR"] > e2t["chance"]["MRR"] + 0.1
    assert 0 < e2t["std"]["R@1"] < 0.05 and 0 < t2e["se"]["R@1"] < 0.05
    assert f"{e2t['R@1']:.3f} ± {e2t['std']['R@1']:.3f}" in text


@pytest.mark.realdata
def test_shuffled_prototypes_fall_to_chance(ciil_train: Path, centroid_model: FakeModel) -> None:
    good = eval_cmd.evaluate(centroid_model, "m", [ciil_train], CONFIG, episodes=30, n_resamples=20)
    shuffled = FakeModel(centroid_model.prototypes[np.roll(np.arange(5), 2)], list(range(5)),
                         centre=centroid_model.centre, vocabulary="ciil")
    bad = eval_cmd.evaluate(shuffled, "m", [ciil_train], CONFIG, episodes=30, n_resamples=20)
    assert good["n_windows"] == bad["n_windows"] == len(load_windows([ciil_train], CONFIG))  # every window
    assert bad["emg_to_text"]["R@1"] < 0.2 < 0.8 < good["emg_to_text"]["R@1"]


@pytest.mark.realdata
def test_eval_uses_the_models_windows_and_filters(myo_file: Path) -> None:
    from myosem_rt.recordings import load_session

    raw = _random_model(window=80, hop=40, patch=10, filters={"bandpass_hz": None, "notch_hz": None})
    result = eval_cmd.evaluate(raw, "m", [myo_file], CONFIG, max_windows_per_file=50, episodes=5,
                               n_resamples=5)
    assert result["window"] == {"window": 80, "hop": 40, "patch": 10, "fs": 200.0}
    x = np.concatenate(raw.seen_x)
    emg = load_session(myo_file).emg
    assert x.shape == (50, 80, 8)
    # unfiltered, so every window is a verbatim slice of the recording
    starts = [int(np.flatnonzero((emg[:-79] == w[0]).all(axis=1) & (emg[79:] == w[-1]).all(axis=1))[0])
              for w in x[:5]]
    for s, w in zip(starts, x[:5], strict=True):
        np.testing.assert_array_equal(emg[s : s + 80], w)


@pytest.mark.realdata
def test_held_out_classes_reported(data_dir: Path) -> None:
    model = _random_model(11, n_channels=10, fs=1000.0, window=200, hop=50, patch=25, vocabulary="3dc")
    from myosem_rt.protocols import split
    from myosem_rt.vocab import load_vocabulary

    model.actions = [c.action for c in sorted(load_vocabulary("3dc").classes, key=lambda c: c.class_id)]

    sp = split("3dc-class", data_dir, subjects=[1])
    result = eval_cmd.evaluate(model, "m", sp.test_files, CONFIG, mask=sp.test_mask,
                               held_out=sp.held_out_classes, max_windows_per_file=800, episodes=5,
                               n_resamples=5)
    assert set(result["classes"]) == set(range(11))
    held = sum(n for c, n in result["classes"].items() if c in sp.held_out_classes)
    assert result["emg_to_text_held_out"]["n"] == held and result["emg_to_text_seen"]["n"] == (
        result["n_windows"] - held)
    # held-out classes only as candidates: 3 candidates, the held-out windows, chance 1/3
    only, t2e = result["emg_to_text_held_out_only"], result["text_to_emg_held_out_only"]
    assert only["n"] == held and only["n_candidates"] == len(sp.held_out_classes) == 3
    assert only["chance"]["R@1"] == pytest.approx(1 / 3) and t2e["n_queries"] == 3
    # fewer candidates can only lift a window's rank: R@1 among 3 >= R@1 among all 11
    assert only["R@1"] >= result["emg_to_text_held_out"]["R@1"]
    assert "EMG->text held-out" in eval_cmd.format_table(result)
    assert "EMG->text h-o only" in eval_cmd.format_table(result)
    # grouped (myosem_rt/groups.py): the recording's held-out windows in 3 groups, one name each
    grouped = result["emg_to_text_held_out_only_grouped"]
    assert grouped["n"] == held and result["text_to_emg_held_out_only_grouped"]["n_queries"] == 3
    assert (np.asarray(grouped["confusion"]["counts"]).sum(axis=0) > 0).all()
    assert "EMG->text h-o grp" in eval_cmd.format_table(result)
    # the held-out actions placed by their muscles too (myosem_rt/anatomy.py): other prototypes, same windows
    anatomy = result["emg_to_text_held_out_only_anatomy"]
    assert anatomy["n"] == held and result["text_to_emg_held_out_only_anatomy"]["n_queries"] == 3
    assert "EMG->text h-o anat" in eval_cmd.format_table(result)
    # grouped causally, named by the anatomy (every 3DC action has a muscle entry)
    causal = result["emg_to_text_held_out_only_causal"]
    assert causal["n"] == held and result["held_out_only_causal_by"] == "anatomy"
    assert "EMG->text anat c-grp" in eval_cmd.format_table(result)
    gen = result["generalised"]  # seen and held-out compete: the calibrated-stacking curve
    zero = gen["gamma"].index(0.0)  # no stacking: the figure ranked among all candidates
    assert gen["held_out"][zero] == pytest.approx(result["emg_to_text_held_out"]["R@1"])
    assert gen["held_out"][-1] >= gen["held_out"][0] and gen["seen"][-1] <= gen["seen"][0]
    assert gen["false_alarm"][-1] >= gen["false_alarm"][0]  # a larger offset takes more known windows
    assert "emg_to_text_held_out_only_context" not in result  # this model has no activity context


@pytest.mark.realdata
def test_held_out_classes_through_the_activity_context(data_dir: Path) -> None:
    """With a context the held-out-only candidates are ranked through it too: the pooled scores of the
    held-out windows, restricted to the held-out classes' columns."""
    from myosem_rt.context import ContextSpec
    from myosem_rt.protocols import split
    from myosem_rt.retrieval import emg_to_text_scores

    model = _random_model(11, n_channels=10, fs=1000.0, window=200, hop=50, patch=25, vocabulary="3dc")
    model.context = ContextSpec(8, 2.0)
    sp = split("3dc-class", data_dir, subjects=[1])
    result = eval_cmd.evaluate(model, "m", sp.test_files, CONFIG, mask=sp.test_mask,
                               held_out=sp.held_out_classes, episodes=5, n_resamples=5)
    got = result["emg_to_text_held_out_only_context"]
    e = eval_cmd.embed_files(model, "m", sp.test_files, CONFIG, mask=sp.test_mask)
    assert np.abs(e.context_scores - e.z @ np.asarray(model.prototypes).T).max() > 1e-3  # pooling acted
    ids, held = np.asarray(model.class_ids), list(sp.held_out_classes)
    unseen, only = np.isin(e.labels, held), np.isin(ids, held)
    want = emg_to_text_scores(e.context_scores[unseen][:, only], e.labels[unseen], ids[only], n_resamples=5,
                              seed=0)
    assert got["n"] == int(unseen.sum()) and got["n_candidates"] == 3
    assert got["R@1"] == pytest.approx(want["R@1"]) and got["MRR"] == pytest.approx(want["MRR"])
    assert "EMG->text h-o ctx" in eval_cmd.format_table(result)


@pytest.mark.realdata
def test_eval_refuses_other_held_out_classes_than_trained(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, data_dir: Path) -> None:
    """Issue 17: a model trained holding out 1, 5, 9 scored as if 3, 6, 10 were unseen would report
    zero-shot figures for classes it trained on."""
    model = _random_model(11, n_channels=10, fs=1000.0, window=200, hop=50, patch=25, vocabulary="3dc")
    model.manifest = {"classes": {"held_out_class_ids": [1, 5, 9]}}
    assert _main(monkeypatch, model, ["--data", str(data_dir), "--protocol", "3dc-class"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained holding out classes [1, 5, 9], not [3, 6, 10]" in err[0]


@pytest.mark.realdata
@pytest.mark.parametrize("kind, argv_extra, message", [
    ("rate", [], "model MODEL_DIR expects 10 ch @ 1000 Hz but"),
    ("vocab", [], "data classes [5, 6, 7, 8, 9] are not in the vocabulary of model MODEL_DIR"),
    ("protocol", ["--protocol", "nope"], "unknown protocol 'nope'"),
    ("mixed", [], "vocabulary 'ciil' has no class for myodisco class 1 'double_tap' (action double_tap)"),
])
def test_one_line_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, myo_file: Path,
                         data_dir: Path, tmp_path: Path, kind: str, argv_extra: list[str],
                         message: str) -> None:
    if kind == "rate":
        model = _random_model(n_channels=10, fs=1000.0, window=200, hop=50, patch=25)
    else:
        model = _random_model(5)
    data = str(data_dir) if kind == "protocol" else str(myo_file)
    if kind == "mixed":  # two datasets of one device; MyoDisCo's classes have no CIIL counterpart
        model = _random_model(5, vocabulary="ciil")
        (tmp_path / "a.mat").symlink_to(myo_file)
        (tmp_path / "b.mat").symlink_to(data_dir / "ciil_shift" / "S1_train.mat")
        data = str(tmp_path)
    assert _main(monkeypatch, model, ["--data", data, *argv_extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    if kind == "rate":
        assert str(myo_file) in err[0] and "8 ch @ 200 Hz" in err[0]


@pytest.mark.realdata
def test_other_dataset_of_the_device_is_translated_by_action(data_dir: Path, ciil_train: Path) -> None:
    """A MyoDisCo-vocabulary model tested on a CIIL recording: CIIL ids become MyoDisCo ids of the same
    action (1 Hand_Close -> 5 hand_close, 3 Wrist_Extension -> 2 extension ...), never compared raw."""
    own = load_windows([ciil_train], CONFIG)
    result = eval_cmd.evaluate(_random_model(), "m", [ciil_train], CONFIG, episodes=3, n_resamples=3)
    expected = {0: 0, 1: 5, 2: 6, 3: 2, 4: 4}
    assert result["classes"] == {expected[c]: n for c, n in own.class_counts().items()}
    assert result["dataset"] == "CIIL_ElectrodeShift"


@pytest.mark.realdata
def test_eval_path_needs_no_torch(myo_file: Path) -> None:
    code = (
        "import sys, numpy as np, myosem_rt.commands.eval, myosem_rt.protocols, myosem_rt.retrieval as r;"
        "from myosem_rt.config import default_config; from myosem_rt.windowing import load_windows;"
        f"ws = load_windows([{str(myo_file)!r}], default_config(), max_windows_per_file=100);"
        "z = ws.desc[..., 1].mean(axis=1); r.emg_to_text(z, ws.label, np.eye(10, 8), list(range(10)));"
        "assert 'torch' not in sys.modules and 'train' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


@pytest.mark.realdata
def test_activity_labels_score_only_the_held_gesture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     ciil_train: Path, centroid_model: FakeModel) -> None:
    """--labels activity scores the windows whose activity shows the cued gesture: a subset of the cue's
    windows, the same rule as enrolment (myosem_rt/profile/labels.py), recorded in the figures."""
    cue, act = tmp_path / "cue.json", tmp_path / "act.json"
    assert _main(monkeypatch, centroid_model, ["--data", str(ciil_train), "--json", str(cue)]) == 0
    assert _main(monkeypatch, centroid_model, ["--data", str(ciil_train), "--labels", "activity",
                                               "--json", str(act)]) == 0
    c, a = json.loads(cue.read_text()), json.loads(act.read_text())
    kept = load_windows([ciil_train], CONFIG, activity_fraction=0.5)
    assert c["labels"] == "cue" and a["labels"] == "activity"
    assert a["n_windows"] == len(kept) < c["n_windows"] == len(load_windows([ciil_train], CONFIG))


def test_confusion_counts_match_the_per_class_recall() -> None:
    from myosem_rt.retrieval import confusion, emg_to_text_scores

    labels = np.array([3, 3, 3, 5, 5, 9])
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1],
                       [0.1, 0.9, 0.0], [0.0, 0.2, 0.8], [0.1, 0.1, 0.8]])
    e2t = emg_to_text_scores(scores, labels, [3, 5, 9], n_resamples=5)
    assert e2t["confusion"] == {"class_ids": [3, 5, 9], "counts": [[2, 1, 0], [0, 1, 1], [0, 0, 1]]}
    assert e2t["per_class"] == {3: pytest.approx(2 / 3), 5: 0.5, 9: 1.0}
    assert confusion(np.array([1]), np.array([7]), [3, 7])["counts"] == [[0, 1]]


@pytest.mark.realdata
def test_eval_prints_the_confusion_matrix_and_plots_it(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture, tmp_path: Path,
                                                       ciil_train: Path, centroid_model: FakeModel) -> None:
    pytest.importorskip("matplotlib")
    plot, out = tmp_path / "confusion.png", tmp_path / "e.json"
    argv = ["--data", str(ciil_train), "--plot", str(plot), "--json", str(out), "--bootstrap", "5"]
    assert _main(monkeypatch, centroid_model, argv) == 0
    text = capsys.readouterr().out
    e2t = json.loads(out.read_text())["emg_to_text"]
    counts = np.array(e2t["confusion"]["counts"])
    assert counts.sum() == e2t["n"] and "per class (EMG->text R@1" in text
    for i, c in enumerate(e2t["confusion"]["class_ids"]):  # the diagonal share is the class's R@1
        j = centroid_model.class_ids.index(c)
        assert counts[i, j] / counts[i].sum() == pytest.approx(e2t["per_class"][str(c)])
        assert f"class {c}" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # an existing plot is not overwritten, a folder that is missing or a name that is not .png is refused,
    # all before any work
    encoded = len(centroid_model.seen_x)
    for bad, message in ((plot, "file exists"), (tmp_path / "no" / "c.png", "does not exist"),
                         (tmp_path / "c.jpg", "expected a .png")):
        assert _main(monkeypatch, centroid_model, ["--data", str(ciil_train), "--plot", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and len(centroid_model.seen_x) == encoded, err


@pytest.mark.realdata
def test_held_out_classes_typed_back_as_live_ranks_them(data_dir: Path) -> None:
    """With a text encoder, eval also scores the run-time path: the held-out classes typed back by their
    action ids (myosem_rt/typed.py), offsets from config; seen and held-out R@1 and their harmonic mean."""
    from myosem_rt.model import MyoSemModel
    from myosem_rt.protocols import split
    from myosem_rt.vocab import load_vocabulary

    shipped = MyoSemModel.load("3dc-armband")
    projection = np.random.default_rng(1).normal(size=(10, shipped.dim))

    class TextModel(FakeModel):  # embeddings in the shipped text space, so typed descriptions compare
        def encode(self, x: np.ndarray, desc: np.ndarray) -> np.ndarray:
            z = super().encode(x, desc) @ projection
            return z / np.linalg.norm(z, axis=1, keepdims=True)

    model = TextModel(np.asarray(shipped.prototypes), list(range(11)), n_channels=10, fs=1000.0, window=200,
                      hop=50, patch=25, vocabulary="3dc", centre=np.zeros(10))
    model.text_dir, model.descriptions = shipped.text_dir, list(shipped.descriptions)
    model.class_names = list(shipped.class_names)
    model.actions = [c.action for c in sorted(load_vocabulary("3dc").classes, key=lambda c: c.class_id)]
    sp = split("3dc-class", data_dir, subjects=[1])
    config = {**CONFIG, "live": {**CONFIG["live"], "describe_novelty": 0.5}}  # --describe-novelty 0.5
    result = eval_cmd.evaluate(model, "m", sp.test_files, config, mask=sp.test_mask,
                               held_out=sp.held_out_classes, max_windows_per_file=200, episodes=5,
                               n_resamples=5)
    typed = result["generalised_typed"]
    live = CONFIG["live"]
    assert typed["offset"] == pytest.approx(live["describe_offset"])
    assert typed["anatomy_offset"] == pytest.approx(live["describe_offset_anatomy"])
    assert sorted(typed["anatomical"]) == sorted(model.actions[c] for c in sp.held_out_classes)
    assert 0.0 <= typed["held_out"] <= 1.0 and 0.0 <= typed["seen"] <= 1.0
    # with the stream's novelty (live.describe_novelty), each recording's windows in order as live sees them
    assert typed["novelty"]["beta"] == pytest.approx(0.5)
    assert typed["novelty"]["offsets"] == [live["describe_novelty_offset"],
                                           live["describe_novelty_offset_anatomy"]]
    assert 0.0 <= typed["false_alarm"] <= 1.0 and 0.0 <= typed["novelty"]["false_alarm"] <= 1.0
    assert 0.0 <= typed["novelty"]["harmonic"] <= 1.0
    # typed back in a wearer's words (each action's first paraphrase), placed by the muscles each reads as
    free = result["generalised_typed_free"]
    assert "wrist_ulnar_deviation" in free["anatomical"] and "novelty" in free
    assert set(free["anatomical"]) <= {model.actions[c] for c in sp.held_out_classes}
    table = eval_cmd.format_table(result)
    assert "typed back by action id" in table and "typed back as free descriptions" in table
    assert table.count("+ the stream's novelty") == 2
    # --describe-only: the rest class and the held-out classes typed back, each recording fed in order
    only = result["typed_only"]
    assert set(only) == {"held_out", "rest", "held_out_without_groups", "rest_without_groups"}
    assert all(0.0 <= v <= 1.0 for v in only.values()) and "new gestures only" in table
