"""Stage-2 and stage-3 training loops: seeded, checkpointed every epoch, resumable, DDP-ready.

Both stages are sequences of *phases* (stage 2: one; stage 3: head + queries with the encoder frozen, then a
light unfreeze of the last encoder layer(s) at a lower learning rate). A phase trains one objective module
(``forward(x, desc, y) -> (loss, stats)``) over the training windows with AdamW, linear warm-up + cosine
decay, and gradient clipping, and writes ``<ckpt_dir>/<phase>.pt`` (the whole network's state, optimizer,
scheduler, epoch, RNG) after every epoch. Re-running with the same checkpoint directory skips finished phases
and continues an interrupted one, so a long GPU run can be split over several short calls; a checkpoint from
a different configuration or data set (``fingerprint``) is refused rather than silently mixed in.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) :func:`setup_distributed` joins the process group (gloo
on CPU, nccl on GPU); each phase wraps its objective in DistributedDataParallel and shards the windows with
a DistributedSampler (the batch size in the config is the global one); only rank 0 writes checkpoints and
logs. Without torchrun the same code runs with one replica.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from myosem_rt.errors import ConfigError
from train.emg.losses import info_nce_to_prototypes, reconstruction_loss
from train.emg.model import MyoSemNet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage2Config:
    """``stage2:`` section: L = L_cls + lambda_rec L_rec + lambda_vq L_vq."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_frac: float = 0.05
    grad_clip: float = 1.0
    lambda_rec: float = 0.5
    lambda_vq: float = 1.0
    #: lr multiplier of the two scalar gate logits (no weight decay on them). Adam moves a scalar by about
    #: lr per step whatever its gradient, so from gate_init = -4 a gate needs ~1/lr steps to open: short
    #: schedules (few windows, few epochs) need a larger multiplier for the descriptors to be used at all.
    gate_lr_scale: float = 50.0


@dataclass(frozen=True)
class Stage3Config:
    """``stage3:`` section: L = InfoNCE(z, frozen prototypes; tau) + lambda_aux L_cls."""

    epochs_frozen: int = 10
    epochs_unfrozen: int = 5
    unfreeze_layers: int = 1
    batch_size: int = 256
    lr: float = 1e-3
    unfreeze_lr_scale: float = 0.1  #: lr of the unfrozen encoder layers = lr * this
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    grad_clip: float = 1.0
    tau: float = 0.07
    lambda_aux: float = 0.1


