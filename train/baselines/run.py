"""Train and evaluate the EMG baselines of one protocol on exactly MyoSem's data and candidates.

Why it reads a MyoSem model directory: the comparison is only fair if every method sees the same training
windows, is tested on the same test windows and ranks the same candidates. The model directory of the
protocol (``runs/myosem/P``) records all of it -- protocol options, windows per file, seed, window/hop/patch
and filters (``myosem_rt.model.trained_config``) and the frozen class prototypes -- so a baseline:

1. loads the protocol's training windows as MyoSem's training did (:func:`myosem_rt.windowing.load_windows`,
   same subsample and seed, :func:`myosem_rt.protocols.split` training mask); a class-disjoint protocol's
   held-out classes are refused if they ever appear (their EMG never trains anything);
2. learns a segment embedding with cross-entropy over the training classes: Hudgins features + shrinkage
   LDA (embedding = the K-1 discriminant coordinates) or one of the networks of :mod:`train.baselines.nets`
   (embedding = the penultimate layer);
3. learns the **projection** into the text space: a linear map of the standardised embedding, trained
   with the stage-3 InfoNCE (:func:`train.emg.losses.info_nce_to_prototypes`, same tau) against the SAME
   frozen prototypes of the training classes, the embedding network frozen;
4. is evaluated by :func:`myosem_rt.commands.eval.evaluate` -- the function that produced MyoSem's own
   figures -- through a model object that is the MyoSem model with ``encode`` replaced, so test windows,
   episodes, bootstrap and candidates (all classes, held-out ones included) are identical by construction.

Budget: ``epochs`` of cross-entropy (default 15 = the reduced recipe's stage-2 epochs) at batch 256, then
``proj_steps`` steps of the linear projection on the cached embeddings. Results: ``<out>/<name>.json``
(figures in the ``metrics`` layout of a MyoSem manifest, plus training accuracy, seconds and the command).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from myosem_rt.errors import ConfigError
from myosem_rt.profile.features import hudgins, noise_threshold
from myosem_rt.profile.lda import ShrinkageLDA
from myosem_rt.session_stats import SessionStats, standardise_recordings
from train.baselines.nets import NETS, BaselineNet
from train.emg.losses import info_nce_to_prototypes

log = logging.getLogger(__name__)

BASELINES = ("lda", "lda-session", *NETS)
#: Display names (the report's rows).
TITLES = {"lda": "Hudgins TD + LDA", "lda-session": "Hudgins TD + LDA, session statistics", "tcn": "TCN",
          "cnn-bilstm": "CNN-BiLSTM", "atzori-cnn": "Atzori CNN"}
EMBED_BATCH = 1024
#: lda-session: the prior of its running feature statistics, in hops (MyoSem-RT's own default).
SESSION_PRIOR_HOPS = 2000.0

Embed = Callable[..., np.ndarray]  # (x (N, W, C), desc, weights=None) -> (N, d)


@dataclass(frozen=True)
class BaselineConfig:
    """Training budget of every baseline (the command-line options of ``python -m train.baselines``)."""

    epochs: int = 15  #: cross-entropy epochs of the networks
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    proj_steps: int = 600  #: steps of the linear projection on the cached embeddings (cheap: d x D weights)
    proj_batch: int = 512
    proj_lr: float = 1e-2
    tau: float = 0.07  #: InfoNCE temperature (myosem-small stage 3's)
    shrinkage: float | str = "auto"  #: LDA covariance shrinkage
    seed: int = 0
    threads: int = 1
    device: str = "cpu"  #: networks: cpu, cuda[:N] or auto (the GPU when there is one)


# -- segment embeddings ----------------------------------------------------------------------------------
def fit_lda(x: np.ndarray, y: np.ndarray, cfg: BaselineConfig) -> tuple[Embed, dict[str, Any]]:
    """Hudgins features (train-fitted noise threshold) -> shrinkage LDA; embedding = discriminant space."""
    eps = noise_threshold(x)
    feats = hudgins(x, eps)
    mean, std = feats.mean(0), feats.std(0) + 1e-6
    lda = ShrinkageLDA(cfg.shrinkage).fit((feats - mean) / std, y)
    acc = float((lda.predict((feats - mean) / std) == y).mean())

    def embed(xb: np.ndarray, _desc: np.ndarray, _weights: np.ndarray | None = None) -> np.ndarray:
        return lda.transform((hudgins(xb, eps) - mean) / std).astype(np.float32)

    return embed, {"train_acc": acc, "shrinkage": lda.shrinkage_, "embed_dim": int(lda.scalings_.shape[1]),
                   "noise_threshold": eps.tolist()}


def fit_lda_session(train: Any, y: np.ndarray, cfg: BaselineConfig
                    ) -> tuple[Embed, dict[str, Any], SessionStats, np.ndarray]:
    """The anchor with MyoSem-RT's session statistics (:mod:`myosem_rt.session_stats`): Hudgins features
    standardised by each recording's running statistics in time order (training recordings; at test the
    stream's), then the same shrinkage LDA. Returns (embed, info, the test-time statistics, the training
    windows' embedding)."""
    eps = noise_threshold(train.x)
    feats, stats = standardise_recordings(train, hudgins(train.x, eps), SESSION_PRIOR_HOPS)
    mean, std = feats.mean(0), feats.std(0) + 1e-6
    lda = ShrinkageLDA(cfg.shrinkage).fit((feats - mean) / std, y)
    acc = float((lda.predict((feats - mean) / std) == y).mean())

    def embed(xb: np.ndarray, _desc: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        f = stats.normalise(hudgins(xb, eps), weights)
        return lda.transform((f - mean) / std).astype(np.float32)

    info = {"train_acc": acc, "shrinkage": lda.shrinkage_, "embed_dim": int(lda.scalings_.shape[1]),
            "noise_threshold": eps.tolist(), "session_prior_hops": SESSION_PRIOR_HOPS}
    return embed, info, stats, lda.transform((feats - mean) / std).astype(np.float32)


def _batches(n: int, size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + size] for i in range(0, n, size)]


