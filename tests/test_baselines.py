"""Baselines (train/baselines) and the ablation switches: hand-computed features, LDA, nets, projection,
and the guarantees that make the comparison fair (same windows, held-out classes never trained on)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from myosem_rt.config import load_config  # noqa: E402
from myosem_rt.descriptors import patch_descriptors  # noqa: E402
from myosem_rt.errors import ConfigError  # noqa: E402
from myosem_rt.profile.features import hudgins, noise_threshold  # noqa: E402
from myosem_rt.profile.lda import ShrinkageLDA, ledoit_wolf_shrinkage  # noqa: E402
from myosem_rt.protocols import THREEDC_HELD_OUT  # noqa: E402
from myosem_rt.retrieval import emg_to_text  # noqa: E402
from myosem_rt.vocab import load_vocabulary  # noqa: E402
from train.baselines.nets import NETS  # noqa: E402
from train.baselines.run import (  # noqa: E402
    BaselineConfig,
    ProjectedModel,
    fit_lda,
    fit_projection,
    training_windows,
)
from train.emg.model import Dims, ModelConfig, MyoSemNet  # noqa: E402

torch.set_num_threads(1)


# -- Hudgins features ---------------------------------------------------------------------------------------
def test_hudgins_hand_computed() -> None:
    x = np.array([1.0, -1.0, 2.0, -2.0, 0.1, -0.1])[None, :, None]
    mav, wl, zc, ssc = hudgins(x, eps=0.5, log_amplitude=False)[0]
    assert mav == pytest.approx(6.2 / 6) and wl == pytest.approx(2 + 3 + 4 + 2.1 + 0.2)
    assert zc == pytest.approx(4 / 5)  # the last crossing (0.1 -> -0.1) is below the threshold
    assert ssc == pytest.approx(4 / 4)
    mav0, wl0, zc0, ssc0 = hudgins(x, eps=0.0, log_amplitude=False)[0]
    assert zc0 == 1.0 and ssc0 == 1.0
    assert hudgins(x, eps=10.0, log_amplitude=False)[0, 2:].tolist() == [0.0, 0.0]  # all below noise
    np.testing.assert_allclose(hudgins(x, 0.5)[0, :2], np.log([mav, wl]), atol=1e-5)


def test_hudgins_channels_and_monotone_signal() -> None:
    ramp = np.linspace(-1, 1, 50)
    x = np.stack([ramp, -ramp, np.zeros(50)], axis=1)[None]  # (1, 50, 3)
    f = hudgins(x, eps=np.array([0.0, 0.0, 0.0]), log_amplitude=False)
    assert f.shape == (1, 12)
    zc, ssc = f[0, 6:9], f[0, 9:12]
    np.testing.assert_allclose(zc, [1 / 49, 1 / 49, 0.0])  # a ramp through zero crosses it once
    assert ssc.tolist() == [0.0, 0.0, 0.0]  # monotone: no slope sign change
    np.testing.assert_allclose(f[0, 3:6], [2.0, 2.0, 0.0], atol=1e-9)  # WL of a ramp -1 -> 1


def test_feature_set_parts_are_td_cov_and_both_on_each_difference() -> None:
    """classical_features joins its parts in the documented order: td, cov, d (first difference), dd
    (second difference); requests sharing one pass give what each gives alone."""
    from myosem_rt.profile.features import classical_features, classical_features_for, covariance_features

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 60, 3)) * [1.0, 4.0, 0.5]
    eps = np.array([0.2, 0.5, 0.1])
    d1, d2 = np.diff(x, axis=1), np.diff(x, n=2, axis=1)
    want = np.concatenate([hudgins(x, eps), covariance_features(x), hudgins(d1, eps), covariance_features(d1),
                           hudgins(d2, eps), covariance_features(d2)], axis=1)
    np.testing.assert_allclose(classical_features(x, eps, "td+cov+d+dd"), want, atol=1e-6)
    np.testing.assert_allclose(classical_features(x, eps, "td+cov+d"), want[:, : 2 * want.shape[1] // 3])
    one, two = classical_features_for(x, [(eps, "td+cov+d+dd"), (2 * eps, "td")])
    np.testing.assert_array_equal(one, classical_features(x, eps, "td+cov+d+dd"))
    np.testing.assert_array_equal(two, hudgins(x, 2 * eps))


def test_noise_threshold_follows_the_quiet_windows() -> None:
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal((100, 40, 2)) * [1.0, 10.0]  # 20 % quiet: the 10th percentile is quiet
    loud = rng.standard_normal((400, 40, 2)) * 100.0
    eps = noise_threshold(np.concatenate([quiet, loud]))
    assert eps.shape == (2,) and 0.3 < eps[0] < 0.7 and 3 < eps[1] < 7  # 0.5 x the quiet RMS
    with pytest.raises(ValueError, match="expected"):
        noise_threshold(np.zeros((0, 4, 2)))


# -- LDA --------------------------------------------------------------------------------------------------
def _gauss(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0, 0, 0, 0], [3, 3, 3, 3, 3], [0, 3, 0, 3, 0.0]])
    x = np.concatenate([rng.standard_normal((n, 5)) + m for m in means])
    return x, np.repeat([4, 7, 9], n)


def test_lda_classifies_and_whitens() -> None:
    x, y = _gauss()
    lda = ShrinkageLDA().fit(x, y)
    xt, yt = _gauss(seed=1)
    assert (lda.predict(xt) == yt).mean() > 0.95 and set(lda.classes_) == {4, 7, 9}
    t = lda.transform(xt)
    assert t.shape == (len(xt), 2)  # K - 1 discriminant directions
    for c in (4, 7, 9):  # within-class covariance is about the identity in the discriminant space
        np.testing.assert_allclose(np.cov(t[yt == c].T), np.eye(2), atol=0.3)
    with pytest.raises(ValueError, match="two classes"):
        ShrinkageLDA().fit(x[:10], y[:10])


def test_ledoit_wolf_shrinkage() -> None:
    rng = np.random.default_rng(0)
    assert ledoit_wolf_shrinkage(rng.standard_normal((4000, 8))) > 0.9  # already isotropic: shrink fully
    assert ledoit_wolf_shrinkage(rng.standard_normal((4000, 8)) * np.arange(1, 9) ** 2) < 0.05
    x, y = _gauss()
    assert ShrinkageLDA(0.0).fit(x, y).shrinkage_ == 0.0
    with pytest.raises(ValueError, match="shrinkage"):
        ShrinkageLDA(1.5).fit(x, y)


# -- networks and the projection ---------------------------------------------------------------------------
@pytest.mark.parametrize("window, channels", [(200, 10), (40, 8)])
@pytest.mark.parametrize("name", sorted(NETS))
def test_nets_embed_and_classify(name: str, window: int, channels: int) -> None:
    net = NETS[name](channels, 5, window).eval()
    x = torch.randn(3, window, channels)
    assert net.embed(x).shape == (3, net.embed_dim) and net(x).shape == (3, 5)
    assert net.stride == (5 if window == 200 else 1)


def test_projection_maps_class_clusters_onto_their_prototypes() -> None:
    rng = np.random.default_rng(0)
    k, d, dim = 4, 6, 16
    centres = rng.standard_normal((k, d)) * 3
    y = np.repeat(np.arange(k), 100)
    e = centres[y] + rng.standard_normal((len(y), d))
    protos = rng.standard_normal((k, dim))
    proj, info = fit_projection(e, y, protos, BaselineConfig(proj_steps=300))
    y_test = np.repeat(np.arange(k), 50)
    z = proj(centres[y_test] + rng.standard_normal((len(y_test), d)))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert emg_to_text(z, y_test, protos, list(range(k)))["R@1"] > 0.9 and info["proj_train_r1"] > 0.9


def test_lda_baseline_end_to_end_on_toy_windows() -> None:
    rng = np.random.default_rng(0)
    gains = np.array([[3.0, 1, 1, 0.5], [1, 3.0, 0.5, 1], [0.5, 1, 3.0, 2]])
    y = np.arange(300) % 3
    x = (rng.standard_normal((300, 40, 4)) * gains[y][:, None, :]).astype(np.float32)
    embed, info = fit_lda(x, y, BaselineConfig())
    assert info["train_acc"] > 0.9 and info["embed_dim"] == 2
    assert embed(x[:5], None).shape == (5, 2)


def test_projected_model_replaces_only_encode() -> None:
    inner = SimpleNamespace(window=40, prototypes=np.eye(3), encode=lambda x, d: "inner", session_stats="enc")
    wrapped = ProjectedModel(inner, lambda x, d, w=None: np.zeros((len(x), 3)))
    assert wrapped.window == 40 and wrapped.prototypes is inner.prototypes
    assert wrapped.encode(np.zeros((2, 40, 4)), None).shape == (2, 3)
    assert wrapped.session_stats is None  # never the MyoSem encoder's statistics


def test_lda_session_standardises_each_recording_by_its_own_running_statistics() -> None:
    """Two 'wearers' whose channels differ in gain up to 20x (electrodes sit elsewhere): the session-
    statistics anchor puts both on one scale, the plain anchor trained on one fails on the other."""
    from train.baselines.run import fit_lda_session

    rng = np.random.default_rng(0)
    gains = np.array([[3.0, 1, 1, 0.5], [1, 3.0, 0.5, 1], [0.5, 1, 3.0, 2]])
    y = np.arange(600) % 3
    scale = np.where(np.arange(600)[:, None, None] < 300, 1.0, np.array([20.0, 0.2, 5.0, 0.05]))
    x = (rng.standard_normal((600, 40, 4)) * gains[y][:, None, :] * scale).astype(np.float32)
    train = SimpleNamespace(x=x[:300], file_index=np.zeros(300, int), start=np.arange(300) * 10, hop=10)
    embed, info, stats, e_train = fit_lda_session(train, y[:300], BaselineConfig())
    assert info["train_acc"] > 0.9 and e_train.shape == (300, 2)
    model = ProjectedModel(SimpleNamespace(), embed, stats)
    lda = ShrinkageLDA().fit(e_train, y[:300])
    model.new_session()
    # windows of a subsampled recording, each standing for 50 hops: the 2000-hop prior fades after ~40
    loud = np.concatenate([model.encode(x[i : i + 50], None, np.full(50, 50.0)) for i in range(300, 600, 50)])
    assert (lda.predict(loud[150:]) == y[450:]).mean() > 0.8  # once the session's statistics hold
    plain, _ = fit_lda(x[:300], y[:300], BaselineConfig())
    lda_plain = ShrinkageLDA().fit(plain(x[:300], None), y[:300])
    assert (lda_plain.predict(plain(x[450:], None)) == y[450:]).mean() < 0.7


# -- fairness: the same windows, no held-out class --------------------------------------------------------
def _fake_model(protocol: str, options: dict) -> SimpleNamespace:
    filters = load_config()["filters"]
    return SimpleNamespace(
        manifest={"data": {"protocol": protocol, "options": options, "windows": {}},
                  "training": {"seed": 0, "max_windows_per_file": 400}, "filters": filters},
        window=200, hop=50, patch=25, fs=1000.0, window_ms=200.0, hop_ms=50.0, patch_ms=25.0,
        vocabulary="3dc", directory="fake")


@pytest.mark.realdata
def test_baseline_training_windows_are_myosems_and_exclude_held_out_classes(data_dir: Path) -> None:
    from myosem_rt.protocols import split
    from myosem_rt.windowing import load_windows

    sp, train = training_windows(_fake_model("3dc-class", {"subjects": [1]}), data_dir, load_config())
    assert sp.held_out_classes == THREEDC_HELD_OUT
    assert not np.isin(train.label, list(THREEDC_HELD_OUT)).any() and len(train) > 100
    assert set(train.repetition.tolist()) == {1, 2, 3, 4}
    # exactly the windows the training pipeline loads (train/pipeline.py: runtime config, same subsample)
    ws = load_windows(sp.train_files, load_config(), max_windows_per_file=400, seed=0,
                      vocabulary=load_vocabulary("3dc"))
    ref = ws.subset(sp.train_mask(ws))
    np.testing.assert_array_equal(train.x, ref.x)
    np.testing.assert_array_equal(train.label, ref.label)
    assert split("3dc-class", data_dir, subjects=[1]).test_files == sp.test_files


def test_stage1_of_a_class_disjoint_protocol_never_sees_held_out_texts(tmp_path: Path, monkeypatch) -> None:
    """The pipeline's stage 1 for 3dc-class: no text of a held-out class's action, in any vocabulary."""
    import train.pipeline as pl

    seen: dict = {}
    monkeypatch.setattr(pl, "make_tower", lambda cfg: None)
    monkeypatch.setattr(pl, "train_stage1", lambda tower, texts, cfg: seen.setdefault("texts", texts) and [])
    monkeypatch.setattr(pl, "export_text_model", lambda *a, **k: None)
    vocab = load_vocabulary("3dc")
    cfg = pl.load_train_config("myosem-small")
    pl._stage1(cfg, vocab, THREEDC_HELD_OUT, tmp_path)  # tower, training and export stubbed out
    texts = seen["texts"]
    held = {c.action for c in vocab.classes if c.class_id in THREEDC_HELD_OUT}
    held_texts = {t for name in pl.list_vocabularies() for c in load_vocabulary(name).classes
                  if c.action in held for t in (c.t0, c.t1, c.t2, *c.t3)}
    assert held and held <= set(texts.excluded_actions)
    assert not held_texts & set(texts.all_texts())
    assert not held & {a.action for a in texts.actions}
    marker = json.loads((tmp_path / "checkpoints" / "stage1.json").read_text())
    assert sorted(tuple(h) for h in marker["held_out"]) == [("3dc", c) for c in sorted(THREEDC_HELD_OUT)]


def test_stage1_of_cross_device_trains_on_3dc_texts_only(tmp_path: Path, monkeypatch) -> None:
    """cross-device: the text space never sees a Myo-only text, yet exports the Myo prototypes."""
    import train.pipeline as pl

    seen: dict = {}
    monkeypatch.setattr(pl, "make_tower", lambda cfg: None)
    monkeypatch.setattr(pl, "train_stage1", lambda tower, texts, cfg: seen.setdefault("texts", texts) and [])
    monkeypatch.setattr(pl, "export_text_model", lambda tower, out, vocabs, *a, **k: seen.update(
        exported=[v.name for v in vocabs]))
    myo, three = load_vocabulary("myo"), load_vocabulary("3dc")
    cfg = pl.load_train_config("myosem-small")
    pl._stage1(cfg, myo, frozenset(), tmp_path, ("3dc",))
    texts = set(seen["texts"].all_texts())
    threedc = {t for c in three.classes for t in (c.t0, c.t1, c.t2, *c.t3)}
    myo_only = {t for c in myo.classes for t in (c.t0, c.t1, c.t2, *c.t3)} - threedc
    assert myo_only and not myo_only & texts and texts <= threedc
    assert seen["exported"] == ["myo"]
    marker = json.loads((tmp_path / "checkpoints" / "stage1.json").read_text())
    assert marker["vocabularies"] == ["3dc"]
    # a different text space, so a different key: never confused with myo-user's stage 1
    assert pl.stage1_key(cfg, "myo", frozenset(), ("3dc",)) != pl.stage1_key(cfg, "myo", frozenset())


# -- ablation switches ----------------------------------------------------------------------------------
def test_ablation_configs_resolve_from_myosem_small_and_defaults_keep_their_fingerprint() -> None:
    from train.pipeline import load_train_config

    small = load_train_config("myosem-small")
    d = small.to_dict()
    assert "descriptors" not in d["model"] and "prototype_views" not in d  # the pre-ablation layout
    expect = {"ablate-descriptors": ("model", "descriptors", False),
              "ablate-queries": ("model", "alpha", 0.0), "ablate-stage1": ("stage1", "steps", 0),
              "baseline-text-labels": ("stage1", "steps", 0)}
    for name, (section, key, value) in expect.items():
        cfg = load_train_config(name)
        assert cfg.name == name and getattr(getattr(cfg, section), key) == value
        assert cfg.stage2 == small.stage2 and cfg.stage3 == small.stage3 and cfg.seed == small.seed
    assert load_train_config("baseline-text-labels").prototype_views == ("t0",)
    for view in ("t1", "t3"):  # the text-view ablations of bench zeroshot: one view, all else myosem-small
        cfg = load_train_config(f"views-{view}")
        assert cfg.prototype_views == (view,) and cfg.stage1 == small.stage1 and cfg.model == small.model
    assert load_train_config("ablate-descriptors").to_dict()["model"]["descriptors"] is False


def test_bad_prototype_views_and_base_chain(tmp_path: Path) -> None:
    from train.pipeline import load_train_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: myosem-small\nprototype_views: [t9]\n")
    with pytest.raises(ConfigError, match="prototype_views"):
        load_train_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="too deep"):
        load_train_config(loop)


def test_prototypes_from_views_labels_only() -> None:
    from myosem_rt.text_encoder import TextPrototypes, l2_normalize
    from train.pipeline import prototypes_from_views

    rng = np.random.default_rng(0)
    ve = l2_normalize(rng.standard_normal((3, 4, 8))).astype(np.float32)
    p = TextPrototypes(np.array(["v"] * 3), np.arange(3), np.array(["a", "b", "c"]),
                       np.array(["A", "B", "C"]), ve, l2_normalize(ve.mean(1)).astype(np.float32))
    assert prototypes_from_views(p, "all") is p
    np.testing.assert_allclose(prototypes_from_views(p, ("t0",)).prototypes, ve[:, 0], atol=1e-6)
    np.testing.assert_allclose(prototypes_from_views(p, ("t1", "t2")).prototypes,
                               l2_normalize(ve[:, 1:3].mean(1)), atol=1e-6)


def test_no_descriptor_ablation_ignores_descriptors_and_still_exports_them(tmp_path: Path) -> None:
    from train.emg.export import export_onnx

    dims = Dims(n_channels=4, window=40, patch=5, n_classes=3, text_dim=24)
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, codebook_size=16, n_queries=2, dropout=0.0,
                      descriptors=False)
    torch.manual_seed(0)
    net = MyoSemNet(cfg, dims).eval()
    x = np.random.default_rng(0).standard_normal((5, 40, 4)).astype(np.float32)
    desc = patch_descriptors(x, 5).astype(np.float32)
    with torch.no_grad():
        z1 = net(torch.from_numpy(x), torch.from_numpy(desc))
        z2 = net(torch.from_numpy(x), torch.from_numpy(desc * 7.0 + 1.0))
    torch.testing.assert_close(z1, z2)
    assert [float(g) for g in net.encoder.gates()] == [0.0, 0.0]
    export_onnx(net, tmp_path / "e.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "e.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "desc"]
    (z,) = session.run(None, {"x": x, "desc": desc})
    np.testing.assert_allclose(z, z1.numpy(), atol=1e-4)
    on = MyoSemNet(ModelConfig(d_model=32, n_layers=1, n_heads=4, codebook_size=16, n_queries=2), dims)
    assert float(on.encoder.gates()[0].detach()) > 0  # the default keeps the gated injection