# -- distributed context ------------------------------------------------------------------------------------
@dataclass
class Dist:
    """Where this process trains: its rank among ``world`` replicas and its device."""

    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            values = values.to(self.device)
            dist.all_reduce(values)
        return values.cpu()


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` = the GPU when there is one, else the CPU; one-line error for an unusable request."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device available to torch")
        return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)
    if name != "cpu":
        raise ConfigError(f"--device: expected auto, cpu or cuda[:N], got '{name}'")
    return torch.device("cpu")


def setup_distributed(device: str = "auto") -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return Dist(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return Dist(dev, dist.get_rank(), dist.get_world_size(), local_rank)


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- objectives ---------------------------------------------------------------------------------------------
class Stage2Objective(nn.Module):
    """Classification + reconstruction from quantised tokens + VQ (encoder, codebook, heads train)."""

    def __init__(self, net: MyoSemNet, cfg: Stage2Config) -> None:
        super().__init__()
        self.net, self.cfg = net, cfg

    def forward(self, x: torch.Tensor, desc: torch.Tensor, y: torch.Tensor,  # noqa: ANN201
                feat: torch.Tensor | None = None):
        net = self.net
        tokens, patches = net.encoder(x, desc, feat)
        quantised, _, l_vq, perplexity = net.vq(tokens)
        l_rec = reconstruction_loss(net.recon(quantised), patches)
        logits = net.classify(quantised if net.cfg.heads_on_quantized else tokens)
        l_cls = F.cross_entropy(logits, y)
        loss = l_cls + self.cfg.lambda_rec * l_rec + self.cfg.lambda_vq * l_vq
        g_e, g_v = net.encoder.gates()
        stats = {"loss": loss, "cls": l_cls, "rec": l_rec, "vq": l_vq, "perplexity": perplexity,
                 "acc": (logits.argmax(1) == y).float().mean(), "gate_e": g_e, "gate_v": g_v}
        if net.encoder.n_features:
            stats["gate_w"] = torch.sigmoid(net.encoder.gate_w)
        return loss, stats

    def trainable(self) -> list[nn.Module]:
        return [self.net.encoder, self.net.vq, self.net.recon, self.net.cls]


class Stage3Objective(nn.Module):
    """InfoNCE of z against the frozen class prototypes + auxiliary classification."""

    def __init__(self, net: MyoSemNet, prototypes: torch.Tensor, cfg: Stage3Config, unfreeze: int) -> None:
        super().__init__()
        self.net, self.cfg, self.unfreeze = net, cfg, unfreeze
        self.register_buffer("prototypes", F.normalize(prototypes.float(), dim=-1))

    def forward(self, x: torch.Tensor, desc: torch.Tensor, y: torch.Tensor,  # noqa: ANN201
                feat: torch.Tensor | None = None):
        with torch.set_grad_enabled(self.unfreeze > 0 and torch.is_grad_enabled()):
            tokens, _ = self.net.encoder(x, desc, feat)
        return self.head_loss(tokens, y)

    def head_loss(self, tokens: torch.Tensor, y: torch.Tensor):  # noqa: ANN201
        """The loss and statistics of the heads on the encoder's ``tokens`` (B, P, d)."""
        net = self.net
        head = net.head_tokens(tokens)
        z = net.align(head)
        l_nce = info_nce_to_prototypes(z, self.prototypes, y, self.cfg.tau)
        logits = net.classify(head)
        l_aux = F.cross_entropy(logits, y)
        loss = l_nce + self.cfg.lambda_aux * l_aux
        retrieved = (z @ self.prototypes.T).argmax(1)
        stats = {"loss": loss, "nce": l_nce, "aux": l_aux, "r1": (retrieved == y).float().mean(),
                 "acc": (logits.argmax(1) == y).float().mean()}
        return loss, stats

    def unfrozen_layers(self) -> list[nn.Module]:
        """The last ``unfreeze`` transformer layers and the final norm (empty when frozen)."""
        if self.unfreeze <= 0:
            return []
        tr = self.net.encoder.transformer
        return [*tr.layers[-self.unfreeze:], tr.norm]

    def train(self, mode: bool = True) -> Stage3Objective:
        super().train(mode)
        if self.unfreeze <= 0:  # a frozen encoder runs deterministically (no dropout)
            self.net.encoder.eval()
        return self


class CachedTokensObjective(nn.Module):
    """The frozen phase of stage 3 on tokens computed once: ``forward(tokens, y)``.

    Why: with the encoder frozen and in eval mode (no dropout), every epoch recomputed the same tokens of
    every window, which was most of the phase's step. :func:`encode_tokens` computes them once (in
    :data:`TOKEN_BATCH` batches, no gradient) and the phase trains the heads on them: the same losses, the
    same random draws (the encoder draws none in eval mode), several times the windows per second."""

    def __init__(self, objective: Stage3Objective) -> None:
        super().__init__()
        if objective.unfreeze > 0:
            raise ValueError("only a frozen encoder's tokens can be cached")
        self.objective = objective
        self.net = objective.net

    def forward(self, tokens: torch.Tensor, y: torch.Tensor):  # noqa: ANN201
        return self.objective.head_loss(tokens, y)

    def train(self, mode: bool = True) -> CachedTokensObjective:
        self.objective.train(mode)
        self.training = mode
        return self


#: Windows per batch when the frozen encoder's tokens are computed once.
TOKEN_BATCH = 2048
#: Train stage 3's frozen phase on tokens computed once (False: recompute them every step, as before).
CACHE_FROZEN_TOKENS = True


@torch.no_grad()
def encode_tokens(net: MyoSemNet, data: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The eval-mode encoder's tokens (N, P, d) of every window of ``data`` (x, desc, y[, feat]), on the
    CPU."""
    was = net.encoder.training
    net.encoder.eval()
    x, desc, feat = data[0], data[1], (data[3] if len(data) > 3 else None)
    out = []
    for i in range(0, len(x), TOKEN_BATCH):
        part = [t[i:i + TOKEN_BATCH].to(device) for t in (x, desc)]
        f = None if feat is None else feat[i:i + TOKEN_BATCH].to(device)
        out.append(net.encoder(*part, f)[0].cpu())
    net.encoder.train(was)
    return torch.cat(out) if out else torch.empty(0)


# -- the loop -----------------------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    objective: nn.Module
    groups: list[dict[str, Any]]  #: optimizer parameter groups (params, lr)
    epochs: int
    batch_size: int
    weight_decay: float
    warmup_frac: float
    grad_clip: float


def _set_trainable(net: nn.Module, modules: Sequence[nn.Module]) -> None:
    net.requires_grad_(False)
    for m in modules:
        m.requires_grad_(True)


def _scheduler(opt: torch.optim.Optimizer, total: int, warmup_frac: float):  # noqa: ANN202
    warm = max(1, int(total * warmup_frac))
    return torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / warm, total_iters=warm),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total - warm)),
    ], milestones=[warm])


def _load_checkpoint(path: Path, fingerprint: str, device: torch.device) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    ck = torch.load(path, map_location=device, weights_only=True)
    if ck.get("fingerprint") != fingerprint:
        raise ConfigError(f"{path}: checkpoint of a different training config or data set; "
                          f"remove {path.parent} or train into another --out directory")
    return ck


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a truncated checkpoint


def run_phase(phase: Phase, net: MyoSemNet, data: Sequence[torch.Tensor], ctx: Dist, ckpt_dir: Path,
              fingerprint: str, seed: int) -> list[dict[str, float]]:
    """Train one phase (or finish/skip it from its checkpoint); returns its per-epoch history."""
    path = ckpt_dir / f"{phase.name}.pt"
    ck = _load_checkpoint(path, fingerprint, ctx.device)
    if ck is not None:
        net.load_state_dict(ck["model"])
        if ck["epoch"] >= phase.epochs:
            log.info("%s: done (checkpoint %s, %d epochs)", phase.name, path, ck["epoch"])
            return ck["history"]
    n = len(data[0])
    sampler = DistributedSampler(range(n), num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=seed)
    per_rank = max(1, phase.batch_size // ctx.world)
    steps = math.ceil(len(sampler) / per_rank)
    model = phase.objective.to(ctx.device)
    if ctx.world > 1:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(phase.objective, device_ids=ids)
    params = [p for g in phase.groups for p in g["params"]]
    opt = torch.optim.AdamW(phase.groups, weight_decay=phase.weight_decay)
    sched = _scheduler(opt, max(1, phase.epochs * steps), phase.warmup_frac)
    start, history = 0, []
    if ck is not None:
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"].cpu())
        start, history = int(ck["epoch"]), list(ck["history"])
        log.info("%s: resuming from %s at epoch %d/%d", phase.name, path, start + 1, phase.epochs)
    show = ctx.is_main and sys.stderr.isatty()
    for epoch in range(start, phase.epochs):
        sampler.set_epoch(epoch)
        order = torch.as_tensor(list(sampler))
        model.train()
        sums: dict[str, float] = {}
        bar = tqdm(range(steps), desc=f"{phase.name} {epoch + 1}/{phase.epochs}", unit="batch",
                   leave=False, disable=not show)
        for b in bar:
            idx = order[b * per_rank:(b + 1) * per_rank]
            batch = [t[idx].to(ctx.device, non_blocking=True) for t in data]  # x, desc, y[, feat]
            loss, stats = model(*batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if phase.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, phase.grad_clip)
            opt.step()
            sched.step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            sums["n"] = sums.get("n", 0.0) + len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        keys = sorted(sums)
        total = ctx.all_sum(torch.tensor([sums[k] for k in keys], dtype=torch.float64))
        count = float(total[keys.index("n")])
        row = {k: float(v) / count for k, v in zip(keys, total, strict=True) if k != "n"}
        row["epoch"] = epoch + 1
        history.append(row)
        if ctx.is_main:
            log.info("%s epoch %d/%d: %s", phase.name, epoch + 1, phase.epochs,
                     " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
            _save_checkpoint(path, {
                "model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch + 1, "fingerprint": fingerprint, "history": history,
                "rng": torch.get_rng_state(),
            })
        ctx.barrier()
    model.eval()
    return history


def as_tensors(x: np.ndarray, desc: np.ndarray, y: np.ndarray,
               feat: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
    """Training arrays as CPU tensors (batches are moved to the device one at a time); ``feat``, the window
    features, only for an encoder that takes them."""
    out = (torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
           torch.as_tensor(np.ascontiguousarray(desc), dtype=torch.float32),
           torch.as_tensor(np.asarray(y), dtype=torch.int64))
    return out if feat is None else (*out, torch.as_tensor(np.ascontiguousarray(feat), dtype=torch.float32))


def train_stage2(net: MyoSemNet, data: Sequence[torch.Tensor], cfg: Stage2Config, ctx: Dist,
                 ckpt_dir: Path, fingerprint: str, seed: int = 0) -> list[dict[str, float]]:
    """Stage 2: the encoder learns from classification, reconstruction and VQ; the alignment head rests."""
    objective = Stage2Objective(net, cfg)
    _set_trainable(net, objective.trainable())
    gates = net.encoder.gate_parameters()
    rest = [p for p in net.parameters() if p.requires_grad and all(p is not g for g in gates)]
    groups = [{"params": rest, "lr": cfg.lr},
              {"params": gates, "lr": cfg.lr * cfg.gate_lr_scale, "weight_decay": 0.0}]
    phase = Phase("stage2", objective, groups, cfg.epochs, cfg.batch_size, cfg.weight_decay,
                  cfg.warmup_frac, cfg.grad_clip)
    return run_phase(phase, net, data, ctx, ckpt_dir, fingerprint, seed)


def train_stage3(net: MyoSemNet, data: Sequence[torch.Tensor], prototypes: torch.Tensor, cfg: Stage3Config,
                 ctx: Dist, ckpt_dir: Path, fingerprint: str, seed: int = 0) -> list[dict[str, float]]:
    """Stage 3: align z to the frozen prototypes (``data`` labels index their rows), then a light unfreeze."""
    history: list[dict[str, float]] = []
    for name, epochs, unfreeze in (("stage3_frozen", cfg.epochs_frozen, 0),
                                   ("stage3_unfrozen", cfg.epochs_unfrozen, cfg.unfreeze_layers)):
        if epochs <= 0:
            continue
        objective = Stage3Objective(net, prototypes, cfg, unfreeze)
        heads = [net.align, net.cls]
        layers = objective.unfrozen_layers()
        _set_trainable(net, heads + layers)
        groups = [{"params": [p for m in heads for p in m.parameters()], "lr": cfg.lr}]
        if layers:
            groups.append({"params": [p for m in layers for p in m.parameters()],
                           "lr": cfg.lr * cfg.unfreeze_lr_scale})
        phase_data = data
        if not layers and CACHE_FROZEN_TOKENS:  # the frozen encoder's tokens once (CachedTokensObjective)
            phase_data = (encode_tokens(net, data, ctx.device), data[2])
            objective = CachedTokensObjective(objective)
        phase = Phase(name, objective, groups, epochs, cfg.batch_size, cfg.weight_decay, cfg.warmup_frac,
                      cfg.grad_clip)
        history += [{"phase": name, **row} for row in run_phase(phase, net, phase_data, ctx, ckpt_dir,
                                                                fingerprint, seed)]
    net.requires_grad_(True)
    return history