def _cosine_schedule(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(1, total // 20)

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def fit_net(name: str, x: np.ndarray, y: np.ndarray, n_classes: int,
            cfg: BaselineConfig) -> tuple[Embed, dict[str, Any]]:
    """Train ``NETS[name]`` with cross-entropy; embedding = its penultimate layer (eval mode)."""
    from train.emg.stages import resolve_device

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    net: BaselineNet = NETS[name](x.shape[2], n_classes, x.shape[1])
    net.norm.fit(x)
    net.to(device)
    xt, yt = torch.as_tensor(np.ascontiguousarray(x)), torch.as_tensor(y, dtype=torch.int64)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    sched = _cosine_schedule(opt, steps)
    rng = np.random.default_rng(cfg.seed)
    history = []
    for epoch in range(cfg.epochs):
        net.train()
        loss_sum = hits = 0.0
        for idx in _batches(len(x), cfg.batch_size, rng):
            xb, yb = xt[idx].to(device), yt[idx].to(device)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            hits += float((logits.argmax(1) == yb).sum())
        history.append({"epoch": epoch + 1, "loss": loss_sum / len(x), "acc": hits / len(x)})
        log.info("%s epoch %d/%d: loss %.4f acc %.3f", name, epoch + 1, cfg.epochs, history[-1]["loss"],
                 history[-1]["acc"])
    net.eval()

    def embed(xb: np.ndarray, _desc: np.ndarray, _weights: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            parts = [net.embed(torch.as_tensor(np.ascontiguousarray(xb[i])).float().to(device)).cpu().numpy()
                     for i in _batches(len(xb), EMBED_BATCH)]
        return np.concatenate(parts) if parts else np.empty((0, net.embed_dim), np.float32)

    n_params = sum(p.numel() for p in net.parameters())
    return embed, {"train_acc": history[-1]["acc"] if history else None, "params": n_params,
                   "embed_dim": net.embed_dim, "history": history[-1:]}


# -- the projection into the text space -----------------------------------------------------------------
@dataclass
class Projection:
    """z = normalize(W ((e - mean) / std) + b): a linear map from a segment embedding to the text space."""

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  #: (D, d)
    bias: np.ndarray  #: (D,)

    def __call__(self, e: np.ndarray) -> np.ndarray:
        z = ((np.asarray(e, dtype=np.float64) - self.mean) / self.std) @ self.weight.T + self.bias
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def fit_projection(e: np.ndarray, y: np.ndarray, prototypes: np.ndarray, cfg: BaselineConfig
                   ) -> tuple[Projection, dict[str, float]]:
    """InfoNCE of the projected training embeddings ``e`` (N, d) against ``prototypes`` (K, D), whose row
    ``y[i]`` is window i's class (frozen: only the projection learns)."""
    torch.manual_seed(cfg.seed)
    mean, std = e.mean(0), e.std(0) + 1e-6
    et = torch.as_tensor((e - mean) / std, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.int64)
    protos = F.normalize(torch.as_tensor(prototypes, dtype=torch.float32), dim=-1)
    lin = torch.nn.Linear(e.shape[1], protos.shape[1])
    opt = torch.optim.AdamW(lin.parameters(), lr=cfg.proj_lr, weight_decay=cfg.weight_decay)
    sched = _cosine_schedule(opt, cfg.proj_steps)
    rng = np.random.default_rng(cfg.seed)
    loss = torch.zeros(())
    for _ in range(cfg.proj_steps):
        idx = rng.choice(len(e), size=min(cfg.proj_batch, len(e)), replace=False)
        loss = info_nce_to_prototypes(F.normalize(lin(et[idx]), dim=-1), protos, yt[idx], cfg.tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        r1 = float(((F.normalize(lin(et), dim=-1) @ protos.T).argmax(1) == yt).float().mean())
    proj = Projection(mean.astype(np.float64), std.astype(np.float64),
                      lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy())
    return proj, {"proj_loss_last": float(loss.detach()), "proj_train_r1": r1}


class ProjectedModel:
    """A MyoSem model object whose ``encode`` is a baseline's: everything else (window spec, filters,
    prototypes, class ids, vocabulary) is the MyoSem model's, so evaluation is identical. Session
    statistics are the baseline's own (lda-session), never the MyoSem encoder's."""

    def __init__(self, model: Any, encode: Embed, session_stats: SessionStats | None = None) -> None:
        self._model, self._encode = model, encode
        self.session_stats = session_stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def new_session(self) -> None:
        if self.session_stats is not None:
            self.session_stats.reset()

    def encode(self, x: np.ndarray, desc: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self._encode(np.asarray(x, dtype=np.float32), desc, weights)


# -- one protocol ----------------------------------------------------------------------------------------
def training_windows(model: Any, data_dir: Path, runtime_config: Mapping[str, Any]) -> tuple[Any, Any]:
    """(split, training WindowSet) exactly as the MyoSem model in ``model`` was trained."""
    from myosem_rt.model import trained_config
    from myosem_rt.protocols import split
    from myosem_rt.stream.windows import WindowSpec
    from myosem_rt.vocab import load_vocabulary
    from myosem_rt.windowing import load_windows

    m = model.manifest
    data, training = m.get("data") or {}, m.get("training") or {}
    if "protocol" not in data:
        raise ConfigError(f"{model.directory}: manifest names no protocol (not a `myosem train` model)")
    sp = split(data["protocol"], data_dir, **dict(data.get("options") or {}))
    spec = WindowSpec(int(model.window), int(model.hop), int(model.patch), float(model.fs))
    ws = load_windows(sp.train_files, trained_config(model, runtime_config), spec=spec, seed=training["seed"],
                      max_windows_per_file=training.get("max_windows_per_file"),
                      vocabulary=load_vocabulary(model.vocabulary))
    train = ws.subset(sp.train_mask(ws))
    leaked = sorted(set(np.unique(train.label).tolist()) & set(sp.held_out_classes))
    if leaked:
        raise ConfigError(f"protocol {sp.name}: held-out classes {leaked} in the training windows")
    expected = m["data"]["windows"].get("train")
    if expected is not None and expected != len(train):
        log.warning("baselines: %d training windows, the MyoSem run had %d", len(train), expected)
    return sp, train


def run_protocol(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                 names: Sequence[str] = BASELINES, cfg: BaselineConfig = BaselineConfig(),
                 runtime_config: Mapping[str, Any] | None = None, command: str | None = None,
                 labels: str = "cue") -> dict[str, dict[str, Any]]:
    """Train + evaluate ``names`` on the protocol of the MyoSem model in ``model_dir``; writes
    ``<out_dir>/<name>.json`` per baseline and returns {name: record}. Scored as the MyoSem model is: by
    cue (``metrics``), with ``labels="activity"`` also on the active windows (``metrics_activity``), and
    with the model's activity context when it has one (``emg_to_text_context``, myosem_rt/context.py)."""
    from myosem_rt.commands.eval import evaluate
    from myosem_rt.config import load_config
    from myosem_rt.model import MyoSemModel

    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ConfigError(f"unknown baseline(s) {', '.join(unknown)} (expected {', '.join(BASELINES)})")
    torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)  # as in train.pipeline: subnormal floats stall x86 CPU training
    runtime_config = dict(runtime_config or load_config())
    model = MyoSemModel.load(model_dir)
    sp, train = training_windows(model, Path(data_dir), runtime_config)
    classes = sorted(train.class_counts())
    rows = [int(np.flatnonzero(model.class_ids == c)[0]) for c in classes]
    y = np.searchsorted(np.asarray(classes), train.label)
    training = model.manifest["training"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = {}
    for name in names:
        t0 = time.perf_counter()
        log.info("baseline %s on %s: %d training windows, classes %s", name, sp.name, len(train), classes)
        stats, e_train = None, None
        if name == "lda":
            embed, info = fit_lda(train.x, y, cfg)
        elif name == "lda-session":
            embed, info, stats, e_train = fit_lda_session(train, y, cfg)
        else:
            embed, info = fit_net(name, train.x, y, len(classes), cfg)
        e_train = embed(train.x, train.desc) if e_train is None else e_train
        proj, pinfo = fit_projection(e_train, y, model.prototypes[rows], cfg)
        fit_s = time.perf_counter() - t0
        projected = ProjectedModel(model, lambda x, d, w=None, e=embed, p=proj: p(e(x, d, w)), stats)
        def score(fraction: float | None = None, projected: Any = projected) -> dict[str, Any]:
            return evaluate(projected, str(model_dir), sp.test_files, dict(runtime_config), mask=sp.test_mask,
                            held_out=sp.held_out_classes, seed=training["seed"],
                            max_windows_per_file=training.get("max_windows_per_file"),
                            activity_fraction=fraction)

        result = score()
        record = {
            "baseline": name, "title": TITLES[name], "protocol": sp.name, "model_dir": str(model_dir),
            "command": command, "config": dataclasses.asdict(cfg),
            "training": {**info, **pinfo, "windows": len(train), "classes": classes,
                         "seconds": round(fit_s, 1)},
            "metrics": json.loads(json.dumps({"protocol": sp.name, **result}, default=str)),
        }
        if labels == "activity":  # also scored on the windows whose activity shows the cue (eval --labels)
            from myosem_rt.profile.enrol import enrol_settings

            record["metrics_activity"] = json.loads(json.dumps(
                score(enrol_settings(runtime_config)["activity_fraction"]), default=str))
        if sp.held_out_classes:  # the same muscle-group head MyoSem-RT gets (train/muscle_head.py)
            from train import muscle_head

            record["muscle_head"] = muscle_head.evaluate_model(
                projected, str(model_dir), sp, dict(runtime_config), training.get("max_windows_per_file"),
                training["seed"])
        (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        e2t = result["emg_to_text"]
        log.info("baseline %s on %s: EMG->text R@1 %.3f MRR %.3f, text->EMG R@1 %.3f "
                 "(train acc %.3f, %.0f s)", name, sp.name, e2t["R@1"], e2t["MRR"],
                 result["text_to_emg"]["R@1"], info.get("train_acc") or float("nan"), fit_s)
        for key, figures in (("by cue", result), ("by activity", record.get("metrics_activity"))):
            if figures and figures.get("emg_to_text_context"):
                log.info("baseline %s on %s, %s: EMG->text R@1 %.3f per window, %.3f with the model's "
                         "context", name, sp.name, key, figures["emg_to_text"]["R@1"],
                         figures["emg_to_text_context"]["R@1"])
        records[name] = record
    return records


# -- command line ------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train.baselines --model runs/myosem/P --data DIR --out runs/baselines/P [...]``."""
    from myosem_rt.cli import setup_logging
    from myosem_rt.errors import MyosemError

    p = argparse.ArgumentParser(prog="python -m train.baselines", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the protocol's MyoSem model directory (runs/myosem/P)")
    p.add_argument("--data", required=True, help="folder holding the recordings")
    p.add_argument("--out", required=True, help="folder for <baseline>.json")
    p.add_argument("--only", default=",".join(BASELINES),
                   help=f"comma-separated subset of {','.join(BASELINES)}")
    for f in dataclasses.fields(BaselineConfig):
        if f.name != "shrinkage":
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--labels", choices=("cue", "activity"), default="cue",
                   help="activity: also score the windows whose activity shows the cue (eval --labels)")
    args = p.parse_args(argv)
    setup_logging()
    cfg = BaselineConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(BaselineConfig)
                            if f.name != "shrinkage"})
    command = "python -m train.baselines " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        run_protocol(args.model, args.data, args.out, [n for n in args.only.split(",") if n], cfg,
                     command=command, labels=args.labels)
    except MyosemError as exc:
        sys.stderr.write(f"train.baselines: error: {exc}\n")
        return exc.exit_code
    return 0
