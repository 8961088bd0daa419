"""``myosem bench train``: training throughput per stage, in windows per second, on real windows.

Why: whether a shipped model can train on all windows of all shared subjects within the CPU budget is a
question of windows/s per stage times epochs; this prints both, so a change to the recipe or the loop is
judged by a figure, not by a feeling. It times the same optimisation step that
:func:`train.emg.stages.run_phase` runs (batch gather, forward, backward, gradient clipping, AdamW, on the
configured device and threads), for each phase of the training config: stage 2 (encoder), stage 3 with
the encoder frozen, stage 3 with its last layers unfrozen. Windows come from ``--data`` (default 3DC S1)
cut and filtered as ``myosem train`` cuts them; the stage-3 prototypes are random unit vectors of the text
size (their values do not change the cost; the text tower, stage 1, is not timed here).

Output per phase: windows/s (median over steps, and the 10th-90th percentile range), the share of a step
spent in forward / backward / optimizer, and the estimated wall-clock of the configured epochs for
``--windows N`` training windows (default: the windows of ``--data``).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from myosem_rt.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("../shared/data/3dc/S1_E1_A1.mat")
WARMUP = 3


def _phases(net: Any, cfg: Any, text_dim: int) -> list[tuple[str, nn.Module, list[nn.Module], int, int]]:
    """(name, objective, trainable modules, epochs, batch size) of every phase of the training config."""
    from train.emg.stages import CachedTokensObjective, Stage2Objective, Stage3Objective

    protos = torch.nn.functional.normalize(torch.randn(net.dims.n_classes, text_dim), dim=-1)
    s2 = Stage2Objective(net, cfg.stage2)
    out = [("stage2", s2, s2.trainable(), cfg.stage2.epochs, cfg.stage2.batch_size)]
    s3 = cfg.stage3
    for name, epochs, unfreeze in (("stage3_frozen", s3.epochs_frozen, 0),
                                   ("stage3_unfrozen", s3.epochs_unfrozen, s3.unfreeze_layers)):
        obj = Stage3Objective(net, protos, cfg.stage3, unfreeze)
        trainable = [net.align, net.cls, *obj.unfrozen_layers()]
        out.append((name, obj if unfreeze else CachedTokensObjective(obj), trainable, epochs,
                    cfg.stage3.batch_size))
    return out


def time_phase(objective: nn.Module, trainable: list[nn.Module], data: tuple[torch.Tensor, ...],
               batch: int, steps: int, device: torch.device, grad_clip: float = 1.0) -> dict[str, Any]:
    """Per-step seconds of ``steps`` optimisation steps (after :data:`WARMUP`), split by part."""
    from train.emg.stages import _set_trainable

    net = objective.net
    _set_trainable(net, trainable)
    params = [p for m in trainable for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4)
    objective.to(device).train()
    gen = torch.Generator().manual_seed(0)
    n = len(data[0])
    parts: dict[str, list[float]] = {"gather": [], "forward": [], "backward": [], "optimizer": [], "step": []}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(WARMUP + steps):
        t0 = time.perf_counter()
        idx = torch.randint(0, n, (batch,), generator=gen)
        step_data = [t[idx].to(device, non_blocking=True) for t in data]  # x, desc, y[, feat]
        sync()
        t1 = time.perf_counter()
        loss, _ = objective(*step_data)
        sync()
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t3 = time.perf_counter()
        nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        sync()
        t4 = time.perf_counter()
        if i >= WARMUP:
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
                parts[k].append(v)
    net.requires_grad_(True)
    step = np.asarray(parts["step"])
    rate = batch / step
    return {"windows_per_s": float(np.median(rate)), "p10": float(np.percentile(rate, 10)),
            "p90": float(np.percentile(rate, 90)),
            "share": {k: float(np.sum(v) / step.sum()) for k, v in parts.items() if k != "step"}}


def bench_train(args: Any, config: dict[str, Any]) -> int:
    """``myosem bench train [--data FILE] [--train-config NAME|PATH] [--device D] [--windows N]
    [--compare] [--quick]``."""
    from myosem_rt.recordings.reader import RecordingError
    from myosem_rt.windowing import load_windows
    from train.emg.model import Dims, MyoSemNet
    from train.emg.stages import CachedTokensObjective, as_tensors, encode_tokens, resolve_device
    from train.pipeline import DEFAULT_CONFIG, load_train_config, window_features_of

    data = Path(getattr(args, "data", None) or DEFAULT_DATA)
    if not data.is_file():
        raise RecordingError(data, "no such recording (bench train needs one file, e.g. "
                                   "../shared/data/3dc/S1_E1_A1.mat)")
    total = getattr(args, "windows", None)
    if total is not None and total < 1:
        raise ConfigError(f"bench train: --windows must be >= 1, got {total}")
    cfg = load_train_config(getattr(args, "train_config", None) or DEFAULT_CONFIG)
    device = resolve_device(getattr(args, "device", None) or "auto")
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
        torch.set_flush_denormal(True)
    steps = 5 if getattr(args, "quick", False) else 30
    ws = load_windows([data], config)
    classes = sorted(ws.class_counts())
    y = np.searchsorted(np.asarray(classes), ws.label)
    text_dim = 384
    torch.manual_seed(cfg.seed)
    fit = np.arange(min(len(ws), cfg.norm_windows))
    t0 = time.perf_counter()
    wf = window_features_of(ws, cfg.model.window_features, fit)
    feat_s = time.perf_counter() - t0
    feat = None if wf is None else wf["feat"]
    net = MyoSemNet(cfg.model, Dims(ws.n_channels, ws.window, ws.patch, len(classes), text_dim,
                                    0 if feat is None else feat.shape[1]))
    net.encoder.norm.fit(ws.x[fit], ws.desc[fit], None if feat is None else feat[fit])
    net.to(device)
    tensors = as_tensors(ws.x, ws.desc, y, feat)
    n_total = int(total or len(ws))
    out = sys.stdout
    out.write(f"training throughput, config {cfg.name}: {data.name} ({len(ws)} windows, {ws.n_channels} ch, "
              f"window {ws.window}, patch {ws.patch}), device {device}"
              f"{f', {torch.get_num_threads()} threads' if device.type == 'cpu' else ''}, torch "
              f"{torch.__version__}, {steps} steps per phase\n")
    out.write(f"  {'phase':16s} {'batch':>5s} {'windows/s':>10s} {'p10-p90':>14s}  {'gather':>6s} "
              f"{'fwd':>5s} {'bwd':>5s} {'opt':>5s}  {'epochs':>6s}  est. for {n_total} windows\n")
    est_total = 0.0
    tokens_s = 0.0
    for name, objective, trainable, epochs, batch in _phases(net, cfg, text_dim):
        data = tensors
        if isinstance(objective, CachedTokensObjective):  # as train_stage3 does: tokens once, then heads
            t0 = time.perf_counter()
            data = (encode_tokens(net, tensors, device), tensors[2])
            tokens_s = time.perf_counter() - t0
        r = time_phase(objective, trainable, data, batch, steps, device, cfg.stage2.grad_clip)
        est = epochs * n_total / r["windows_per_s"]
        est_total += est
        s = r["share"]
        out.write(f"  {name:16s} {batch:5d} {r['windows_per_s']:10.0f} {r['p10']:6.0f}-{r['p90']:<7.0f}  "
                  f"{s['gather']:6.0%} {s['forward']:5.0%} {s['backward']:5.0%} {s['optimizer']:5.0%}  "
                  f"{epochs:6d}  {est / 60:6.1f} min\n")
    if tokens_s:
        rate = len(ws) / max(tokens_s, 1e-9)
        out.write(f"  {'frozen tokens':16s} the stage-2 encoder's, for stage3_frozen: {rate:.0f} windows/s "
                  f"once, {n_total / rate / 60:.1f} min\n")
        est_total += n_total / rate
    if feat is not None:
        rate = len(ws) / max(feat_s, 1e-9)
        out.write(f"  {'window features':16s} {cfg.model.window_features} ({feat.shape[1]} per window): "
                  f"{rate:.0f} windows/s once before training, {n_total / rate / 60:.1f} min\n")
        est_total += n_total / rate
    out.write(f"  stages 2-3 for {n_total} windows: about {est_total / 60:.1f} min (stage 1, the text tower, "
              f"and the export/evaluation not included)\n")
    if getattr(args, "compare", False):
        _compare_dropout(net, cfg, text_dim, tensors, steps, device, out)
        _compare_cached_tokens(net, cfg, text_dim, tensors, steps, device, out)
    return 0


def _compare_dropout(net: Any, cfg: Any, text_dim: int, tensors: tuple[torch.Tensor, ...], steps: int,
                     device: torch.device, out: Any, rounds: int = 4) -> None:
    """Stage 2 with FastDropout (the recipe) and with torch's ``nn.Dropout`` (before it), timed in alternating
    rounds in this one process, so a machine whose speed drifts (a shared CPU) affects both alike."""
    import copy

    from train.emg.dropout import FastDropout

    ref = copy.deepcopy(net)
    for module in list(ref.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, FastDropout):
                setattr(module, name, nn.Dropout(child.p, child.inplace))
    rates: dict[str, list[float]] = {"FastDropout": [], "nn.Dropout": []}
    for _ in range(rounds):
        for key, model in (("FastDropout", net), ("nn.Dropout", ref)):
            _, objective, trainable, _, batch = _phases(model, cfg, text_dim)[0]
            rates[key].append(time_phase(objective, trainable, tensors, batch, max(5, steps // 2), device,
                                         cfg.stage2.grad_clip)["windows_per_s"])
    fast, slow = (float(np.median(v)) for v in rates.values())
    out.write(f"  stage 2, {rounds} alternating rounds: FastDropout {fast:.0f} windows/s, torch nn.Dropout "
              f"{slow:.0f} windows/s: {fast / slow:.2f}x\n")


def _compare_cached_tokens(net: Any, cfg: Any, text_dim: int, tensors: tuple[torch.Tensor, ...], steps: int,
                           device: torch.device, out: Any, rounds: int = 4) -> None:
    """Stage 3's frozen phase on tokens computed once (the recipe, the one-off encoding included per epoch
    of windows) against recomputing them every step (before it), in alternating rounds of this process."""
    from train.emg.stages import encode_tokens

    _, cached, trainable, epochs, batch = _phases(net, cfg, text_dim)[1]
    plain = cached.objective
    n = len(tensors[0])
    t0 = time.perf_counter()
    tokens = (encode_tokens(net, tensors, device), tensors[2])
    once = time.perf_counter() - t0
    rates: dict[str, list[float]] = {"cached": [], "every step": []}
    for _ in range(rounds):
        for key, objective, data in (("cached", cached, tokens), ("every step", plain, tensors)):
            rates[key].append(time_phase(objective, trainable, data, batch, max(5, steps // 2), device,
                                         cfg.stage3.grad_clip)["windows_per_s"])
    fast, slow = (float(np.median(v)) for v in rates.values())
    phase_fast = epochs * n / (epochs * n / fast + once)  # the phase's rate with the encoding paid once
    out.write(f"  stage 3 frozen, {rounds} alternating rounds: tokens cached {fast:.0f} windows/s "
              f"({phase_fast:.0f} with their one-off encoding over {epochs} epochs), recomputed every step "
              f"{slow:.0f} windows/s: {phase_fast / slow:.2f}x\n")
