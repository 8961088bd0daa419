"""Stage-2/3 network and loops: gates, VQ gradients, descriptor injection, losses, learning, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from myosem_rt.descriptors import patch_descriptors  # noqa: E402
from myosem_rt.errors import ConfigError  # noqa: E402
from train.emg.losses import info_nce_to_prototypes  # noqa: E402
from train.emg.model import Dims, InputNorm, ModelConfig, MyoSemNet, config_from_mapping  # noqa: E402
from train.emg.stages import (  # noqa: E402
    Dist,
    Stage2Config,
    Stage2Objective,
    Stage3Config,
    Stage3Objective,
    as_tensors,
    train_stage2,
    train_stage3,
)

torch.set_num_threads(1)
CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, codebook_size=16, n_queries=2, dropout=0.0)
DIMS = Dims(n_channels=4, window=40, patch=5, n_classes=3, text_dim=24)
CPU = Dist(torch.device("cpu"))


def toy_windows(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise whose per-channel amplitude depends on the class (what EMG activation looks like)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % DIMS.n_classes
    gains = np.array([[3.0, 1.0, 1.0, 0.5], [1.0, 3.0, 0.5, 1.0], [0.5, 1.0, 3.0, 2.0]])
    x = rng.standard_normal((n, DIMS.window, DIMS.n_channels)) * gains[y][:, None, :] * 50.0
    x = x.astype(np.float32)
    return x, patch_descriptors(x, DIMS.patch).astype(np.float32), y


def make_net(seed: int = 0) -> MyoSemNet:
    torch.manual_seed(seed)
    net = MyoSemNet(CFG, DIMS)
    x, desc, _ = toy_windows()
    net.encoder.norm.fit(x, desc)
    return net


def prototypes(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(DIMS.n_classes, DIMS.text_dim, generator=g), dim=-1)


def test_gates_start_small_and_config_is_checked() -> None:
    g_e, g_v = (float(g.detach()) for g in make_net().encoder.gates())
    assert 0 < g_e < 0.05 and 0 < g_v < 0.05
    with pytest.raises(ConfigError, match="unknown option.*d_modle"):
        config_from_mapping(ModelConfig, {"d_modle": 8}, "model")
    with pytest.raises(ConfigError, match="not divisible"):
        config_from_mapping(ModelConfig, {"d_model": 30, "n_heads": 4}, "model")


def test_shapes_and_unit_norm_output() -> None:
    net = make_net().eval()
    x, desc, _ = toy_windows(5)
    tokens, patches = net.encoder(torch.from_numpy(x), torch.from_numpy(desc))
    assert tokens.shape == (5, DIMS.n_patches, CFG.d_model)
    assert patches.shape == (5, DIMS.n_patches, DIMS.patch * DIMS.n_channels)
    assert net.recon(net.vq(tokens)[0]).shape == patches.shape
    assert net.classify(tokens).shape == (5, DIMS.n_classes)
    z = net(torch.from_numpy(x), torch.from_numpy(desc))
    assert z.shape == (5, DIMS.text_dim)
    np.testing.assert_allclose(z.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)


def test_input_norm_matches_numpy_statistics() -> None:
    x, desc, _ = toy_windows()
    norm = InputNorm(DIMS.n_channels)
    norm.fit(x, desc)
    xn, dn = norm(torch.from_numpy(x), torch.from_numpy(desc))
    np.testing.assert_allclose(xn.numpy().reshape(-1, DIMS.n_channels).mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(xn.numpy().reshape(-1, DIMS.n_channels).std(0), 1.0, atol=1e-3)
    d = dn.numpy().reshape(-1, DIMS.n_channels, 3)
    np.testing.assert_allclose(d.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(d.std(0), 1.0, atol=1e-3)
    # rms (0) and var (2) are log-compressed before the z-score, energy (1) is not
    ref = InputNorm.transform_descriptors(desc)
    np.testing.assert_allclose(ref[..., 0], np.log1p(desc[..., 0]), rtol=1e-6)
    np.testing.assert_allclose(ref[..., 1], desc[..., 1], rtol=1e-6)


def test_vq_straight_through_gradient_reaches_the_encoder() -> None:
    net = make_net()
    x, desc, _ = toy_windows(8)
    tokens, patches = net.encoder(torch.from_numpy(x), torch.from_numpy(desc))
    quantised, idx, l_vq, _ = net.vq(tokens)
    codes = torch.nn.functional.normalize(net.vq.codes, dim=-1)
    torch.testing.assert_close(quantised, codes[idx])  # forward: exactly the chosen codes
    loss = torch.nn.functional.mse_loss(net.recon(quantised), patches)  # reconstruction only
    loss.backward(retain_graph=True)
    grad = net.encoder.patch_embed.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0  # flowed through the argmin
    assert net.vq.codes.grad is None  # the codebook moves by its own loss, not via the straight-through
    l_vq.backward()
    assert float(net.vq.codes.grad.abs().sum()) > 0


def test_descriptor_injection_changes_output_only_through_open_gates() -> None:
    net = make_net().eval()
    x, desc, _ = toy_windows(4)
    x_t, d_t = torch.from_numpy(x), torch.from_numpy(desc)
    d_other = torch.from_numpy(desc[::-1].copy())
    with torch.no_grad():
        base = net(x_t, d_t)
        assert float((net(x_t, d_other) - base).abs().max()) > 1e-4  # gate ≈ 0.02 > 0: desc matters
        net.encoder.gate_e.fill_(-40.0)
        net.encoder.gate_v.fill_(-40.0)  # gates shut: descriptors have no effect
        torch.testing.assert_close(net(x_t, d_t), net(x_t, d_other), atol=1e-6, rtol=0)
        net.encoder.gate_e.fill_(0.0)  # σ = 0.5: the energy descriptors now dominate the change
        assert float((net(x_t, d_other) - net(x_t, d_t)).abs().max()) > 1e-3


def test_stage_losses_are_finite() -> None:
    net = make_net()
    x, desc, y = as_tensors(*toy_windows(12))
    loss2, stats2 = Stage2Objective(net, Stage2Config())(x, desc, y)
    loss3, stats3 = Stage3Objective(net, prototypes(), Stage3Config(), unfreeze=0)(x, desc, y)
    for value in [loss2, loss3, *stats2.values(), *stats3.values()]:
        assert torch.isfinite(value).all()
    assert info_nce_to_prototypes(prototypes()[y], prototypes(), y, 0.07) < 0.01  # z on its prototype


def test_stage3_loss_decreases_and_only_the_head_moves_while_frozen(tmp_path: Path) -> None:
    net = make_net()
    data = as_tensors(*toy_windows(96))
    encoder_before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    cfg = Stage3Config(epochs_frozen=8, epochs_unfrozen=0, batch_size=32, lr=3e-3, warmup_frac=0.0)
    history = train_stage3(net, data, prototypes(), cfg, CPU, tmp_path, "toy")
    losses = [h["loss"] for h in history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert history[-1]["r1"] > 0.6  # windows retrieve their own class's prototype
    for k, v in net.encoder.state_dict().items():
        torch.testing.assert_close(v, encoder_before[k])  # frozen phase: encoder untouched


def test_unfrozen_phase_moves_only_the_last_layer(tmp_path: Path) -> None:
    net = make_net()
    data = as_tensors(*toy_windows(64))
    before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    cfg = Stage3Config(epochs_frozen=1, epochs_unfrozen=1, unfreeze_layers=1, batch_size=32)
    train_stage3(net, data, prototypes(), cfg, CPU, tmp_path, "toy")
    after = net.encoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("transformer.layers.1.", "transformer.norm.")) for k in changed)


def test_stage2_checkpoint_resumes_and_refuses_other_configs(tmp_path: Path, monkeypatch) -> None:
    import train.emg.stages as stages

    data = as_tensors(*toy_windows(64))
    cfg = Stage2Config(epochs=3, batch_size=32)
    reference = make_net()
    history = train_stage2(reference, data, cfg, CPU, tmp_path / "a", "fp-a")
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]

    save = stages._save_checkpoint

    def save_then_stop(path: Path, state: dict) -> None:
        save(path, state)
        if state["epoch"] == 2:
            raise KeyboardInterrupt  # the run is killed right after its second checkpoint

    monkeypatch.setattr(stages, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_stage2(make_net(), data, cfg, CPU, tmp_path / "b", "fp-a")
    monkeypatch.setattr(stages, "_save_checkpoint", save)
    resumed = make_net(seed=1)  # different init: everything must come from the checkpoint
    assert train_stage2(resumed, data, cfg, CPU, tmp_path / "b", "fp-a") == history
    for k, v in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v)  # same as the uninterrupted run

    done = make_net(seed=2)  # a finished phase is skipped and its weights loaded
    assert train_stage2(done, data, cfg, CPU, tmp_path / "a", "fp-a") == history
    torch.testing.assert_close(done.state_dict(), reference.state_dict())
    with pytest.raises(ConfigError, match="different training config"):
        train_stage2(make_net(), data, cfg, CPU, tmp_path / "a", "fp-b")


def test_training_configs_load_and_reject_unknown_keys(tmp_path: Path) -> None:
    from train.pipeline import _apply_overrides, load_train_config

    small, tiny = load_train_config("myosem-small"), load_train_config("tiny")
    assert small.model.gate_init == -4.0 and small.stage3.epochs_frozen > 0 and small.vocabularies == "all"
    assert tiny.model.d_model < small.model.d_model and tiny.vocabularies == ("3dc",)
    tuned = _apply_overrides(tiny, {"epochs": 2, "align_epochs": (1, 0), "stage1_steps": 0, "seed": 3})
    assert (tuned.stage2.epochs, tuned.stage3.epochs_frozen, tuned.stage3.epochs_unfrozen) == (2, 1, 0)
    assert (tuned.stage1.steps, tuned.seed) == (0, 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage2: {epochs: 3, lamda_rec: 1.0}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: stage2: unknown option\(s\) lamda_rec"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="cannot read training config"):
        load_train_config(tmp_path / "missing.yaml")


def test_fast_dropout_is_dropout() -> None:
    """FastDropout drops a share p of the elements, scales the rest by 1/(1-p), is seeded by torch, passes the
    gradient only through kept elements, and is the identity in eval mode; the network uses it."""
    from train.emg.dropout import FastDropout

    drop = FastDropout(0.1).train()
    x = torch.ones(400, 1000, requires_grad=True)
    torch.manual_seed(1)
    y = drop(x)
    assert abs(float((y == 0).float().mean()) - 0.1) < 0.003
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.9))
    torch.manual_seed(1)
    assert torch.equal(drop(x), y)
    assert not torch.equal(drop(x), y)  # a new draw per call
    y.sum().backward()
    assert torch.equal(x.grad != 0, y != 0)
    assert torch.equal(drop.eval()(x), x)
    net = MyoSemNet(ModelConfig(d_model=32, n_layers=2, n_heads=4, codebook_size=16, n_queries=2), DIMS)
    kinds = {type(m).__name__ for m in net.modules() if isinstance(m, torch.nn.Dropout)}
    assert kinds == {"FastDropout"}


def test_window_features_enter_through_their_gate() -> None:
    """With window features the encoder needs them; a closed gate (logit -inf) makes them irrelevant."""
    from myosem_rt.profile.features import classical_features, noise_threshold

    x, desc, y = toy_windows()
    feat = classical_features(x, noise_threshold(x), "td")
    dims = Dims(**{**DIMS.__dict__, "n_features": feat.shape[1]})
    torch.manual_seed(0)
    net = MyoSemNet(ModelConfig(**{**CFG.__dict__, "window_features": "td"}), dims).eval()
    net.encoder.norm.fit(x, desc, feat)
    xt, dt, ft = (torch.from_numpy(a) for a in (x[:8], desc[:8], feat[:8]))
    with torch.no_grad():
        z = net(xt, dt, ft)
        net.encoder.gate_w.fill_(-1e4)
        assert torch.allclose(net(xt, dt, ft), net(xt, dt, ft.flip(0)), atol=1e-6)
        net.encoder.gate_w.fill_(0.0)
        assert not torch.allclose(net(xt, dt, ft), z)
    loss, stats = Stage2Objective(net.train(), Stage2Config())(*as_tensors(x, desc, y, feat))
    assert torch.isfinite(loss) and "gate_w" in stats
    assert any(p is net.encoder.gate_w for p in net.encoder.gate_parameters())
    with pytest.raises(ValueError, match="window_features"):
        ModelConfig(window_features="mfcc")


def test_frozen_phase_on_cached_tokens_trains_the_same_heads(tmp_path: Path, monkeypatch) -> None:
    """Stage 3's frozen phase on tokens computed once equals recomputing them every step: same losses, same
    heads (dropout on, so the heads' random draws must line up too)."""
    from train.emg import stages

    cfg3 = Stage3Config(epochs_frozen=3, epochs_unfrozen=0, batch_size=32, lr=3e-3, warmup_frac=0.0)
    data = as_tensors(*toy_windows(96))
    runs = {}
    for cached in (True, False):
        monkeypatch.setattr(stages, "CACHE_FROZEN_TOKENS", cached)
        torch.manual_seed(0)
        net = MyoSemNet(ModelConfig(**{**CFG.__dict__, "dropout": 0.1}), DIMS)
        net.encoder.norm.fit(*toy_windows()[:2])
        before = net.align.global_proj.weight.detach().clone()
        torch.manual_seed(1)
        history = train_stage3(net, data, prototypes(), cfg3, CPU, tmp_path / str(cached), "toy")
        runs[cached] = (history, {k: v.clone() for k, v in net.state_dict().items()})
        assert not torch.equal(net.align.global_proj.weight, before)  # the heads did train
    (h_cached, s_cached), (h_plain, s_plain) = runs[True], runs[False]
    np.testing.assert_allclose([h["loss"] for h in h_cached], [h["loss"] for h in h_plain], rtol=1e-4)
    for k in s_plain:
        torch.testing.assert_close(s_cached[k], s_plain[k], rtol=1e-4, atol=1e-5)
